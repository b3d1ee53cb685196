//! Which SQL statements a request may hold: Shoal's query surface reads only.
//!
//! Allowed: queries (`SELECT`, `WITH`, `VALUES`), `EXPLAIN` of those (not
//! `EXPLAIN ANALYZE`, which would run what it explains; `EXPLAIN ANALYZE
//! SELECT` is allowed), `SHOW ...`, `DESCRIBE t`, and `SET` of the names in
//! [`ALLOWED_SETTINGS`]. Everything else (`COPY`, `CREATE`, `INSERT`,
//! `DELETE`, `DROP`, other `SET`s, ...) is refused with the statement named,
//! before DataFusion plans it. After planning, DataFusion's own
//! [`SQLOptions`] check runs as a second guard, so a statement that slips
//! past the first (a new sqlparser variant) still cannot write.
//!
//! `DROP TABLE` is handled apart ([`drop_table_name`]): it is an admin's way
//! to remove a table from every leaf, not a DataFusion statement.

use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{self, ObjectType, Set};
use shoal_contract::value_types::check_plan_types;

use crate::error::{AggregatorError, Result};

/// `SET` names a request may change (lowercase). `shoal.*` are Shoal's own
/// per-query options; the others only change how results are shown.
pub const ALLOWED_SETTINGS: &[&str] = &[
    "shoal.deadline",
    "shoal.min_completeness",
    "datafusion.execution.time_zone",
    "datafusion.explain.format",
    "datafusion.explain.show_schema",
    "datafusion.explain.show_statistics",
    "datafusion.explain.show_sizes",
];

/// Checks one statement of a request; `position` is its place (1-based).
pub fn check_statement(statement: &Statement) -> Result<()> {
    match statement {
        Statement::Statement(inner) => check_sql_statement(inner),
        Statement::Explain(explain) => {
            if explain.options.analyze && !is_query(&explain.statement) {
                return Err(refused(
                    "EXPLAIN ANALYZE of a statement that is not a query",
                ));
            }
            check_statement(&explain.statement)
        }
        Statement::CreateExternalTable(_) => Err(refused("CREATE EXTERNAL TABLE")),
        Statement::CopyTo(_) => Err(refused("COPY")),
        Statement::Reset(_) => Err(refused("RESET")),
    }
}

fn is_query(statement: &Statement) -> bool {
    matches!(statement, Statement::Statement(inner) if matches!(**inner, ast::Statement::Query(_)))
}

fn check_sql_statement(statement: &ast::Statement) -> Result<()> {
    use ast::Statement as S;
    match statement {
        S::Query(_)
        | S::ShowTables { .. }
        | S::ShowColumns { .. }
        | S::ShowVariable { .. }
        | S::ShowFunctions { .. }
        | S::ExplainTable { .. } => Ok(()),
        S::Explain {
            statement, analyze, ..
        } => {
            if *analyze && !matches!(**statement, S::Query(_)) {
                return Err(refused(
                    "EXPLAIN ANALYZE of a statement that is not a query",
                ));
            }
            check_sql_statement(statement)
        }
        S::Set(set) => check_set(set),
        other => Err(refused(&statement_kind(&other.to_string()))),
    }
}

fn check_set(set: &Set) -> Result<()> {
    let names: Vec<String> = match set {
        Set::SingleAssignment { variable, .. } => vec![variable.to_string()],
        Set::ParenthesizedAssignments { variables, .. } => {
            variables.iter().map(|v| v.to_string()).collect()
        }
        Set::MultipleAssignments { assignments } => {
            assignments.iter().map(|a| a.name.to_string()).collect()
        }
        other => return Err(refused(&statement_kind(&other.to_string()))),
    };
    for name in names {
        let lowered = name.to_ascii_lowercase();
        if !ALLOWED_SETTINGS.contains(&lowered.as_str()) {
            return Err(AggregatorError::Query(format!(
                "SET {name} is not allowed: a request may set only {}",
                ALLOWED_SETTINGS.join(", ")
            )));
        }
    }
    Ok(())
}

