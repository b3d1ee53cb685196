//! The Python clients people point at Shoal, each as its users run it:
//! pandas (`read_sql` over ADBC and over a SQLAlchemy engine, `to_sql`),
//! polars (`read_database`, `write_database`), SQLAlchemy reflection through
//! sqlalchemy-adbc and through flightsql-dbapi's `datafusion+flightsql`
//! dialect, ADBC's `adbc_get_objects`, and pyarrow.flight reading an
//! answer's completeness and asking for a minimum. The scenarios are in
//! `tests/python/clients.py`; each prints what its client returned, and the
//! answers here are computed from the rows the test ingested.
//!
//! Needs `SHOAL_PYTHON` (a Python with tests/python/requirements.txt) and,
//! for flightsql-dbapi, which requires SQLAlchemy 1.4, `SHOAL_PYTHON_SQLALCHEMY1`
//! (tests/python/requirements-sqlalchemy1.txt); `.ci/run` makes both.
//! Without them each test says so and is skipped.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::stack::Stack;
use common::*;
use serde_json::{Value, json};

const SERVICES: [&str; 3] = ["api", "db", "web"];

/// One ingested row of `client_rows`.
struct Row {
    second: u32,
    service: &'static str,
    status: i64,
    latency_ms: f64,
    ok: bool,
}

/// The rows every scenario reads: 12 rows over three services.
fn rows() -> Vec<Row> {
    (0..12u32)
        .map(|i| {
            let status = match i % 4 {
                0 => 500,
                1 => 404,
                _ => 200,
            };
            Row {
                second: i,
                service: SERVICES[((i * i + i / 5) % 3) as usize],
                status,
                latency_ms: f64::from(i) * 1.5 + 0.25,
                ok: status == 200,
            }
        })
        .collect()
}

/// A stack of two leaves holding [`rows`] in `client_rows`.
fn stack_with_rows() -> Stack {
    let stack = Stack::start(2);
    let body: String = rows()
        .iter()
        .map(|row| {
            format!(
                "{}\n",
                json!({
                    "time": format!("2026-01-01T00:00:{:02}Z", row.second),
                    "service": row.service,
                    "status": row.status,
                    "latency_ms": row.latency_ms,
                    "ok": row.ok,
                })
            )
        })
        .collect();
    let (status, answer) = stack.post("/api/v1/ingest/client_rows", &[], body.as_bytes());
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (200, Some(12)),
        "{answer}"
    );
    stack.eventually("SELECT count(*) FROM client_rows", json!(12));
    stack
}

/// `BY_STATUS` of clients.py with 200: services in order, and their counts.
fn expected_by_status_200() -> Value {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for row in rows().iter().filter(|row| row.status == 200) {
        *counts.entry(row.service).or_default() += 1;
    }
    json!({
        "service": counts.keys().collect::<Vec<_>>(),
        "n": counts.values().collect::<Vec<_>>(),
    })
}

/// `BY_SERVICE_NAMED` of clients.py with `api`: count and latency sum.
fn expected_api_count_and_total() -> (i64, f64) {
    let api: Vec<Row> = rows()
        .into_iter()
        .filter(|row| row.service == "api")
        .collect();
    (api.len() as i64, api.iter().map(|row| row.latency_ms).sum())
}

/// Runs a scenario of `tests/python/clients.py` with the Python named by
/// `variable`; its JSON line, or a panic with the client's exception.
fn scenario(variable: &str, args: &[&str]) -> Option<Value> {
    let python = client_tool(variable)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py");
    let output = Command::new(&python)
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let exception = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_default();
        panic!("{} failed: {exception}\n{stdout}{stderr}", args[0]);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{') || line.starts_with('['))
        .unwrap_or_else(|| panic!("{} printed no JSON: {stdout}{stderr}", args[0]));
    Some(serde_json::from_str(line).expect("JSON line"))
}

fn python_scenario(args: &[&str]) -> Option<Value> {
    scenario("SHOAL_PYTHON", args)
}

#[test]
fn pandas_over_adbc_reads_with_a_bound_parameter() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["pandas-adbc-read", &flight]) else {
        return;
    };
    // pandas takes no `params` over ADBC: the literal query through
    // read_sql, the bound one through the ADBC cursor's frame.
    let expected = expected_by_status_200();
    assert_eq!(
        answer,
        json!({"read_sql": expected, "cursor_fetch_df": expected})
    );
}

