//! Intermediate answers of a progressive query: what its fan-outs have
//! gathered so far, and the answer its plan gives over just that.
//!
//! ```text
//!   the plan, run as usual                 a copy, run here over what came
//!   (the final answer)                     (an intermediate answer)
//!   AggregateExec(FinalPartitioned)        AggregateExec(FinalPartitioned)
//!     RepartitionExec(Hash)                  RepartitionExec(Hash)
//!       FanOutExec ── each child's whole ──►   DataSourceExec(memory): the
//!         answer (or failure), as it          answers so far, one partition
//!         comes, into AnswersSoFar            per child (empty while pending)
//! ```
//!
//! Every [`FanOutExec`] of a progressive query hands each child's whole
//! answer to the query's [`AnswersSoFar`] as well as to the plan. While the
//! final answer is computed, [`alongside`] waits for more children to
//! answer and then runs a copy of the physical plan in which every fan-out
//! is replaced by the answers it has so far: one copy at a time, the first
//! no sooner than [`FIRST_AFTER`] into the query, then at least
//! [`MIN_INTERVAL`] apart, none once every child has reported (the final
//! answer is then moments away) or once the answers held pass
//! [`MAX_GATHERED_BYTES`]. A copy never waits for a child and is dropped as
//! soon as the final answer is ready. This module does not know how the
//! answers reach a client (see `http/progressive.rs`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::memory::{DataSourceExec, MemorySourceConfig};
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::analyze::AnalyzeExec;
use datafusion::physical_plan::recursive_query::RecursiveQueryExec;
use datafusion::physical_plan::scalar_subquery::ScalarSubqueryExec;
use datafusion::physical_plan::work_table::WorkTableExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use shoal_contract::query_memory::with_memory_limit;
use shoal_proto::FragmentCompleteness;
use tokio::sync::{mpsc, watch};
use tracing::debug;

use crate::completeness::{CompletenessCollector, QueryContext};
use crate::error::{AggregatorError, Result};
use crate::fanout::FanOutExec;
use crate::fleet::Fleet;
use crate::query::{QueryOutcome, collect_within, hydrate_dictionaries};
use crate::time_completeness::QueryReach;

/// Most bytes of children's answers a query keeps for intermediate answers;
/// past it, it gives only its final answer.
pub const MAX_GATHERED_BYTES: usize = 64 * 1024 * 1024;

/// Least time between two intermediate answers.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Least time from the start of a query to its first intermediate answer:
/// a query whose children all answer by then (the usual case on a healthy
/// fleet) gives its final answer only, without the cost of merging,
/// sending and drawing an answer that is replaced moments later.
pub const FIRST_AFTER: Duration = Duration::from_millis(250);

/// Where intermediate answers go: a full channel (a slow client) skips one.
pub type IntermediateSender = mpsc::Sender<QueryOutcome>;

/// One child's whole answer to one fan-out (no batches when it failed).
#[derive(Debug, Clone)]
struct ChildAnswer {
    child_index: usize,
    batches: Vec<RecordBatch>,
    counts: FragmentCompleteness,
}

/// The answers, by fan-out id and output partition.
type Answers = HashMap<(u64, usize), ChildAnswer>;

#[derive(Debug, Default)]
struct Gathered {
    answers: Answers,
    bytes: usize,
    over_limit: bool,
}

/// The children's answers of one progressive query, as they come.
#[derive(Debug)]
pub struct AnswersSoFar {
    gathered: Mutex<Gathered>,
    /// Counts the answers recorded, to wake [`alongside`].
    recorded: watch::Sender<u64>,
}

impl Default for AnswersSoFar {
    fn default() -> Self {
        Self {
            gathered: Mutex::default(),
            recorded: watch::channel(0).0,
        }
    }
}

