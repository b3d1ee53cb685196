//! Faster partial aggregates over dictionary-encoded strings.
//!
//! Strings stay dictionary-encoded in a leaf's blocks, and DataFusion groups
//! a dictionary key column through its row format: every row's string bytes
//! are copied into a row and compared there, which was two thirds of a
//! `GROUP BY service, region, status` over 10M rows. Its group-value code
//! for string *views* is vectorized and much faster, so before a leaf runs a
//! fragment, [`views_for_dictionary_groups`] makes each partial aggregate
//! group by the view form of its dictionary keys ([`DictionaryAsView`]:
//! views made for the dictionary's few values once, then gathered by key)
//! and casts the groups back to the dictionary type above it. What the leaf
//! sends is unchanged: same schema, same rows.
//!
//! Why not arrow's own cast to `Utf8View`: it makes each row's view from the
//! value's bytes; with it the 10M-row query above took 230 ms (the cast
//! half of it), with the gather 118 ms. It also reads a null dictionary
//! value as `""`, where the gather keeps it null.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Schema};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, PhysicalGroupBy};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{ExecutionPlan, InputOrderMode};

/// `plan` with every partial aggregate grouping dictionary strings by their
/// views instead; see the module docs.
pub fn views_for_dictionary_groups(
    plan: Arc<dyn ExecutionPlan>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
            return Ok(Transformed::no(node));
        };
        match rewrite(aggregate)? {
            Some(rewritten) => Ok(Transformed::yes(rewritten)),
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|transformed| transformed.data)
}

/// The rewritten aggregate, or `None` when it is not a partial aggregate
/// grouping by a dictionary string.
fn rewrite(aggregate: &AggregateExec) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
    let group_by = aggregate.group_expr();
    // An aggregate that streams over ordered groups keeps its plan: the
    // rebuilt one could not see the order through the view expression.
    if *aggregate.mode() != AggregateMode::Partial
        || group_by.has_grouping_set()
        || *aggregate.input_order_mode() != InputOrderMode::Linear
    {
        return Ok(None);
    }
    let input_schema = aggregate.input().schema();
    let mut changed = false;
    let mut exprs = Vec::with_capacity(group_by.expr().len());
    for (expr, name) in group_by.expr() {
        let expr = match expr.data_type(&input_schema)? {
            DataType::Dictionary(_, value) if *value == DataType::Utf8 => {
                changed = true;
                Arc::new(DictionaryAsView::new(expr.clone())) as Arc<dyn PhysicalExpr>
            }
            _ => expr.clone(),
        };
        exprs.push((expr, name.clone()));
    }
    if !changed {
        return Ok(None);
    }
    let grouped = PhysicalGroupBy::new(
        exprs,
        group_by.null_expr().to_vec(),
        group_by.groups().to_vec(),
        false,
    );
    let partial = AggregateExec::try_new(
        AggregateMode::Partial,
        grouped,
        aggregate.aggr_expr().to_vec(),
        aggregate.filter_expr().to_vec(),
        aggregate.input().clone(),
        aggregate.input_schema(),
    )?
    .with_limit_options(aggregate.limit_options());
    let partial: Arc<dyn ExecutionPlan> = Arc::new(partial);
    Ok(Some(cast_back(partial, &aggregate.schema())?))
}

/// `plan` with each column cast to its type in `schema` where it differs.
fn cast_back(plan: Arc<dyn ExecutionPlan>, schema: &Schema) -> DfResult<Arc<dyn ExecutionPlan>> {
    let produced = plan.schema();
    let exprs = schema
        .fields()
        .iter()
        .zip(produced.fields())
        .enumerate()
        .map(|(index, (wanted, field))| {
            let column = Arc::new(Column::new(field.name(), index)) as Arc<dyn PhysicalExpr>;
            let expr = match wanted.data_type() == field.data_type() {
                true => column,
                false => Arc::new(CastExpr::new(column, wanted.data_type().clone(), None)),
            };
            (expr, wanted.name().clone())
        })
        .collect::<Vec<_>>();
    Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
}

/// A dictionary string column as string views: the views of the
/// dictionary's values, gathered by key.
#[derive(Debug, Eq)]
pub struct DictionaryAsView {
    input: Arc<dyn PhysicalExpr>,
}

// By hand: derived impls move out of the `Arc<dyn _>` (rust-lang/rust#78808).
impl PartialEq for DictionaryAsView {
    fn eq(&self, other: &Self) -> bool {
        self.input.eq(&other.input)
    }
}

impl std::hash::Hash for DictionaryAsView {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.input.hash(state);
    }
}

impl DictionaryAsView {
    pub fn new(input: Arc<dyn PhysicalExpr>) -> Self {
        Self { input }
    }
}

impl fmt::Display for DictionaryAsView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dictionary_as_view({})", self.input)
    }
}

