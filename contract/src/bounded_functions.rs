//! DataFusion functions whose answer can be far larger than their
//! arguments, wrapped so that one call cannot make more than
//! [`MAX_CALL_BYTES`], and functions that make a type from an argument,
//! wrapped so that the type passes [`crate::value_types`].
//!
//! DataFusion counts the memory of sorts, joins and aggregates against a
//! query's pool, but not what a function makes, and a failed allocation
//! aborts the process rather than failing the query:
//! `repeat('x', 2147483647)` and `range(1, 9000000000000)` each took the
//! whole machine's memory and got the process killed, and `arrow_cast(NULL,
//! 'FixedSizeList(100000000, FixedSizeList(100000000, Int64))')` aborted
//! it at once. So before each call of `repeat`, `lpad`, `rpad`, `replace`,
//! `regexp_replace`, `array_repeat`, `array_resize`, `range`,
//! `generate_series`, `concat` and `concat_ws` (these two copy a constant
//! argument to every row), [`crate::growth`] works out from the arguments what
//! each row of the call can make at most. A call whose rows can together
//! make more than the limit runs on (at most 64) slices of rows that
//! cannot, and fails (naming the function) once the slices have actually
//! made more than the limit, or at once when a single row could. A call
//! of constants makes a constant, and is held to a constant's limit
//! ([`crate::value_types::MAX_CONSTANT_BYTES`]) before the optimizer folds
//! it. `arrow_cast`, `arrow_try_cast`, `cast_to_type` and
//! `try_cast_to_type` check their return type, and the cast they simplify
//! into.
//!
//! The wrappers keep the functions' names, so plans sent between processes
//! decode to them: every session registers them through
//! [`crate::functions::register_functions`].

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::concat;
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};

use crate::growth::{Growth, row_bytes};
use crate::value_types::{MAX_CONSTANT_BYTES, check_value_type, holds_views};

/// Most bytes one call of a wrapped function may make.
pub const MAX_CALL_BYTES: u64 = 256 * 1024 * 1024;
/// Most slices one call is cut into: each slice calls the function anew
/// (`regexp_replace` compiles its pattern each time).
const MAX_SLICES: usize = 64;

/// The functions wrapped, and how each grows.
pub fn bounded_functions() -> Vec<ScalarUDF> {
    use datafusion::functions::{core, regex, string, unicode};
    use datafusion::functions_nested::{range, repeat, resize};
    [
        (string::repeat(), Growth::Repeat),
        (string::concat(), Growth::Concat),
        (string::concat_ws(), Growth::ConcatWs),
        (unicode::lpad(), Growth::Pad),
        (unicode::rpad(), Growth::Pad),
        (string::replace(), Growth::Replace),
        (regex::regexp_replace(), Growth::RegexpReplace),
        (repeat::array_repeat_udf(), Growth::ArrayRepeat),
        (resize::array_resize_udf(), Growth::ArrayResize),
        (range::range_udf(), Growth::Range),
        (range::gen_series_udf(), Growth::Range),
        (core::arrow_cast(), Growth::TypeOnly),
        (core::arrow_try_cast(), Growth::TypeOnly),
        (core::cast_to_type(), Growth::TypeOnly),
        (core::try_cast_to_type(), Growth::TypeOnly),
    ]
    .into_iter()
    .map(|(inner, growth)| ScalarUDF::new_from_impl(Bounded { inner, growth }))
    .collect()
}

/// A DataFusion function, checked before it runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
}

impl Bounded {
    fn checked_type(&self, data_type: &DataType) -> Result<()> {
        match check_value_type(data_type) {
            Ok(()) => Ok(()),
            Err(why) => plan_err!("{}: {why}", self.inner.name()),
        }
    }
}

