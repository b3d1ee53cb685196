//! Group indexes for [`crate::dense_aggregate`]: each row's GROUP BY key
//! turned into a small integer without hashing the key as a whole.
//!
//! Every group column gives each of its values an id ([`ColumnIds`]; 0 is
//! null): a dictionary column maps its dictionary's few values once per
//! dictionary (a block's batches share one) and then reads ids by key; an
//! integer or time column remembers the last value it saw, which a time
//! bucket repeats for thousands of rows, and reads small values (a status
//! code, a histogram bin) from a direct table. [`GroupIds`] then folds the
//! columns' ids left to right, `(group so far, next column's id) → group`,
//! through one table per column: a direct array indexed by
//! `(group << shift) | id` while it is small, a hash map of the packed pair
//! past [`DENSE_SLOTS`].

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int64Array, StringArray, UInt32Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type, Int64Type, UInt32Type};
use datafusion::common::{Result, internal_err};

/// Most slots a column's direct table holds before it becomes a hash map.
pub const DENSE_SLOTS: usize = 1 << 20;
/// Integers in `0..SMALL_INTEGERS` are looked up directly.
pub const SMALL_INTEGERS: i64 = 4096;
const EMPTY: u32 = u32::MAX;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Whether [`ColumnIds`] takes a group column of this type.
pub fn supported(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(key, value) => {
            key.is_integer() && matches!(value.as_ref(), DataType::Utf8 | DataType::LargeUtf8)
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _) => true,
        _ => false,
    }
}

/// Ids for one group column's values; see the module docs.
#[derive(Debug)]
pub enum ColumnIds {
    Integers(IntegerIds),
    Strings(StringIds),
}

impl ColumnIds {
    /// Ids for a column of `data_type`, which [`supported`] takes.
    pub fn new(data_type: &DataType) -> Self {
        match data_type {
            DataType::Dictionary(_, _) => Self::Strings(StringIds::default()),
            _ => Self::Integers(IntegerIds::default()),
        }
    }

    /// Each row's id in `ids`.
    pub fn ids(&mut self, array: &ArrayRef, ids: &mut Vec<u32>) -> Result<()> {
        ids.clear();
        match self {
            Self::Integers(integers) => integers.ids(array, ids),
            Self::Strings(strings) => strings.ids(array, ids),
        }
    }

    /// The values of `ids`, as an array of `data_type`.
    pub fn values(&self, ids: &[u32], data_type: &DataType) -> Result<ArrayRef> {
        let array: ArrayRef = match self {
            Self::Integers(integers) => Arc::new(
                ids.iter()
                    .map(|&id| integers.values[id as usize])
                    .collect::<Int64Array>(),
            ),
            Self::Strings(strings) => match data_type {
                DataType::Dictionary(key, _) if wide_key(key) => {
                    return strings.dictionary(ids, data_type);
                }
                _ => Arc::new(
                    ids.iter()
                        .map(|&id| strings.values[id as usize].as_deref())
                        .collect::<StringArray>(),
                ),
            },
        };
        Ok(cast(&array, data_type)?)
    }

    /// Bytes held, roughly.
    pub fn size(&self) -> usize {
        match self {
            Self::Integers(integers) => {
                integers.values.capacity() * 16
                    + integers.small.capacity() * 4
                    + integers.by_value.capacity() * 16
            }
            // Each string is held twice: as a key and as a value.
            Self::Strings(strings) => strings.bytes * 2 + strings.values.capacity() * 56,
        }
    }
}

/// Whether a dictionary with these keys holds any number of values a
/// column can have (a block holds at most 65,536 rows, a fragment's groups
/// fit in memory).
fn wide_key(key: &DataType) -> bool {
    matches!(
        key,
        DataType::Int32 | DataType::UInt32 | DataType::Int64 | DataType::UInt64
    )
}

/// Ids of integer and time values.
#[derive(Debug)]
pub struct IntegerIds {
    small: Vec<u32>,
    by_value: HashMap<i64, u32>,
    values: Vec<Option<i64>>,
}

impl Default for IntegerIds {
    fn default() -> Self {
        Self {
            small: Vec::new(),
            by_value: HashMap::default(),
            values: vec![None],
        }
    }
}

