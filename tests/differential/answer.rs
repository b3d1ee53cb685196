//! An answer as the suite compares it, whichever engine gave it: rows of
//! typed cells. Storage details are normalized away (a dictionary string is
//! its string, any integer width an integer, any timestamp unit its
//! microseconds); the logical type is not: an integer never equals a float.
//! Floats compare within a relative tolerance (summing in another order
//! moves the last bits), NaN equals NaN, infinities are exact.

use std::fmt;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, UInt64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// One value of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(String),
    /// A timestamp, in microseconds since the epoch.
    Time(i64),
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => write!(f, "NULL"),
            Cell::Bool(b) => write!(f, "{b}"),
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Float(x) => write!(f, "{x:?}"),
            Cell::Text(s) => write!(f, "{s:?}"),
            Cell::Time(t) => write!(f, "ts:{t}"),
        }
    }
}

pub type Row = Vec<Cell>;

/// The rows of `batches`, cell by cell.
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(cells)
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c[row].clone()).collect());
        }
    }
    Ok(rows)
}

fn cells(array: &ArrayRef) -> Result<Vec<Cell>, String> {
    let failed = |e: arrow::error::ArrowError| format!("{}: {e}", array.data_type());
    let nulls = |i: usize| array.is_null(i);
    let len = array.len();
    Ok(match array.data_type() {
        DataType::Dictionary(_, value) => {
            return cells(&cast(array, value).map_err(failed)?);
        }
        DataType::Null => vec![Cell::Null; len],
        DataType::Boolean => {
            let values = array.as_boolean();
            (0..len)
                .map(|i| cell_or_null(nulls(i), || Cell::Bool(values.value(i))))
                .collect()
        }
        DataType::UInt64 => {
            let values = array.as_primitive::<UInt64Type>();
            (0..len)
                .map(|i| cell_or_null(nulls(i), || Cell::Int(values.value(i).into())))
                .collect()
        }
        t if t.is_integer() => {
            let wide = cast(array, &DataType::Int64).map_err(failed)?;
            let values = wide.as_primitive::<Int64Type>();
            (0..len)
                .map(|i| cell_or_null(nulls(i), || Cell::Int(values.value(i).into())))
                .collect()
        }
        t if t.is_floating() => {
            let wide = cast(array, &DataType::Float64).map_err(failed)?;
            let values = wide.as_primitive::<Float64Type>();
            (0..len)
                .map(|i| cell_or_null(nulls(i), || Cell::Float(values.value(i))))
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast(array, &DataType::Utf8).map_err(failed)?;
            let values = text.as_string::<i32>();
            (0..len)
                .map(|i| cell_or_null(nulls(i), || Cell::Text(values.value(i).to_string())))
                .collect()
        }
        DataType::Timestamp(_, _) => {
            let micros = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))
                .and_then(|a| cast(&a, &DataType::Int64))
                .map_err(failed)?;
            let values = micros.as_primitive::<Int64Type>();
            (0..len)
                .map(|i| cell_or_null(nulls(i), || Cell::Time(values.value(i))))
                .collect()
        }
        _ => {
            let options = FormatOptions::default().with_null("NULL");
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options).map_err(failed)?;
            (0..len)
                .map(|i| cell_or_null(nulls(i), || Cell::Text(formatter.value(i).to_string())))
                .collect()
        }
    })
}

fn cell_or_null(null: bool, cell: impl FnOnce() -> Cell) -> Cell {
    if null { Cell::Null } else { cell() }
}

/// Sorts rows by their rendering (floats rounded, so a last-bit difference
/// does not reorder two engines' rows differently).
pub fn sort_rows(rows: &mut [Row]) {
    rows.sort_by_cached_key(|row| row.iter().map(sort_key).collect::<Vec<_>>().join("\u{1}"));
}

fn sort_key(cell: &Cell) -> String {
    match cell {
        Cell::Float(x) if x.is_finite() => format!("{x:.6e}"),
        Cell::Float(x) if *x == 0.0 => "0".to_string(),
        other => other.to_string(),
    }
}

/// Whether two cells agree: exactly, or within `tolerance` (relative) for
/// floats, and for integers too when `tolerance` is not zero (approximate
/// counts).
pub fn same(expected: &Cell, actual: &Cell, tolerance: f64) -> bool {
    match (expected, actual) {
        (Cell::Float(a), Cell::Float(b)) => close(*a, *b, tolerance.max(1e-9)),
        (Cell::Int(a), Cell::Int(b)) if tolerance > 0.0 => close(*a as f64, *b as f64, tolerance),
        (a, b) => a == b,
    }
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1e-9)
}

/// `None` when `actual` matches `expected`, else what differs first.
pub fn difference(expected: &[Row], actual: &[Row], tolerance: f64) -> Option<String> {
    if expected.len() != actual.len() {
        return Some(format!(
            "{} rows expected, {} given; first expected {:?}, first given {:?}",
            expected.len(),
            actual.len(),
            expected.first().map(render),
            actual.first().map(render),
        ));
    }
    for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
        let agree = e.len() == a.len() && e.iter().zip(a).all(|(x, y)| same(x, y, tolerance));
        if !agree {
            return Some(format!(
                "row {index}: expected {}, given {}",
                render(e),
                render(a)
            ));
        }
    }
    None
}

/// A row as one line.
pub fn render(row: &Row) -> String {
    row.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}
