//! Aggregates that DataFusion does not implement for dictionary-encoded
//! input, made to take it. Leaves keep strings dictionary-encoded, so
//! `approx_distinct(host)` would otherwise fail with "not implemented for
//! Dictionary(Int32, Utf8)".
//!
//! [`ValueTypeInput`] wraps such an aggregate: its signature becomes
//! user-defined, and type coercion asks for the dictionary's value type, so
//! the planner casts the column before the aggregate (on the leaf, inside the
//! partial aggregate). Everything else is the wrapped aggregate's own; the
//! wrapper keeps its name, so plans serialized to leaves name the built-in
//! function, which then sees plain strings.

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature,
};

/// The aggregates wrapped, as registered in every query session.
pub fn dictionary_aggregates() -> Vec<AggregateUDF> {
    vec![AggregateUDF::new_from_impl(ValueTypeInput::new(
        datafusion::functions_aggregate::approx_distinct::approx_distinct_udaf(),
    ))]
}

/// An aggregate whose dictionary-typed arguments are cast to their values.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ValueTypeInput {
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl ValueTypeInput {
    pub fn new(inner: Arc<AggregateUDF>) -> Self {
        let volatility = inner.signature().volatility;
        Self {
            inner,
            signature: Signature::user_defined(volatility),
        }
    }
}

impl AggregateUDFImpl for ValueTypeInput {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // The user-defined signature skips DataFusion's argument count check.
        if arg_types.len() != 1 {
            return plan_err!(
                "{} takes one argument, not {}",
                self.name(),
                arg_types.len()
            );
        }
        Ok(arg_types
            .iter()
            .map(|data_type| match data_type {
                DataType::Dictionary(_, value) => value.as_ref().clone(),
                other => other.clone(),
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }

    fn default_value(&self, data_type: &DataType) -> Result<datafusion::scalar::ScalarValue> {
        self.inner.default_value(data_type)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.accumulator(args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.inner.create_groups_accumulator(args)
    }
}
