//! The leaf's [`ScanResolver`]: what a decoded plan fragment scans in
//! place of its table scan placeholder, the blocks of this leaf's store
//! that the query's snapshot time counts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::physical_plan::ExecutionPlan;
use shoal_contract::fragment::{ScanResolver, TableScanSpec};

use crate::provider::LeafTableProvider;
use crate::store::Store;
use crate::table::TableSnapshot;

/// A leaf's resolver: the real scan over its blocks (none when it does not
/// hold the table).
#[derive(Debug, Clone)]
pub struct StoreResolver {
    pub store: Arc<Store>,
    pub target_partitions: usize,
    /// The fragment's deadline: its scans stop there.
    pub deadline: std::time::Instant,
    /// Tables resolved so far, with their rows and rows lost when their
    /// snapshot was taken.
    pub scanned: Arc<Mutex<BTreeMap<String, (u64, u64)>>>,
    /// Rows of bad blocks the fragment's scans skipped.
    pub skipped_rows: Arc<std::sync::atomic::AtomicU64>,
    /// The query's snapshot time (µs): which copy of a block moving
    /// between leaves counts ([`crate::table::Move`]).
    pub as_of: i64,
}

impl StoreResolver {
    /// The tables this resolver has put scans in for, sorted.
    pub fn scanned_tables(&self) -> Vec<String> {
        self.scanned
            .lock()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Rows and rows lost of the scanned tables, each counted once.
    pub fn scanned_rows(&self) -> (u64, u64) {
        self.scanned
            .lock()
            .map(|t| {
                t.values()
                    .fold((0, 0), |(rows, lost), (r, l)| (rows + r, lost + l))
            })
            .unwrap_or_default()
    }
}

impl ScanResolver for StoreResolver {
    fn resolve(&self, spec: TableScanSpec) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snapshot = match self.store.table(&spec.table, false) {
            Ok(table) => table
                .snapshot_at(self.as_of)
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
            Err(_) => TableSnapshot::empty(),
        };
        if let Ok(mut scanned) = self.scanned.lock() {
            scanned
                .entry(spec.table.clone())
                .or_insert((snapshot.rows, snapshot.rows_lost));
        }
        LeafTableProvider::with_schema(snapshot, spec.schema.clone())
            .with_deadline(self.deadline)
            .counting_skipped(self.skipped_rows.clone())
            .plan_scan(
                self.target_partitions,
                spec.projection.as_ref(),
                &spec.filters,
            )
    }
}