impl AnswersSoFar {
    /// Child `child_index`, partition `partition` of fan-out `fan_out`,
    /// answered `batches` with `counts` (or failed: no batches, counts of a
    /// child that did not answer).
    pub fn record(
        &self,
        fan_out: u64,
        partition: usize,
        child_index: usize,
        batches: &[RecordBatch],
        counts: FragmentCompleteness,
    ) {
        {
            let mut gathered = self.gathered.lock().unwrap_or_else(|p| p.into_inner());
            gathered.bytes += batches
                .iter()
                .map(RecordBatch::get_array_memory_size)
                .sum::<usize>();
            if gathered.bytes > MAX_GATHERED_BYTES && !gathered.over_limit {
                debug!(
                    bytes = gathered.bytes,
                    "answers over the limit for intermediate answers"
                );
                gathered.over_limit = true;
                gathered
                    .answers
                    .values_mut()
                    .for_each(|a| a.batches.clear());
            }
            let batches = match gathered.over_limit {
                true => Vec::new(),
                false => batches.to_vec(),
            };
            let answer = ChildAnswer {
                child_index,
                batches,
                counts,
            };
            gathered.answers.insert((fan_out, partition), answer);
        }
        self.recorded.send_modify(|count| *count += 1);
    }

    /// The answers so far (`None` past [`MAX_GATHERED_BYTES`]).
    fn snapshot(&self) -> Option<Answers> {
        let gathered = self.gathered.lock().unwrap_or_else(|p| p.into_inner());
        (!gathered.over_limit).then(|| gathered.answers.clone())
    }
}

/// What it takes to compute intermediate answers next to the final one.
#[derive(Debug)]
pub struct Intermediates {
    pub sink: IntermediateSender,
    /// The physical plan the final answer runs.
    pub plan: Arc<dyn ExecutionPlan>,
    /// The query's task context; copies get a memory pool of their own.
    pub task: Arc<TaskContext>,
    pub query: Arc<QueryContext>,
    pub fleet: Arc<Fleet>,
    pub memory_bytes: usize,
    /// Below it, an intermediate answer is not sent (the final one fails).
    pub min_completeness: f64,
    pub started: Instant,
    /// When intermediate work stops, like the final answer's.
    pub cut_off: Instant,
}

/// Awaits `work` (the final answer); meanwhile, with `intermediates`, sends
/// intermediate answers as children answer (see the module docs).
pub async fn alongside<T>(
    work: impl Future<Output = T>,
    intermediates: Option<Intermediates>,
) -> T {
    let Some(intermediates) = intermediates else {
        return work.await;
    };
    let Some(answers) = intermediates.query.answers().cloned() else {
        return work.await;
    };
    // Subscribed before the work starts, so no answer goes unnoticed.
    let recorded = answers.recorded.subscribe();
    tokio::pin!(work);
    tokio::select! {
        biased;
        done = &mut work => done,
        () = intermediates.run(answers, recorded) => work.await,
    }
}

/// A fan-out of the plan, and what its children count while pending.
struct FanOutShape {
    id: u64,
    tables: Vec<String>,
    unanswered: Vec<(usize, FragmentCompleteness)>,
}

