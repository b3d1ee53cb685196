//! `shoal_tables('logstash-*')`: every table whose name matches a pattern,
//! read as one table, with a `_table` column naming where each row is from.
//!
//! Shippers write daily indices (`logstash-2026.11.29`), one table per day;
//! this reads them together:
//!
//! ```sql
//! SELECT _table, count(*) FROM shoal_tables('logstash-*') GROUP BY _table
//! ```
//!
//! The pattern is a glob (`*`, `?`, `[a-z]`). The columns are those of every
//! matching table, in the order first seen; a column missing from a table
//! is null in its rows, and a column with two types is an error naming both
//! tables. Tables the caller's token may not read are left out. Each table
//! is scanned as a table of its own (time bounds and filters on columns
//! every table has go to the leaves with it; `_table = '...'` and `_table
//! IN (...)` leave the other tables unread); aggregates over the union are
//! computed on the aggregator from the filtered rows.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{Column, DFSchema, ScalarValue, plan_err};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column as ColumnExpr, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use shoal_contract::column_type::TIME_COLUMN;

use crate::auth::Caller;
use crate::fleet::Fleet;
use crate::remote_table::RemoteTable;

/// The name SQL calls it by.
pub const FUNCTION: &str = "shoal_tables";
/// The column naming each row's table.
pub const TABLE_COLUMN: &str = "_table";

/// The table function; one per query session (it reads the caller's rights).
#[derive(Debug)]
pub struct TablesMatching {
    fleet: Arc<Fleet>,
    caller: Caller,
}

impl TablesMatching {
    pub fn new(fleet: Arc<Fleet>, caller: Caller) -> Self {
        Self { fleet, caller }
    }
}

impl TableFunctionImpl for TablesMatching {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let pattern = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(pattern)), _)] => pattern.clone(),
            _ => {
                return plan_err!(
                    "{FUNCTION} takes one string, a pattern of table names such as 'logstash-*'"
                );
            }
        };
        let glob = match glob::Pattern::new(&pattern) {
            Ok(glob) => glob,
            Err(e) => return plan_err!("{FUNCTION}({pattern:?}): not a valid pattern: {e}"),
        };
        let mut tables: Vec<(String, RemoteTable)> = self
            .fleet
            .tables()
            .into_iter()
            .filter(|(name, _)| glob.matches(name) && self.caller.sees_table(name))
            .map(|(name, view)| {
                let table = RemoteTable::new(&name, &view);
                (name, table)
            })
            .collect();
        tables.sort_by(|a, b| a.0.cmp(&b.0));
        if tables.is_empty() {
            return plan_err!("{FUNCTION}({pattern:?}): no table matches");
        }
        Ok(Arc::new(TableUnion::try_new(tables)?))
    }
}

/// Tables named by a day (`logstash-2026.11.29`, `app_2026-11-29`), grouped
/// for `/api/v1/tables` and the explorer: each group's short label
/// (`logstash-*`), the glob that reads exactly its days
/// (`logstash-[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9]`, so not also a
/// `logstash-archive`), and its tables. Other names are in no group.
pub fn daily_groups<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<DailyGroup> {
    let mut groups: std::collections::BTreeMap<String, DailyGroup> = Default::default();
    for name in names {
        let Some((prefix, separator)) = day_prefix(name) else {
            continue;
        };
        let digits = |n: usize| "[0-9]".repeat(n);
        let glob = format!(
            "{}{}{separator}{}{separator}{}",
            glob::Pattern::escape(prefix),
            digits(4),
            digits(2),
            digits(2)
        );
        groups
            .entry(glob.clone())
            .or_insert_with(|| DailyGroup {
                label: format!("{prefix}*"),
                glob,
                tables: Vec::new(),
            })
            .tables
            .push(name.to_string());
    }
    groups.into_values().collect()
}

/// One group of [`daily_groups`].
#[derive(Debug, Clone, PartialEq)]
pub struct DailyGroup {
    pub label: String,
    pub glob: String,
    pub tables: Vec<String>,
}

