//! The system table `_shoal_dashboards`, where saved dashboards are kept:
//! in the leaves, so that every aggregator serves them and they outlive
//! any process (leaves keep system tables past retention and the memory
//! limit: [`shoal_contract::table_names::SYSTEM_TABLE_PREFIX`]).
//!
//! Every save and every delete appends one row; nothing is updated in place.
//!
//! ```text
//!  time     timestamp  when it was saved: the version (latest wins)
//!  name     string     the dashboard's name
//!  save_id  string     random; orders two saves of the same microsecond
//!  deleted  boolean    true: a tombstone (the dashboard was deleted)
//!  title    string     the spec's title, for the list ("" in a tombstone)
//!  panels   integer    its number of panels, for the list
//!  spec     string     the spec's JSON text ("" in a tombstone)
//! ```
//!
//! A dashboard is its row with the greatest `(time, save_id)`, the same on
//! every aggregator, unless that row is a tombstone. Rows are written
//! through the ingest path every front end shares ([`store_rows`]: answered
//! once a leaf holds them) and read with SQL through the [`QueryEngine`], so
//! an answer carries its completeness: with a leaf down, the versions it
//! holds are missing (an older version, or none, may be answered).
//!
//! A save's time is this aggregator's clock, but never at or before the
//! version it replaces nor a time this aggregator gave before: a save read
//! back, even through another aggregator with a slower clock, is newer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use serde_json::{Map, Value};
use shoal_proto::FragmentCompleteness;

use crate::auth::Caller;
use crate::completeness::Completeness;
use crate::error::AggregatorError;
use crate::ingest::json_rows::JsonRow;
use crate::ingest::state::IngestState;
use crate::ingest::store::{StoreError, store_rows};
use crate::query::{QueryEngine, QueryOptions, QueryOutcome};

use super::DashboardError;
use super::spec::CheckedSpec;

/// The system table's name.
pub const TABLE: &str = "_shoal_dashboards";

/// One row of the table: a save or a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub name: String,
    pub time_micros: i64,
    pub save_id: String,
    pub deleted: bool,
    pub title: String,
    pub panels: i64,
    /// Empty unless asked for (and in tombstones).
    pub spec: String,
}

impl Version {
    /// When it was saved, in milliseconds since the epoch.
    pub fn updated_ms(&self) -> i64 {
        self.time_micros.div_euclid(1_000)
    }

    /// Whether it replaces `other` (greater `(time, save_id)`).
    fn is_newer_than(&self, other: &Version) -> bool {
        (self.time_micros, &self.save_id) > (other.time_micros, &other.save_id)
    }
}

/// Reads and appends the table's rows.
#[derive(Debug, Clone)]
pub struct DashboardTable {
    engine: QueryEngine,
    ingest: IngestState,
    /// The last save time this aggregator gave, in microseconds.
    last_time: Arc<AtomicI64>,
}

