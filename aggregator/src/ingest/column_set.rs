//! The columns of one table as a request fills them, and the type rules a
//! row must pass to join them (see `DESIGN.md`): a column the fleet has
//! keeps its type; a new column takes the type of its first non-null value
//! (integers and then floats in the same request make a float); one value
//! that does not fit rejects its own row with a reason, the others are
//! stored. A row's new columns are learned only when the whole row fits.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Field, Schema};
use shoal_contract::column_type::{ColumnType, MAX_COLUMN_NAME_BYTES};

use crate::ingest::column_data::ColumnData;
use crate::ingest::scalar::Scalar;

/// Columns a table may have; rows that would add more are rejected.
pub const MAX_COLUMNS: usize = 1_000;
/// Names of new columns in rejected rows kept for [`ColumnSet::rejected_new`].
const MAX_REJECTED_NAMES: usize = 256;

/// A flattened row: its fields in the order they came.
pub type Fields<'a> = Vec<(Cow<'a, str>, Scalar<'a>)>;

/// A column as this request sees it.
#[derive(Debug)]
pub struct Column {
    pub name: String,
    pub column_type: ColumnType,
    /// Introduced by this request (its type may still widen to float).
    pub new: bool,
    /// Learned by this set (not given to it): with its type when learned.
    pub learned: Option<ColumnType>,
    /// Some row has a non-null value in it.
    pub present: bool,
    pub data: ColumnData,
    /// The last row that named it, to find a key given twice.
    stamp: u64,
}

/// Columns and the rows they hold.
#[derive(Debug, Default)]
pub struct ColumnSet {
    pub columns: Vec<Column>,
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    pub rows: usize,
    /// Rows offered, taken or not.
    seen: u64,
    /// Names of new columns in rejected rows (`None` once there were too many).
    pub rejected_new: Option<Vec<String>>,
    /// A row was rejected for the column limit.
    pub hit_column_limit: bool,
    slots: Vec<usize>,
    /// The previous row's `slots`: rows of one source mostly name the
    /// same fields in the same order, so the column a field had there is
    /// tried before the name is hashed.
    last_slots: Vec<usize>,
    fresh: Vec<usize>,
    widen: Vec<usize>,
    /// Rows expected, to size new columns' builders.
    capacity: usize,
    /// Columns whose builders are sized for `capacity` rows.
    presized: usize,
}

/// Columns whose builders are sized for the rows expected, at most.
const MAX_PRESIZED_COLUMNS: usize = 32;
/// Rows a builder is sized for at most (it grows past them as needed).
const MAX_PRESIZED_ROWS: usize = 65_536;
/// Bytes a sized builder reserves per row, about (a string's offset and
/// its guessed text; 8 for numbers and times).
const PRESIZED_BYTES_PER_ROW: usize = 24;

const SKIP: usize = usize::MAX;
const FRESH: usize = usize::MAX - 1;

impl ColumnSet {
    /// A set that starts with `columns` (name, type, introduced by this request).
    pub fn new(columns: impl IntoIterator<Item = (String, ColumnType, bool)>) -> Self {
        Self::with_capacity(columns, 0, 0)
    }

    /// [`Self::new`], its builders sized for `rows` rows of `bytes` of
    /// input: as many columns as twice those bytes cover (so rows that name
    /// few of a table's many columns, or tiny lines, reserve little), at
    /// most [`MAX_PRESIZED_COLUMNS`].
    pub fn with_capacity(
        columns: impl IntoIterator<Item = (String, ColumnType, bool)>,
        rows: usize,
        bytes: usize,
    ) -> Self {
        let capacity = rows.min(MAX_PRESIZED_ROWS);
        let per_column = capacity * PRESIZED_BYTES_PER_ROW;
        let presized = (2 * bytes)
            .checked_div(per_column)
            .unwrap_or(0)
            .min(MAX_PRESIZED_COLUMNS);
        let mut set = Self {
            rejected_new: Some(Vec::new()),
            capacity,
            presized,
            ..Self::default()
        };
        for (name, column_type, new) in columns {
            if set.index.contains_key(&name) {
                continue;
            }
            set.index.insert(name.clone(), set.columns.len());
            set.columns.push(Column {
                name,
                column_type,
                new,
                learned: None,
                present: false,
                data: ColumnData::with_capacity(column_type, 0, set.room()),
                stamp: 0,
            });
        }
        set
    }

