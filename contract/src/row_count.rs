//! A leaf's `count(*)` without a GROUP BY, counted from the batches' row
//! counts.
//!
//! DataFusion plans `count(*)` as `count(1)`, and its partial aggregate
//! turns the `1` into an array as long as each batch before counting it:
//! for a count over a day of the shared data set that was a tenth of the
//! query's CPU, allocating and filling 8 bytes a row. [`row_counts`] puts
//! [`RowCountExec`] in place of a partial aggregate without groups whose
//! every aggregate is a `count` of a non-null literal (no filter, no
//! DISTINCT): it adds up the rows of its input partition and emits the
//! same one-row partial state (one Int64 count per aggregate).

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::{StreamExt, stream};

/// `plan` with eligible partial counts counted from row counts.
pub fn row_counts(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
            return Ok(Transformed::no(node));
        };
        match eligible(aggregate) {
            true => {
                let inner = Arc::new(aggregate.clone());
                Ok(Transformed::yes(Arc::new(RowCountExec { inner }) as _))
            }
            false => Ok(Transformed::no(node)),
        }
    })
    .map(|transformed| transformed.data)
}

fn eligible(aggregate: &AggregateExec) -> bool {
    let counts_only = aggregate.aggr_expr().iter().all(|expr| {
        expr.fun().name() == "count"
            && !expr.is_distinct()
            && expr.order_bys().is_empty()
            && matches!(
                expr.expressions().as_slice(),
                [only] if only
                    .downcast_ref::<Literal>()
                    .is_some_and(|literal| !literal.value().is_null())
            )
    });
    let schema = aggregate.schema();
    *aggregate.mode() == AggregateMode::Partial
        && aggregate.group_expr().is_empty()
        && !aggregate.aggr_expr().is_empty()
        && aggregate.filter_expr().iter().all(Option::is_none)
        && aggregate.limit_options().is_none()
        && counts_only
        && schema.fields().len() == aggregate.aggr_expr().len()
        && schema
            .fields()
            .iter()
            .all(|field| field.data_type() == &DataType::Int64)
}

/// A partial `count(*)` from row counts; see the module docs.
#[derive(Debug)]
pub struct RowCountExec {
    /// The aggregate it replaces: its schema and properties.
    inner: Arc<AggregateExec>,
}

impl DisplayAs for RowCountExec {
    fn fmt_as(&self, format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RowCount")?;
        self.inner.fmt_as(format, f)
    }
}

#[allow(deprecated)]
impl ExecutionPlan for RowCountExec {
    fn name(&self) -> &str {
        "RowCountExec"
    }

    crate::aggregate_stand_in_methods!();

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut input = self.inner.input().execute(partition, context)?;
        let schema = self.inner.schema();
        let output = schema.clone();
        let counted = stream::once(async move {
            let mut rows = 0_i64;
            while let Some(batch) = input.next().await {
                rows += batch?.num_rows() as i64;
            }
            let columns: Vec<ArrayRef> = output
                .fields()
                .iter()
                .map(|_| Arc::new(Int64Array::from(vec![rows])) as ArrayRef)
                .collect();
            Ok(RecordBatch::try_new(output, columns)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, counted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array as Values, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};

    fn context() -> SessionContext {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = |from: i64, rows: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Values::from_iter(
                        (from..from + rows).map(|i| (i % 3 != 0).then_some(i)),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        (0..rows).map(|i| format!("s{}", i % 4)),
                    )),
                ],
            )
            .unwrap()
        };
        let table = MemTable::try_new(
            schema.clone(),
            vec![
                vec![batch(0, 1000), batch(1000, 7)],
                vec![batch(5000, 300)],
                vec![],
            ],
        )
        .unwrap();
        let context =
            SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
        context.register_table("t", Arc::new(table)).unwrap();
        context
    }

    async fn both_ways(context: &SessionContext, sql: &str) -> (String, String, bool) {
        // Two plans: a repartition runs once.
        let planned = || async {
            let frame = context.sql(sql).await.unwrap();
            frame.create_physical_plan().await.unwrap()
        };
        let counted = row_counts(planned().await).unwrap();
        let plan = planned().await;
        let used = displayable(counted.as_ref())
            .indent(false)
            .to_string()
            .contains("RowCountAggregateExec");
        let mut answers = Vec::new();
        for plan in [plan, counted] {
            let batches = collect(plan, context.task_ctx()).await.unwrap();
            let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap();
            let mut lines: Vec<String> = text.to_string().lines().map(str::to_string).collect();
            lines.sort();
            answers.push(lines.join("\n"));
        }
        let counted = answers.pop().unwrap();
        (answers.pop().unwrap(), counted, used)
    }

    #[tokio::test]
    async fn counts_of_rows_answer_as_datafusion_does() {
        let context = context();
        for sql in [
            // A filter, so DataFusion does not answer from statistics.
            "SELECT count(*) FROM t WHERE s <> 'x'",
            "SELECT count(*), count(1) AS c FROM t WHERE n > 100",
            "SELECT count(*) FROM t WHERE s = 'nope'",
        ] {
            let (expected, counted, used) = both_ways(&context, sql).await;
            assert!(used, "{sql}");
            assert_eq!(expected, counted, "{sql}");
        }
    }

    #[tokio::test]
    async fn other_aggregates_are_left_alone() {
        let context = context();
        for sql in [
            "SELECT count(n) FROM t",
            "SELECT count(*), sum(n) FROM t",
            "SELECT s, count(*) FROM t GROUP BY s",
            "SELECT count(*) FILTER (WHERE n > 5) FROM t",
            "SELECT count(DISTINCT s) FROM t",
        ] {
            let (expected, counted, used) = both_ways(&context, sql).await;
            assert!(!used, "{sql}");
            assert_eq!(expected, counted, "{sql}");
        }
    }
}
