//! Which value types a query may make, checked wherever a type can come
//! from a request: an aggregator's logical plan (casts and literals), a
//! decoded fragment's rows and expressions, and the return types of the
//! functions that make a type from an argument (`arrow_cast`,
//! `cast_to_type`, see [`crate::bounded_functions`]).
//!
//! Two kinds are refused:
//!
//! - types arrow cannot make arrays of: it panics on a dictionary whose
//!   keys are not integers (found by fuzzing), on run ends that are not 16
//!   to 64-bit integers, on `Time32` in micro or nanoseconds and `Time64`
//!   in seconds or milliseconds, wherever they are nested;
//! - types whose every value takes more than [`MAX_VALUE_BYTES`]: a
//!   `FixedSizeList` or `FixedSizeBinary` of any size is one `CAST` or
//!   `arrow_cast` away, and a null of it is all that size. Failing to
//!   allocate is not a panic but an abort: `arrow_cast(NULL,
//!   'FixedSizeList(100000000, FixedSizeList(100000000, Int64))')` killed
//!   the whole process. A negative size is refused too.

use arrow::array::Array;
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DataFusionError, ScalarValue};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Operator};

/// Most bytes one value of a type may take (one row of a fixed-size list
/// or binary, all its nesting included): a batch of 8,192 such rows is
/// 512 MiB.
pub const MAX_VALUE_BYTES: u64 = 64 * 1024;

/// Most bytes one constant of a plan may take: DataFusion copies a
/// constant to every row of a batch as soon as it meets a column (a
/// `concat(service, '...')`), and a leaf's batches are 65,536 rows, so a
/// constant of 16 KiB can become 1 GiB. Constants are checked after the
/// optimizer folded them too: `repeat('x', 10000000)` is one of 10 MB.
pub const MAX_CONSTANT_BYTES: usize = 16 * 1024;

/// Fails, saying why, when a query may not hold `value` as a constant:
/// its type ([`check_value_type`]) or its size ([`MAX_CONSTANT_BYTES`]).
pub fn check_constant(value: &ScalarValue) -> Result<(), String> {
    check_value_type(&value.data_type())?;
    // A nested constant decoded from a fragment's IPC bytes has every
    // buffer slicing one allocation, and `size` counts all of it for each.
    let nested = match value {
        ScalarValue::List(array) => Some(array.to_data()),
        ScalarValue::LargeList(array) => Some(array.to_data()),
        ScalarValue::FixedSizeList(array) => Some(array.to_data()),
        ScalarValue::Struct(array) => Some(array.to_data()),
        ScalarValue::Map(array) => Some(array.to_data()),
        _ => None,
    };
    // A view's slice size counts its views, not its data: all of it then.
    let bytes = nested
        .filter(|data| !holds_views(data.data_type()))
        .and_then(|data| data.get_slice_memory_size().ok())
        .unwrap_or_else(|| value.size());
    match bytes > MAX_CONSTANT_BYTES {
        true => Err(format!(
            "a constant of {bytes} bytes, over the limit of {MAX_CONSTANT_BYTES} (a constant is copied to every row of a batch)"
        )),
        false => Ok(()),
    }
}

/// Whether `data_type` is or holds a string or binary view.
pub fn holds_views(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8View | DataType::BinaryView => true,
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
        | DataType::FixedSizeList(item, _)
        | DataType::Map(item, _) => holds_views(item.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| holds_views(f.data_type())),
        DataType::Union(fields, _) => fields.iter().any(|(_, f)| holds_views(f.data_type())),
        DataType::Dictionary(_, value) => holds_views(value),
        DataType::RunEndEncoded(_, values) => holds_views(values.data_type()),
        _ => false,
    }
}

/// Fails, saying why, when a query may not make values of `data_type`.
pub fn check_value_type(data_type: &DataType) -> Result<(), String> {
    if !can_make_arrays_of(data_type) {
        return Err(format!("arrow cannot make arrays of type {data_type}"));
    }
    match widest_value(data_type) {
        Some(bytes) if bytes <= MAX_VALUE_BYTES => Ok(()),
        Some(bytes) => Err(format!(
            "one value of type {data_type} takes {bytes} bytes, over the limit of {MAX_VALUE_BYTES}"
        )),
        None => Err(format!(
            "type {data_type} has a negative or too large fixed size"
        )),
    }
}

