//! Chunks of one request decoded at once, merged into the batch one core
//! decoding them in order would have made.
//!
//! Each chunk starts from the table's known columns, not from the columns
//! the chunks before it learned: a chunk that learned a column an earlier
//! chunk learned first, with another type, could have rejected rows the
//! whole request would take (or the reverse). So a chunk whose learned
//! columns disagree with what came before it, or that rejected a row naming
//! such a column, is decoded again, in order, from the columns before it.
//! Data where every chunk agrees (the usual case) is decoded once.

use std::collections::HashMap;

use arrow::array::{ArrayRef, new_null_array};
use arrow::compute::{cast, concat};
use shoal_contract::column_type::ColumnType;

use crate::ingest::column_set::{MAX_COLUMNS, batch_of};
use crate::ingest::decode_lines::{Chunk, Decoded};

/// The columns of the chunks merged so far.
#[derive(Default)]
struct Merged {
    /// Name, type, introduced by the request, some row filled it.
    columns: Vec<(String, ColumnType, bool, bool)>,
    index: HashMap<String, usize, foldhash::fast::RandomState>,
}

impl Merged {
    /// Whether `chunk`, decoded from the known columns alone, decoded as it
    /// would have after the chunks merged so far.
    fn agrees(&self, chunk: &Chunk) -> bool {
        let Some(rejected) = chunk.set.rejected_new.as_ref() else {
            return false;
        };
        if rejected.iter().any(|name| self.index.contains_key(name)) {
            return false;
        }
        let numeric = |t: ColumnType| matches!(t, ColumnType::Integer | ColumnType::Float);
        chunk.set.columns.iter().all(|column| {
            let (Some(first), Some(&i)) = (column.learned, self.index.get(&column.name)) else {
                return true;
            };
            let before = self.columns[i].1;
            // A float where the request had integers widens them either
            // way; with no rejected row, integers and floats always merge.
            first == before
                || (before == ColumnType::Integer && first == ColumnType::Float)
                || (chunk.errors.is_empty() && numeric(first) && numeric(before))
        })
    }

    /// Takes in `chunk`'s columns.
    fn absorb(&mut self, chunk: &Chunk) -> Result<(), String> {
        for column in &chunk.set.columns {
            match self.index.get(&column.name) {
                Some(&i) => {
                    let merged = &mut self.columns[i];
                    merged.3 |= column.present;
                    if merged.1 != column.column_type {
                        match (merged.1, column.column_type) {
                            (ColumnType::Integer, ColumnType::Float)
                            | (ColumnType::Float, ColumnType::Integer) => {
                                merged.1 = ColumnType::Float
                            }
                            (before, now) => {
                                return Err(format!(
                                    "column {:?} decoded as {now} after {before}",
                                    column.name
                                ));
                            }
                        }
                    }
                }
                None => {
                    self.index.insert(column.name.clone(), self.columns.len());
                    self.columns.push((
                        column.name.clone(),
                        column.column_type,
                        column.new,
                        column.present,
                    ));
                }
            }
        }
        Ok(())
    }

    /// The columns a chunk decoded again starts with.
    fn start(&self) -> Vec<(String, ColumnType, bool)> {
        self.columns
            .iter()
            .map(|(name, column_type, new, _)| (name.clone(), *column_type, *new))
            .collect()
    }
}

/// Merges `chunks` (in line order), decoding again with `redo` a chunk
/// that disagrees with those before it. `None` when the chunks together
/// pass the column limit: the caller decodes all the lines in order.
pub fn merge_chunks(
    chunks: Vec<Chunk>,
    start: &[(String, ColumnType, bool)],
    redo: impl Fn(usize, Vec<(String, ColumnType, bool)>) -> Chunk,
) -> Result<Option<Decoded>, String> {
    let several = chunks.len() > 1;
    let mut merged = Merged::default();
    for (name, column_type, new) in start {
        if !merged.index.contains_key(name) {
            merged.index.insert(name.clone(), merged.columns.len());
            merged
                .columns
                .push((name.clone(), *column_type, *new, false));
        }
    }
    let mut done: Vec<Chunk> = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.into_iter().enumerate() {
        let chunk = match i == 0 || merged.agrees(&chunk) {
            true => chunk,
            false => redo(i, merged.start()),
        };
        merged.absorb(&chunk)?;
        done.push(chunk);
    }
    if several
        && (merged.columns.len() > MAX_COLUMNS || done.iter().any(|c| c.set.hit_column_limit))
    {
        return Ok(None);
    }
    let rows: usize = done.iter().map(|chunk| chunk.set.rows).sum();
    let mut decoded = Decoded {
        saw_json: done.iter().any(|chunk| chunk.saw_json),
        ..Decoded::default()
    };
    // Each chunk's rows and arrays by column name.
    let mut pieces: Vec<(usize, HashMap<String, ArrayRef>)> = Vec::with_capacity(done.len());
    for mut chunk in done {
        decoded.lines.append(&mut chunk.lines);
        decoded.errors.append(&mut chunk.errors);
        let arrays = chunk.set.finish_arrays();
        let arrays = arrays.into_iter().map(|(name, _, array)| (name, array));
        pieces.push((chunk.set.rows, arrays.collect()));
    }
    if rows == 0 {
        return Ok(Some(decoded));
    }
    let mut columns = Vec::new();
    for (name, column_type, _, present) in merged.columns {
        if !present {
            continue;
        }
        let open = column_type.open_type();
        let mut parts: Vec<ArrayRef> = Vec::with_capacity(pieces.len());
        for (chunk_rows, arrays) in &mut pieces {
            parts.push(match arrays.remove(&name) {
                Some(array) if array.data_type() == &open => array,
                Some(array) => cast(&array, &open)
                    .map_err(|e| format!("column {name:?} to {column_type}: {e}"))?,
                None => new_null_array(&open, *chunk_rows),
            });
        }
        let array = match parts.len() {
            1 => parts.swap_remove(0),
            _ => {
                let refs: Vec<&dyn arrow::array::Array> =
                    parts.iter().map(|a| a.as_ref()).collect();
                concat(&refs).map_err(|e| format!("column {name:?}: {e}"))?
            }
        };
        columns.push((name, column_type, array));
    }
    decoded.batch = Some(batch_of(rows, columns)?);
    Ok(Some(decoded))
}