impl DashboardTable {
    pub fn new(engine: QueryEngine, ingest: IngestState) -> Self {
        Self {
            engine,
            ingest,
            last_time: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The latest version of every dashboard that is not deleted, by name.
    pub async fn list(&self) -> Result<(Vec<Version>, Completeness), DashboardError> {
        let sql = format!("SELECT time, name, save_id, deleted, title, panels FROM {TABLE}");
        let Some(outcome) = self.query(&sql).await? else {
            return Ok((Vec::new(), self.completeness_without_table()));
        };
        let mut latest: BTreeMap<String, Version> = BTreeMap::new();
        for version in versions(&outcome, false)? {
            match latest.get(&version.name) {
                Some(kept) if !version.is_newer_than(kept) => {}
                _ => {
                    latest.insert(version.name.clone(), version);
                }
            }
        }
        let live = latest.into_values().filter(|v| !v.deleted).collect();
        Ok((live, outcome.completeness))
    }

    /// The latest version of dashboard `name` (a tombstone too), with its
    /// spec when `with_spec`; `None` when it was never saved.
    pub async fn latest(
        &self,
        name: &str,
        with_spec: bool,
    ) -> Result<(Option<Version>, Completeness), DashboardError> {
        let spec = if with_spec { ", spec" } else { "" };
        // Names are checked ([`super::spec::check_name`]): no quote in them.
        let sql = format!(
            "SELECT time, name, save_id, deleted, title, panels{spec} FROM {TABLE} \
             WHERE name = '{}' ORDER BY time DESC, save_id DESC LIMIT 1",
            name.replace('\'', "''")
        );
        let Some(outcome) = self.query(&sql).await? else {
            return Ok((None, self.completeness_without_table()));
        };
        let found = versions(&outcome, with_spec)?.into_iter().next();
        Ok((found, outcome.completeness))
    }

    /// Saves `spec` as dashboard `name`; the version written.
    pub async fn save(&self, name: &str, spec: &CheckedSpec) -> Result<Version, DashboardError> {
        let (previous, _) = self.latest(name, false).await?;
        let version = Version {
            name: name.to_string(),
            time_micros: self.next_time(previous.as_ref()),
            save_id: format!("{:016x}", rand::random::<u64>()),
            deleted: false,
            title: spec.title.clone(),
            panels: spec.panels as i64,
            spec: spec.text.clone(),
        };
        self.append(&version).await?;
        Ok(version)
    }

    /// Deletes dashboard `name`; the tombstone written.
    /// [`DashboardError::NotFound`] when there is no such dashboard (never
    /// saved, or deleted already).
    pub async fn delete(&self, name: &str) -> Result<Version, DashboardError> {
        let (previous, completeness) = self.latest(name, false).await?;
        let Some(previous) = previous.filter(|v| !v.deleted) else {
            return Err(DashboardError::NotFound {
                name: name.to_string(),
                completeness,
            });
        };
        let tombstone = Version {
            name: name.to_string(),
            time_micros: self.next_time(Some(&previous)),
            save_id: format!("{:016x}", rand::random::<u64>()),
            deleted: true,
            title: String::new(),
            panels: 0,
            spec: String::new(),
        };
        self.append(&tombstone).await?;
        Ok(tombstone)
    }

    /// How long a save's body may take to arrive (`--body-timeout`).
    pub fn body_timeout(&self) -> std::time::Duration {
        self.ingest.body_timeout
    }

    /// Now, but after `previous` and after every time given before.
    fn next_time(&self, previous: Option<&Version>) -> i64 {
        let floor = previous.map_or(i64::MIN, |v| v.time_micros.saturating_add(1));
        let now = shoal_contract::table_names::now_micros().max(floor);
        let mut chosen = now;
        // `fetch_update` with a closure that always succeeds never fails.
        let _ = self
            .last_time
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                chosen = now.max(last.saturating_add(1));
                Some(chosen)
            });
        chosen
    }

    /// Appends one row; answered once a leaf holds it.
    async fn append(&self, version: &Version) -> Result<(), DashboardError> {
        let Some(_room) = self.ingest.reserve(version.spec.len()) else {
            return Err(DashboardError::Busy(
                "the ingest buffer is full; retry shortly".to_string(),
            ));
        };
        let mut fields = Map::new();
        fields.insert("time".into(), Value::from(version.time_micros));
        fields.insert("name".into(), Value::from(version.name.clone()));
        fields.insert("save_id".into(), Value::from(version.save_id.clone()));
        fields.insert("deleted".into(), Value::from(version.deleted));
        fields.insert("title".into(), Value::from(version.title.clone()));
        fields.insert("panels".into(), Value::from(version.panels));
        fields.insert("spec".into(), Value::from(version.spec.clone()));
        let rows = Arc::new(vec![JsonRow { line: 1, fields }]);
        // The HTTP layer checked the caller's role (`read` may save
        // dashboards); the system table is written on Shoal's own behalf.
        let stored = store_rows(&self.ingest, &Caller::trusted(), TABLE, rows)
            .await
            .map_err(|error| match error {
                StoreError::NoLeaf { reason, .. } => DashboardError::NoLeaf(reason),
                other => DashboardError::Internal(format!(
                    "the leaves refused dashboard {:?}'s row: {other}",
                    version.name
                )),
            })?;
        if stored.accepted == 1 {
            return Ok(());
        }
        let reasons: Vec<String> = stored.errors.into_iter().map(|e| e.reason).collect();
        Err(DashboardError::Internal(format!(
            "dashboard {:?}'s row does not fit table {TABLE}: {}",
            version.name,
            reasons.join("; ")
        )))
    }