/// A `DROP TABLE [IF EXISTS] t` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct DropTable {
    /// The name as DataFusion reads it: unquoted parts lowercased.
    pub table: String,
    pub if_exists: bool,
}

/// The table a `DROP TABLE t` statement names, if that is what it is.
pub fn drop_table_name(statement: &Statement) -> Option<DropTable> {
    let Statement::Statement(inner) = statement else {
        return None;
    };
    let ast::Statement::Drop {
        object_type: ObjectType::Table,
        names,
        if_exists,
        ..
    } = &**inner
    else {
        return None;
    };
    let [name] = names.as_slice() else {
        return None;
    };
    let parts = name
        .0
        .iter()
        .map(|part| {
            let ident = part.as_ident()?;
            Some(match ident.quote_style {
                Some(_) => ident.value.clone(),
                None => ident.value.to_lowercase(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(DropTable {
        table: parts.join("."),
        if_exists: *if_exists,
    })
}

/// The second guard: no DDL, DML or statement node in the planned query,
/// and no type too wide to allocate or that arrow cannot make arrays of
/// (see [`shoal_contract::value_types`]), before the optimizer evaluates
/// constant casts.
pub fn check_plan(plan: &LogicalPlan) -> Result<()> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| AggregatorError::Query(format!("Shoal runs read-only statements: {e}")))?;
    check_plan_types(plan).map_err(AggregatorError::Query)
}

/// The statement's leading keywords (`CREATE TABLE`, `INSERT INTO`), to
/// name it without echoing all of it.
fn statement_kind(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|word| word.chars().all(|c| c.is_ascii_alphabetic()))
        .take(3)
        .collect();
    match words.is_empty() {
        true => "this statement".to_string(),
        false => words.join(" ").to_ascii_uppercase(),
    }
}

fn refused(kind: &str) -> AggregatorError {
    AggregatorError::Query(format!(
        "{kind} is not allowed: Shoal runs read-only statements (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE, SET of a few settings)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn check(sql: &str) -> std::result::Result<(), String> {
        let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {}).unwrap();
        statements
            .iter()
            .try_for_each(check_statement)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_pass_and_writes_are_named() {
        for ok in [
            "SELECT 1",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
            "SHOW COLUMNS FROM t",
            "DESCRIBE t",
            "SET shoal.deadline = '2s'",
            "SET datafusion.execution.time_zone = '+01:00'",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, named) in [
            ("COPY (SELECT 1) TO '/tmp/x.csv' STORED AS CSV", "COPY"),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("INSERT INTO t VALUES (1)", "INSERT INTO"),
            ("DELETE FROM t", "DELETE FROM"),
            (
                "EXPLAIN ANALYZE INSERT INTO t VALUES (1)",
                "EXPLAIN ANALYZE",
            ),
            ("EXPLAIN COPY (SELECT 1) TO '/tmp/x' STORED AS CSV", "COPY"),
            (
                "SET datafusion.execution.target_partitions = 1000000",
                "target_partitions",
            ),
            ("RESET datafusion.execution.time_zone", "RESET"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
        ] {
            let error = check(bad).expect_err(bad);
            assert!(error.contains(named), "{bad}: {error}");
        }
    }

    #[test]
    fn drop_table_is_recognised() {
        let dropped = |sql: &str| {
            let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {}).unwrap();
            drop_table_name(&statements[0])
        };
        let logs = |if_exists| DropTable {
            table: "logs".to_string(),
            if_exists,
        };
        assert_eq!(dropped("DROP TABLE logs"), Some(logs(false)));
        assert_eq!(dropped("DROP TABLE Logs"), Some(logs(false)));
        assert_eq!(dropped("DROP TABLE IF EXISTS \"logs\""), Some(logs(true)));
        assert_eq!(dropped("DROP TABLE \"Logs\"").unwrap().table, "Logs");
        assert_eq!(dropped("DROP VIEW logs"), None);
    }
}