/// The part of `name` before a trailing `YYYY.MM.DD` (or `-`, `_` between
/// the numbers), and that separator, if it ends so.
fn day_prefix(name: &str) -> Option<(&str, char)> {
    let split = name.len().checked_sub(10)?;
    let (prefix, day) = (name.get(..split)?, name.get(split..)?);
    let bytes = day.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9]
        .iter()
        .all(|&i| bytes[i].is_ascii_digit());
    let separators = [4, 7]
        .iter()
        .all(|&i| matches!(bytes[i], b'.' | b'-' | b'_'));
    let day_shaped = digits && separators && bytes[4] == bytes[7] && !prefix.is_empty();
    day_shaped.then_some((prefix, char::from(bytes[4])))
}

/// Several tables read as one.
#[derive(Debug)]
struct TableUnion {
    tables: Vec<(String, RemoteTable)>,
    schema: SchemaRef,
}

impl TableUnion {
    fn try_new(tables: Vec<(String, RemoteTable)>) -> DfResult<Self> {
        let mut fields: Vec<Field> = Vec::new();
        let mut first_seen: Vec<&str> = Vec::new();
        for (name, table) in &tables {
            for field in table.schema().fields() {
                if field.name() == TABLE_COLUMN {
                    return plan_err!(
                        "table {name:?} has a column named {TABLE_COLUMN:?}, which {FUNCTION} adds"
                    );
                }
                match fields.iter().position(|f| f.name() == field.name()) {
                    Some(index) if fields[index].data_type() != field.data_type() => {
                        return plan_err!(
                            "column {:?} is {} in table {:?} but {} in table {name:?}",
                            field.name(),
                            fields[index].data_type(),
                            first_seen[index],
                            field.data_type()
                        );
                    }
                    Some(_) => {}
                    None => {
                        let nullable = field.name() != TIME_COLUMN;
                        fields.push(field.as_ref().clone().with_nullable(nullable));
                        first_seen.push(name);
                    }
                }
            }
        }
        fields.push(Field::new(TABLE_COLUMN, DataType::Utf8, false));
        Ok(Self {
            schema: Arc::new(Schema::new(fields)),
            tables,
        })
    }

    /// Whether every table has every column `filter` names (and it does
    /// not name `_table`): then each table's scan applies it exactly.
    fn applies_to_every_table(&self, filter: &Expr) -> bool {
        filter.column_refs().iter().all(|column| {
            column.name != TABLE_COLUMN
                && self
                    .tables
                    .iter()
                    .all(|(_, table)| table.schema().index_of(&column.name).is_ok())
        })
    }

    /// One table's part: its scan, the filters, then its columns in the
    /// union's order (nulls for those it lacks, its name as `_table`).
    async fn scan_one(
        &self,
        state: &dyn Session,
        name: &str,
        table: &RemoteTable,
        wanted: &[usize],
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let table_schema = table.schema();
        let mut needed: Vec<usize> = wanted
            .iter()
            .filter_map(|&i| table_schema.index_of(self.schema.field(i).name()).ok())
            .collect();
        for filter in filters {
            for column in filter.column_refs() {
                if let Ok(index) = table_schema.index_of(&column.name) {
                    needed.push(index);
                }
            }
        }
        needed.sort_unstable();
        needed.dedup();
        let scan_limit = if filters.is_empty() { limit } else { None };
        let mut plan = table
            .scan(state, Some(&needed), filters, scan_limit)
            .await?;
        let scanned = plan.schema();
        if let Some(predicate) = conjunction(filters.iter().map(unqualified)) {
            let df_schema = DFSchema::try_from(scanned.as_ref().clone())?;
            let predicate = state.create_physical_expr(predicate, &df_schema)?;
            plan = Arc::new(FilterExec::try_new(predicate, plan)?);
        }
        let mut columns: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::new();
        for &index in wanted {
            let field = self.schema.field(index);
            let expression: Arc<dyn PhysicalExpr> = if field.name() == TABLE_COLUMN {
                Arc::new(Literal::new(ScalarValue::Utf8(Some(name.to_string()))))
            } else if let Ok(position) = scanned.index_of(field.name()) {
                Arc::new(ColumnExpr::new(field.name(), position))
            } else {
                Arc::new(Literal::new(ScalarValue::try_from(field.data_type())?))
            };
            columns.push((expression, field.name().clone()));
        }
        Ok(Arc::new(ProjectionExec::try_new(columns, plan)?))
    }
}