#[test]
fn pandas_read_sql_over_a_sqlalchemy_engine_binds_a_named_parameter() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["pandas-sqlalchemy-read", &flight]) else {
        return;
    };
    let (n, total) = expected_api_count_and_total();
    assert_eq!(answer, json!({"n": [n], "total": [total]}));
}

#[test]
fn pandas_to_sql_appends_through_adbc() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["pandas-to-sql-append", &flight, "pandas_appended"])
    else {
        return;
    };
    assert_eq!(answer, json!({"first": 3, "second": 3}));
    stack.eventually("SELECT count(*) FROM pandas_appended", json!(6));
    let (status, sums) = http_query(
        stack.aggregator.http,
        "SELECT sum(status), sum(latency_ms) FROM pandas_appended",
        &[],
    );
    assert_eq!(status, 200, "{sums}");
    assert_eq!(sums["rows"], json!([[2 * (200 + 404 + 500), 15.0]]));
}

#[test]
fn pandas_to_sql_replace_drops_then_creates() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["pandas-to-sql-replace", &flight, "pandas_replaced"])
    else {
        return;
    };
    assert_eq!(answer, json!({"first": 3, "replaced": 2}));
    stack.eventually(
        "SELECT count(*) * 1000 + sum(status) FROM pandas_replaced",
        json!(2 * 1000 + 201 + 202),
    );
}

#[test]
fn polars_read_database_over_adbc_binds_a_parameter() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["polars-read", &flight]) else {
        return;
    };
    assert_eq!(answer, expected_by_status_200());
}

#[test]
fn polars_write_database_with_the_adbc_engine() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["polars-write", &flight, "polars_written"]) else {
        return;
    };
    assert_eq!(answer, json!({"first": 2, "second": 2}));
    stack.eventually(
        "SELECT count(*) * 10000 + sum(status) FROM polars_written",
        json!(4 * 10000 + 2 * (200 + 500)),
    );
}