impl IntegerIds {
    fn ids(&mut self, array: &ArrayRef, ids: &mut Vec<u32>) -> Result<()> {
        let integers = cast(array, &DataType::Int64)?;
        let integers = integers.as_primitive::<Int64Type>();
        ids.reserve(integers.len());
        let mut last = (0_i64, u32::MAX);
        let mut id_of = |value: i64| {
            if last.1 == u32::MAX || last.0 != value {
                last = (value, self.id(value));
            }
            last.1
        };
        match integers.nulls().filter(|nulls| nulls.null_count() > 0) {
            None => ids.extend(integers.values().iter().map(|&value| id_of(value))),
            Some(nulls) => ids.extend(
                integers
                    .values()
                    .iter()
                    .zip(nulls.iter())
                    .map(|(&value, valid)| if valid { id_of(value) } else { 0 }),
            ),
        }
        Ok(())
    }

    #[inline]
    fn id(&mut self, value: i64) -> u32 {
        if let Some(&id) = usize::try_from(value)
            .ok()
            .and_then(|slot| self.small.get(slot))
            && id != EMPTY
        {
            return id;
        }
        self.new_id(value)
    }

    #[cold]
    fn new_id(&mut self, value: i64) -> u32 {
        if (0..SMALL_INTEGERS).contains(&value) {
            let slot = value as usize;
            if self.small.len() <= slot {
                self.small.resize(slot + 1, EMPTY);
            }
            let id = self.values.len() as u32;
            self.small[slot] = id;
            self.values.push(Some(value));
            return id;
        }
        let next = self.values.len() as u32;
        let id = *self.by_value.entry(value).or_insert(next);
        if id == next {
            self.values.push(Some(value));
        }
        id
    }
}

/// Ids of dictionary-encoded strings.
#[derive(Debug)]
pub struct StringIds {
    by_value: HashMap<Box<str>, u32>,
    values: Vec<Option<Box<str>>>,
    bytes: usize,
    /// The last dictionary seen (kept, so its address is not reused) and
    /// each of its values' ids.
    last_dictionary: Option<(ArrayRef, Vec<u32>)>,
}

impl Default for StringIds {
    fn default() -> Self {
        Self {
            by_value: HashMap::default(),
            values: vec![None],
            bytes: 0,
            last_dictionary: None,
        }
    }
}

