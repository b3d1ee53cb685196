//! JSON lines of one table to one Arrow batch: each line parsed straight
//! into column builders ([`json_line`], [`ColumnSet`]), bad lines rejected
//! with their line number, and large inputs cut into chunks decoded on all
//! cores at once and merged ([`merge`]).
//!
//! [`json_line`]: crate::ingest::json_line
//! [`merge`]: crate::ingest::merge

use std::collections::HashSet;

use arrow::array::RecordBatch;
use shoal_contract::column_type::{ColumnType, TIME_COLUMN};

use crate::fleet::TableView;
use crate::ingest::column_set::{ColumnSet, Fields};
use crate::ingest::json_line::{LineError, decode_line};
use crate::ingest::json_rows::RowError;
use crate::ingest::json_shape::{Shape, worth_learning};
use crate::ingest::merge::merge_chunks;
use crate::ingest::parallel::{parts_for, run_parts};

/// Bytes of lines below which one core decodes them all.
const MIN_CHUNK_BYTES: usize = 512 * 1024;

/// A line: its number (or position) and its bytes.
pub type Line<'a> = (usize, &'a [u8]);

/// Rows decoded, with the line of each, and the lines rejected.
#[derive(Debug, Default)]
pub struct Decoded {
    pub batch: Option<RecordBatch>,
    /// The line of each row of `batch`, in order.
    pub lines: Vec<usize>,
    /// Sorted by line.
    pub errors: Vec<RowError>,
    /// Some line was JSON (an object or not).
    pub saw_json: bool,
}

/// Which lines to decode: all, or (after leaves refused part of a request
/// and the catalog was refreshed) those from `from_line` on, but `skip`.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub from_line: usize,
    pub skip: HashSet<usize>,
}

impl Resume {
    pub fn wants(&self, line: usize) -> bool {
        line >= self.from_line && !self.skip.contains(&line)
    }
}

/// How the lines are read.
#[derive(Debug, Clone, Copy)]
pub struct LineRules<'t> {
    /// The field that holds the time (else `time`, `timestamp`, ...).
    pub time_field: Option<&'t str>,
    /// What a line that is JSON but not an object is told.
    pub not_object: NotObject,
    /// Lines shaped like the one before are read by that shape
    /// ([`json_shape`]); off only to check that it reads as the general way.
    ///
    /// [`json_shape`]: crate::ingest::json_shape
    pub shapes: bool,
}

impl Default for LineRules<'_> {
    fn default() -> Self {
        Self {
            time_field: None,
            not_object: NotObject::default(),
            shapes: true,
        }
    }
}

/// The answer to a line that is JSON but not an object.
#[derive(Debug, Clone, Copy, Default)]
pub enum NotObject {
    /// `expected a JSON object, found an array` (NDJSON).
    #[default]
    Found,
    /// `the document is not a JSON object` (`_bulk`).
    Document,
}

/// The columns a table starts a request with: `time`, then those the fleet
/// knows, none of them introduced by the request.
pub fn start_columns(known: Option<&TableView>) -> Vec<(String, ColumnType, bool)> {
    let mut columns = vec![(TIME_COLUMN.to_string(), ColumnType::Timestamp, false)];
    for (name, column_type) in known
        .map(|view| view.columns.as_slice())
        .unwrap_or_default()
    {
        columns.push((name.clone(), *column_type, false));
    }
    columns
}

/// Decodes `lines` for a table the fleet knows as `known` (if at all).
pub fn decode_lines(
    lines: &[Line],
    rules: LineRules,
    known: Option<&TableView>,
    resume: &Resume,
) -> Result<Decoded, String> {
    let bytes: usize = lines.iter().map(|(_, text)| text.len()).sum();
    let cuts = parts_for(bytes, MIN_CHUNK_BYTES);
    decode_lines_cut(lines, rules, known, resume, cuts)
}

