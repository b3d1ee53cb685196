//! Turns a panic inside DataFusion, while a fragment is decoded or runs,
//! into an error for that fragment alone.
//!
//! DataFusion does not promise to reject every malformed plan with an
//! error: fuzzing found plans (a grouping set wider than its expressions)
//! that decode and then index out of bounds while running. The fragment
//! policy refuses the shapes known to do that; this guard is the net under
//! it, so a plan that still panics costs its caller an error, not the
//! stream or the connection.

use std::panic::AssertUnwindSafe;

use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use crate::error::ContractError;

/// Runs `work`, turning a panic into an error ([`ContractError::Panicked`]).
pub fn catching<T, E: From<ContractError>>(
    work: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        Err(ContractError::Panicked(panic_message("planning", &panic)).into())
    })
}

/// `stream`, ending with an error where it would have panicked.
pub fn catching_stream(stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
    let schema = stream.schema();
    let guarded = until_panic(stream, |panic| {
        // Not an execution error: those are the query's own (see
        // `crate::flight_answer::is_query_fault`).
        DataFusionError::External(Box::new(ContractError::Panicked(panic_message(
            "running", &panic,
        ))))
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, guarded))
}

/// The items of `stream` until one would panic; that one becomes the
/// error `on_panic` makes, and the stream ends there. Any stream of
/// results: a fragment's batches, a client's decoded `DoPut`.
pub fn until_panic<T, E, S>(
    stream: S,
    on_panic: impl Fn(Box<dyn std::any::Any + Send>) -> E,
) -> impl futures::Stream<Item = std::result::Result<T, E>>
where
    S: futures::Stream<Item = std::result::Result<T, E>>,
{
    AssertUnwindSafe(stream)
        .catch_unwind()
        .scan(false, move |panicked, item| {
            let item = match (*panicked, item) {
                (true, _) => None,
                (false, Ok(item)) => Some(item),
                (false, Err(panic)) => {
                    *panicked = true;
                    Some(Err(on_panic(panic)))
                }
            };
            futures::future::ready(item)
        })
}

fn panic_message(stage: &str, panic: &Box<dyn std::any::Any + Send>) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("the fragment failed while {stage} (an internal error, reported as a bug): {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Schema;
    use std::sync::Arc;

    #[test]
    fn a_panic_becomes_an_error() {
        let error = catching::<(), ContractError>(|| panic!("boom"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("boom"), "{error}");
    }

    #[tokio::test]
    async fn a_panicking_stream_ends_with_an_error() {
        let schema = Arc::new(Schema::empty());
        let inner = futures::stream::iter(0..3).map(|i| {
            assert!(i < 1, "row {i}");
            Ok(arrow::array::RecordBatch::new_empty(Arc::new(
                Schema::empty(),
            )))
        });
        let stream = Box::pin(RecordBatchStreamAdapter::new(schema, inner));
        let items: Vec<_> = catching_stream(stream).collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        let error = items[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("row 1"), "{error}");
    }
}
