//! How much of the data an answer covers, gathered while a query runs.
//!
//! Every fan-out reports, per child, either the child's own completeness
//! (a leaf: one leaf queried, one answered, its rows; a child aggregator: the
//! sums of its subtree) or its failure (all leaves behind it queried, none
//! answered, its rows by its last status unreached). Counts add up through a
//! tree because each level passes on sums.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use shoal_proto::FragmentCompleteness;

use crate::answers_so_far::AnswersSoFar;

/// Completeness of one answer, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    pub leaves_queried: u64,
    pub leaves_answered: u64,
    /// `leaves_answered / leaves_queried` (1 when no leaf was queried).
    pub ratio: f64,
    /// Share of the queried tables' rows held by the leaves that answered.
    pub rows_ratio: f64,
}

impl Completeness {
    /// From counts.
    pub fn from_counts(counts: &FragmentCompleteness) -> Self {
        let ratio = match counts.leaves_queried {
            0 => 1.0,
            queried => counts.leaves_answered as f64 / queried as f64,
        };
        let rows_ratio = match counts.rows_queried {
            0 => ratio,
            queried => counts.rows_answered as f64 / queried as f64,
        };
        Self {
            leaves_queried: counts.leaves_queried,
            leaves_answered: counts.leaves_answered,
            ratio,
            rows_ratio,
        }
    }

    /// The completeness of an answer that needed no leaf.
    pub fn complete() -> Self {
        Self::from_counts(&FragmentCompleteness::default())
    }

    /// The HTTP headers, gRPC headers and trailers that carry this
    /// completeness.
    pub fn headers(&self) -> http::HeaderMap {
        let pairs = [
            ("x-shoal-leaves-queried", self.leaves_queried.to_string()),
            ("x-shoal-leaves-answered", self.leaves_answered.to_string()),
            ("x-shoal-completeness", format!("{:.6}", self.ratio)),
            ("x-shoal-rows-ratio", format!("{:.6}", self.rows_ratio)),
        ];
        let mut headers = http::HeaderMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            // Digits and dots are always valid header values.
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        headers
    }

    /// As JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a child was left out of an answer.
#[derive(Debug, Clone)]
pub struct ChildFailure {
    /// Which child, and what went wrong.
    pub reason: String,
    /// The child's own message when it refused the query itself (a
    /// division by zero, a function past its limit: gRPC
    /// `InvalidArgument`), which any other child would refuse too.
    pub refusal: Option<String>,
}

impl ChildFailure {
    /// A failure that says nothing of the query (a deadline, a lost
    /// connection).
    pub fn other(reason: String) -> Self {
        Self {
            reason,
            refusal: None,
        }
    }

    /// The child at `address` answered `status`.
    pub fn from_status(address: &str, status: &tonic::Status) -> Self {
        let refusal =
            (status.code() == tonic::Code::InvalidArgument).then(|| status.message().to_string());
        Self {
            reason: format!("leaf {address}: {}", status.message()),
            refusal,
        }
    }
}

/// What one query learns about its children while it runs.
#[derive(Debug, Default)]
pub struct CompletenessCollector {
    children: Mutex<BTreeMap<usize, FragmentCompleteness>>,
    failures: Mutex<Vec<ChildFailure>>,
    /// Tables the fan-outs read (for [`crate::time_completeness`]).
    tables: Mutex<BTreeSet<String>>,
}

impl CompletenessCollector {
    /// Child `index` answered a fan-out with `reported` counts.
    pub fn record_answer(&self, index: usize, reported: FragmentCompleteness) {
        self.merge(index, reported);
    }

    /// Child `index` failed or missed the deadline.
    pub fn record_failure(&self, index: usize, leaves: u64, rows: u64, failure: ChildFailure) {
        self.merge(
            index,
            FragmentCompleteness {
                leaves_queried: leaves,
                leaves_answered: 0,
                rows_queried: rows,
                rows_answered: 0,
            },
        );
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(failure);
    }

