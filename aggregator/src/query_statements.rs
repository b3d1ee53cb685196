//! The statements of one request: parsed, checked against the statement
//! policy and the caller's tables, its `SET`s applied, its query planned;
//! and what the front ends ask of a text before it runs (`DROP TABLE`, the
//! tables result columns come from).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::{DescribeTable, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::auth::{Caller, Role};
use crate::client_types::{ColumnSource, client_schema};
use crate::error::{AggregatorError, Result};
use crate::fleet::Fleet;
use crate::placeholders;
use crate::query_options::ShoalOptions;
use crate::statement_policy::{DropTable, check_plan, check_statement, drop_table_name};
use crate::table_pattern;
use shoal_contract::sql_guard::check_operator_count;

/// Applies the request's `SET`s to `context` and plans its one query.
/// The plan of `sql`'s last statement after its `SET`s, the options they
/// set, and how many statements `sql` holds.
pub(crate) async fn plan_statements(
    context: &SessionContext,
    sql: &str,
    caller: &Caller,
    fleet: &Fleet,
) -> Result<(ShoalOptions, LogicalPlan, usize)> {
    check_operator_count(sql).map_err(AggregatorError::Query)?;
    let normalized = placeholders::normalize(sql).map_err(AggregatorError::Query)?;
    let sql = &*normalized;
    let mut statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map_err(|e| with_end_position(e, sql))?;
    let count = statements.len();
    let Some(last) = statements.pop_back() else {
        return Err(AggregatorError::Query(
            "the request holds no SQL statement".to_string(),
        ));
    };
    for statement in statements.iter().chain([&last]) {
        check_statement(statement)?;
        check_tables(context, statement, caller, fleet)?;
    }
    for statement in statements {
        if !is_set(&statement) {
            return Err(AggregatorError::Query(format!(
                "only SET statements may come before the query, found: {statement}"
            )));
        }
        let plan = context.state().statement_to_plan(statement).await?;
        context.execute_logical_plan(plan).await?;
    }
    let plan = match context.state().statement_to_plan(last).await? {
        // Say the types the client will receive (strings as Utf8).
        LogicalPlan::DescribeTable(describe) => LogicalPlan::DescribeTable(DescribeTable {
            schema: Arc::new(client_schema(&describe.schema)),
            output_schema: describe.output_schema,
        }),
        plan => plan,
    };
    check_plan(&plan)?;
    let options = context
        .state()
        .config_options()
        .extensions
        .get::<ShoalOptions>()
        .cloned()
        .unwrap_or_default();
    Ok((options, plan, count))
}

/// Where each output column of `plan` comes from, when it is a column of
/// one of the fleet's tables that `caller` may read.
pub fn column_sources(plan: &LogicalPlan, fleet: &Fleet, caller: &Caller) -> Vec<ColumnSource> {
    plan.schema()
        .iter()
        .map(|(qualifier, _)| match qualifier {
            Some(table)
                if caller.sees_table(table.table()) && fleet.table(table.table()).is_some() =>
            {
                ColumnSource {
                    catalog: Some("datafusion".to_string()),
                    schema: Some("public".to_string()),
                    table: Some(table.table().to_string()),
                }
            }
            _ => ColumnSource::default(),
        })
        .collect()
}

/// sqlparser names the line and column of an unexpected token, but not of
/// an unexpected end: say where the SQL ended.
fn with_end_position(error: datafusion::error::DataFusionError, sql: &str) -> AggregatorError {
    let message = error.find_root().to_string();
    if message.contains("Line:") || !message.contains("EOF") {
        return AggregatorError::Query(message);
    }
    let line = sql.lines().count().max(1);
    let column = sql.lines().last().map_or(0, |l| l.chars().count()) + 1;
    AggregatorError::Query(format!(
        "{message} at the end of the SQL, Line: {line}, Column: {column}"
    ))
}

/// What `DROP TABLE` answers: the table, leaves that held it, rows dropped.
pub fn drop_table_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("leaves", DataType::UInt64, false),
        Field::new("rows_dropped", DataType::UInt64, false),
    ]))
}

/// The table of a request that is one `DROP TABLE t` statement.
pub fn dropped_table(sql: &str) -> Option<DropTable> {
    let starts_with_drop = sql
        .trim_start()
        .get(..4)
        .is_some_and(|word| word.eq_ignore_ascii_case("drop"));
    if !starts_with_drop {
        return None;
    }
    let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {}).ok()?;
    match statements.len() {
        1 => statements.front().and_then(drop_table_name),
        _ => None,
    }
}

/// Names the first table `statement` reads that `caller` may not (the
/// session does not hold it, so planning would only say "not found").
fn check_tables(
    context: &SessionContext,
    statement: &Statement,
    caller: &Caller,
    fleet: &Fleet,
) -> Result<()> {
    for reference in context.state().resolve_table_references(statement)? {
        if reference.schema() == Some("information_schema") {
            continue;
        }
        let table = reference.table();
        // `shoal_tables(...)` is a function, not a table (it leaves out by
        // itself the tables the caller may not read).
        if reference.schema().is_none() && table == table_pattern::FUNCTION {
            continue;
        }
        if fleet.table(table).is_some() {
            caller.require_table(Role::Read, table)?;
        }
    }
    Ok(())
}

fn is_set(statement: &Statement) -> bool {
    matches!(statement, Statement::Statement(inner) if matches!(**inner, datafusion::sql::sqlparser::ast::Statement::Set(_)))
}
