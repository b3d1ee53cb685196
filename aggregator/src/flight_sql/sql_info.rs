//! What `GetSqlInfo` answers: every id of the Flight SQL spec that Shoal
//! can answer truthfully. JDBC's and ODBC's `DatabaseMetaData`, the
//! flightsql-dbapi SQLAlchemy dialect and BI tools read these before their
//! first query.
//!
//! Function lists come from DataFusion's own documentation of the functions
//! a Shoal session registers, keywords from its SQL parser, type conversions
//! from arrow's cast kernel: nothing here is a hand-kept list that could
//! drift from what the planner accepts.

use std::collections::{BTreeMap, BTreeSet};

use arrow::compute::can_cast_types;
use arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{
    SqlInfo, SqlNullOrdering, SqlOuterJoinsSupportLevel, SqlSupportedCaseSensitivity,
    SqlSupportsConvert,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;

use crate::error::{AggregatorError, Result};

/// The answers to `GetSqlInfo`.
pub fn sql_info() -> Result<SqlInfoData> {
    let mut info = SqlInfoDataBuilder::new();
    server(&mut info);
    grammar(&mut info);
    functions(&mut info);
    limits(&mut info);
    transactions(&mut info);
    info.build()
        .map_err(|e| AggregatorError::Internal(format!("sql info: {e}")))
}

fn server(info: &mut SqlInfoDataBuilder) {
    info.append(SqlInfo::FlightSqlServerName, "Shoal");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    // Queries only read, but bulk ingest writes.
    info.append(SqlInfo::FlightSqlServerReadOnly, false);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    info.append(SqlInfo::FlightSqlServerCancel, false);
    info.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    info.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    // Handles carry their statement and never expire (parameters kept for
    // clients that reuse their first handle do, after an idle hour).
    info.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    info.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
}

fn grammar(info: &mut SqlInfoDataBuilder) {
    // Tables appear with the first row written to them; `DROP TABLE` (admin
    // only) is the one statement that changes the catalog.
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, false);
    info.append(SqlInfo::SqlDdlTable, false);
    // Unquoted names are folded to lower case; quoted ones are kept as
    // written and compared exactly (the spec has no value for "sensitive").
    info.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityUnknown as i32,
    );
    info.append(SqlInfo::SqlAllTablesAreSelectable, true);
    // ASC puts nulls last and DESC first: nulls sort as the highest value.
    info.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    let keywords: Vec<String> = ALL_KEYWORDS.iter().map(|k| k.to_string()).collect();
    info.append(SqlInfo::SqlKeywords, keywords);
    info.append(SqlInfo::SqlSearchStringEscape, "\\");
    info.append(SqlInfo::SqlExtraNameCharacters, "");
    info.append(SqlInfo::SqlSupportsColumnAliasing, true);
    info.append(SqlInfo::SqlNullPlusNullIsNull, true);
    info.append(SqlInfo::SqlSupportsConvert, conversions());
    info.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    info.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    info.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    info.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    // GROUP BY columns need not be selected, and may go beyond the SELECT.
    info.append(SqlInfo::SqlSupportedGroupBy, 0b11i32);
    info.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    info.append(SqlInfo::SqlSupportsNonNullableColumns, false);
    // Minimum and core grammar; ANSI-92 entry and intermediate levels.
    info.append(SqlInfo::SqlSupportedGrammar, 0b011i32);
    info.append(SqlInfo::SqlAnsi92SupportedLevel, 0b011i32);
    info.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    info.append(
        SqlInfo::SqlOuterJoinsSupportLevel,
        SqlOuterJoinsSupportLevel::SqlFullOuterJoins as i32,
    );
    info.append(SqlInfo::SqlSchemaTerm, "schema");
    info.append(SqlInfo::SqlProcedureTerm, "procedure");
    info.append(SqlInfo::SqlCatalogTerm, "catalog");
    info.append(SqlInfo::SqlCatalogAtStart, true);
    info.append(SqlInfo::SqlSchemasSupportedActions, 0i32);
    info.append(SqlInfo::SqlCatalogsSupportedActions, 0i32);
    info.append(SqlInfo::SqlSupportedPositionedCommands, 0i32);
    info.append(SqlInfo::SqlSelectForUpdateSupported, false);
    info.append(SqlInfo::SqlStoredProceduresSupported, false);
    // Subqueries in comparisons, EXISTS, IN and quantified comparisons.
    info.append(SqlInfo::SqlSupportedSubqueries, 0b1111i32);
    info.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    // UNION and UNION ALL.
    info.append(SqlInfo::SqlSupportedUnions, 0b11i32);
    // `:name` placeholders (see `crate::placeholders`).
    info.append(SqlInfo::SqlNamedParametersSupported, true);
    info.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    info.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    info.append(SqlInfo::SqlBatchUpdatesSupported, false);
    info.append(SqlInfo::SqlSavepointsSupported, false);
    // Forward-only, read-only results.
    info.append(SqlInfo::SqlSupportedResultSetTypes, 1i32 << 1);
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetUnspecified,
        0i32,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetForwardOnly,
        1i32 << 1,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollSensitive,
        0i32,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollInsensitive,
        0i32,
    );
}