/// The columns of `client_rows` as reflection reports them: name, then
/// the SQLAlchemy type class and the Python type of its values.
fn reflected(answer: &Value) -> BTreeMap<String, (String, String)> {
    answer["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|column| {
            (
                column["name"].as_str().unwrap_or_default().to_string(),
                (
                    column["type"].as_str().unwrap_or_default().to_string(),
                    column["python_type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        })
        .collect()
}

fn expected_columns(types: [(&str, &str, &str); 5]) -> BTreeMap<String, (String, String)> {
    types
        .into_iter()
        .map(|(name, class, python)| (name.to_string(), (class.to_string(), python.to_string())))
        .collect()
}

#[test]
fn sqlalchemy_adbc_reflects_column_types() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["sqlalchemy-adbc-reflect", &flight, "client_rows"]) else {
        return;
    };
    // sqlalchemy-adbc 0.3 lists only tables whose `table_type` is `table`
    // (SQLite's spelling; Flight SQL servers say `TABLE`), so
    // `get_table_names` is empty here; `has_table` looks by name.
    assert_eq!(answer["has_table"], true, "{answer}");
    // sqlalchemy-adbc maps xdbc_type_name: TIMESTAMP WITH TIME ZONE,
    // VARCHAR, BIGINT, DOUBLE, BOOLEAN.
    assert_eq!(
        reflected(&answer),
        expected_columns([
            ("latency_ms", "Float", "float"),
            ("ok", "Boolean", "bool"),
            ("service", "String", "str"),
            ("status", "BigInteger", "int"),
            ("time", "DateTime", "datetime"),
        ]),
        "{answer}"
    );
}

#[test]
fn flightsql_dbapi_dialect_reflects_column_types() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = scenario(
        "SHOAL_PYTHON_SQLALCHEMY1",
        &["flightsql-dbapi-reflect", &flight, "client_rows"],
    ) else {
        return;
    };
    assert_eq!(answer["has_table"], true, "{answer}");
    assert!(
        answer["tables"]
            .as_array()
            .unwrap()
            .contains(&json!("client_rows")),
        "{answer}"
    );
    // flightsql-dbapi maps the Arrow types of GetTables' table_schema.
    assert_eq!(
        reflected(&answer),
        expected_columns([
            ("latency_ms", "FLOAT", "float"),
            ("ok", "BOOLEAN", "bool"),
            ("service", "TEXT", "str"),
            ("status", "BIGINT", "int"),
            ("time", "TIMESTAMP", "datetime"),
        ]),
        "{answer}"
    );
}

fn flightsql_dbapi_select(mode: &str) {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = scenario(
        "SHOAL_PYTHON_SQLALCHEMY1",
        &["flightsql-dbapi-select", &flight, mode],
    ) else {
        return;
    };
    // flightsql-dbapi builds rows through a numpy array: the count is a float.
    let (n, total) = expected_api_count_and_total();
    assert_eq!(answer, json!([[n as f64, total]]));
}

#[test]
fn flightsql_dbapi_dialect_selects_with_a_parameter_bound_as_a_literal() {
    // The dialect's default: it writes the value into the SQL.
    flightsql_dbapi_select("literal");
}

#[test]
fn flightsql_dbapi_dialect_selects_with_a_prepared_statement() {
    // `feature-sqlalchemy-prepared-statements=on`: `?` with the value sent
    // as a one-row batch of dense unions.
    flightsql_dbapi_select("prepared");
}

#[test]
fn adbc_get_objects_describes_the_columns() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["adbc-get-objects", &flight, "client_rows"]) else {
        return;
    };
    let found = answer["found"].as_array().expect("found");
    assert_eq!(found.len(), 1, "{answer}");
    let table = &found[0];
    assert_eq!(
        (&table["catalog"], &table["db_schema"], &table["table_type"]),
        (&json!("datafusion"), &json!("public"), &json!("TABLE")),
        "{answer}"
    );
    let columns = table["columns"].as_array().expect("columns");
    // The ADBC driver fills xdbc_type_name from the column metadata the
    // server sends (ARROW:FLIGHT:SQL:TYPE_NAME); nullability it leaves null.
    let described: BTreeMap<&str, (&Value, &Value)> = columns
        .iter()
        .map(|column| {
            (
                column["column_name"].as_str().unwrap_or_default(),
                (&column["xdbc_type_name"], &column["xdbc_scope_table"]),
            )
        })
        .collect();
    let table_name = json!("client_rows");
    let type_names = [
        ("latency_ms", json!("DOUBLE")),
        ("ok", json!("BOOLEAN")),
        ("service", json!("VARCHAR")),
        ("status", json!("BIGINT")),
        ("time", json!("TIMESTAMP WITH TIME ZONE")),
    ];
    let expected: BTreeMap<&str, (&Value, &Value)> = type_names
        .iter()
        .map(|(name, type_name)| (*name, (type_name, &table_name)))
        .collect();
    assert_eq!(described, expected, "{answer}");
    // Positions count from 1 in the table's column order.
    let positions: Vec<&Value> = columns.iter().map(|c| &c["ordinal_position"]).collect();
    let wanted: Vec<Value> = (1..=columns.len()).map(|p| json!(p)).collect();
    assert_eq!(positions, wanted.iter().collect::<Vec<_>>(), "{answer}");
    // Strings are plain Utf8 to clients, never dictionaries.
    assert_eq!(answer["table_schema"]["service"], "string", "{answer}");
}

