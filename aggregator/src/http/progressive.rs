//! `POST /api/v1/query` with `"progressive": true`: the answer as
//! newline-delimited JSON, one line per better answer while children
//! answer, the final one last.
//!
//! ```text
//!   request ─► the query, on a task of its own
//!              (intermediate answers come on a channel)
//!        │ an intermediate answer first          │ the final answer first
//!        ▼                                        ▼
//!   200 application/x-ndjson                 200: one line, "final": true
//!     {..., "final": false, "sequence": 0}   (or an error: its own status and
//!     {..., "final": false, "sequence": 1}    {"error": ...}, as without
//!     {..., "final": true,  "sequence": 2}    "progressive")
//!   an error once lines went out: {"error": ..., "final": true}
//! ```
//!
//! Every line is what the request answers without `"progressive"` (the
//! same [`answer_json`]), plus `"final"` and `"sequence"`. The query runs on
//! a task of its own, so a client that reads slowly holds up neither its
//! fan-out nor its deadline (an intermediate answer it is not ready for is
//! skipped); a client that goes away stops it. The intermediate answers
//! themselves come from [`crate::answers_so_far`].

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{HttpState, answer_json, error_response};
use crate::error::{AggregatorError, Result};
use crate::query::{QueryOptions, QueryOutcome};
use crate::time_completeness::BucketRequest;

const NDJSON: &str = "application/x-ndjson";

/// Runs `sql` and answers with its progressive answers; see the module docs.
pub(super) async fn answer(
    state: HttpState,
    sql: String,
    mut options: QueryOptions,
    time_buckets: Option<BucketRequest>,
) -> Response {
    // One slot: an intermediate answer the client has not taken yet is
    // enough; newer ones are skipped until it has.
    let (sink, mut intermediates) = mpsc::channel(1);
    options.progress = Some(sink);
    let engine = state.engine.clone();
    let mut running = Running(tokio::spawn(async move { engine.run(&sql, options).await }));
    let mut lines = Lines {
        state,
        time_buckets,
        sequence: 0,
    };
    let first = loop {
        tokio::select! {
            biased;
            outcome = running.outcome() => return lines.final_only(outcome),
            Some(intermediate) = intermediates.recv() => {
                if let Some(line) = lines.intermediate(&intermediate) {
                    break line;
                }
            }
        }
    };
    let rest = futures::stream::unfold(Some((running, intermediates, lines)), next_line);
    let body = futures::stream::once(async move { first })
        .chain(rest)
        .map(Ok::<_, Infallible>);
    ([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(body)).into_response()
}

/// Streaming has begun: the next better answer, or the final one.
async fn next_line(
    streaming: Option<(Running, mpsc::Receiver<QueryOutcome>, Lines)>,
) -> Option<(
    Bytes,
    Option<(Running, mpsc::Receiver<QueryOutcome>, Lines)>,
)> {
    let (mut running, mut intermediates, mut lines) = streaming?;
    loop {
        tokio::select! {
            biased;
            outcome = running.outcome() => {
                lines.state.metrics.observe(&outcome);
                let line = outcome
                    .and_then(|outcome| lines.line(&outcome, true))
                    .unwrap_or_else(|error| ndjson_line(&json!({ "error": error.to_string(), "final": true })));
                return Some((line, None));
            }
            Some(intermediate) = intermediates.recv() => {
                if let Some(line) = lines.intermediate(&intermediate) {
                    return Some((line, Some((running, intermediates, lines))));
                }
            }
        }
    }
}

/// The query's task, stopped when its answer is no longer wanted.
struct Running(JoinHandle<Result<QueryOutcome>>);

impl Running {
    /// The query's outcome; awaited at most until it is there once.
    async fn outcome(&mut self) -> Result<QueryOutcome> {
        match (&mut self.0).await {
            Ok(outcome) => outcome,
            Err(error) => Err(AggregatorError::Internal(format!(
                "the query stopped: {error}"
            ))),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Turns answers into numbered lines.
struct Lines {
    state: HttpState,
    time_buckets: Option<BucketRequest>,
    sequence: u64,
}

impl Lines {
    /// `outcome` as the next line.
    fn line(&mut self, outcome: &QueryOutcome, is_final: bool) -> Result<Bytes> {
        let mut answer = answer_json(outcome, self.time_buckets.as_ref())?;
        answer["final"] = json!(is_final);
        answer["sequence"] = json!(self.sequence);
        self.sequence += 1;
        Ok(ndjson_line(&answer))
    }

    /// An intermediate answer as the next line; one that cannot be written
    /// is left out (the final answer says why, if it has the same trouble).
    fn intermediate(&mut self, outcome: &QueryOutcome) -> Option<Bytes> {
        self.line(outcome, false)
            .inspect_err(|error| tracing::debug!(%error, "intermediate answer left out"))
            .ok()
    }

    /// The final answer came before any intermediate one: the one line, or
    /// the error as without `"progressive"`.
    fn final_only(&mut self, outcome: Result<QueryOutcome>) -> Response {
        self.state.metrics.observe(&outcome);
        let answered = outcome.and_then(|outcome| {
            let line = self.line(&outcome, true)?;
            Ok((line, outcome.completeness))
        });
        match answered {
            Ok((line, completeness)) => {
                let mut response = ([(header::CONTENT_TYPE, NDJSON)], line).into_response();
                response.headers_mut().extend(completeness.headers());
                response
            }
            Err(error) => error_response(&error),
        }
    }
}

fn ndjson_line(value: &Value) -> Bytes {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    Bytes::from(bytes)
}
