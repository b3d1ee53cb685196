//! How a fragment's answer travels back up the tree: its batches as Arrow
//! Flight data (dictionaries kept), and how much of the fleet it covers
//! ([`FragmentCompleteness`]) in the app_metadata of the last message.
//! Leaves send it; aggregators send it to their parents and read it from
//! their children.

use arrow_flight::FlightData;
use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use shoal_proto::FragmentCompleteness;
use tonic::Status;

type FlightStream<T> = BoxStream<'static, std::result::Result<T, Status>>;

/// How a fragment that failed while it ran says so: an error of the
/// query's own (a division by zero, a cast that fails, a function past its
/// limit) as `InvalidArgument` with DataFusion's message, so an aggregator
/// all of whose leaves refused answers as for any bad query; anything else
/// as `Internal`.
fn status_of(error: FlightError) -> Status {
    if let FlightError::ExternalError(inner) = &error
        && let Some(failure) = inner.downcast_ref::<DataFusionError>()
        && is_query_fault(failure)
    {
        return Status::invalid_argument(failure.find_root().to_string());
    }
    Status::internal(format!("query failed on the leaf: {error}"))
}

/// Whether `error` comes from the query itself rather than the process
/// running it: retrying it elsewhere would fail the same way.
pub fn is_query_fault(error: &DataFusionError) -> bool {
    match error.find_root() {
        DataFusionError::ArrowError(inner, _) => !matches!(
            **inner,
            arrow::error::ArrowError::IoError(..) | arrow::error::ArrowError::MemoryError(_)
        ),
        root => matches!(
            root,
            DataFusionError::Plan(_)
                | DataFusionError::SQL(..)
                | DataFusionError::SchemaError(..)
                | DataFusionError::NotImplemented(_)
                | DataFusionError::Execution(_)
        ),
    }
}

/// Encodes a result stream as Flight data, dictionaries kept. The
/// completeness `completeness` gives once every batch is encoded goes in the
/// app_metadata of the last message (Flight decoders, arrow-rs's and
/// pyarrow's, reject metadata-only messages).
pub fn encode_batches(
    batches: SendableRecordBatchStream,
    completeness: impl FnOnce() -> Option<FragmentCompleteness> + Send + 'static,
) -> FlightStream<FlightData> {
    let schema = batches.schema();
    let data = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .with_dictionary_handling(DictionaryHandling::Resend)
        .build(batches.map_err(|e| FlightError::ExternalError(Box::new(e))))
        .map_err(status_of)
        .boxed();
    // Each message is held back until the next arrives, so the last one is
    // known when the stream ends.
    let state = (data, None::<FlightData>, Some(completeness));
    futures::stream::unfold(state, |(mut data, mut held, mut completeness)| async move {
        loop {
            match data.next().await {
                Some(Ok(message)) => match held.replace(message) {
                    Some(previous) => return Some((Ok(previous), (data, held, completeness))),
                    None => continue,
                },
                Some(Err(status)) => return Some((Err(status), (data, None, None))),
                None => {
                    let mut last = held.take()?;
                    if let Some(counts) = completeness.take().and_then(|f| f()) {
                        last.app_metadata = counts.encode_to_vec().into();
                    }
                    return Some((Ok(last), (data, None, None)));
                }
            }
        }
    })
    .boxed()
}
