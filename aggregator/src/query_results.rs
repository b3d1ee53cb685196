//! A running query's answer as the aggregator collects it: bounded in size
//! and by the clock, and with dictionary columns turned into the plain
//! types clients read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt;

use crate::client_types::client_schema;
use crate::error::{AggregatorError, Result};

/// Largest answer a query may give, in bytes of Arrow arrays.
pub const MAX_RESULT_BYTES: usize = 256 * 1024 * 1024;

/// How long past its deadline a query may still work on the aggregator.
pub const LOCAL_WORK_GRACE: Duration = Duration::from_secs(1);

pub(crate) fn deadline_passed(started: Instant, cut_off: Instant) -> AggregatorError {
    AggregatorError::DeadlinePassed(format!(
        "the query was still running {:.1} s after it started, past its deadline and {} s more for the aggregator's own work; it was stopped",
        cut_off.saturating_duration_since(started).as_secs_f64(),
        LOCAL_WORK_GRACE.as_secs()
    ))
}

/// Runs `plan` to the end, failing as soon as its answer passes
/// [`MAX_RESULT_BYTES`] or the clock passes `cut_off` (the stream is
/// dropped, which stops the work). The clock is read between batches too:
/// under CPU-bound work tokio may look at its timers late.
pub(crate) async fn collect_within(
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<datafusion::execution::TaskContext>,
    cut_off: Instant,
) -> Result<Vec<RecordBatch>> {
    let started = Instant::now();
    let mut stream = execute_stream(plan, task)?;
    let mut batches = Vec::new();
    let mut bytes = 0;
    while let Some(batch) = stream.next().await {
        if Instant::now() > cut_off {
            return Err(deadline_passed(started, cut_off));
        }
        let batch = batch?;
        bytes += batch.get_array_memory_size();
        if bytes > MAX_RESULT_BYTES {
            return Err(AggregatorError::OverMemoryLimit(format!(
                "the answer is over {} MiB; aggregate it or add a LIMIT",
                MAX_RESULT_BYTES >> 20
            )));
        }
        batches.push(batch);
    }
    Ok(batches)
}

/// Results with dictionary columns (also inside lists) turned into plain
/// ones, which every client (JDBC, Grafana, JSON) reads alike: the types of
/// [`client_schema`].
pub(crate) fn hydrate_dictionaries(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let hydrated = Arc::new(client_schema(schema));
    if hydrated.fields() == schema.fields() {
        return Ok((schema.clone(), batches));
    }
    let batches = batches
        .iter()
        .map(|batch| {
            let columns = batch
                .columns()
                .iter()
                .zip(hydrated.fields())
                .map(|(column, field)| cast(column, field.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            RecordBatch::try_new(hydrated.clone(), columns)
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| AggregatorError::Internal(format!("decoding dictionaries: {e}")))?;
    Ok((hydrated, batches))
}