impl StringIds {
    /// The values of `ids` as a dictionary of `data_type` holding just the
    /// values they use, each once: positions are found through a table
    /// indexed by id, so no value is hashed again (id 0, null, is a null
    /// key).
    fn dictionary(&self, ids: &[u32], data_type: &DataType) -> Result<ArrayRef> {
        let mut position = vec![u32::MAX; self.values.len()];
        let mut used: Vec<&str> = Vec::new();
        let mut keys = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(slot) = position.get_mut(id as usize).filter(|_| id != 0) else {
                keys.push(None);
                continue;
            };
            if *slot == u32::MAX {
                *slot = used.len() as u32;
                used.push(self.values[id as usize].as_deref().unwrap_or_default());
            }
            keys.push(Some(*slot));
        }
        let keys = UInt32Array::from(keys);
        let values = StringArray::from_iter_values(used);
        let dictionary = DictionaryArray::<UInt32Type>::try_new(keys, Arc::new(values))?;
        Ok(cast(&dictionary, data_type)?)
    }

    fn ids(&mut self, array: &ArrayRef, ids: &mut Vec<u32>) -> Result<()> {
        let Some(dictionary) = array.as_any_dictionary_opt() else {
            return internal_err!("a dense group column is not a dictionary");
        };
        let values = dictionary.values();
        // The same values, also when rewrapped (a `RepartitionExec` that
        // joins small batches makes a new array over the same buffers):
        // `seen` keeps its buffers alive, so equal pointers are the same
        // bytes.
        let known = matches!(&self.last_dictionary, Some((seen, _))
            if Arc::ptr_eq(seen, values) || seen.to_data().ptr_eq(&values.to_data()));
        if !known {
            let value_ids = self.intern(values)?;
            self.last_dictionary = Some((values.clone(), value_ids));
        }
        let Some((_, value_ids)) = &self.last_dictionary else {
            return internal_err!("no dictionary ids");
        };
        // A null value's id is 0 in `value_ids`; a null key's is 0 here.
        let lookup = |key: usize| value_ids.get(key).copied().unwrap_or(0);
        ids.reserve(array.len());
        if value_ids.is_empty() {
            // No values, so every key is null: a column this leaf's rows
            // lack reads as such a dictionary (arrow cannot normalize its
            // keys).
            ids.extend(std::iter::repeat_n(0, array.len()));
            return Ok(());
        }
        match array.as_dictionary_opt::<Int32Type>() {
            Some(dictionary) if dictionary.keys().null_count() == 0 => ids.extend(
                dictionary
                    .keys()
                    .values()
                    .iter()
                    .map(|&key| lookup(key as usize)),
            ),
            _ => {
                let keys = dictionary.normalized_keys();
                let nulls = dictionary.keys().logical_nulls();
                ids.extend(keys.into_iter().enumerate().map(|(row, key)| {
                    match nulls.as_ref().is_none_or(|nulls| nulls.is_valid(row)) {
                        true => lookup(key),
                        false => 0,
                    }
                }));
            }
        }
        Ok(())
    }

    /// Each dictionary value's id (0 for a null value).
    fn intern(&mut self, values: &ArrayRef) -> Result<Vec<u32>> {
        let strings = cast(values, &DataType::Utf8)?;
        let strings = strings.as_string::<i32>();
        let mut value_ids = Vec::with_capacity(strings.len());
        for value in strings.iter() {
            let Some(value) = value else {
                value_ids.push(0);
                continue;
            };
            let id = match self.by_value.get(value) {
                Some(&id) => id,
                None => {
                    let id = self.values.len() as u32;
                    self.by_value.insert(value.into(), id);
                    self.values.push(Some(value.into()));
                    self.bytes += value.len();
                    id
                }
            };
            value_ids.push(id);
        }
        Ok(value_ids)
    }
}

/// Groups from columns' ids; see the module docs.
#[derive(Debug)]
pub struct GroupIds {
    tables: Vec<PairTable>,
}

impl GroupIds {
    /// Groups over `columns` group columns.
    pub fn new(columns: usize) -> Self {
        Self {
            tables: (0..columns).map(|_| PairTable::default()).collect(),
        }
    }

    /// Folds column `column`'s ids into `groups` (all 0 before the first).
    /// Groups are `usize`, as DataFusion's group accumulators take them
    /// (they never pass `u32::MAX`: ids are `u32`).
    pub fn fold(&mut self, column: usize, groups: &mut [usize], ids: &[u32]) {
        let table = &mut self.tables[column];
        for (group, &id) in groups.iter_mut().zip(ids) {
            *group = table.get_or_insert(*group as u32, id) as usize;
        }
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.tables.last().map_or(0, |table| table.pairs.len())
    }

    /// Whether no row came.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each group's id in every column: `result[column][group]`.
    pub fn column_ids(&self) -> Vec<Vec<u32>> {
        let mut columns = vec![Vec::new(); self.tables.len()];
        let mut groups: Vec<u32> = (0..self.len() as u32).collect();
        for (column, table) in self.tables.iter().enumerate().rev() {
            let (earlier, ids): (Vec<u32>, Vec<u32>) = groups
                .iter()
                .map(|&group| table.pairs[group as usize])
                .unzip();
            columns[column] = ids;
            groups = earlier;
        }
        columns
    }

    /// Bytes held, roughly.
    pub fn size(&self) -> usize {
        self.tables.iter().map(PairTable::size).sum()
    }
}

/// `(group so far, id) → group`, and each group's pair. The direct table
/// is one array, `(earlier << shift) | id`, widened as ids grow.
#[derive(Debug)]
struct PairTable {
    shift: u32,
    slots: Vec<u32>,
    hashed: Option<HashMap<u64, u32>>,
    pairs: Vec<(u32, u32)>,
}

impl Default for PairTable {
    fn default() -> Self {
        Self {
            shift: 4,
            slots: Vec::new(),
            hashed: None,
            pairs: Vec::new(),
        }
    }
}

