//! A decoded batch to leaves: cut into pieces of at most [`ROUTE_ROWS`]
//! rows, and into as many as several leaves can take at once when the
//! batch is large (so one client's request is stored by several leaves in
//! parallel, not by one after another), at most [`MAX_PARALLEL_PIECES`]
//! under way at once. Each piece is encoded as Arrow IPC on a blocking
//! thread of its own and routed as soon as it is: the pieces sent together
//! first to different leaves (each the better of two random ones by free
//! memory), then, if that leaf fails, by two random choices. What was held is said
//! piece by piece: a failure of one piece leaves the others held, and the
//! caller knows exactly which rows those are.

use std::ops::Range;

use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use shoal_contract::ipc::encode_stream;

use crate::error::AggregatorError;
use crate::fleet::Child;
use crate::ingest::state::IngestState;

/// Rows sent to one leaf in one call, at most.
pub const ROUTE_ROWS: usize = 65_536;
/// Rows below which a piece is not cut smaller to reach more leaves.
const MIN_PARALLEL_ROWS: usize = 8_192;
/// Pieces of one batch under way at once, at most (and a batch is cut
/// into at least this many, one per live leaf, when it is large enough).
const MAX_PARALLEL_PIECES: usize = 4;

/// Why a piece was not held.
#[derive(Debug)]
pub enum Failure {
    /// No leaf took it now: retrying later may.
    NoLeaf(String),
    /// The leaves refused it (or it could not be encoded).
    Refused(String),
}

/// What routing a batch did.
#[derive(Debug, Default)]
pub struct Routed {
    /// The row ranges held by leaves, in order.
    pub held: Vec<Range<usize>>,
    /// The failure of the first piece not held, if any was not.
    pub failure: Option<Failure>,
}

impl Routed {
    /// Rows held.
    pub fn rows(&self) -> u64 {
        self.held.iter().map(|range| range.len() as u64).sum()
    }

    fn failed(failure: Failure) -> Self {
        Self {
            held: Vec::new(),
            failure: Some(failure),
        }
    }
}

/// Routes `batch` of `table` in pieces, up to [`MAX_PARALLEL_PIECES`] (and
/// one per live leaf) at once. After a piece fails no other is started (those
/// under way finish, so what they hold is known).
pub async fn route(state: &IngestState, table: &str, batch: &RecordBatch) -> Routed {
    if let Err(error) = state.router.check_types(table, batch) {
        return Routed::failed(Failure::Refused(error.to_string()));
    }
    let leaves = state.fleet.live_children().len();
    let ranges = piece_ranges(batch.num_rows(), leaves);
    let at_once = MAX_PARALLEL_PIECES.min(leaves).max(1);
    // The pieces sent at once go to different leaves, each the better of
    // two random ones not taken yet; one piece alone, and those that
    // follow, by two random choices among all.
    let first = match ranges.len() {
        1 => Vec::new(),
        pieces => state.router.spread(pieces.min(at_once)),
    };
    // Each piece encoded on a blocking thread of its own and sent as soon
    // as it is: the first leaf is storing while the next piece is encoded.
    let send = |index: usize, range: Range<usize>, first: Option<Arc<Child>>| {
        let piece = batch.slice(range.start, range.len());
        async move {
            let encoded = tokio::task::spawn_blocking(move || {
                encode_stream(std::slice::from_ref(&piece)).map(Bytes::from)
            })
            .await;
            let bytes = match encoded {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(error)) => return (index, Err(Failure::Refused(error.to_string()))),
                Err(error) => return (index, Err(Failure::Refused(error.to_string()))),
            };
            let answer = state
                .router
                .route_ipc_within(table, bytes, first, None)
                .await
                .map(|_| ())
                .map_err(|error| match error {
                    AggregatorError::NoLeafForIngest(reason) => Failure::NoLeaf(reason),
                    error => Failure::Refused(error.to_string()),
                });
            (index, answer)
        }
    };
    let mut outcomes: Vec<Option<Result<(), Failure>>> = ranges.iter().map(|_| None).collect();
    let mut waiting = ranges.iter().cloned().enumerate();
    let mut running = FuturesUnordered::new();
    let mut failed = false;
    loop {
        while running.len() < at_once && !failed {
            let Some((index, range)) = waiting.next() else {
                break;
            };
            running.push(send(index, range, first.get(index).cloned().flatten()));
        }
        let Some((index, outcome)) = running.next().await else {
            break;
        };
        failed |= outcome.is_err();
        outcomes[index] = Some(outcome);
    }
    let mut routed = Routed::default();
    for (range, outcome) in ranges.into_iter().zip(outcomes) {
        match outcome {
            Some(Ok(())) => routed.held.push(range),
            Some(Err(failure)) if routed.failure.is_none() => routed.failure = Some(failure),
            // Not started after a failure, or failed after an earlier one.
            Some(Err(_)) | None => {}
        }
    }
    state.metrics.ingested(routed.rows());
    routed
}

/// The pieces of `rows` rows for `leaves` live leaves: at most
/// [`ROUTE_ROWS`] each, and one for each leaf up to
/// [`MAX_PARALLEL_PIECES`] while each keeps [`MIN_PARALLEL_ROWS`].
fn piece_ranges(rows: usize, leaves: usize) -> Vec<Range<usize>> {
    if rows == 0 {
        return Vec::new();
    }
    let at_once = leaves
        .min(MAX_PARALLEL_PIECES)
        .min(rows / MIN_PARALLEL_ROWS)
        .max(1);
    let pieces = rows.div_ceil(ROUTE_ROWS).max(at_once);
    let length = rows.div_ceil(pieces);
    (0..rows)
        .step_by(length)
        .map(|start| start..(start + length).min(rows))
        .collect()
}

/// The lines of the rows `held` does not cover, in order; `lines` holds
/// each row's line.
pub fn lines_not_held(lines: &[usize], held: &[Range<usize>]) -> Vec<usize> {
    let mut pending = Vec::new();
    let mut next = 0;
    for range in held {
        pending.extend_from_slice(lines.get(next..range.start).unwrap_or_default());
        next = range.end;
    }
    pending.extend_from_slice(lines.get(next..).unwrap_or_default());
    pending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_batches_are_cut_for_several_leaves_small_ones_are_not() {
        assert!(piece_ranges(0, 4).is_empty());
        assert_eq!(piece_ranges(5_000, 4), vec![0..5_000]);
        assert_eq!(piece_ranges(20_000, 4), vec![0..10_000, 10_000..20_000]);
        assert_eq!(piece_ranges(20_000, 1), vec![0..20_000]);
        let many = piece_ranges(300_000, 4);
        assert_eq!(many.len(), 5);
        assert!(many.iter().all(|r| r.len() <= ROUTE_ROWS));
        assert_eq!(many.last().map(|r| r.end), Some(300_000));
        assert_eq!(piece_ranges(34_172, 4).len(), 4);
    }

    #[test]
    fn lines_not_held_are_those_outside_every_held_range() {
        let lines = [3, 5, 6, 9, 10, 12];
        assert_eq!(lines_not_held(&lines, &[]), lines.to_vec());
        assert_eq!(lines_not_held(&lines, &[0..2, 4..6]), vec![6, 9]);
        let middle = [Range { start: 2, end: 4 }];
        assert_eq!(lines_not_held(&lines, &middle), vec![3, 5, 10, 12]);
        let all = [Range { start: 0, end: 6 }];
        assert!(lines_not_held(&lines, &all).is_empty());
    }
}