    /// Rows to size the next column's builder for: none past the first
    /// `presized`, so a request of many columns (or a table that has many)
    /// does not reserve room for all of them at once.
    fn room(&self) -> usize {
        match self.columns.len() < self.presized {
            true => self.capacity,
            false => 0,
        }
    }

    /// Adds a row, or says why it does not fit. A key given twice counts
    /// once, with its last value (as a JSON object reads it).
    pub fn push_row(&mut self, fields: &Fields) -> Result<(), String> {
        self.seen += 1;
        self.resolve(fields);
        let outcome = self.check(fields);
        if outcome.is_err() {
            self.note_rejected(fields);
            return outcome;
        }
        for i in std::mem::take(&mut self.widen) {
            let column = &mut self.columns[i];
            column.column_type = ColumnType::Float;
            column.data.widen_to_float();
        }
        let rows = self.rows;
        for (k, (_, value)) in fields.iter().enumerate() {
            let slot = self.slots[k];
            if slot >= FRESH || value.is_null() {
                continue;
            }
            let data = &mut self.columns[slot].data;
            data.pad(rows);
            data.append(value)?;
        }
        for &k in &self.fresh {
            let (name, value) = &fields[k];
            let Some(column_type) = infer(value) else {
                continue;
            };
            let mut data = ColumnData::with_capacity(column_type, rows, self.room());
            data.append(value)?;
            self.index.insert(name.to_string(), self.columns.len());
            self.columns.push(Column {
                name: name.to_string(),
                column_type,
                new: true,
                learned: Some(column_type),
                present: true,
                data,
                stamp: self.seen,
            });
        }
        self.rows += 1;
        Ok(())
    }

    /// Adds a row whose values were matched to columns already (a row
    /// shaped like one this set took: [`json_shape`]), each with its
    /// column, nulls included. `Ok(false)`, with nothing changed, when a
    /// value does not go in its column as it is: the row is then offered to
    /// [`Self::push_row`], which widens the column or says why not.
    ///
    /// [`json_shape`]: crate::ingest::json_shape
    pub fn push_staged(&mut self, staged: &[(usize, Scalar)]) -> Result<bool, String> {
        for (slot, value) in staged {
            let Some(column) = self.columns.get(*slot) else {
                return Ok(false);
            };
            if !value.is_null() && (widens(column, value) || !fits(column.column_type, value)) {
                return Ok(false);
            }
        }
        self.seen += 1;
        let rows = self.rows;
        for (slot, value) in staged {
            if value.is_null() {
                continue;
            }
            let column = &mut self.columns[*slot];
            column.present = true;
            column.data.pad(rows);
            column.data.append(value)?;
        }
        self.rows += 1;
        Ok(true)
    }

    /// The column called `name`, if the set has it.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Finds each field's column (`FRESH` for a new one, `SKIP` for a key
    /// given again later); `fresh` lists the new ones by name, once each.
    fn resolve(&mut self, fields: &Fields) {
        self.slots.clear();
        self.fresh.clear();
        for (k, (name, _)) in fields.iter().enumerate() {
            let predicted = self
                .last_slots
                .get(k)
                .copied()
                .filter(|&i| self.columns.get(i).is_some_and(|c| c.name == name.as_ref()));
            match predicted.or_else(|| self.index.get(name.as_ref()).copied()) {
                Some(i) => {
                    let column = &mut self.columns[i];
                    if column.stamp == self.seen {
                        // Given twice: the last value wins.
                        if let Some(earlier) = self.slots.iter().position(|&s| s == i) {
                            self.slots[earlier] = SKIP;
                        }
                    }
                    column.stamp = self.seen;
                    self.slots.push(i);
                }
                None => {
                    self.slots.push(FRESH);
                    self.fresh.push(k);
                }
            }
        }
        if self.fresh.len() > 1 {
            // By name (new columns join in that order), the last of a name kept.
            self.fresh
                .sort_by(|&a, &b| fields[a].0.cmp(&fields[b].0).then(a.cmp(&b)));
            let mut kept = Vec::with_capacity(self.fresh.len());
            for (n, &k) in self.fresh.iter().enumerate() {
                match self.fresh.get(n + 1) {
                    Some(&next) if fields[next].0 == fields[k].0 => {}
                    _ => kept.push(k),
                }
            }
            self.fresh = kept;
        }
        self.fresh.retain(|&k| !fields[k].1.is_null());
        self.last_slots.clone_from(&self.slots);
    }