/// Checks every type `plan` and its subqueries make (its rows, and every
/// cast and literal in its expressions), and the size of its constants.
/// Both before the optimizer (it evaluates constant casts) and after (it
/// folds constant calls into constants).
pub fn check_plan_types(plan: &LogicalPlan) -> Result<(), String> {
    plan.apply_with_subqueries(|node| {
        for field in node.schema().fields() {
            check_value_type(field.data_type()).map_err(DataFusionError::Plan)?;
        }
        let inputs = input_schema(node);
        node.apply_expressions(|expr| {
            first_refusal(expr, |e| own_type(e).and_then(|()| made_type(e, &inputs)))
                .map_err(DataFusionError::Plan)?;
            Ok(TreeNodeRecursion::Continue)
        })
    })
    .map(|_| ())
    .map_err(refusal_text)
}

/// Checks the type of every cast and literal in `expr`, and the size of
/// every literal.
pub fn check_expr_types(expr: &Expr) -> Result<(), String> {
    first_refusal(expr, own_type)
}

/// The first refusal `check` gives for `expr` or any expression in it.
fn first_refusal(expr: &Expr, check: impl Fn(&Expr) -> Result<(), String>) -> Result<(), String> {
    expr.apply(|e| {
        check(e).map_err(DataFusionError::Plan)?;
        Ok(TreeNodeRecursion::Continue)
    })
    .map(|_| ())
    .map_err(refusal_text)
}

/// A refusal's words, carried through a walk as a plan error.
fn refusal_text(error: DataFusionError) -> String {
    match error {
        DataFusionError::Plan(why) => why,
        other => other.to_string(),
    }
}

/// The type a cast names, or a literal's type and size.
fn own_type(expr: &Expr) -> Result<(), String> {
    match expr {
        Expr::Cast(cast) => check_value_type(cast.field.data_type()),
        Expr::TryCast(cast) => check_value_type(cast.field.data_type()),
        Expr::Literal(value, _) => check_constant(value),
        _ => Ok(()),
    }
}

/// The columns `node`'s expressions read: all its inputs' together.
fn input_schema(node: &LogicalPlan) -> DFSchema {
    let mut schema = DFSchema::empty();
    for input in node.inputs() {
        schema.merge(input.schema());
    }
    schema
}

/// Functions whose values hold their arguments' whole.
const STRUCT_MAKERS: [&str; 4] = ["struct", "named_struct", "arrays_zip", "map"];

/// The type `expr` makes when it grows from its parts without any cast
/// naming it: `||` of two `FixedSizeBinary` makes one as wide as both, a
/// `struct` of them one as wide as all. Only those: working out an
/// expression's type walks all of it, so at every node it would be
/// quadratic. A type that cannot be worked out here is left to the
/// planner.
fn made_type(expr: &Expr, schema: &DFSchema) -> Result<(), String> {
    let combines = match expr {
        Expr::BinaryExpr(binary) => binary.op == Operator::StringConcat,
        Expr::ScalarFunction(call) => STRUCT_MAKERS.contains(&call.name()),
        _ => false,
    };
    match combines {
        true => expr
            .get_type(schema)
            .map_or(Ok(()), |data_type| check_value_type(&data_type)),
        false => Ok(()),
    }
}

/// Whether arrow can make arrays of `data_type` without panicking.
pub fn can_make_arrays_of(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(key, value) => {
            key.is_dictionary_key_type() && can_make_arrays_of(value)
        }
        DataType::RunEndEncoded(ends, values) => {
            ends.data_type().is_run_ends_type() && can_make_arrays_of(values.data_type())
        }
        DataType::Time32(unit) => matches!(unit, TimeUnit::Second | TimeUnit::Millisecond),
        DataType::Time64(unit) => matches!(unit, TimeUnit::Microsecond | TimeUnit::Nanosecond),
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
        | DataType::FixedSizeList(item, _)
        | DataType::Map(item, _) => can_make_arrays_of(item.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| can_make_arrays_of(f.data_type())),
        DataType::Union(fields, _) => fields
            .iter()
            .all(|(_, f)| can_make_arrays_of(f.data_type())),
        _ => true,
    }
}