#[test]
fn pyarrow_flight_reads_the_completeness_of_an_answer() {
    let stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    let Some(answer) = python_scenario(&["flight-completeness", &flight]) else {
        return;
    };
    let complete =
        json!({"leaves_queried": 2, "leaves_answered": 2, "ratio": 1.0, "rows_ratio": 1.0});
    let status_sum: i64 = rows().iter().map(|row| row.status).sum();
    let aggregate = &answer["aggregate"];
    assert_eq!(aggregate["rows"], json!([[12, status_sum]]), "{answer}");
    // An aggregate is complete before streaming starts: FlightInfo has it.
    assert_eq!(aggregate["info_app_metadata"], complete, "{answer}");
    assert_eq!(aggregate["last_app_metadata"], complete, "{answer}");
    // The last message carries data as well as the metadata (pyarrow
    // clients fail on metadata-only messages).
    let messages = aggregate["messages"].as_array().expect("messages");
    assert!(
        messages.last().unwrap()["rows"].as_u64().unwrap() > 0,
        "{answer}"
    );

    let all = rows();
    let mut by_latency: Vec<&Row> = all.iter().collect();
    by_latency.sort_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms));
    let statuses: Vec<Value> = by_latency.iter().map(|row| json!([row.status])).collect();
    let streamed = &answer["rows"];
    assert_eq!(streamed["rows"], json!(statuses), "{answer}");
    assert_eq!(streamed["last_app_metadata"], complete, "{answer}");
}

/// Which leaf holds no row of `client_rows` (the ingest went to one).
fn empty_leaf(stack: &Stack) -> usize {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        for (index, leaf) in stack.leaves.iter().enumerate() {
            let held = status(&mut leaf.client().await)
                .await
                .tables
                .iter()
                .filter(|table| table.name == "client_rows")
                .map(|table| table.rows)
                .sum::<u64>();
            if held == 0 {
                return index;
            }
        }
        panic!("both leaves hold rows of client_rows");
    })
}

#[test]
fn pyarrow_flight_asks_for_a_minimum_completeness() {
    let mut stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    if client_tool("SHOAL_PYTHON").is_none() {
        return;
    }
    // One of two leaves down (the one without rows): half the leaves, all
    // the rows.
    let down = empty_leaf(&stack);
    stack.leaves[down].kill();
    let below = "completeness 0.500 is below the minimum 0.900 asked for: 1 of 2 leaves answered (1.000 of the rows)";
    for how in ["header", "set"] {
        let answer = python_scenario(&["flight-min-completeness", &flight, how, "0.9"]).unwrap();
        assert_eq!(
            answer["error_type"], "FlightUnavailableError",
            "{how}: {answer}"
        );
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(below),
            "{how}: {answer}"
        );
        let answer = python_scenario(&["flight-min-completeness", &flight, how, "0.4"]).unwrap();
        let half =
            json!({"leaves_queried": 2, "leaves_answered": 1, "ratio": 0.5, "rows_ratio": 1.0});
        assert_eq!(answer["answer"]["rows"], json!([[12]]), "{how}: {answer}");
        assert_eq!(
            answer["answer"]["info_app_metadata"], half,
            "{how}: {answer}"
        );
        assert_eq!(
            answer["answer"]["last_app_metadata"], half,
            "{how}: {answer}"
        );
    }
}

#[test]
fn adbc_pandas_polars_and_sqlalchemy_ask_for_a_minimum_completeness() {
    let mut stack = stack_with_rows();
    let flight = stack.aggregator.flight.to_string();
    if client_tool("SHOAL_PYTHON").is_none() {
        return;
    }
    let down = empty_leaf(&stack);
    stack.leaves[down].kill();
    let clients = [
        "adbc_header",
        "pandas_header",
        "polars_header",
        "adbc_set",
        "sqlalchemy_set",
    ];
    let below = python_scenario(&["dataframe-min-completeness", &flight, "0.9"]).unwrap();
    for client in clients {
        let error = below[client]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("completeness 0.500 is below the minimum 0.900"),
            "{client}: {below}"
        );
    }
    let above = python_scenario(&["dataframe-min-completeness", &flight, "0.4"]).unwrap();
    for client in clients {
        assert_eq!(above[client], json!({"n": 12}), "{client}: {above}");
    }
}
