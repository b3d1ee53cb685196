//! The column types clients see, everywhere they look.
//!
//! Sealed blocks keep strings dictionary-encoded and the planner works on
//! them so, but every answer is sent with plain `Utf8` strings (see
//! `query::hydrate_dictionaries`). So that a client that asks for a table's
//! columns (`DESCRIBE`, `information_schema.columns`, Flight SQL `GetTables`,
//! a prepared statement's schema) is told the type it will then receive,
//! each of those goes through [`client_schema`].
//!
//! Schemas sent over Flight SQL also carry the column metadata of the spec
//! (`ARROW:FLIGHT:SQL:TYPE_NAME`, `...:TABLE_NAME`, ...), which JDBC, ODBC and
//! SQLAlchemy dialects read for their column types ([`with_flight_metadata`]).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The type a client receives for a column of type `data_type`.
pub fn client_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Dictionary(_, value) => client_type(value),
        DataType::List(item) => DataType::List(Arc::new(client_field(item))),
        DataType::LargeList(item) => DataType::LargeList(Arc::new(client_field(item))),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|f| client_field(f)).collect())
        }
        other => other.clone(),
    }
}

fn client_field(field: &Field) -> Field {
    field.clone().with_data_type(client_type(field.data_type()))
}

/// `schema` with the types clients receive.
pub fn client_schema(schema: &Schema) -> Schema {
    Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|field| client_field(field))
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    )
}

/// The SQL name of a type, as `CAST(x AS ...)` would spell it.
pub fn sql_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Null => "NULL".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INTEGER UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float16 | DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "VARBINARY".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "DECIMAL".into(),
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            format!("{}[]", sql_type_name(item.data_type()))
        }
        DataType::Dictionary(_, value) => sql_type_name(value),
        DataType::Struct(_) => "STRUCT".into(),
        DataType::Map(..) => "MAP".into(),
        other => other.to_string().to_uppercase(),
    }
}

/// Digits and scale of a numeric or time type, as JDBC's `getPrecision`
/// and `getScale` report them.
fn precision_and_scale(data_type: &DataType) -> Option<(u32, i32)> {
    let fraction_digits = |unit: &TimeUnit| match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    };
    Some(match data_type {
        DataType::Int8 | DataType::UInt8 => (3, 0),
        DataType::Int16 | DataType::UInt16 => (5, 0),
        DataType::Int32 | DataType::UInt32 => (10, 0),
        DataType::Int64 => (19, 0),
        DataType::UInt64 => (20, 0),
        DataType::Float32 => (7, 0),
        DataType::Float64 => (15, 0),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => (u32::from(*p), i32::from(*s)),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => (u32::from(*p), i32::from(*s)),
        DataType::Timestamp(unit, _) => {
            let digits = fraction_digits(unit);
            (19 + if digits > 0 { 1 + digits } else { 0 }, digits as i32)
        }
        _ => return None,
    })
}

/// Where a column comes from: its catalog, schema and table, where known.
#[derive(Debug, Clone, Default)]
pub struct ColumnSource {
    pub catalog: Option<String>,
    pub schema: Option<String>,
    pub table: Option<String>,
}

