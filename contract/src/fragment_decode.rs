//! Turning an admitted fragment ([`crate::fragment_policy`]) into a plan,
//! with the checks that need expressions or types and that
//! datafusion-proto does not make itself:
//!
//! - no dynamic filter expression anywhere, however deeply nested: one
//!   whose remapped children are fewer than its children indexes out of
//!   bounds while it is decoded. The split never sends one (sorts' and
//!   aggregates' own are taken out by [`crate::fragment_policy::admit_fragment`]).
//! - every aggregate's `FILTER (WHERE ...)` is boolean: a grouped partial
//!   aggregate casts it to a boolean array and panics otherwise.
//! - every aggregate's declared input schema is its input's: its
//!   expressions are decoded against the declared one, and a column
//!   declared boolean but holding integers reached the accumulators.
//! - every function call's declared type is the one the function gives
//!   for its arguments (datafusion-proto takes it from the message, and
//!   `abs(x)` declared boolean passed the filter check above), and it is
//!   not declared never null when it can be (nor an aggregate's input
//!   column): DataFusion groups a never-null column without looking at
//!   its nulls.
//! - every column an expression reads is within its input: DataFusion
//!   indexes the schema with it unchecked (an aggregate's grouping panicked
//!   while it was decoded: found by fuzzing).
//! - no literal, cast, function call or node's rows of a type
//!   [`crate::value_types`] refuses: one arrow cannot make arrays of (a
//!   dictionary keyed by floats panics where a filter compares with it,
//!   and a grouping by a cast to one panicked making the aggregate's empty
//!   answer: both found by fuzzing), or one whose values are too wide to
//!   allocate (a null `FixedSizeList` of 10^16 items aborts the process).
//!
//! Both leaves and child aggregators decode through [`decode_fragment`].

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Column, Literal, TryCastExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion_proto::physical_plan::from_proto::parse_physical_expr_with_converter;
use datafusion_proto::physical_plan::to_proto::serialize_physical_expr_with_converter;
use datafusion_proto::physical_plan::{
    PhysicalExtensionCodec, PhysicalPlanDecodeContext, PhysicalPlanNodeExt,
    PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf::physical_expr_node::ExprType;
use datafusion_proto::protobuf::{PhysicalExprNode, PhysicalPlanNode};

use datafusion_proto_common::protobuf_common::scalar_value::Value;
use datafusion_proto_common::protobuf_common::{Field as ProtoField, ScalarValue as ProtoScalar};

use crate::fragment_policy::FragmentRefused;
use crate::value_types::{check_constant, check_value_type};

/// Decodes `node` (already admitted) with `codec` resolving Shoal's scans,
/// refusing what the module docs list.
pub fn decode_fragment(
    node: &PhysicalPlanNode,
    task: &TaskContext,
    codec: &dyn PhysicalExtensionCodec,
) -> Result<Arc<dyn ExecutionPlan>> {
    let context = PhysicalPlanDecodeContext::new(task, codec);
    let plan = CheckingConverter.proto_to_execution_plan(node, &context)?;
    check_nodes(&plan)?;
    Ok(plan)
}

/// The checks on each node of `plan`, in one walk: its aggregates'
/// inputs and filters, and the types of its rows.
fn check_nodes(plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
    check_aggregate(plan)?;
    check_row_types(plan)?;
    for child in plan.children() {
        check_nodes(child)?;
    }
    Ok(())
}

/// `plan` makes rows of types arrow can make arrays of: a fragment may
/// group by a cast to a dictionary keyed by floats, and the aggregate's
/// empty answer (arrow's `new_empty`) then panics (found by fuzzing).
fn check_row_types(plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
    let schema = plan.schema();
    for field in schema.fields() {
        check_value_type(field.data_type())
            .map_err(|why| refused(&format!("a column {:?}: {why}", field.name())))?;
    }
    Ok(())
}

/// A refusal worded as [`FragmentRefused`] words the policy's own.
fn refused(what: &str) -> DataFusionError {
    DataFusionError::Plan(FragmentRefused(what.to_string()).to_string())
}

/// If `plan` is an aggregate, it reads the input it declares, and its
/// filters yield booleans.
fn check_aggregate(plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
    if let Some(aggregate) = plan.downcast_ref::<AggregateExec>() {
        let declared = aggregate.input_schema();
        let schema = aggregate.input().schema();
        let same = declared.fields().len() == schema.fields().len()
            && declared
                .fields()
                .iter()
                .zip(schema.fields())
                .all(|(declared, field)| {
                    declared.data_type() == field.data_type()
                        && (declared.is_nullable() || !field.is_nullable())
                });
        if !same {
            return Err(refused(
                "an aggregate whose declared input is not its input",
            ));
        }
        for filter in aggregate.filter_expr().iter().flatten() {
            if !yields_booleans(filter.as_ref(), &schema) {
                return Err(refused("an aggregate filter that is not boolean"));
            }
        }
    }
    Ok(())
}

/// The types an encoded constant names, checked before it is built: a
/// null's type, a nested value's schema, a dictionary's key and value.
fn check_encoded_constant(value: &ProtoScalar) -> std::result::Result<(), String> {
    let checked = |data_type: std::result::Result<DataType, String>| check_value_type(&data_type?);
    match &value.value {
        Some(Value::NullValue(arrow)) => {
            checked(DataType::try_from(arrow).map_err(|e| e.to_string()))
        }
        Some(
            Value::ListValue(nested)
            | Value::LargeListValue(nested)
            | Value::ListViewValue(nested)
            | Value::LargeListViewValue(nested)
            | Value::FixedSizeListValue(nested)
            | Value::StructValue(nested)
            | Value::MapValue(nested),
        ) => match &nested.schema {
            // arrow sizes a decompressed buffer by what the sender wrote.
            _ if compressed(&nested.ipc_message)
                || nested
                    .dictionaries
                    .iter()
                    .any(|d| compressed(&d.ipc_message)) =>
            {
                Err("a constant in compressed Arrow IPC".to_string())
            }
            Some(schema) => Schema::try_from(schema)
                .map_err(|e| e.to_string())?
                .fields()
                .iter()
                .try_for_each(|field| check_value_type(field.data_type())),
            None => Ok(()),
        },
        // Values holding another constant, built the same way.
        Some(Value::UnionValue(union)) => {
            for field in union.fields.iter().filter_map(|f| f.field.as_ref()) {
                check_encoded_field(field)?;
            }
            check_inner(union.value.as_deref())
        }
        Some(Value::RunEndEncodedValue(runs)) => {
            if let Some(field) = &runs.values_field {
                check_encoded_field(field)?;
            }
            check_inner(runs.value.as_deref())
        }
        Some(Value::DictionaryValue(dictionary)) => {
            if let Some(key) = &dictionary.index_type {
                checked(DataType::try_from(key).map_err(|e| e.to_string()))?;
            }
            check_inner(dictionary.value.as_deref())
        }
        _ => Ok(()),
    }
}

/// [`check_encoded_constant`] of a constant held in another, if any.
fn check_inner(inner: Option<&ProtoScalar>) -> std::result::Result<(), String> {
    inner.map_or(Ok(()), check_encoded_constant)
}

/// The type of an encoded field, checked.
fn check_encoded_field(field: &ProtoField) -> std::result::Result<(), String> {
    let field = Field::try_from(field).map_err(|e| e.to_string())?;
    check_value_type(field.data_type())
}

/// Whether an Arrow IPC message holds a compressed batch.
fn compressed(message: &[u8]) -> bool {
    let Ok(message) = arrow::ipc::root_as_message(message) else {
        return false;
    };
    let batch = message
        .header_as_record_batch()
        .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
    batch.is_some_and(|batch| batch.compression().is_some())
}

fn yields_booleans(expr: &dyn PhysicalExpr, schema: &Schema) -> bool {
    matches!(expr.data_type(schema), Ok(DataType::Boolean))
}

/// datafusion-proto's own decoding, but every expression node (nested ones
/// come back through here) is looked at first.
struct CheckingConverter;

impl PhysicalProtoConverterExtension for CheckingConverter {
    fn proto_to_execution_plan(
        &self,
        proto: &PhysicalPlanNode,
        ctx: &PhysicalPlanDecodeContext<'_>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        proto.try_into_physical_plan_with_context(ctx, self)
    }

    fn execution_plan_to_proto(
        &self,
        _plan: &Arc<dyn ExecutionPlan>,
        _codec: &dyn PhysicalExtensionCodec,
    ) -> Result<PhysicalPlanNode> {
        plan_err!("fragments are only decoded here")
    }

    fn proto_to_physical_expr(
        &self,
        proto: &PhysicalExprNode,
        input_schema: &Schema,
        ctx: &PhysicalPlanDecodeContext<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        if let Some(ExprType::DynamicFilter(_)) = &proto.expr_type {
            return Err(refused("a dynamic filter inside an expression"));
        }
        // Before datafusion-proto builds it: a null of a wide type is
        // allocated whole as it is made, and failing aborts the process.
        if let Some(ExprType::Literal(value)) = &proto.expr_type
            && let Err(why) = check_encoded_constant(value)
        {
            return Err(refused(&format!("a literal: {why}")));
        }
        let expr = parse_physical_expr_with_converter(proto, input_schema, ctx, self)?;
        if let Some(column) = expr.downcast_ref::<Column>()
            && column.index() >= input_schema.fields().len()
        {
            return Err(refused(&format!(
                "column {} at {}, past the {} of its input",
                column.name(),
                column.index(),
                input_schema.fields().len()
            )));
        }
        if let Some(literal) = expr.downcast_ref::<Literal>()
            && let Err(why) = check_constant(literal.value())
        {
            return Err(refused(&format!("a literal: {why}")));
        }
        // The type a cast, an operator (`||` of two fixed-size binaries
        // is as wide as both) or a function makes (a function's is
        // checked against its arguments below, after this).
        if (expr.downcast_ref::<CastExpr>().is_some()
            || expr.downcast_ref::<TryCastExpr>().is_some()
            || expr
                .downcast_ref::<BinaryExpr>()
                .is_some_and(|binary| *binary.op() == Operator::StringConcat)
            || expr.downcast_ref::<ScalarFunctionExpr>().is_some())
            && let Err(why) = check_value_type(&expr.data_type(input_schema)?)
        {
            return Err(refused(&format!("an expression: {why}")));
        }
        if let Some(call) = expr.downcast_ref::<ScalarFunctionExpr>() {
            let own = ScalarFunctionExpr::try_new(
                Arc::new(call.fun().clone()),
                call.args().to_vec(),
                input_schema,
                Arc::new(call.config_options().clone()),
            )?;
            if own.return_type() != call.return_type() {
                return Err(refused(&format!(
                    "{} declared to return {} (it returns {})",
                    call.name(),
                    call.return_type(),
                    own.return_type()
                )));
            }
            // Declared never null but nullable: DataFusion's grouping would
            // read the values under nulls as real ones.
            if !call.nullable() && own.nullable() {
                return Err(refused(&format!(
                    "{} declared never null (it can be)",
                    call.name()
                )));
            }
        }
        Ok(expr)
    }

    fn physical_expr_to_proto(
        &self,
        expr: &Arc<dyn PhysicalExpr>,
        codec: &dyn PhysicalExtensionCodec,
    ) -> Result<PhysicalExprNode> {
        serialize_physical_expr_with_converter(expr, codec, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value_types::can_make_arrays_of;
    use arrow::datatypes::{Field, UnionFields, UnionMode};
    use datafusion::common::ScalarValue;
    use datafusion::functions_aggregate::count::count_udaf;
    use datafusion::physical_expr::aggregate::AggregateExprBuilder;
    use datafusion::physical_expr::expressions::{col, lit};
    use datafusion::physical_plan::aggregates::{AggregateMode, PhysicalGroupBy};
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::physical_plan_to_bytes;
    use datafusion_proto::physical_plan::DefaultPhysicalExtensionCodec;
    use datafusion_proto::protobuf::physical_plan_node::PhysicalPlanType;
    use datafusion_proto::protobuf::{
        EmptyExecNode, FilterExecNode, PhysicalBinaryExprNode, PhysicalColumn,
        PhysicalDynamicFilterNode, PhysicalScalarUdfNode,
    };
    use prost::Message;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Boolean, true),
        ])
    }

    fn decode(node: &PhysicalPlanNode) -> Result<Arc<dyn ExecutionPlan>> {
        let task = SessionContext::new().task_ctx();
        decode_fragment(node, &task, &DefaultPhysicalExtensionCodec {})
    }

    fn column(name: &str, index: u32) -> PhysicalExprNode {
        PhysicalExprNode {
            expr_type: Some(ExprType::Column(PhysicalColumn {
                name: name.to_string(),
                index,
            })),
            ..Default::default()
        }
    }

    fn filtered(predicate: PhysicalExprNode) -> PhysicalPlanNode {
        let empty = PhysicalPlanNode {
            physical_plan_type: Some(PhysicalPlanType::Empty(EmptyExecNode {
                schema: Some((&schema()).try_into().expect("schema encodes")),
                partitions: 1,
            })),
        };
        PhysicalPlanNode {
            physical_plan_type: Some(PhysicalPlanType::Filter(Box::new(FilterExecNode {
                input: Some(Box::new(empty)),
                expr: Some(predicate),
                ..Default::default()
            }))),
        }
    }

    #[test]
    fn a_nested_dynamic_filter_is_refused_before_it_is_decoded() {
        assert!(decode(&filtered(column("b", 1))).is_ok());
        // Fewer remapped children than children: decoding it as DataFusion
        // does would index out of bounds.
        let dynamic = PhysicalExprNode {
            expr_type: Some(ExprType::DynamicFilter(Box::new(
                PhysicalDynamicFilterNode {
                    children: vec![column("b", 1)],
                    remapped_children: Vec::new(),
                    inner_expr: Some(Box::new(column("b", 1))),
                    ..Default::default()
                },
            ))),
            ..Default::default()
        };
        let predicate = PhysicalExprNode {
            expr_type: Some(ExprType::BinaryExpr(Box::new(PhysicalBinaryExprNode {
                l: Some(Box::new(column("b", 1))),
                r: Some(Box::new(dynamic)),
                op: "And".to_string(),
                ..Default::default()
            }))),
            ..Default::default()
        };
        let error = decode(&filtered(predicate)).unwrap_err().to_string();
        assert!(
            error.contains("a dynamic filter inside an expression"),
            "{error}"
        );
    }

    /// `a = literal`, the literal `value` as a message.
    fn compared_with(value: ScalarValue) -> PhysicalExprNode {
        let literal = PhysicalExprNode {
            expr_type: Some(ExprType::Literal((&value).try_into().unwrap())),
            ..Default::default()
        };
        PhysicalExprNode {
            expr_type: Some(ExprType::BinaryExpr(Box::new(PhysicalBinaryExprNode {
                l: Some(Box::new(column("a", 0))),
                r: Some(Box::new(literal)),
                op: "Eq".to_string(),
                ..Default::default()
            }))),
            ..Default::default()
        }
    }

    /// A column past the end of its input is refused, not looked up.
    #[test]
    fn columns_must_be_within_their_input() {
        let error = decode(&filtered(column("b", 2))).unwrap_err().to_string();
        assert!(
            error.contains("column b at 2, past the 2 of its input"),
            "{error}"
        );
    }

    /// A dictionary literal keyed by integers decodes; one keyed by floats
    /// (DataFusion panics making arrays of it) is refused.
    #[test]
    fn literals_must_be_made_into_arrays() {
        let seven = Box::new(ScalarValue::Int64(Some(7)));
        let keyed = |key: DataType| ScalarValue::Dictionary(Box::new(key), seven.clone());
        assert!(decode(&filtered(compared_with(keyed(DataType::Int32)))).is_ok());
        for key in [DataType::Float32, DataType::Utf8] {
            let error = decode(&filtered(compared_with(keyed(key.clone()))))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("a literal: arrow cannot make arrays of type Dictionary"),
                "{key}: {error}"
            );
        }
        // Nested in a union's value, or in a union's fields.
        let fields = UnionFields::try_new(
            vec![0, 1],
            vec![
                Field::new("k", keyed(DataType::Float32).data_type(), true),
                Field::new("n", DataType::Int64, true),
            ],
        )
        .unwrap();
        for chosen in [0, 1] {
            let value = match chosen {
                0 => keyed(DataType::Float32),
                _ => ScalarValue::Int64(Some(7)),
            };
            let union = ScalarValue::Union(
                Some((chosen, Box::new(value))),
                fields.clone(),
                UnionMode::Sparse,
            );
            assert!(!can_make_arrays_of(&union.data_type()), "{union:?}");
        }
        let ends = |ends: DataType| {
            DataType::RunEndEncoded(
                Arc::new(Field::new("run_ends", ends, false)),
                Arc::new(Field::new("values", DataType::Int64, true)),
            )
        };
        assert!(can_make_arrays_of(&ends(DataType::Int32)));
        assert!(!can_make_arrays_of(&ends(DataType::Float32)));
    }

    /// A cast to a type whose null alone would not fit in memory is
    /// refused (its evaluation would abort the leaf); a narrow one decodes.
    #[test]
    fn casts_to_types_too_wide_to_allocate_are_refused() {
        use datafusion::physical_expr::expressions::IsNullExpr;
        let schema = schema();
        let fixed = |size: i32, item: DataType| {
            DataType::FixedSizeList(Arc::new(Field::new("item", item, true)), size)
        };
        let null_cast_to = |data_type: DataType| -> Arc<dyn PhysicalExpr> {
            let cast = CastExpr::new(col("a", &schema).unwrap(), data_type, None);
            Arc::new(IsNullExpr::new(Arc::new(cast)))
        };
        assert!(decode(&counted_where(null_cast_to(fixed(4, DataType::Int64)))).is_ok());
        let wide = fixed(100_000_000, fixed(100_000_000, DataType::Int64));
        let error = decode(&counted_where(null_cast_to(wide)))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("an expression: one value of type FixedSizeList(100000000"),
            "{error}"
        );
    }

    /// datafusion-proto makes a null of a `FixedSizeList` whole: one of
    /// 10^16 items aborted the process while the fragment was decoded.
    #[test]
    fn a_null_too_wide_to_allocate_is_refused_before_it_is_made() {
        let null_of = |data_type: &DataType| PhysicalExprNode {
            expr_type: Some(ExprType::Literal(ProtoScalar {
                value: Some(Value::NullValue(data_type.try_into().unwrap())),
            })),
            ..Default::default()
        };
        assert!(decode(&filtered(null_of(&DataType::Boolean))).is_ok());
        let fixed = |size: i32, item: DataType| {
            DataType::FixedSizeList(Arc::new(Field::new("item", item, true)), size)
        };
        let wide = fixed(100_000_000, fixed(100_000_000, DataType::Int64));
        let error = decode(&filtered(null_of(&wide))).unwrap_err().to_string();
        assert!(
            error.contains("a literal: one value of type FixedSizeList(100000000"),
            "{error}"
        );
        // The same null held in a run-end constant, built the same way.
        let Some(ExprType::Literal(inner)) = null_of(&wide).expr_type else {
            unreachable!("a literal")
        };
        let runs = PhysicalExprNode {
            expr_type: Some(ExprType::Literal(ProtoScalar {
                value: Some(Value::RunEndEncodedValue(Box::new(
                    datafusion_proto_common::protobuf_common::ScalarRunEndEncodedValue {
                        run_ends_field: None,
                        values_field: None,
                        value: Some(Box::new(inner)),
                    },
                ))),
            })),
            ..Default::default()
        };
        let error = decode(&filtered(runs)).unwrap_err().to_string();
        assert!(
            error.contains("a literal: one value of type FixedSizeList(100000000"),
            "{error}"
        );
    }

    fn counted_where(filter: Arc<dyn PhysicalExpr>) -> PhysicalPlanNode {
        counted_over(filter, Arc::new(schema()))
    }

    /// `count(a) FILTER (WHERE filter)` by `b`, declared over `schema()`
    /// but reading `input`.
    fn counted_over(filter: Arc<dyn PhysicalExpr>, input: Arc<Schema>) -> PhysicalPlanNode {
        let schema = Arc::new(schema());
        let count = AggregateExprBuilder::new(count_udaf(), vec![col("a", &schema).unwrap()])
            .schema(schema.clone())
            .alias("n")
            .build()
            .unwrap();
        let aggregate = AggregateExec::try_new(
            AggregateMode::Partial,
            PhysicalGroupBy::new_single(vec![(col("b", &schema).unwrap(), "b".to_string())]),
            vec![Arc::new(count)],
            vec![Some(filter)],
            Arc::new(EmptyExec::new(input)),
            schema,
        )
        .unwrap();
        let bytes = physical_plan_to_bytes(Arc::new(aggregate)).unwrap();
        PhysicalPlanNode::decode(bytes.as_ref()).unwrap()
    }

    #[test]
    fn aggregate_filters_must_be_boolean() {
        let schema = schema();
        assert!(decode(&counted_where(col("b", &schema).unwrap())).is_ok());
        let error = decode(&counted_where(lit(7i64))).unwrap_err().to_string();
        assert!(
            error.contains("an aggregate filter that is not boolean"),
            "{error}"
        );
        let error = decode(&counted_where(col("a", &schema).unwrap()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not boolean"), "{error}");
    }

    #[test]
    fn an_aggregate_must_read_the_input_it_declares() {
        let schema = schema();
        let integers = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
        ]));
        // `b` declared boolean, but the input holds integers there.
        let error = decode(&counted_over(col("b", &schema).unwrap(), integers))
            .unwrap_err()
            .to_string();
        assert!(error.contains("declared input is not its input"), "{error}");
    }

    fn abs_of_a(declared: &DataType) -> PhysicalExprNode {
        abs_of_a_nullable(declared, true)
    }

    fn abs_of_a_nullable(declared: &DataType, nullable: bool) -> PhysicalExprNode {
        PhysicalExprNode {
            expr_type: Some(ExprType::ScalarUdf(PhysicalScalarUdfNode {
                name: "abs".to_string(),
                args: vec![column("a", 0)],
                return_type: Some(declared.try_into().unwrap()),
                nullable,
                return_field_name: "abs(a)".to_string(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn a_function_must_return_the_type_it_is_declared_with() {
        let equal = PhysicalExprNode {
            expr_type: Some(ExprType::BinaryExpr(Box::new(PhysicalBinaryExprNode {
                l: Some(Box::new(abs_of_a(&DataType::Int64))),
                r: Some(Box::new(column("a", 0))),
                op: "Eq".to_string(),
                ..Default::default()
            }))),
            ..Default::default()
        };
        assert!(decode(&filtered(equal)).is_ok());
        let error = decode(&filtered(abs_of_a(&DataType::Boolean)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("abs declared to return Boolean"), "{error}");
        let never_null = PhysicalExprNode {
            expr_type: Some(ExprType::BinaryExpr(Box::new(PhysicalBinaryExprNode {
                l: Some(Box::new(abs_of_a_nullable(&DataType::Int64, false))),
                r: Some(Box::new(column("a", 0))),
                op: "Eq".to_string(),
                ..Default::default()
            }))),
            ..Default::default()
        };
        let error = decode(&filtered(never_null)).unwrap_err().to_string();
        assert!(error.contains("abs declared never null"), "{error}");
    }
}
