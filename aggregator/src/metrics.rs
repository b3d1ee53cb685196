//! Prometheus metrics of an aggregator (`GET /metrics`): queries by outcome,
//! query latency, completeness of answers, leaves up, rows ingested.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::Result;
use crate::fleet::Fleet;
use crate::query::QueryOutcome;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The aggregator's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    fleet: Arc<Fleet>,
    queries: Family<OutcomeLabel, Counter>,
    latency: Histogram,
    completeness: Histogram,
    leaves_up: Gauge,
    leaves_configured: Gauge,
    ingested_rows: Counter,
    plans_reused: Counter,
}

impl Metrics {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        let mut registry = Registry::with_prefix("shoal");
        let queries = Family::<OutcomeLabel, Counter>::default();
        let latency = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        let completeness = Histogram::new([0.25, 0.5, 0.75, 0.9, 0.99, 1.0]);
        let leaves_up = Gauge::default();
        let leaves_configured = Gauge::default();
        let ingested_rows = Counter::default();
        let plans_reused = Counter::default();
        registry.register("queries", "Queries answered, by outcome", queries.clone());
        registry.register(
            "query_duration_seconds",
            "Time to answer a query",
            latency.clone(),
        );
        registry.register(
            "query_completeness_ratio",
            "Share of the leaves that answered, per query",
            completeness.clone(),
        );
        registry.register(
            "leaves_up",
            "Children that answered their last status call",
            leaves_up.clone(),
        );
        registry.register(
            "leaves_configured",
            "Children this aggregator fans out to",
            leaves_configured.clone(),
        );
        registry.register(
            "ingested_rows",
            "Rows acknowledged by leaves",
            ingested_rows.clone(),
        );
        registry.register(
            "query_plans_reused",
            "Queries whose plan was kept from an earlier query of the same text",
            plans_reused.clone(),
        );
        Self {
            registry,
            fleet,
            queries,
            latency,
            completeness,
            leaves_up,
            leaves_configured,
            ingested_rows,
            plans_reused,
        }
    }

    /// Counts one query's outcome.
    pub fn observe(&self, outcome: &Result<QueryOutcome>) {
        let label = match outcome {
            Ok(answer) => {
                if answer.plan_reused {
                    self.plans_reused.inc();
                }
                self.latency.observe(answer.elapsed.as_secs_f64());
                self.completeness.observe(answer.completeness.ratio);
                if answer.completeness.ratio < 1.0 {
                    "partial"
                } else {
                    "complete"
                }
            }
            Err(_) => "error",
        };
        self.queries
            .get_or_create(&OutcomeLabel { outcome: label })
            .inc();
    }

    /// Counts rows acknowledged by leaves.
    pub fn ingested(&self, rows: u64) {
        self.ingested_rows.inc_by(rows);
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        self.leaves_up.set(self.fleet.live_children().len() as i64);
        self.leaves_configured
            .set(self.fleet.children().len() as i64);
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}
