//! A table's columns and their fixed types, and aligning batches to them.
//!
//! Tables are schemaless to their writers: a column joins the table the first
//! time a batch carries it, with the logical type it had then
//! ([`ColumnType`]), and keeps that type forever. Batches written earlier
//! simply lack the newer columns; [`TableSchema::align`] fills them with nulls
//! when blocks are sealed or scanned.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{Field, Schema, SchemaRef};

use crate::column_type::{ColumnType, TIME_COLUMN};
use crate::error::Result;
use crate::narrow_time::{Frame, widen};

/// Which storage types a batch is aligned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Plain strings, as in the open block.
    Open,
    /// Dictionary-encoded strings with 32-bit keys, as queries see them.
    Sealed,
    /// As block files store them: 16-bit keys ([`ColumnType::stored_type`]).
    Block,
}

/// The ordered columns of one table.
#[derive(Debug, Clone, Default)]
pub struct TableSchema {
    columns: Vec<(String, ColumnType)>,
    positions: HashMap<String, usize>,
}

impl TableSchema {
    /// A schema holding only the `time` column.
    pub fn new() -> Self {
        let mut schema = Self::default();
        schema.push(TIME_COLUMN.to_string(), ColumnType::Timestamp);
        schema
    }

    /// The type of `column`, if the table has it.
    pub fn column_type(&self, column: &str) -> Option<ColumnType> {
        self.positions.get(column).map(|&i| self.columns[i].1)
    }

    /// Adds a column; a column the table already has keeps its type.
    pub fn push(&mut self, column: String, column_type: ColumnType) {
        if self.positions.contains_key(&column) {
            return;
        }
        self.positions.insert(column.clone(), self.columns.len());
        self.columns.push((column, column_type));
    }

    /// Columns in the order they were first seen.
    pub fn columns(&self) -> &[(String, ColumnType)] {
        &self.columns
    }

    /// The Arrow schema of this table in the given storage.
    pub fn arrow_schema(&self, storage: Storage) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, column_type)| {
                let data_type = match storage {
                    Storage::Open => column_type.open_type(),
                    Storage::Sealed => column_type.sealed_type(),
                    Storage::Block => column_type.stored_type(),
                };
                Field::new(name, data_type, name != TIME_COLUMN)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// Learns the columns of a stored batch (a block or a write-ahead
    /// record), as on restart. Columns of unknown types are ignored.
    pub fn learn(&mut self, schema: &Schema) {
        for field in schema.fields() {
            if let Some(column_type) = crate::narrow_time::stored_column_type(field) {
                self.push(field.name().clone(), column_type);
            }
        }
    }

    /// Returns `batch` with exactly this schema's columns in `storage` types:
    /// missing columns become nulls, strings are (de)dictionary-encoded.
    /// `batch` must hold only columns this schema knows with their own types.
    pub fn align(&self, batch: &RecordBatch, storage: Storage) -> Result<RecordBatch> {
        conform(batch, &self.arrow_schema(storage))
    }
}

/// Returns `batch` with exactly the columns of `target`, by name: columns of
/// another type are cast, missing ones are nulls, others are left out.
/// `target`'s types must be Shoal's storage types (see
/// [`ColumnType`](shoal_contract::column_type::ColumnType)): arrow panics
/// making nulls of some others.
pub fn conform(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    let schema = batch.schema();
    let columns = target
        .fields()
        .iter()
        .map(|field| match schema.column_with_name(field.name()) {
            Some((at, _)) if batch.column(at).data_type() == field.data_type() => {
                Ok(batch.column(at).clone())
            }
            Some((at, stored)) => match Frame::of(stored) {
                Some(frame) => widen(batch.column(at), frame, field.data_type()),
                None => Ok(cast(batch.column(at), field.data_type())?),
            },
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        target.clone(),
        columns,
        &options,
    )?)
}