    /// Runs `sql` on Shoal's own behalf; `None` when no child has the
    /// table (no dashboard was ever saved, or the leaves that hold them
    /// have not been heard from).
    async fn query(&self, sql: &str) -> Result<Option<QueryOutcome>, DashboardError> {
        let options = QueryOptions {
            caller: Some(Caller::trusted()),
            ..Default::default()
        };
        // `run` asks the children for their status once more before it says
        // a table is not found, so a table made through another aggregator
        // a moment ago is seen.
        match self.engine.run(sql, options).await {
            Ok(outcome) => Ok(Some(outcome)),
            Err(AggregatorError::Query(_)) if self.engine.fleet().table(TABLE).is_none() => {
                Ok(None)
            }
            Err(error) => Err(DashboardError::Query(error)),
        }
    }

    /// The completeness of "no child has the table": the leaves that
    /// answered their last status call answered.
    fn completeness_without_table(&self) -> Completeness {
        let fleet = self.engine.fleet();
        let leaves = |children: &[Arc<crate::fleet::Child>]| -> u64 {
            children.iter().map(|child| child.leaf_count()).sum()
        };
        Completeness::from_counts(&FragmentCompleteness {
            leaves_queried: leaves(&fleet.children()),
            leaves_answered: leaves(&fleet.live_children()),
            rows_queried: 0,
            rows_answered: 0,
        })
    }
}

/// The rows of an answer, as versions.
fn versions(outcome: &QueryOutcome, with_spec: bool) -> Result<Vec<Version>, DashboardError> {
    let mut found = Vec::new();
    for batch in &outcome.batches {
        let timestamps = column(
            batch,
            "time",
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let micros = cast(&timestamps, &DataType::Int64).map_err(arrow_error)?;
        let name_array = column(batch, "name", &DataType::Utf8)?;
        let save_id_array = column(batch, "save_id", &DataType::Utf8)?;
        let deleted_array = column(batch, "deleted", &DataType::Boolean)?;
        let title_array = column(batch, "title", &DataType::Utf8)?;
        let panels_array = column(batch, "panels", &DataType::Int64)?;
        let spec_array = match with_spec {
            true => Some(column(batch, "spec", &DataType::Utf8)?),
            false => None,
        };
        let time = micros.as_primitive::<Int64Type>();
        let name = name_array.as_string::<i32>();
        let save_id = save_id_array.as_string::<i32>();
        let deleted = deleted_array.as_boolean();
        let title = title_array.as_string::<i32>();
        let panels = panels_array.as_primitive::<Int64Type>();
        let spec = spec_array.as_ref().map(|array| array.as_string::<i32>());
        for row in 0..batch.num_rows() {
            if time.is_null(row) || name.is_null(row) {
                continue;
            }
            let text = |strings: &arrow::array::StringArray| match strings.is_null(row) {
                true => String::new(),
                false => strings.value(row).to_string(),
            };
            found.push(Version {
                name: name.value(row).to_string(),
                time_micros: time.value(row),
                save_id: text(save_id),
                deleted: !deleted.is_null(row) && deleted.value(row),
                title: text(title),
                panels: match panels.is_null(row) {
                    true => 0,
                    false => panels.value(row),
                },
                spec: spec.map(text).unwrap_or_default(),
            });
        }
    }
    Ok(found)
}

/// Column `name` of `batch`, cast to `to`.
fn column(
    batch: &RecordBatch,
    name: &str,
    to: &DataType,
) -> Result<arrow::array::ArrayRef, DashboardError> {
    let index = batch
        .schema()
        .index_of(name)
        .map_err(|_| DashboardError::Internal(format!("table {TABLE} has no column {name:?}")))?;
    cast(batch.column(index), to).map_err(arrow_error)
}

fn arrow_error(error: arrow::error::ArrowError) -> DashboardError {
    DashboardError::Internal(format!("reading table {TABLE}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(time_micros: i64, save_id: &str) -> Version {
        Version {
            name: "d".to_string(),
            time_micros,
            save_id: save_id.to_string(),
            deleted: false,
            title: String::new(),
            panels: 0,
            spec: String::new(),
        }
    }

    #[test]
    fn the_later_save_wins_and_a_tie_goes_to_the_greater_save_id() {
        assert!(version(2, "0").is_newer_than(&version(1, "f")));
        assert!(version(1, "b").is_newer_than(&version(1, "a")));
        assert!(!version(1, "a").is_newer_than(&version(1, "a")));
        assert_eq!(version(1_234_567, "a").updated_ms(), 1_234);
    }
}