/// The most bytes one value of `data_type`, or of any type nested in it,
/// takes in its arrays; `None` for a negative size or one past `u64`.
fn widest_value(data_type: &DataType) -> Option<u64> {
    let own = value_bytes(data_type)?;
    let nested = match data_type {
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
        | DataType::Map(item, _) => widest_value(item.data_type())?,
        DataType::Dictionary(_, value) => widest_value(value)?,
        DataType::RunEndEncoded(_, values) => widest_value(values.data_type())?,
        DataType::FixedSizeList(item, _) => widest_value(item.data_type())?,
        DataType::Struct(fields) => widest_of(fields.iter().map(|f| f.data_type()))?,
        DataType::Union(fields, _) => widest_of(fields.iter().map(|(_, f)| f.data_type()))?,
        _ => 0,
    };
    Some(own.max(nested))
}

fn widest_of<'a>(types: impl Iterator<Item = &'a DataType>) -> Option<u64> {
    types
        .map(widest_value)
        .try_fold(0, |most, bytes| Some(most.max(bytes?)))
}

/// Bytes one value of `data_type` takes in its own array and the arrays
/// of fixed size nested in it (a list's items are counted as a list of
/// their own, by [`widest_value`]).
pub fn value_bytes(data_type: &DataType) -> Option<u64> {
    match data_type {
        DataType::FixedSizeBinary(size) => u64::try_from(*size).ok(),
        DataType::FixedSizeList(item, size) => {
            let size = u64::try_from(*size).ok()?;
            size.checked_mul(value_bytes(item.data_type())?.max(1))
        }
        DataType::Struct(fields) => fields
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(value_bytes(f.data_type())?)),
        DataType::Union(fields, _) => fields.iter().try_fold(1u64, |sum, (_, f)| {
            sum.checked_add(value_bytes(f.data_type())?)
        }),
        DataType::Dictionary(key, _) => value_bytes(key),
        other => Some(other.primitive_width().unwrap_or(8) as u64),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Fields, UnionFields, UnionMode};

    use super::*;

    fn list_of(item: DataType, size: i32) -> DataType {
        DataType::FixedSizeList(Arc::new(Field::new("item", item, true)), size)
    }

    #[test]
    fn constants_past_their_size_are_refused() {
        let text = |bytes: usize| ScalarValue::Utf8(Some("x".repeat(bytes)));
        assert_eq!(check_constant(&text(1_000)), Ok(()));
        let error = check_constant(&text(20_000)).unwrap_err();
        assert!(error.contains("over the limit of 16384"), "{error}");
        assert!(check_constant(&ScalarValue::Int64(Some(7))).is_ok());
    }

    #[test]
    fn ordinary_types_pass() {
        for data_type in [
            DataType::Utf8,
            DataType::Int64,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Time32(TimeUnit::Second),
            DataType::Time64(TimeUnit::Nanosecond),
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            list_of(DataType::Float32, 4096),
            DataType::FixedSizeBinary(16),
            DataType::List(Arc::new(Field::new(
                "item",
                list_of(DataType::Int8, 1000),
                true,
            ))),
        ] {
            assert_eq!(check_value_type(&data_type), Ok(()), "{data_type}");
        }
    }

    #[test]
    fn wide_negative_and_unmakeable_types_are_refused() {
        let deep = list_of(list_of(DataType::Int64, 100_000_000), 100_000_000);
        let in_list = DataType::List(Arc::new(Field::new("item", deep.clone(), true)));
        let in_struct =
            DataType::Struct(Fields::from(vec![Field::new("a", in_list.clone(), true)]));
        let union = DataType::Union(
            UnionFields::try_new(
                vec![0],
                vec![Field::new("u", list_of(DataType::Utf8, 1 << 20), true)],
            )
            .expect("union"),
            UnionMode::Dense,
        );
        for data_type in [
            deep,
            in_list,
            in_struct,
            union,
            list_of(DataType::Boolean, -1),
            list_of(DataType::Int64, i32::MAX),
            list_of(DataType::Null, 100_000),
            DataType::FixedSizeBinary(-1),
            DataType::FixedSizeBinary(1 << 20),
            DataType::Time32(TimeUnit::Microsecond),
            DataType::Time64(TimeUnit::Millisecond),
            DataType::Dictionary(Box::new(DataType::Float32), Box::new(DataType::Utf8)),
        ] {
            assert!(check_value_type(&data_type).is_err(), "{data_type}");
        }
        // The widest that passes, and one byte more.
        let limit = MAX_VALUE_BYTES as i32;
        assert_eq!(check_value_type(&DataType::FixedSizeBinary(limit)), Ok(()));
        assert!(check_value_type(&DataType::FixedSizeBinary(limit + 1)).is_err());
    }
}
