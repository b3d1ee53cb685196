//! Shoal's replacements of DataFusion functions, registered in every
//! session that plans or runs a query (aggregators and leaves), so a plan
//! encoded in one process decodes to the same functions in another.
//!
//! - `date_trunc`: [`crate::utc_date_trunc`], no per-value time zone work
//!   for UTC;
//! - `date_bin`: [`crate::utc_date_bin`], microsecond arithmetic without
//!   per-value checks and calls;
//! - `approx_percentile_cont`: [`crate::approx_percentile`], a grouped
//!   accumulator over a relative-error sketch instead of per-group t-digests;
//! - the functions that can make far more than they are given, and those
//!   that make a type from an argument: [`crate::bounded_functions`], the
//!   same functions with a limit.

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

use crate::approx_percentile::ApproxPercentileSketch;
use crate::bounded_functions::bounded_functions;
use crate::utc_date_bin::FastDateBin;
use crate::utc_date_trunc::UtcDateTrunc;

/// Registers Shoal's replacements of DataFusion functions in `context`.
pub fn register_functions(context: &SessionContext) {
    context.register_udf(ScalarUDF::new_from_impl(UtcDateTrunc::new()));
    context.register_udf(ScalarUDF::new_from_impl(FastDateBin::new()));
    context.register_udaf(AggregateUDF::new_from_impl(ApproxPercentileSketch::new()));
    for function in bounded_functions() {
        context.register_udf(function);
    }
}
