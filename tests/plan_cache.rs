//! Plans kept for queries asked again: the same text answers from fresh
//! rows, sees a column added since (the catalog is part of the key), and a
//! plan with `now()`, or over a table function whose arguments hold it, is
//! never kept (it would freeze the time). Counted by
//! `shoal_query_plans_reused_total` on `/metrics`.

mod common;

use std::time::Duration;

use common::stack::Stack;
use common::{http_query, http_request};
use serde_json::{Value, json};

fn reused(stack: &Stack) -> u64 {
    let (status, _, body) = http_request(stack.aggregator.http, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|line| line.strip_prefix("shoal_query_plans_reused_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("shoal_query_plans_reused_total")
}

fn rows(stack: &Stack, sql: &str) -> Value {
    let (status, answer) = http_query(stack.aggregator.http, sql, &[]);
    assert_eq!(status, 200, "{sql}: {answer}");
    answer["rows"].clone()
}

fn ingest(stack: &Stack, lines: &[Value]) {
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    let (status, answer) = stack.post("/api/v1/ingest/events", &[], body.join("\n").as_bytes());
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn a_query_asked_again_reuses_its_plan_and_still_answers_from_fresh_rows() {
    let stack = Stack::start(2);
    ingest(
        &stack,
        &[json!({"service": "api"}), json!({"service": "web"})],
    );
    stack.eventually("SELECT count(*) FROM events", json!(2));

    let sql = "SELECT service, count(*) AS n FROM events GROUP BY service ORDER BY service";
    let before = reused(&stack);
    assert_eq!(rows(&stack, sql), json!([["api", 1], ["web", 1]]));
    assert_eq!(rows(&stack, sql), json!([["api", 1], ["web", 1]]));
    assert_eq!(
        reused(&stack),
        before + 1,
        "the second asking reused the plan"
    );

    // New rows: the kept plan reads them.
    ingest(&stack, &[json!({"service": "api"})]);
    assert_eq!(rows(&stack, sql), json!([["api", 2], ["web", 1]]));
    assert_eq!(reused(&stack), before + 2);

    // A new column changes the catalog: `*` plans afresh and shows it.
    let star = "SELECT * FROM events WHERE service = 'api' ORDER BY time LIMIT 1";
    let columns = |stack: &Stack| {
        let (_, answer) = http_query(stack.aggregator.http, star, &[]);
        answer["columns"].as_array().map_or(0, Vec::len)
    };
    let narrow = columns(&stack);
    ingest(&stack, &[json!({"service": "db", "region": "eu"})]);
    stack.eventually("SELECT count(region) FROM events", json!(1));
    assert_eq!(columns(&stack), narrow + 1);

    // now() is folded into a constant when a plan is optimized: never kept.
    let now = "SELECT CAST(now() AS VARCHAR)";
    let first = rows(&stack, now);
    std::thread::sleep(Duration::from_millis(20));
    let counted = reused(&stack);
    assert_ne!(rows(&stack, now), first);
    assert_eq!(reused(&stack), counted, "a plan with now() was reused");

    // A table function's arguments are evaluated while planning: a series
    // up to now() must move too.
    let series = "SELECT CAST(max(value) AS VARCHAR) FROM \
                  generate_series(now() - INTERVAL '1 minute', now(), INTERVAL '1 second')";
    let first = rows(&stack, series);
    std::thread::sleep(Duration::from_millis(1100));
    assert_ne!(rows(&stack, series), first);
    assert_eq!(
        reused(&stack),
        counted,
        "a plan over a table function was reused"
    );
}

/// Every request's session is a copy of one template: a `SET` in one
/// request, a kept plan run after it, and a request of another kind see
/// nothing of each other's settings.
#[test]
fn a_set_in_one_request_reaches_no_other() {
    let stack = Stack::start(2);
    ingest(&stack, &[json!({"service": "api"})]);
    stack.eventually("SELECT count(*) FROM events", json!(1));
    let setting = "SELECT value FROM information_schema.df_settings \
                   WHERE name = 'datafusion.execution.time_zone'";
    let default = rows(&stack, setting);
    assert_ne!(default, json!([["+05:00"]]), "{default}");
    let with_set = format!("SET datafusion.execution.time_zone = '+05:00'; {setting}");
    assert_eq!(rows(&stack, &with_set), json!([["+05:00"]]));
    // Asked twice and once more: a kept plan or a fresh one, the default.
    assert_eq!(rows(&stack, setting), default);
    assert_eq!(rows(&stack, setting), default);
    assert_eq!(rows(&stack, &with_set), json!([["+05:00"]]));
    assert_eq!(rows(&stack, setting), default);
    // A query over the table after the SET answers as before it.
    assert_eq!(
        rows(
            &stack,
            "SELECT service, count(*) FROM events GROUP BY service"
        ),
        json!([["api", 1]])
    );
}