impl Intermediates {
    /// Sends intermediate answers until none is worth computing any more.
    async fn run(self, answers: Arc<AnswersSoFar>, mut recorded: watch::Receiver<u64>) {
        let Some(shapes) = fan_outs(&self.plan) else {
            return;
        };
        // A quarter of the query's memory limit: the copies run beside the
        // query itself, which keeps its whole limit; a copy that runs out
        // only means no more intermediate answers.
        let task = match with_memory_limit(&self.task, self.memory_bytes / 4) {
            Ok(task) => task,
            Err(error) => {
                debug!(%error, "no intermediate answers");
                return;
            }
        };
        let mut last_sent: Option<(Instant, FragmentCompleteness)> = None;
        let first_at = self.started + FIRST_AFTER;
        while recorded.changed().await.is_ok() {
            let not_before = match last_sent {
                Some((at, _)) => at + MIN_INTERVAL,
                None => first_at,
            };
            tokio::time::sleep_until(not_before.into()).await;
            recorded.borrow_and_update();
            let Some(gathered) = answers.snapshot() else {
                return;
            };
            let every_child_reported = shapes.iter().all(|shape| {
                (0..shape.unanswered.len()).all(|p| gathered.contains_key(&(shape.id, p)))
            });
            if every_child_reported {
                return;
            }
            let reach = reach_so_far(&shapes, &gathered);
            let counts = reach.counts();
            let completeness = reach.summary();
            let nothing_new = last_sent.is_some_and(|(_, sent)| sent == counts);
            let none_answered = !gathered.values().any(|a| a.counts.leaves_answered > 0);
            if none_answered || nothing_new || completeness.ratio < self.min_completeness {
                continue;
            }
            let (schema, batches) = match self.compute(&task, &gathered).await {
                Ok(answer) => answer,
                Err(error) => {
                    debug!(%error, "no more intermediate answers");
                    return;
                }
            };
            let outcome = QueryOutcome {
                query_id: self.query.query_id.clone(),
                schema,
                batches,
                completeness,
                elapsed: self.started.elapsed(),
                sources: Vec::new(),
                reach: Some(QueryReach::new(self.fleet.clone(), &reach)),
                plan_reused: false,
            };
            match self.sink.try_send(outcome) {
                Ok(()) => last_sent = Some((Instant::now(), counts)),
                Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    }

    /// The plan's answer over `gathered`.
    async fn compute(
        &self,
        task: &Arc<TaskContext>,
        gathered: &Answers,
    ) -> Result<(arrow::datatypes::SchemaRef, Vec<RecordBatch>)> {
        let plan = plan_over(&self.plan, gathered).map_err(AggregatorError::from)?;
        let batches = collect_within(plan.clone(), task.clone(), self.cut_off).await?;
        hydrate_dictionaries(&plan.schema(), batches)
    }
}

/// The fan-outs of `plan`; `None` when it has none, or holds an operator
/// whose copy would share state with the original (a scalar subquery's
/// results, a recursive query's work table) or make no sense twice
/// (`EXPLAIN ANALYZE`).
fn fan_outs(plan: &Arc<dyn ExecutionPlan>) -> Option<Vec<FanOutShape>> {
    let mut shapes = Vec::new();
    let mut copyable = true;
    let walked = plan.apply(|node| {
        if node.downcast_ref::<ScalarSubqueryExec>().is_some()
            || node.downcast_ref::<RecursiveQueryExec>().is_some()
            || node.downcast_ref::<WorkTableExec>().is_some()
            || node.downcast_ref::<AnalyzeExec>().is_some()
        {
            copyable = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        if let Some(fan_out) = node.downcast_ref::<FanOutExec>() {
            shapes.push(FanOutShape {
                id: fan_out.id(),
                tables: fan_out.tables().to_vec(),
                unanswered: fan_out.unanswered_children(),
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    (walked.is_ok() && copyable && !shapes.is_empty()).then_some(shapes)
}

/// Completeness as of `gathered`: children that have not reported count as
/// queried, not answered.
fn reach_so_far(shapes: &[FanOutShape], gathered: &Answers) -> CompletenessCollector {
    let collector = CompletenessCollector::default();
    for shape in shapes {
        collector.record_tables(&shape.tables);
        for (partition, (child_index, unanswered)) in shape.unanswered.iter().enumerate() {
            match gathered.get(&(shape.id, partition)) {
                Some(answer) => collector.record_answer(answer.child_index, answer.counts),
                None => collector.record_answer(*child_index, *unanswered),
            }
        }
    }
    collector
}

/// A copy of `plan` with fresh operator state, every fan-out replaced by
/// the answers it has in `gathered` (one partition per child, so operators
/// above see the same partitioning, and the same order where the fan-out
/// had one).
fn plan_over(
    plan: &Arc<dyn ExecutionPlan>,
    gathered: &Answers,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    plan.clone()
        .transform_up(|node| {
            let Some(fan_out) = node.downcast_ref::<FanOutExec>() else {
                return Ok(Transformed::yes(node.reset_state()?));
            };
            let partitions: Vec<Vec<RecordBatch>> =
                (0..node.output_partitioning().partition_count())
                    .map(|partition| {
                        gathered
                            .get(&(fan_out.id(), partition))
                            .map(|answer| answer.batches.clone())
                            .unwrap_or_default()
                    })
                    .collect();
            let mut source = MemorySourceConfig::try_new(&partitions, fan_out.schema(), None)?;
            if let Some(ordering) = node.output_ordering() {
                source = source.try_with_sort_information(vec![ordering.clone()])?;
            }
            let source: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(source);
            Ok(Transformed::yes(source))
        })
        .map(|transformed| transformed.data)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let values = Int64Array::from_iter_values((0..rows as i64).map(|i| i % 7));
        RecordBatch::try_new(schema, vec![Arc::new(values)]).unwrap()
    }

    fn answered(rows: u64) -> FragmentCompleteness {
        FragmentCompleteness {
            leaves_queried: 1,
            leaves_answered: 1,
            rows_queried: rows,
            rows_answered: rows,
        }
    }

    fn pending(rows: u64) -> FragmentCompleteness {
        FragmentCompleteness {
            leaves_answered: 0,
            rows_answered: 0,
            ..answered(rows)
        }
    }

    #[test]
    fn answers_past_the_limit_give_no_intermediate_answer() {
        let answers = AnswersSoFar::default();
        let recorded = answers.recorded.subscribe();
        answers.record(7, 0, 0, &[batch(10)], answered(10));
        assert!(recorded.has_changed().unwrap());
        let gathered = answers.snapshot().expect("under the limit");
        assert_eq!(gathered[&(7, 0)].batches[0].num_rows(), 10);

        let large = batch(MAX_GATHERED_BYTES / 8 + 1);
        answers.record(7, 1, 1, &[large], answered(1));
        assert!(answers.snapshot().is_none());
        // Children still report (for "every child reported"), without rows.
        answers.record(7, 2, 2, &[batch(10)], answered(10));
        let gathered = answers.gathered.lock().unwrap();
        assert_eq!(gathered.answers.len(), 3);
        assert!(gathered.answers.values().all(|a| a.batches.is_empty()));
    }

    #[test]
    fn completeness_so_far_counts_pending_children_as_not_answered() {
        let shape = |id| FanOutShape {
            id,
            tables: vec!["events".to_string()],
            unanswered: vec![(0, pending(100)), (1, pending(300))],
        };
        let one_fan_out = [shape(1)];
        let mut gathered = Answers::new();
        gathered.insert(
            (1, 1),
            ChildAnswer {
                child_index: 1,
                batches: Vec::new(),
                counts: answered(300),
            },
        );
        let counts = reach_so_far(&one_fan_out, &gathered).counts();
        assert_eq!(
            (counts.leaves_queried, counts.leaves_answered),
            (2, 1),
            "{counts:?}"
        );
        assert_eq!((counts.rows_queried, counts.rows_answered), (400, 300));
        assert_eq!(reach_so_far(&one_fan_out, &gathered).tables(), ["events"]);

        // A child counts as answered once it answered every fan-out.
        let two_fan_outs = [shape(1), shape(2)];
        let counts = reach_so_far(&two_fan_outs, &gathered).counts();
        assert_eq!((counts.leaves_queried, counts.leaves_answered), (2, 0));
        gathered.insert(
            (2, 1),
            ChildAnswer {
                child_index: 1,
                batches: Vec::new(),
                counts: answered(300),
            },
        );
        let counts = reach_so_far(&two_fan_outs, &gathered).counts();
        assert_eq!((counts.leaves_queried, counts.leaves_answered), (2, 1));
    }
}
