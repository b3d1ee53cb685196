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
//!
//! Both leaves and child aggregators decode through [`decode_fragment`].

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::execution::TaskContext;
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

/// Decodes `node` (already admitted) with `codec` resolving Shoal's scans,
/// refusing what the module docs list.
pub fn decode_fragment(
    node: &PhysicalPlanNode,
    task: &TaskContext,
    codec: &dyn PhysicalExtensionCodec,
) -> Result<Arc<dyn ExecutionPlan>> {
    let context = PhysicalPlanDecodeContext::new(task, codec);
    let plan = CheckingConverter.proto_to_execution_plan(node, &context)?;
    check_aggregate_filters(&plan)?;
    Ok(plan)
}

fn refused(what: &str) -> DataFusionError {
    DataFusionError::Plan(format!("plan fragment refused: {what}"))
}

/// Every aggregate filter in `plan` yields booleans.
fn check_aggregate_filters(plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
    if let Some(aggregate) = plan.downcast_ref::<AggregateExec>() {
        let schema = aggregate.input_schema();
        for filter in aggregate.filter_expr().iter().flatten() {
            if !yields_booleans(filter.as_ref(), &schema) {
                return Err(refused("an aggregate filter that is not boolean"));
            }
        }
    }
    for child in plan.children() {
        check_aggregate_filters(child)?;
    }
    Ok(())
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
        parse_physical_expr_with_converter(proto, input_schema, ctx, self)
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
    use arrow::datatypes::Field;
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
        PhysicalDynamicFilterNode,
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

    fn counted_where(filter: Arc<dyn PhysicalExpr>) -> PhysicalPlanNode {
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
            Arc::new(EmptyExec::new(schema.clone())),
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
}