    /// Checks the row's values against the column types.
    fn check(&mut self, fields: &Fields) -> Result<(), String> {
        self.widen.clear();
        for (k, (name, value)) in fields.iter().enumerate() {
            let slot = self.slots[k];
            if slot >= FRESH || value.is_null() {
                continue;
            }
            let column = &mut self.columns[slot];
            // Marking a column of a row rejected later only adds a column of
            // nulls to the batch.
            column.present = true;
            // An integer past i64 widens a column this request made, as a
            // float does (so a body decodes alike in one chunk or many).
            if widens(column, value) {
                self.widen.push(slot);
                continue;
            }
            check(name, column.column_type, value)?;
        }
        for &k in &self.fresh {
            let (name, value) = &fields[k];
            check_new_column_name(name)?;
            if infer(value).is_none() {
                return Err(format!("column {name:?}: cannot store {}", value.kind()));
            }
        }
        if self.columns.len() + self.fresh.len() > MAX_COLUMNS {
            self.hit_column_limit = true;
            return Err(format!(
                "the row would give the table more than {MAX_COLUMNS} columns"
            ));
        }
        Ok(())
    }

    fn note_rejected(&mut self, fields: &Fields) {
        let Some(names) = self.rejected_new.as_mut() else {
            return;
        };
        for &k in &self.fresh {
            if names.len() >= MAX_REJECTED_NAMES {
                self.rejected_new = None;
                return;
            }
            names.push(fields[k].0.to_string());
        }
    }

    /// The columns some row filled, in the order they were learned, as
    /// arrays of all the rows.
    pub fn finish_arrays(&mut self) -> Vec<(String, ColumnType, ArrayRef)> {
        let rows = self.rows;
        self.columns
            .iter_mut()
            .filter(|column| column.present)
            .map(|column| {
                let array = column.data.finish(rows);
                (column.name.clone(), column.column_type, array)
            })
            .collect()
    }
}

/// One batch of `rows` rows from named arrays of the columns' open types.
pub fn batch_of(
    rows: usize,
    columns: Vec<(String, ColumnType, ArrayRef)>,
) -> Result<RecordBatch, String> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, column_type, _)| Field::new(name.as_str(), column_type.open_type(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, _, array)| array).collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)
        .map_err(|e| format!("building the batch: {e}"))
}

/// A new column's name: not empty (`{"": 1}`), not over the length limit.
fn check_new_column_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a field has an empty name".to_string());
    }
    if name.len() > MAX_COLUMN_NAME_BYTES {
        return Err(format!(
            "field name of {} bytes is over the {MAX_COLUMN_NAME_BYTES}-byte limit",
            name.len()
        ));
    }
    Ok(())
}

fn infer(value: &Scalar) -> Option<ColumnType> {
    Some(match value {
        Scalar::Bool(_) => ColumnType::Boolean,
        Scalar::Int(_) => ColumnType::Integer,
        Scalar::UInt(_) | Scalar::Float(_) => ColumnType::Float,
        Scalar::Str(_) => ColumnType::String,
        Scalar::Set(_) => ColumnType::StringSet,
        Scalar::Time(_) => ColumnType::Timestamp,
        Scalar::Null | Scalar::Unstorable(_) => return None,
    })
}

/// Whether `value` widens `column` from integer to float: it is a column
/// this request made.
fn widens(column: &Column, value: &Scalar) -> bool {
    column.new
        && column.column_type == ColumnType::Integer
        && matches!(value, Scalar::Float(_) | Scalar::UInt(_))
}

fn check(name: &str, column_type: ColumnType, value: &Scalar) -> Result<(), String> {
    match fits(column_type, value) {
        true => Ok(()),
        false => Err(format!(
            "column {name:?} is {column_type}, the value is {}",
            value.kind()
        )),
    }
}

/// Whether a column of `column_type` takes `value` (a string column takes
/// numbers and booleans as their JSON text).
fn fits(column_type: ColumnType, value: &Scalar) -> bool {
    match column_type {
        ColumnType::Integer => matches!(value, Scalar::Int(_)),
        ColumnType::Float => matches!(value, Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_)),
        ColumnType::Boolean => matches!(value, Scalar::Bool(_)),
        ColumnType::String => matches!(
            value,
            Scalar::Str(_) | Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_) | Scalar::Bool(_)
        ),
        ColumnType::StringSet => matches!(value, Scalar::Set(_)),
        ColumnType::Timestamp => value.time_micros().is_ok(),
    }
}