/// The scalar functions a Shoal session has, by the section DataFusion's
/// documentation files them under.
fn functions(info: &mut SqlInfoDataBuilder) {
    let context = SessionContext::new();
    shoal_contract::functions::register_functions(&context);
    let state = context.state();
    let mut sections: BTreeMap<SqlInfo, BTreeSet<String>> = BTreeMap::new();
    for (name, function) in state.scalar_functions() {
        let label = function
            .documentation()
            .map_or("Other Functions", |doc| doc.doc_section.label);
        let id = match label {
            "Math Functions" => SqlInfo::SqlNumericFunctions,
            "String Functions" | "Binary String Functions" | "Regular Expression Functions" => {
                SqlInfo::SqlStringFunctions
            }
            "Time and Date Functions" => SqlInfo::SqlDatetimeFunctions,
            _ => SqlInfo::SqlSystemFunctions,
        };
        sections.entry(id).or_default().insert(name.clone());
    }
    for id in [
        SqlInfo::SqlNumericFunctions,
        SqlInfo::SqlStringFunctions,
        SqlInfo::SqlSystemFunctions,
        SqlInfo::SqlDatetimeFunctions,
    ] {
        let names: Vec<String> = sections
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .collect();
        info.append(id, names);
    }
}

/// Which SQL types convert to which, as arrow's `CAST` does.
fn conversions() -> BTreeMap<i32, Vec<i32>> {
    use SqlSupportsConvert as C;
    let types = [
        (C::SqlConvertBigint, DataType::Int64),
        (C::SqlConvertBinary, DataType::Binary),
        (C::SqlConvertBit, DataType::Boolean),
        (C::SqlConvertChar, DataType::Utf8),
        (C::SqlConvertDate, DataType::Date32),
        (C::SqlConvertDecimal, DataType::Decimal128(38, 10)),
        (C::SqlConvertFloat, DataType::Float32),
        (C::SqlConvertInteger, DataType::Int32),
        (
            C::SqlConvertIntervalDayTime,
            DataType::Interval(IntervalUnit::DayTime),
        ),
        (
            C::SqlConvertIntervalYearMonth,
            DataType::Interval(IntervalUnit::YearMonth),
        ),
        (C::SqlConvertLongvarbinary, DataType::LargeBinary),
        (C::SqlConvertLongvarchar, DataType::LargeUtf8),
        (C::SqlConvertNumeric, DataType::Decimal128(38, 10)),
        (C::SqlConvertReal, DataType::Float64),
        (C::SqlConvertSmallint, DataType::Int16),
        (C::SqlConvertTime, DataType::Time64(TimeUnit::Microsecond)),
        (
            C::SqlConvertTimestamp,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        (C::SqlConvertTinyint, DataType::Int8),
        (C::SqlConvertVarbinary, DataType::Binary),
        (C::SqlConvertVarchar, DataType::Utf8),
    ];
    types
        .iter()
        .map(|(from, from_type)| {
            let to = types
                .iter()
                .filter(|(_, to_type)| can_cast_types(from_type, to_type))
                .map(|(to, _)| *to as i32)
                .collect();
            (*from as i32, to)
        })
        .collect()
}

fn limits(info: &mut SqlInfoDataBuilder) {
    use shoal_contract::column_type::MAX_COLUMN_NAME_BYTES;
    let column_name = i64::try_from(MAX_COLUMN_NAME_BYTES).unwrap_or(i64::MAX);
    let columns = i64::try_from(crate::ingest::to_arrow::MAX_COLUMNS).unwrap_or(i64::MAX);
    let tables = i64::try_from(shoal_contract::table_names::MAX_TABLES).unwrap_or(i64::MAX);
    let row = i64::try_from(crate::ingest::json_rows::MAX_LINE_BYTES).unwrap_or(i64::MAX);
    // 0 means "no limit, or not known", as the spec says.
    for (id, value) in [
        (SqlInfo::SqlMaxBinaryLiteralLength, 0),
        (SqlInfo::SqlMaxCharLiteralLength, 0),
        (SqlInfo::SqlMaxColumnNameLength, column_name),
        (SqlInfo::SqlMaxColumnsInGroupBy, columns),
        (SqlInfo::SqlMaxColumnsInIndex, 0),
        (SqlInfo::SqlMaxColumnsInOrderBy, columns),
        (SqlInfo::SqlMaxColumnsInSelect, 0),
        (SqlInfo::SqlMaxColumnsInTable, columns),
        (SqlInfo::SqlMaxConnections, 0),
        (SqlInfo::SqlMaxCursorNameLength, 0),
        (SqlInfo::SqlMaxIndexLength, 0),
        (SqlInfo::SqlDbSchemaNameLength, 6),
        (SqlInfo::SqlMaxProcedureNameLength, 0),
        (SqlInfo::SqlMaxCatalogNameLength, 10),
        (SqlInfo::SqlMaxRowSize, row),
        (SqlInfo::SqlMaxStatementLength, 0),
        (SqlInfo::SqlMaxStatements, 0),
        (SqlInfo::SqlMaxTableNameLength, 128),
        (SqlInfo::SqlMaxTablesInSelect, tables),
        (SqlInfo::SqlMaxUsernameLength, 0),
    ] {
        info.append(id, value);
    }
    info.append(SqlInfo::SqlMaxRowSizeIncludesBlobs, true);
}

fn transactions(info: &mut SqlInfoDataBuilder) {
    info.append(SqlInfo::SqlDefaultTransactionIsolation, 0i32);
    info.append(SqlInfo::SqlTransactionsSupported, false);
    info.append(SqlInfo::SqlSupportedTransactionsIsolationLevels, 0i32);
    info.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    info.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, false);
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_spec_id_shoal_can_answer_is_answered() {
        let info = super::sql_info().expect("sql info");
        let batch = info.record_batch(Vec::<u32>::new()).expect("batch");
        // 0-11, 100-101 and 500-576: all but the Substrait versions (6, 7),
        // as Shoal takes no Substrait plans.
        assert_eq!(batch.num_rows(), 89);
        let ids = info.record_batch([504u32, 503, 508, 509]).expect("batch");
        assert_eq!(ids.num_rows(), 4);
    }
}