/// [`decode_lines`] in `cuts` parts (at most one a line), each on a core.
pub(crate) fn decode_lines_cut(
    lines: &[Line],
    rules: LineRules,
    known: Option<&TableView>,
    resume: &Resume,
    cuts: usize,
) -> Result<Decoded, String> {
    let start = start_columns(known);
    let cuts = cuts.clamp(1, lines.len().max(1));
    let parts: Vec<&[Line]> = match cuts {
        1 => vec![lines],
        n => lines.chunks(lines.len().div_ceil(n)).collect(),
    };
    let chunks = run_parts(parts.clone(), |part| {
        decode_chunk(part, rules, start.clone(), resume)
    })?;
    let redo = |part: usize, columns: Vec<(String, ColumnType, bool)>| {
        decode_chunk(parts[part], rules, columns, resume)
    };
    match merge_chunks(chunks, &start, redo)? {
        Some(decoded) => Ok(decoded),
        // Too many columns between the chunks: one core, in order.
        None => merge_chunks(
            vec![decode_chunk(lines, rules, start.clone(), resume)],
            &start,
            redo,
        )?
        .ok_or_else(|| "a single chunk always merges".to_string()),
    }
}

/// Lines decoded by one thread into one set of columns.
#[derive(Debug)]
pub struct Chunk {
    pub set: ColumnSet,
    pub lines: Vec<usize>,
    pub errors: Vec<RowError>,
    pub saw_json: bool,
    /// Lines read by the shape of a line before them.
    pub shaped: usize,
}

/// Decodes `lines` in order into columns that start as `columns`.
pub fn decode_chunk(
    lines: &[Line],
    rules: LineRules,
    columns: Vec<(String, ColumnType, bool)>,
    resume: &Resume,
) -> Chunk {
    let mut chunk = Chunk {
        set: ColumnSet::with_capacity(
            columns,
            lines.len(),
            lines.iter().map(|(_, text)| text.len()).sum(),
        ),
        lines: Vec::with_capacity(lines.len()),
        errors: Vec::new(),
        saw_json: false,
        shaped: 0,
    };
    let mut fields: Fields = Vec::new();
    // The shape learned last (from a line read the general way), and the
    // values a line read by it holds.
    let mut shape: Option<Shape> = None;
    let mut staged = Vec::new();
    let mut missed = 0;
    for &(line, bytes) in lines {
        if !resume.wants(line) {
            continue;
        }
        let text = match crate::ingest::utf8::utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let reason = format!(
                    "invalid UTF-8 at byte {} of the line",
                    error.valid_up_to() + 1
                );
                chunk.errors.push(RowError { line, reason });
                continue;
            }
        };
        if let Some(shape) = &shape
            && shape.read(text, &mut staged)
        {
            match chunk.set.push_staged(&staged) {
                Ok(true) => {
                    chunk.shaped += 1;
                    missed = 0;
                    chunk.saw_json = true;
                    chunk.lines.push(line);
                    continue;
                }
                Ok(false) => {}
                Err(reason) => {
                    chunk.saw_json = true;
                    chunk.errors.push(RowError { line, reason });
                    continue;
                }
            }
        }
        missed += 1;
        let outcome = decode_line(text, rules.time_field, &mut fields);
        chunk.saw_json |= !matches!(outcome, Err(LineError::NotJson(_)));
        let outcome = match outcome {
            Ok(()) => chunk.set.push_row(&fields),
            Err(LineError::NotJson(error)) => Err(format!("not JSON: {error}")),
            Err(LineError::NotObject(kind)) => Err(match rules.not_object {
                NotObject::Found => format!("expected a JSON object, found {kind}"),
                NotObject::Document => "the document is not a JSON object".to_string(),
            }),
            Err(LineError::Row(reason)) => Err(reason),
        };
        match outcome {
            Ok(()) => {
                chunk.lines.push(line);
                if rules.shapes && worth_learning(missed) {
                    shape = Shape::learn(text, &chunk.set, rules.time_field).or(shape);
                }
            }
            Err(reason) => chunk.errors.push(RowError { line, reason }),
        }
    }
    chunk
}
