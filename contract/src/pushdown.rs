//! Which filters a scan of Shoal's blocks applies exactly: the part of the
//! pushdown contract both tiers read. An aggregator reports them to
//! DataFusion as its remote table's pushdown, a leaf's scan applies them
//! to rows.
//!
//! Bounds on `time` exact to the microsecond are `Exact` (the scan applies
//! the time range to rows); every other filter is `Inexact`: DataFusion
//! applies it again above the scan, so pruning may only drop rows that
//! could not match.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use crate::column_type::TIME_COLUMN;

/// How a scan of Shoal's blocks (here or on the leaves behind an
/// aggregator) takes `filter`; see the module docs.
pub fn filter_pushdown(filter: &Expr) -> TableProviderFilterPushDown {
    match is_exact_time_filter(filter) {
        true => TableProviderFilterPushDown::Exact,
        false => TableProviderFilterPushDown::Inexact,
    }
}

/// Whether `filter` is a bound on the bare `time` column by a timestamp
/// literal exact to the microsecond (`time >= T`, `T > time`, `time
/// BETWEEN A AND B`, ...): one the scan's time range applies exactly.
pub fn is_exact_time_filter(filter: &Expr) -> bool {
    let bare_time = |expr: &Expr| matches!(expr, Expr::Column(c) if c.name == TIME_COLUMN);
    let exact = |expr: &Expr| {
        literal(expr)
            .and_then(timestamp_micros)
            .is_some_and(|(_, e)| e)
    };
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            matches!(
                op,
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq | Operator::Eq
            ) && ((bare_time(left) && exact(right)) || (bare_time(right) && exact(left)))
        }
        Expr::Between(between) => {
            !between.negated
                && bare_time(&between.expr)
                && exact(&between.low)
                && exact(&between.high)
        }
        _ => false,
    }
}

/// The value of a literal expression.
pub fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        _ => None,
    }
}

/// A timestamp literal in microseconds, rounded down, and whether that is
/// exact. Timestamps without a zone are UTC.
pub fn timestamp_micros(value: &ScalarValue) -> Option<(i64, bool)> {
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => Some((v.checked_mul(1_000_000)?, true)),
        ScalarValue::TimestampMillisecond(Some(v), _) => Some((v.checked_mul(1_000)?, true)),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some((*v, true)),
        ScalarValue::TimestampNanosecond(Some(v), _) => {
            Some((v.div_euclid(1_000), v.rem_euclid(1_000) == 0))
        }
        ScalarValue::Dictionary(_, inner) => timestamp_micros(inner),
        _ => None,
    }
}