/// `schema` with client types and the Flight SQL column metadata; `sources`
/// go with the fields by position (missing ones are unknown).
pub fn with_flight_metadata(schema: &Schema, sources: &[ColumnSource]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let field = client_field(field);
            let mut metadata: HashMap<String, String> = field.metadata().clone();
            let mut put = |key: &str, value: String| {
                metadata.insert(format!("ARROW:FLIGHT:SQL:{key}"), value);
            };
            put("TYPE_NAME", sql_type_name(field.data_type()));
            if let Some((precision, scale)) = precision_and_scale(field.data_type()) {
                put("PRECISION", precision.to_string());
                put("SCALE", scale.to_string());
            }
            let source = sources.get(index).cloned().unwrap_or_default();
            if let Some(catalog) = source.catalog {
                put("CATALOG_NAME", catalog);
            }
            if let Some(schema) = source.schema {
                put("DB_SCHEMA_NAME", schema);
            }
            if let Some(table) = source.table {
                put("TABLE_NAME", table);
            }
            let is_text = matches!(field.data_type(), DataType::Utf8);
            put("IS_AUTO_INCREMENT", "0".into());
            put("IS_CASE_SENSITIVE", if is_text { "1" } else { "0" }.into());
            put("IS_READ_ONLY", "1".into());
            put("IS_SEARCHABLE", "1".into());
            field.with_metadata(metadata)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Whether `name` is a keyword SQL reserves (`select`, `order`, `from`):
/// one that cannot name a table without quotes. Other keywords (`status`,
/// `time`) can.
fn is_reserved(name: &str) -> bool {
    use datafusion::sql::sqlparser::keywords::{
        ALL_KEYWORDS, ALL_KEYWORDS_INDEX, RESERVED_FOR_TABLE_ALIAS,
    };
    ALL_KEYWORDS
        .binary_search(&name.to_ascii_uppercase().as_str())
        .ok()
        .and_then(|position| ALL_KEYWORDS_INDEX.get(position))
        .is_some_and(|keyword| RESERVED_FOR_TABLE_ALIAS.contains(keyword))
}

/// `name` as SQL must write it: as it is when it is a plain lower-case
/// identifier and no reserved keyword, else in double quotes (doubling any
/// inside).
pub fn sql_identifier(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !is_reserved(name);
    match plain {
        true => name.to_string(),
        false => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::{ColumnSource, client_schema, sql_identifier, with_flight_metadata};

    #[test]
    fn names_are_quoted_when_sql_needs_it() {
        assert_eq!(sql_identifier("requests"), "requests");
        assert_eq!(
            sql_identifier("logstash-2026.11.29"),
            "\"logstash-2026.11.29\""
        );
        assert_eq!(sql_identifier("Mixed"), "\"Mixed\"");
        assert_eq!(sql_identifier("select"), "\"select\"");
        assert_eq!(sql_identifier("status"), "status");
        assert_eq!(sql_identifier("a\"b"), "\"a\"\"b\"");
    }

    fn dictionary() -> DataType {
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    }

    #[test]
    fn strings_are_utf8_also_inside_lists() {
        let schema = Schema::new(vec![
            Field::new("service", dictionary(), true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", dictionary(), true))),
                true,
            ),
        ]);
        let client = client_schema(&schema);
        assert_eq!(client.field(0).data_type(), &DataType::Utf8);
        assert_eq!(
            client.field(1).data_type(),
            &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        );
    }

    #[test]
    fn flight_metadata_names_types_and_tables() {
        let schema = Schema::new(vec![
            Field::new("service", dictionary(), true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("n", DataType::Int64, true),
        ]);
        let source = ColumnSource {
            catalog: Some("datafusion".into()),
            schema: Some("public".into()),
            table: Some("requests".into()),
        };
        let annotated = with_flight_metadata(&schema, &[source.clone(), source]);
        let meta = |i: usize, key: &str| {
            annotated
                .field(i)
                .metadata()
                .get(&format!("ARROW:FLIGHT:SQL:{key}"))
                .cloned()
        };
        assert_eq!(meta(0, "TYPE_NAME").as_deref(), Some("VARCHAR"));
        assert_eq!(meta(0, "TABLE_NAME").as_deref(), Some("requests"));
        assert_eq!(
            meta(1, "TYPE_NAME").as_deref(),
            Some("TIMESTAMP WITH TIME ZONE")
        );
        assert_eq!(meta(1, "SCALE").as_deref(), Some("6"));
        assert_eq!(meta(2, "TYPE_NAME").as_deref(), Some("BIGINT"));
        assert_eq!(meta(2, "TABLE_NAME"), None);
        assert!(!annotated.field(1).is_nullable());
    }
}
