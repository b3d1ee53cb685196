//! What an operator standing in for an `AggregateExec` shares with
//! it ([`crate::dense_aggregate::DenseAggregateExec`],
//! [`crate::row_count::RowCountExec`]): its properties, child and
//! expressions, and how it is rebuilt over new children. A macro, since
//! these are methods of `ExecutionPlan` on a struct with an `inner:
//! Arc<AggregateExec>` field.

/// The `ExecutionPlan` methods of a stand-in for `self.inner`.
#[macro_export]
macro_rules! aggregate_stand_in_methods {
    () => {
        fn properties(&self) -> &std::sync::Arc<datafusion::physical_plan::PlanProperties> {
            self.inner.properties()
        }

        fn required_input_distribution(
            &self,
        ) -> Vec<datafusion::physical_expr::Distribution> {
            self.inner.required_input_distribution()
        }

        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            vec![self.inner.input()]
        }

        fn apply_expressions(
            &self,
            f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            ) -> datafusion::common::Result<datafusion::common::tree_node::TreeNodeRecursion>,
        ) -> datafusion::common::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            self.inner.apply_expressions(f)
        }

        fn with_new_children(
            self: std::sync::Arc<Self>,
            children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
        ) -> datafusion::common::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>
        {
            let rebuilt = self.inner.clone().with_new_children(children)?;
            let Some(inner) =
                rebuilt.downcast_ref::<datafusion::physical_plan::aggregates::AggregateExec>()
            else {
                return datafusion::common::internal_err!(
                    "an aggregate rebuilt as another operator"
                );
            };
            Ok(std::sync::Arc::new(Self {
                inner: std::sync::Arc::new(inner.clone()),
            }))
        }
    };
}
