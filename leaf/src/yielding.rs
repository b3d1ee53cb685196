//! The stream of a leaf's scan partition: it yields to the runtime after
//! every batch, and fails once the fragment's deadline has passed.
//!
//! A leaf's blocks are in memory, so a scan is always ready, and the task
//! polling it (a partition of a partial aggregate, say) would run the whole
//! fragment in one poll: nothing could stop it before it ends. Returning
//! `Pending` once after each batch (with the task woken at once) gives the
//! runtime a point to drop the task at. The deadline is checked here, by the
//! clock, not by a timer: under CPU-bound tasks that keep yielding, tokio
//! looks at its timers only every few dozen polls, seconds apart when each
//! poll is a heavy batch. Past the deadline the scan ends with an error, so
//! the whole fragment fails and its work stops within about one batch.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use arrow::array::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use futures::Stream;

/// `inner`, yielding after each batch and failing past `deadline`.
pub struct Yielding<S> {
    inner: S,
    deadline: Option<Instant>,
    yield_next: bool,
    done: bool,
}

impl<S> Yielding<S> {
    pub fn new(inner: S, deadline: Option<Instant>) -> Self {
        Self {
            inner,
            deadline,
            yield_next: false,
            done: false,
        }
    }
}

impl<S: Stream<Item = DfResult<RecordBatch>> + Unpin> Stream for Yielding<S> {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            self.done = true;
            return Poll::Ready(Some(Err(DataFusionError::ResourcesExhausted(
                "the fragment's deadline passed before its scan finished; it was stopped"
                    .to_string(),
            ))));
        }
        if self.yield_next {
            self.yield_next = false;
            context.waker().wake_by_ref();
            return Poll::Pending;
        }
        let polled = Pin::new(&mut self.inner).poll_next(context);
        if matches!(polled, Poll::Ready(Some(_))) {
            self.yield_next = true;
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use futures::StreamExt;

    use super::*;

    fn batches(count: i64) -> impl Stream<Item = DfResult<RecordBatch>> + Unpin {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        futures::stream::iter((0..count).map(move |n| {
            Ok(RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(vec![n]))],
            )?)
        }))
    }

    #[tokio::test]
    async fn every_batch_comes_through_before_the_deadline() {
        let later = Instant::now() + Duration::from_secs(60);
        let items: Vec<_> = Yielding::new(batches(5), Some(later)).collect().await;
        assert_eq!(items.len(), 5);
        assert!(items.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn past_the_deadline_the_scan_fails_once_and_ends() {
        let past = Instant::now() - Duration::from_millis(1);
        let items: Vec<_> = Yielding::new(batches(5), Some(past)).collect().await;
        assert_eq!(items.len(), 1);
        assert!(
            items[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("deadline")
        );
    }
}