impl PairTable {
    #[inline]
    fn get_or_insert(&mut self, earlier: u32, id: u32) -> u32 {
        if id >> self.shift == 0 {
            let slot = ((earlier as usize) << self.shift) | id as usize;
            if let Some(&group) = self.slots.get(slot)
                && group != EMPTY
            {
                return group;
            }
        }
        self.insert(earlier, id)
    }

    fn insert(&mut self, earlier: u32, id: u32) -> u32 {
        if self.hashed.is_none() {
            let mut shift = self.shift;
            while id >> shift != 0 {
                shift += 1;
            }
            let rows = (earlier as usize + 1).max(self.slots.len() >> self.shift);
            if rows << shift <= DENSE_SLOTS {
                if shift != self.shift {
                    self.widen(shift);
                }
                let slot = ((earlier as usize) << self.shift) | id as usize;
                if self.slots.len() <= slot {
                    self.slots.resize(slot + 1, EMPTY);
                }
                if self.slots[slot] == EMPTY {
                    self.slots[slot] = self.pairs.len() as u32;
                    self.pairs.push((earlier, id));
                }
                return self.slots[slot];
            }
            self.switch_to_hashed();
        }
        let next = self.pairs.len() as u32;
        let hashed = self.hashed.get_or_insert_with(HashMap::default);
        let group = *hashed.entry(pack(earlier, id)).or_insert(next);
        if group == next {
            self.pairs.push((earlier, id));
        }
        group
    }

    /// The direct table `1 << shift` wide, keeping every group.
    fn widen(&mut self, shift: u32) {
        self.shift = shift;
        let rows = self
            .pairs
            .iter()
            .map(|&(earlier, _)| earlier as usize + 1)
            .max();
        self.slots = vec![EMPTY; rows.unwrap_or(0) << shift];
        for (group, &(earlier, id)) in self.pairs.iter().enumerate() {
            self.slots[((earlier as usize) << shift) | id as usize] = group as u32;
        }
    }

    fn switch_to_hashed(&mut self) {
        let hashed = self
            .pairs
            .iter()
            .enumerate()
            .map(|(group, &(earlier, id))| (pack(earlier, id), group as u32))
            .collect();
        self.hashed = Some(hashed);
        self.slots = Vec::new();
    }

    fn size(&self) -> usize {
        self.slots.capacity() * 4
            + self.pairs.capacity() * 8
            + self
                .hashed
                .as_ref()
                .map_or(0, |hashed| hashed.capacity() * 16)
    }
}

fn pack(earlier: u32, id: u32) -> u64 {
    (u64::from(earlier) << 32) | u64::from(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::DictionaryArray;

    /// A dictionary of many values of which the rows use few (a filter
    /// keeps the whole dictionary): the keys given back hold just those,
    /// nulls stay null and an empty string stays a value.
    #[test]
    fn string_keys_come_back_with_only_the_values_they_use() {
        let values: Vec<String> = (0..10_000).map(|i| format!("path-{i}")).collect();
        let mut all: Vec<&str> = values.iter().map(String::as_str).collect();
        all.push("");
        let keys = UInt32Array::from(vec![Some(7), None, Some(9_999), Some(7), Some(10_000)]);
        let column: ArrayRef = Arc::new(
            DictionaryArray::<UInt32Type>::try_new(keys, Arc::new(StringArray::from(all)))
                .expect("dictionary"),
        );
        let mut strings = ColumnIds::new(column.data_type());
        let mut ids = Vec::new();
        strings.ids(&column, &mut ids).expect("ids");
        let wanted = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let back = strings.values(&ids, &wanted).expect("values");
        assert_eq!(back.data_type(), &wanted);
        let back = back.as_dictionary::<Int32Type>();
        assert_eq!(back.values().len(), 3, "only the values used");
        let plain = cast(back, &DataType::Utf8).expect("cast");
        let plain = plain.as_string::<i32>();
        let read: Vec<Option<&str>> = plain.iter().collect();
        assert_eq!(
            read,
            vec![
                Some("path-7"),
                None,
                Some("path-9999"),
                Some("path-7"),
                Some("")
            ]
        );
    }
}