impl Bounded {
    /// A call whose rows could together make more than the limit, though
    /// no slice of them does (a `regexp_replace` over 65,536 long
    /// messages): run slice by slice (`ends`, from [`slice_ends`]),
    /// stopping once what the slices actually made passes the limit.
    fn invoke_in_slices(&self, args: ScalarFunctionArgs, ends: &[usize]) -> Result<ColumnarValue> {
        let mut answers: Vec<ArrayRef> = Vec::with_capacity(ends.len());
        let (mut start, mut made) = (0, 0u64);
        for &end in ends {
            let rows = end - start;
            let sliced = args
                .args
                .iter()
                .map(|arg| match arg {
                    ColumnarValue::Array(array) => ColumnarValue::Array(array.slice(start, rows)),
                    scalar => scalar.clone(),
                })
                .collect();
            let answer = self
                .inner
                .invoke_with_args(ScalarFunctionArgs {
                    args: sliced,
                    arg_fields: args.arg_fields.clone(),
                    number_rows: rows,
                    return_field: args.return_field.clone(),
                    config_options: args.config_options.clone(),
                })?
                .into_array(rows)?;
            // A view array's slice size counts its views, not its data.
            let bytes = match holds_views(answer.data_type()) {
                true => answer.get_array_memory_size(),
                false => answer
                    .to_data()
                    .get_slice_memory_size()
                    .unwrap_or(usize::MAX),
            };
            made = made.saturating_add(bytes as u64);
            if made > MAX_CALL_BYTES {
                return exec_err!(
                    "{} made more than the limit of {} MiB a call (over {} rows)",
                    self.inner.name(),
                    MAX_CALL_BYTES >> 20,
                    args.number_rows
                );
            }
            answers.push(answer);
            start = end;
        }
        let parts: Vec<&dyn Array> = answers.iter().map(|a| a.as_ref()).collect();
        Ok(ColumnarValue::Array(concat(&parts)?))
    }
}

/// Where each slice of rows ends, every slice's bounds summing to at most
/// [`MAX_CALL_BYTES`]; `None` when a single row's bound passes it.
fn slice_ends(bounds: &[u64]) -> Option<Vec<usize>> {
    let mut ends = Vec::new();
    let mut sum = 0u64;
    for (row, bound) in bounds.iter().enumerate() {
        if *bound > MAX_CALL_BYTES {
            return None;
        }
        if sum + bound > MAX_CALL_BYTES {
            ends.push(row);
            sum = 0;
        }
        sum += bound;
    }
    ends.push(bounds.len());
    Some(ends)
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let data_type = self.inner.return_type(arg_types)?;
        self.checked_type(&data_type)?;
        Ok(data_type)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = self.inner.return_field_from_args(args)?;
        self.checked_type(field.data_type())?;
        Ok(field)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // DataFusion's `concat` and `concat_ws` simplify into a new call of
        // themselves, unwrapped; left as they are, they answer the same.
        if matches!(self.growth, Growth::Concat | Growth::ConcatWs) {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let simplified = self.inner.inner().simplify(args, info)?;
        if let ExprSimplifyResult::Simplified(expr) = &simplified {
            // `arrow_cast` becomes a cast, evaluated at once if constant.
            let mut refused = Ok(());
            expr.apply(|e| {
                if let Expr::Cast(cast) = e {
                    refused = self.checked_type(cast.field.data_type());
                } else if let Expr::TryCast(cast) = e {
                    refused = self.checked_type(cast.field.data_type());
                }
                Ok(match refused {
                    Ok(()) => TreeNodeRecursion::Continue,
                    Err(_) => TreeNodeRecursion::Stop,
                })
            })?;
            refused?;
        }
        Ok(simplified)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.checked_type(args.return_field.data_type())?;
        let name = self.inner.name();
        // Constant arguments make a constant (the optimizer folds these
        // calls): held to what a plan's constant may be.
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            let bounds = row_bytes(self.growth, &args.args, 1)?;
            let most = bounds.first().copied().unwrap_or(0);
            if most > MAX_CONSTANT_BYTES as u64 {
                return exec_err!(
                    "{name} of constants would make a constant of about {most} bytes, over the limit of {MAX_CONSTANT_BYTES}"
                );
            }
            return self.inner.invoke_with_args(args);
        }
        let bounds = row_bytes(self.growth, &args.args, args.number_rows)?;
        let total = bounds.iter().fold(0u64, |sum, b| sum.saturating_add(*b));
        if total <= MAX_CALL_BYTES {
            return self.inner.invoke_with_args(args);
        }
        match slice_ends(&bounds) {
            Some(ends) if ends.len() <= MAX_SLICES => self.invoke_in_slices(args, &ends),
            Some(_) => exec_err!(
                "{name} would make about {} MiB in one call of {} rows, over the limit of {} MiB a call",
                total >> 20,
                args.number_rows,
                MAX_CALL_BYTES >> 20
            ),
            None => exec_err!(
                "{name} would make about {} MiB for one row, over the limit of {} MiB a call",
                bounds.iter().max().copied().unwrap_or(0) >> 20,
                MAX_CALL_BYTES >> 20
            ),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
#[path = "bounded_functions_tests.rs"]
mod tests;
