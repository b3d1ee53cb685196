//! The six column types of Shoal's data model and how Arrow types map onto
//! them.
//!
//! A column's type is fixed the first time the column is seen. Incoming Arrow
//! types are grouped into these logical types (every integer width is an
//! `integer`, every string encoding a `string`); each logical type has one
//! storage type in the open block and one in sealed blocks:
//!
//! | logical      | open block (write-ahead)   | sealed block                 |
//! |--------------|----------------------------|------------------------------|
//! | integer      | Int64                      | Int64                        |
//! | float        | Float64                    | Float64                      |
//! | boolean      | Boolean                    | Boolean                      |
//! | string       | Utf8                       | Dictionary(Int32, Utf8)      |
//! | string_set   | List(Utf8)                 | List(Utf8)                   |
//! | timestamp    | Timestamp(µs, UTC)         | Timestamp(µs, UTC)           |
//!
//! Queries see the sealed types (strings stay dictionary-encoded end to end).

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};

/// Name of the column every table has.
pub const TIME_COLUMN: &str = "time";
/// Longest column name a table takes, in bytes.
pub const MAX_COLUMN_NAME_BYTES: usize = 256;

/// A column's logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Integer,
    Float,
    Boolean,
    String,
    StringSet,
    Timestamp,
}

impl ColumnType {
    /// The logical type an Arrow type belongs to, if Shoal stores it.
    pub fn of_arrow(data_type: &DataType) -> Option<Self> {
        use DataType as D;
        Some(match data_type {
            D::Int8 | D::Int16 | D::Int32 | D::Int64 => Self::Integer,
            D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => Self::Integer,
            D::Float16 | D::Float32 | D::Float64 => Self::Float,
            D::Boolean => Self::Boolean,
            D::Utf8 | D::LargeUtf8 | D::Utf8View => Self::String,
            D::Dictionary(_, value) if Self::of_arrow(value) == Some(Self::String) => Self::String,
            D::List(item) | D::LargeList(item) | D::ListView(item)
                if Self::of_arrow(item.data_type()) == Some(Self::String) =>
            {
                Self::StringSet
            }
            D::Timestamp(_, _) | D::Date32 | D::Date64 => Self::Timestamp,
            _ => return None,
        })
    }

    /// Parses the name used in status messages.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "integer" => Self::Integer,
            "float" => Self::Float,
            "boolean" => Self::Boolean,
            "string" => Self::String,
            "string_set" => Self::StringSet,
            "timestamp" => Self::Timestamp,
            _ => return None,
        })
    }

    /// The name used in status messages and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Float => "float",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::StringSet => "string_set",
            Self::Timestamp => "timestamp",
        }
    }

    /// How the open block (and its write-ahead segment) stores the column.
    pub fn open_type(self) -> DataType {
        match self {
            Self::String => DataType::Utf8,
            other => other.sealed_type(),
        }
    }

    /// How a block file of format 3 stores the column: strings with
    /// 16-bit dictionary keys (a block holds at most 65,536 rows, so they
    /// always do); a query reads them as [`Self::sealed_type`] (32-bit keys,
    /// so an answer may hold any number of distinct strings).
    pub fn stored_type(self) -> DataType {
        match self {
            Self::String => {
                DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))
            }
            other => other.sealed_type(),
        }
    }

    /// What queries see of a sealed column (and blocks of format 2 store).
    pub fn sealed_type(self) -> DataType {
        match self {
            Self::Integer => DataType::Int64,
            Self::Float => DataType::Float64,
            Self::Boolean => DataType::Boolean,
            Self::String => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            Self::StringSet => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Self::Timestamp => timestamp_type(),
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The storage type of every timestamp column: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Columns as the status message lists them.
pub fn column_statuses(columns: &[(String, ColumnType)]) -> Vec<shoal_proto::ColumnStatus> {
    columns
        .iter()
        .map(|(name, column_type)| shoal_proto::ColumnStatus {
            name: name.clone(),
            r#type: column_type.name().to_string(),
        })
        .collect()
}