impl PhysicalExpr for DictionaryAsView {
    fn data_type(&self, _schema: &Schema) -> DfResult<DataType> {
        Ok(DataType::Utf8View)
    }

    fn nullable(&self, schema: &Schema) -> DfResult<bool> {
        self.input.nullable(schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> DfResult<ColumnarValue> {
        let array = self.input.evaluate(batch)?.into_array(batch.num_rows())?;
        Ok(ColumnarValue::Array(as_views(array.as_ref())?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> DfResult<Arc<dyn PhysicalExpr>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self::new(input))),
            _ => Err(datafusion::error::DataFusionError::Internal(
                "dictionary_as_view takes one argument".to_string(),
            )),
        }
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dictionary_as_view(")?;
        self.input.fmt_sql(f)?;
        write!(f, ")")
    }
}

/// A dictionary (or any string array) as a `Utf8View` array.
fn as_views(array: &dyn Array) -> DfResult<Arc<dyn Array>> {
    match array.as_any_dictionary_opt() {
        Some(dictionary) => {
            let values = cast(dictionary.values().as_ref(), &DataType::Utf8View)?;
            Ok(take(values.as_ref(), dictionary.keys(), None)?)
        }
        None => Ok(cast(array, &DataType::Utf8View)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Int32Type};
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Two dictionary string columns and a number, in batches whose
    /// dictionaries differ, as blocks' do.
    fn table() -> MemTable {
        let dictionary = |keys: Vec<Option<i32>>, values: Vec<&str>| {
            let values = Arc::new(StringArray::from(values));
            Arc::new(DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values).unwrap())
        };
        let kind = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new("service", kind.clone(), true),
            Field::new("region", kind, true),
            Field::new("status", DataType::Int64, true),
        ]));
        let batch = |services: Vec<&str>, regions: Vec<&str>, keys: [Vec<Option<i32>>; 2]| {
            let [service_keys, region_keys] = keys;
            let statuses: Vec<i64> = (0..service_keys.len() as i64)
                .map(|i| 200 + i % 2)
                .collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    dictionary(service_keys, services),
                    dictionary(region_keys, regions),
                    Arc::new(Int64Array::from(statuses)),
                ],
            )
            .unwrap()
        };
        let first = batch(
            vec!["checkout", "search"],
            vec!["eu", "us"],
            [
                vec![Some(0), Some(1), Some(0), None, Some(1)],
                vec![Some(0), Some(0), Some(1), Some(1), None],
            ],
        );
        let second = batch(
            vec!["search", "a service name longer than twelve bytes"],
            vec!["us"],
            [
                vec![Some(0), Some(1), Some(1), Some(0)],
                vec![Some(0), Some(0), None, Some(0)],
            ],
        );
        MemTable::try_new(schema.clone(), vec![vec![first], vec![second]]).unwrap()
    }

    #[tokio::test]
    async fn grouping_by_views_answers_as_grouping_by_dictionaries() {
        let config = SessionConfig::new().with_target_partitions(2);
        let context = SessionContext::new_with_config(config);
        context.register_table("t", Arc::new(table())).unwrap();
        let sql = "SELECT service, region, status, count(*) AS n FROM t \
                   GROUP BY service, region, status ORDER BY service, region, status";
        let plan = context.sql(sql).await.unwrap();
        let plan = plan.create_physical_plan().await.unwrap();
        let rewritten = views_for_dictionary_groups(plan.clone()).unwrap();
        let shown = displayable(rewritten.as_ref()).indent(false).to_string();
        assert!(shown.contains("dictionary_as_view(service"), "{shown}");
        assert_eq!(rewritten.schema(), plan.schema());

        let expected = collect(plan, context.task_ctx()).await.unwrap();
        let answered = collect(rewritten, context.task_ctx()).await.unwrap();
        let expected = pretty_format_batches(&expected).unwrap().to_string();
        assert_eq!(
            pretty_format_batches(&answered).unwrap().to_string(),
            expected
        );
        assert!(expected.contains("a service name longer than twelve bytes"));
    }

    #[test]
    fn views_hold_the_dictionary_values_row_by_row() {
        let keys = Int32Array::from(vec![Some(1), None, Some(0), Some(1), Some(2)]);
        let values = StringArray::from(vec![
            Some("svc-checkout"),
            Some("a value longer than twelve bytes"),
            None,
        ]);
        let dictionary = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
        let views = as_views(&dictionary).unwrap();
        let views = views.as_string_view();
        let read: Vec<Option<&str>> = views.iter().collect();
        assert_eq!(
            read,
            vec![
                Some("a value longer than twelve bytes"),
                None,
                Some("svc-checkout"),
                Some("a value longer than twelve bytes"),
                None
            ]
        );
    }
}
