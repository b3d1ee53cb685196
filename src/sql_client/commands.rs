//! The backslash commands of the prompt, as psql has them: `\d` lists the
//! tables, `\d TABLE` the columns of one with their types, `\q` quits, `\?`
//! tells what there is. The listings are Arrow batches, printed like any
//! answer.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::DataType;

use super::connection::TableDescription;
use super::error::SqlClientError;

/// What the help command prints.
pub const HELP: &str = "\
Statements end with ';' and may span lines; SETs apply to the query after them.
  \\d          list tables
  \\d TABLE    list the columns of TABLE and their types
  \\q          quit (or Ctrl-D)
  \\?          this help";

/// A line that starts with `\`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackslashCommand {
    Quit,
    ListTables,
    DescribeTable(String),
    Help,
}

impl BackslashCommand {
    /// Parses `\d`, `\d TABLE`, `\q`, `\?` (a trailing `;` is allowed).
    pub fn parse(line: &str) -> Result<Self, SqlClientError> {
        let line = line.trim().trim_end_matches(';').trim_end();
        let (name, argument) = match line.split_once(char::is_whitespace) {
            Some((name, argument)) => (name, argument.trim()),
            None => (line, ""),
        };
        match (name, argument) {
            ("\\q" | "\\quit", "") => Ok(Self::Quit),
            ("\\d", "") => Ok(Self::ListTables),
            ("\\d", table) => Ok(Self::DescribeTable(unquote(table).to_string())),
            ("\\?" | "\\h" | "\\help", _) => Ok(Self::Help),
            _ => Err(SqlClientError::Command(format!(
                "unknown command {line:?}; \\? lists the commands"
            ))),
        }
    }
}

/// `"my-table"` names `my-table`.
fn unquote(name: &str) -> &str {
    name.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(name)
}

/// `\d`: one row per table, with its number of columns.
pub fn tables_listing(tables: &[TableDescription]) -> Result<RecordBatch, SqlClientError> {
    let names = StringArray::from_iter_values(tables.iter().map(|t| t.name.as_str()));
    let columns = UInt64Array::from_iter_values(tables.iter().map(|t| t.columns.len() as u64));
    RecordBatch::try_from_iter([
        ("table", Arc::new(names) as ArrayRef),
        ("columns", Arc::new(columns) as ArrayRef),
    ])
    .map_err(|e| SqlClientError::Output(e.to_string()))
}

/// `\d TABLE`: one row per column with Shoal's type name and Arrow's.
pub fn table_listing(
    tables: &[TableDescription],
    name: &str,
) -> Result<RecordBatch, SqlClientError> {
    let table = tables
        .iter()
        .find(|t| t.name == name)
        .or_else(|| tables.iter().find(|t| t.name.eq_ignore_ascii_case(name)))
        .ok_or_else(|| {
            SqlClientError::Command(format!("no table named {name:?} (\\d lists the tables)"))
        })?;
    let columns = StringArray::from_iter_values(table.columns.iter().map(|f| f.name().as_str()));
    let types =
        StringArray::from_iter_values(table.columns.iter().map(|f| shoal_type_name(f.data_type())));
    let arrow_types =
        StringArray::from_iter_values(table.columns.iter().map(|f| f.data_type().to_string()));
    RecordBatch::try_from_iter([
        ("column", Arc::new(columns) as ArrayRef),
        ("type", Arc::new(types) as ArrayRef),
        ("arrow_type", Arc::new(arrow_types) as ArrayRef),
    ])
    .map_err(|e| SqlClientError::Output(e.to_string()))
}

/// The column type names of the README's data model.
fn shoal_type_name(data_type: &DataType) -> String {
    match data_type {
        t if t.is_integer() => "integer".to_string(),
        t if t.is_floating() => "float".to_string(),
        DataType::Boolean => "boolean".to_string(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".to_string(),
        DataType::Dictionary(_, value) => shoal_type_name(value),
        DataType::List(item) | DataType::LargeList(item)
            if shoal_type_name(item.data_type()) == "string" =>
        {
            "string_set".to_string()
        }
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => "timestamp".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{Field, TimeUnit};

    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(
            BackslashCommand::parse("\\q").unwrap(),
            BackslashCommand::Quit
        );
        assert_eq!(
            BackslashCommand::parse(" \\d ").unwrap(),
            BackslashCommand::ListTables
        );
        assert_eq!(
            BackslashCommand::parse("\\d \"my-table\";").unwrap(),
            BackslashCommand::DescribeTable("my-table".into())
        );
        assert!(BackslashCommand::parse("\\x").is_err());
    }

    #[test]
    fn columns_are_listed_with_shoal_types() {
        let tables = vec![TableDescription {
            name: "requests".into(),
            columns: vec![
                Arc::new(Field::new(
                    "time",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    false,
                )),
                Arc::new(Field::new(
                    "service",
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                    true,
                )),
                Arc::new(Field::new(
                    "tags",
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    true,
                )),
                Arc::new(Field::new("n", DataType::Int64, true)),
            ],
        }];
        let listing = table_listing(&tables, "REQUESTS").unwrap();
        let types = listing
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let types: Vec<&str> = types.iter().flatten().collect();
        assert_eq!(types, ["timestamp", "string", "string_set", "integer"]);
        assert!(table_listing(&tables, "nope").is_err());
        assert_eq!(tables_listing(&tables).unwrap().num_rows(), 1);
    }
}