    /// A child queried by several fan-outs of one query (a join, a union)
    /// counts its leaves once, as answered only if every part answered.
    fn merge(&self, index: usize, reported: FragmentCompleteness) {
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        children
            .entry(index)
            .and_modify(|counts| {
                counts.leaves_queried = counts.leaves_queried.max(reported.leaves_queried);
                counts.leaves_answered = counts.leaves_answered.min(reported.leaves_answered);
                counts.rows_queried += reported.rows_queried;
                counts.rows_answered += reported.rows_answered;
            })
            .or_insert(reported);
    }

    /// The sums over every child so far.
    pub fn counts(&self) -> FragmentCompleteness {
        let children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        children
            .values()
            .fold(FragmentCompleteness::default(), |mut sum, c| {
                sum.leaves_queried += c.leaves_queried;
                sum.leaves_answered += c.leaves_answered;
                sum.rows_queried += c.rows_queried;
                sum.rows_answered += c.rows_answered;
                sum
            })
    }

    /// The completeness so far.
    pub fn summary(&self) -> Completeness {
        Completeness::from_counts(&self.counts())
    }

    /// A fan-out reads `tables` on every child.
    pub fn record_tables(&self, tables: &[String]) {
        let mut known = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        known.extend(tables.iter().cloned());
    }

    /// The tables the fan-outs read so far.
    pub fn tables(&self) -> Vec<String> {
        let known = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        known.iter().cloned().collect()
    }

    /// Each child's counts so far, by child index.
    pub fn by_child(&self) -> BTreeMap<usize, FragmentCompleteness> {
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Why children were left out.
    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|failure| failure.reason.clone())
            .collect()
    }

    /// When some children failed and every one of them refused the query
    /// itself (see [`ChildFailure::refusal`]): the first one's reason.
    pub fn refused_by_all(&self) -> Option<String> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut refusals = failures.iter().map(|failure| failure.refusal.clone());
        let first = refusals.next()??;
        refusals.all(|refusal| refusal.is_some()).then_some(first)
    }
}

/// Per-query state the fan-outs read from DataFusion's session config.
#[derive(Debug)]
pub struct QueryContext {
    pub query_id: String,
    /// The query's snapshot time, µs since the epoch (this aggregator's
    /// clock when it was planned, or its parent's): which copy of a block
    /// moving between leaves it counts (`FragmentRequest.as_of_micros`).
    pub as_of_micros: i64,
    deadline: Mutex<Instant>,
    pub collector: CompletenessCollector,
    /// The children's answers as they come, for a progressive query.
    answers: Option<Arc<AnswersSoFar>>,
}

impl QueryContext {
    /// A query that must answer by `deadline`.
    pub fn new(query_id: String, deadline: Instant) -> Self {
        Self {
            query_id,
            as_of_micros: shoal_contract::table_names::now_micros(),
            deadline: Mutex::new(deadline),
            collector: CompletenessCollector::default(),
            answers: None,
        }
    }

    /// The same query with a parent's snapshot time (none when 0).
    pub fn as_of(mut self, as_of_micros: i64) -> Self {
        if as_of_micros != 0 {
            self.as_of_micros = as_of_micros;
        }
        self
    }

    /// The same query, keeping its children's answers as they come when
    /// `progressive` (for intermediate answers).
    pub fn keeping_answers(mut self, progressive: bool) -> Self {
        self.answers = progressive.then(Arc::default);
        self
    }

    /// Where the fan-outs put their children's answers, for a progressive
    /// query.
    pub fn answers(&self) -> Option<&Arc<AnswersSoFar>> {
        self.answers.as_ref()
    }

    /// When the query stops waiting for children.
    pub fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the deadline (a `SET shoal.deadline` in the same request).
    pub fn set_deadline(&self, deadline: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = deadline;
    }
}
