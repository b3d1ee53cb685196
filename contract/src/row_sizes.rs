//! How many bytes each row of an array takes, nested lists, structs and
//! dictionaries included: what [`crate::growth`] multiplies when a
//! function copies a row's value many times. An average over the rows
//! would hide the one row whose list is a million items long.

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::compute::kernels::length::length;
use arrow::datatypes::{DataType, Int64Type};

/// The bytes each row of `array` takes (its own slot and what it points
/// to), saturating; `u64::MAX` for a type it cannot tell (views, unions,
/// run ends), so that a call over it is refused.
pub fn row_sizes(array: &dyn Array) -> Vec<u64> {
    let rows = array.len();
    match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let ends = list.offsets().iter().map(|o| *o as usize).collect();
            items_in_spans(ends, list.values().as_ref(), 4)
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            let ends = list.offsets().iter().map(|o| *o as usize).collect();
            items_in_spans(ends, list.values().as_ref(), 8)
        }
        DataType::Map(_, _) => {
            let map = array.as_map();
            let ends = map.offsets().iter().map(|o| *o as usize).collect();
            items_in_spans(ends, map.entries(), 4)
        }
        DataType::FixedSizeList(_, _) => {
            let list = array.as_fixed_size_list();
            let ends = (0..=rows)
                .map(|row| match row {
                    0 => list.value_offset(0).max(0) as usize,
                    _ => (list.value_offset(row - 1) + list.value_length()).max(0) as usize,
                })
                .collect();
            items_in_spans(ends, list.values().as_ref(), 0)
        }
        DataType::Struct(_) => {
            let fields = array.as_struct();
            let mut sizes = vec![0u64; rows];
            for column in fields.columns() {
                for (size, field) in sizes.iter_mut().zip(row_sizes(column.as_ref())) {
                    *size = size.saturating_add(field);
                }
            }
            sizes
        }
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let values = row_sizes(dictionary.values().as_ref());
            dictionary
                .normalized_keys()
                .into_iter()
                .map(|key| values.get(key).copied().unwrap_or(0).saturating_add(8))
                .collect()
        }
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView => match length(array).and_then(|l| cast(&l, &DataType::Int64)) {
            // Each value's bytes and its offset or view.
            Ok(lengths) => lengths
                .as_primitive::<Int64Type>()
                .iter()
                .map(|l| l.unwrap_or(0).max(0) as u64 + 16)
                .collect(),
            Err(_) => vec![u64::MAX; rows],
        },
        other => vec![fixed_width(other).unwrap_or(u64::MAX); rows],
    }
}

/// Bytes one value of a type whose values all take the same takes
/// (numbers, booleans, nulls, fixed-size binaries and lists of them,
/// structs of them); `None` for any other.
fn fixed_width(data_type: &DataType) -> Option<u64> {
    match data_type {
        DataType::Null | DataType::Boolean => Some(1),
        DataType::FixedSizeBinary(size) => u64::try_from(*size).ok(),
        DataType::FixedSizeList(item, size) => u64::try_from(*size)
            .ok()?
            .checked_mul(fixed_width(item.data_type())?),
        DataType::Struct(fields) => fields
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(fixed_width(f.data_type())?)),
        other if other.is_primitive() => other.primitive_width().map(|w| w as u64),
        _ => None,
    }
}

/// For each row between consecutive `ends` (positions in `items`), the
/// bytes of the items in it, plus `slot`. Items of a fixed width are
/// counted by arithmetic: a list of nulls can claim 2^40 of them while
/// holding no bytes.
fn items_in_spans(ends: Vec<usize>, items: &dyn Array, slot: u64) -> Vec<u64> {
    if let Some(width) = fixed_width(items.data_type()) {
        return ends
            .windows(2)
            .map(|pair| {
                let count = pair[1].saturating_sub(pair[0]) as u64;
                count.saturating_mul(width).saturating_add(slot)
            })
            .collect();
    }
    spans(ends, &row_sizes(items), slot)
}

/// For each row between consecutive `ends`, the sum of `items` in it, plus
/// `slot` bytes.
fn spans(ends: Vec<usize>, items: &[u64], slot: u64) -> Vec<u64> {
    let mut prefix = Vec::with_capacity(items.len() + 1);
    prefix.push(0u64);
    for item in items {
        let last = prefix.last().copied().unwrap_or(0);
        prefix.push(last.saturating_add(*item));
    }
    let at = |i: usize| prefix.get(i.min(items.len())).copied().unwrap_or(0);
    ends.windows(2)
        .map(|pair| at(pair[1]).saturating_sub(at(pair[0])).saturating_add(slot))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, DictionaryArray, Int32Array, ListArray, StringArray};
    use arrow::datatypes::Int32Type;

    use super::*;

    #[test]
    fn one_long_list_counts_in_its_own_row_only() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1)]),
            Some((0..1000).map(Some).collect::<Vec<_>>()),
            None,
        ]);
        assert_eq!(row_sizes(&list), vec![4 + 4, 4 + 4000, 4]);
        // A slice keeps its rows' own sizes.
        assert_eq!(row_sizes(&list.slice(1, 2)), vec![4 + 4000, 4]);
    }

    #[test]
    fn text_and_dictionaries_count_their_values() {
        let text = StringArray::from(vec![Some("ab"), None, Some("abcdef")]);
        assert_eq!(row_sizes(&text), vec![18, 16, 22]);
        let values: ArrayRef = Arc::new(StringArray::from(vec!["x", "long value"]));
        let keys = Int32Array::from(vec![1, 0, 1]);
        let dictionary = DictionaryArray::<Int32Type>::try_new(keys, values).unwrap();
        assert_eq!(row_sizes(&dictionary), vec![34, 25, 34]);
    }
}