/// Whether `filter` names `_table` and no other column.
fn only_table_column(filter: &Expr) -> bool {
    let columns = filter.column_refs();
    !columns.is_empty() && columns.iter().all(|c| c.name == TABLE_COLUMN)
}

/// Whether a filter on `_table` can hold for the rows of table `name`:
/// `false` only for `_table = 'other'` and `_table IN ('other', ...)`;
/// anything else may hold, and DataFusion applies it to the rows.
fn may_hold(filter: &Expr, name: &str) -> bool {
    use datafusion::logical_expr::{BinaryExpr, Operator, expr::InList};
    let literal = |expr: &Expr| match expr {
        Expr::Literal(ScalarValue::Utf8(Some(value)), _) => Some(value.clone()),
        _ => None,
    };
    let is_table = |expr: &Expr| matches!(expr, Expr::Column(c) if c.name == TABLE_COLUMN);
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let value = match (is_table(left), is_table(right)) {
                (true, false) => literal(right),
                (false, true) => literal(left),
                _ => None,
            };
            value.is_none_or(|value| value == name)
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) if is_table(expr) => {
            let values: Option<Vec<String>> = list.iter().map(literal).collect();
            values.is_none_or(|values| values.iter().any(|v| v == name))
        }
        _ => true,
    }
}

/// `filter` with its columns unqualified (they name the union, and are
/// resolved against one table's scan).
fn unqualified(filter: &Expr) -> Expr {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    filter
        .clone()
        .transform(|expr| match expr {
            Expr::Column(column) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                column.name,
            )))),
            other => Ok(Transformed::no(other)),
        })
        .map_or_else(|_| filter.clone(), |t| t.data)
}

#[async_trait]
impl TableProvider for TableUnion {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| {
                if self.applies_to_every_table(filter) {
                    TableProviderFilterPushDown::Exact
                } else if only_table_column(filter) {
                    // Used to leave tables out; DataFusion applies it too.
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = match projection {
            Some(projection) => projection.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let (on_names, on_columns): (Vec<Expr>, Vec<Expr>) =
            filters.iter().cloned().partition(only_table_column);
        let mut parts = Vec::with_capacity(self.tables.len());
        for (name, table) in &self.tables {
            if !on_names.iter().all(|filter| may_hold(filter, name)) {
                continue;
            }
            parts.push(
                self.scan_one(state, name, table, &wanted, &on_columns, limit)
                    .await?,
            );
        }
        if parts.is_empty() {
            let schema = Arc::new(self.schema.project(&wanted)?);
            return Ok(Arc::new(datafusion::physical_plan::empty::EmptyExec::new(
                schema,
            )));
        }
        UnionExec::try_new(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::daily_groups;

    #[test]
    fn daily_tables_group_by_their_prefix_and_the_glob_reads_only_days() {
        let groups = daily_groups([
            "logstash-2026.11.28",
            "requests",
            "logstash-2026.11.29",
            "logstash-archive",
            "app_2026-11-29",
            "odd-2026.11-29",
            "2026.11.29",
        ]);
        let summary: Vec<(&str, &str, usize)> = groups
            .iter()
            .map(|g| (g.label.as_str(), g.glob.as_str(), g.tables.len()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("app_*", "app_[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]", 1),
                (
                    "logstash-*",
                    "logstash-[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9]",
                    2
                ),
            ]
        );
        let glob = glob::Pattern::new(&groups[1].glob).expect("glob");
        assert!(glob.matches("logstash-2026.11.29"));
        assert!(!glob.matches("logstash-archive"));
    }
}
