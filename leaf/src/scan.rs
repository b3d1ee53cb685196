//! Executing a [`ScanRequest`] on this leaf with DataFusion.
//!
//! The request becomes a DataFusion plan over [`LeafTableProvider`]: time
//! bounds and the SQL filter (parsed by DataFusion, never by hand) are pushed
//! into the provider for pruning and applied again above it; projection and
//! limit follow. The aggregator's plan fragments will reuse the same provider.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext, col, ident, lit};
use shoal_proto::ScanRequest;

use crate::column_type::TIME_COLUMN;
use crate::error::Result;
use crate::provider::LeafTableProvider;
use crate::store::Store;

/// Plans `request` against the current contents of its table and starts it.
pub async fn execute_scan(
    store: &Store,
    request: &ScanRequest,
) -> Result<SendableRecordBatchStream> {
    let table = store.table(&request.table, false)?;
    let provider = Arc::new(LeafTableProvider::new(table.snapshot()));
    let context = SessionContext::new_with_config(scan_config());
    let mut frame = context.read_table(provider)?;
    let timestamp = |micros| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        ))
    };
    if let Some(min) = request.min_time_micros {
        frame = frame.filter(col(TIME_COLUMN).gt_eq(timestamp(min)))?;
    }
    if let Some(max) = request.max_time_micros {
        frame = frame.filter(col(TIME_COLUMN).lt(timestamp(max)))?;
    }
    if !request.filter.trim().is_empty() {
        let filter = frame.parse_sql_expr(&request.filter)?;
        frame = frame.filter(filter)?;
    }
    if !request.columns.is_empty() {
        frame = frame.select(request.columns.iter().map(ident).collect::<Vec<_>>())?;
    }
    if let Some(limit) = request.limit {
        frame = frame.limit(0, Some(limit as usize))?;
    }
    Ok(frame.execute_stream().await?)
}

/// DataFusion settings for leaf-local execution.
pub fn scan_config() -> SessionConfig {
    SessionConfig::new()
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .with_information_schema(false)
}
