//! The browser app end to end, in real headless Chromium over real
//! processes: the scenarios in `tests/browser/*.mjs` (playwright-core
//! driving Debian's `chromium`) print what the page drew as JSON, and the
//! tests check it against the aggregator's own HTTP answers. Here, with
//! every leaf up: a grouped time series built through the builder's
//! controls from the keyboard, every view opened by its URL, and a
//! dashboard saved through the app that opens again, whole, after every
//! process restarted. `tests/browser_partial.rs` has the leaf that is
//! stopped or killed.
//!
//! ```text
//!   this test ──► leaves + aggregator (real `shoal` processes)
//!      │              ▲ HTTP: /explore, /dashboards/NAME, /api/v1/...
//!      ├─► node tests/browser/SCENARIO.mjs --url http://AGGREGATOR
//!      │      └─► chromium --headless ... (a fresh profile)
//!      │      ◄── one JSON line: hooks, SQL, answer, drawn data
//!      └─► POST /api/v1/query with the SQL the page ran: the expected answer
//! ```
//!
//! Needs `node`, Chromium (`SHOAL_CHROMIUM`, else `/usr/bin/chromium`) and
//! `npm ci --prefix tests/browser`; without them each test says what is
//! missing and is skipped, unless `SHOAL_REQUIRE_BROWSER` is set (as
//! `.ci/run` does): then it fails.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::browser::*;
use common::browser_fleet::*;
use common::*;
use serde_json::{Value, json};

/// The explorer's automatic step for a 6 h range (about a 120th of it,
/// rounded up to 5 minutes).
const STEP_MS: i64 = 5 * MINUTE_MS;

/// SQL with every digit masked: the same query at another moment.
fn masked(sql: &str) -> String {
    sql.chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect()
}

/// Rows of the `web` table for the first test: one every 6 s over the 4
/// hours before `end_ms`.
fn web_rows(end_ms: i64) -> Vec<Row> {
    let start = end_ms - 4 * HOUR_MS;
    (0..(4 * HOUR_MS / 6_000))
        .map(|i| row(i, start + i * 6_000))
        .collect()
}

#[test]
fn the_builder_the_views_and_a_saved_dashboard_draw_what_the_server_answers() {
    let Some(browser) = browser() else { return };
    let mut fleet = Fleet::start(2, &[]);
    let end_ms = now_ms() / (10 * MINUTE_MS) * (10 * MINUTE_MS);
    let web = web_rows(end_ms);
    // A second table, `requests`, which the explorer opens first: the
    // builder has to switch to `web`.
    let mut requests: Vec<Row> = (0..10).map(|i| row(i, end_ms - i * MINUTE_MS)).collect();
    // An outlier far past any bin: the heatmap counts it in its last bin
    // (its bin number once overflowed the SQL cast and failed the panel).
    requests[3].latency_ms = 1e300;
    fleet.ingest_ndjson("web", &web);
    fleet.ingest_ndjson("requests", &requests);
    fleet.wait_for_rows("web", web.len());
    fleet.wait_for_rows("requests", requests.len());
    let expected_counts = counts_by_service(&web);

    builder_draws_the_grouped_series_the_server_answers(&browser, &fleet, &expected_counts);
    every_view_opens_by_its_url(&browser, &fleet, &web, &requests, &expected_counts);

    // A dashboard saved through the app...
    let panels = [
        (
            "Requests by service",
            "/explore?table=web&view=timeseries&agg=count&group=service",
        ),
        (
            "Busiest services",
            "/explore?table=web&view=bar&agg=count&group=service",
        ),
        (
            "Latency",
            "/explore?table=web&view=heatmap&column=latency_ms",
        ),
        (
            "Statuses",
            "/explore?table=web&view=table&agg=count&group=status",
        ),
    ];
    let mut args = vec![
        ("name", "service-health".to_string()),
        ("title", "Service health".to_string()),
        ("range", "6h".to_string()),
    ];
    for (title, path) in panels {
        args.push(("panel", path.to_string()));
        args.push(("panel-title", title.to_string()));
    }
    let saved = browser.run("save_dashboard.mjs", fleet.http(), &args);
    assert!(
        saved["status"].as_str().unwrap().starts_with("Saved at"),
        "{}",
        saved["status"]
    );
    check_service_health(&saved, &panels, &web, &expected_counts);
    let (status, _, body) = http_request(
        fleet.http(),
        "GET",
        "/api/v1/dashboards/service-health",
        &[],
        b"",
    );
    let stored: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["spec"]["range"], "6h", "{stored}");
    let explores: Vec<&str> = stored["spec"]["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["explore"].as_str().unwrap())
        .collect();
    assert_eq!(explores.len(), panels.len(), "{stored}");
    for (explore, (_, path)) in explores.iter().zip(panels) {
        let query = path.trim_start_matches("/explore?");
        for part in query.split('&') {
            assert!(
                explore.split('&').any(|p| p == part),
                "{part} not in {explore}"
            );
        }
    }

    // ...opens again, whole, after every process restarted.
    fleet.restart_every_process();
    fleet.wait_for_rows("web", web.len());
    let reopened = browser.run(
        "open_dashboard.mjs",
        fleet.http(),
        &[("name", "service-health".to_string())],
    );
    assert_eq!(
        reopened["dashboard"]["heading"], "Service health",
        "{}",
        reopened["dashboard"]
    );
    assert_eq!(
        reopened["dashboard"]["range"], "6h",
        "{}",
        reopened["dashboard"]
    );
    check_service_health(&reopened, &panels, &web, &expected_counts);
}

/// The dashboard "service-health" as the page drew it: its panels in
/// order, each complete with what the data holds.
fn check_service_health(
    page: &Value,
    panels: &[(&str, &str)],
    web: &[Row],
    expected_counts: &BTreeMap<String, i64>,
) {
    assert_eq!(page["dashboard"]["state"], "done", "{}", page["dashboard"]);
    let drawn = page["panels"].as_array().unwrap();
    let titles: Vec<&str> = drawn.iter().map(|p| p["title"].as_str().unwrap()).collect();
    let expected_titles: Vec<&str> = panels.iter().map(|(title, _)| *title).collect();
    assert_eq!(titles, expected_titles);
    for (index, panel) in drawn.iter().enumerate() {
        assert_eq!(attribute(panel, "data-shoal-panel"), index.to_string());
        assert_complete(panel, 2);
    }
    // Time series: a line per service, all the rows.
    let (_, series) = drawn_series(&drawn[0]);
    let labels: BTreeSet<&String> = series.keys().collect();
    assert_eq!(labels, expected_counts.keys().collect::<BTreeSet<_>>());
    let total: f64 = series.values().flatten().flatten().sum();
    assert_eq!(total, web.len() as f64);
    // Bars: the services by count, most first.
    let mut by_count: Vec<(&String, &i64)> = expected_counts.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    assert_eq!(
        drawn[1]["data"]["labels"],
        json!(by_count.iter().map(|(s, _)| s).collect::<Vec<_>>())
    );
    assert_eq!(
        drawn[1]["data"]["values"],
        json!(by_count.iter().map(|(_, c)| c).collect::<Vec<_>>())
    );
    // Heatmap: every row in a cell.
    assert_eq!(heatmap_total(&drawn[2]), web.len() as i64);
    // Table: one row per status.
    assert_eq!(drawn[3]["table_rows"], 2, "{}", drawn[3]);
}

/// Scenario a: table, range, view, aggregate and group by chosen with the
/// builder's controls, run with Enter; the lines drawn are the server's
/// answer to the SQL the page ran.
fn builder_draws_the_grouped_series_the_server_answers(
    browser: &Browser,
    fleet: &Fleet,
    expected_counts: &BTreeMap<String, i64>,
) {
    let result = browser.run(
        "builder_timeseries.mjs",
        fleet.http(),
        &[
            ("table", "web".to_string()),
            ("range", "6h".to_string()),
            ("group", "service".to_string()),
        ],
    );
    assert_eq!(
        result["controls"],
        json!({"table": "web", "range": "6h", "view": "timeseries", "agg": "count", "group": "service"})
    );
    // The URL is the view.
    let url = result["url"].as_str().unwrap();
    for part in [
        "table=web",
        "range=6h",
        "view=timeseries",
        "agg=count",
        "group=service",
    ] {
        assert!(url.contains(part), "{part} not in {url}");
    }
    let panel = &result["panel"];
    assert_complete(panel, 2);
    // The SQL box shows the SQL that ran (its "now" may be a little later).
    let ran_sql = panel["sql"].as_str().unwrap();
    assert_eq!(
        masked(result["shown_sql"].as_str().unwrap()),
        masked(ran_sql)
    );
    assert!(ran_sql.contains("FROM web"), "{ran_sql}");
    assert!(ran_sql.contains("GROUP BY bucket, service"), "{ran_sql}");

    let answer = fleet.query(ran_sql);
    assert_eq!(
        answer["columns"],
        json!(["bucket", "service", "count"]),
        "{answer}"
    );
    let expected = series_values(&answer);
    let (xs, series) = drawn_series(panel);
    // 6 h of 5-minute buckets, and the one "now" is in unless it is on a
    // bucket's edge.
    assert!([72, 73].contains(&xs.len()), "{} buckets", xs.len());
    assert!(xs.windows(2).all(|w| w[1] - w[0] == STEP_MS));
    // One line per service (fewer than the top 10: no "other").
    let labels: BTreeSet<&String> = series.keys().collect();
    assert_eq!(labels, expected_counts.keys().collect::<BTreeSet<_>>());
    assert_eq!(
        attribute_number(panel, "data-series"),
        SERVICES.len() as f64
    );
    // Every point is the server's count for that service and bucket (0
    // where it has none), and every answer row is drawn.
    for (service, values) in &series {
        for (x, value) in xs.iter().zip(values) {
            let server = expected.get(&(service.clone(), *x)).copied().unwrap_or(0.0);
            assert_eq!(*value, Some(server), "{service} at {x}");
        }
    }
    for (service, bucket) in expected.keys() {
        assert!(xs.contains(bucket), "{service} at {bucket} is not drawn");
    }
    let points = series.values().map(Vec::len).sum::<usize>();
    assert_eq!(attribute_number(panel, "data-points"), points as f64);
    let drawn_total: f64 = series.values().flatten().flatten().sum();
    assert_eq!(drawn_total, expected_counts.values().sum::<i64>() as f64);
}

/// Scenario b: every view type by URL reaches `complete` with what the
/// data holds.
fn every_view_opens_by_its_url(
    browser: &Browser,
    fleet: &Fleet,
    web: &[Row],
    requests: &[Row],
    expected_counts: &BTreeMap<String, i64>,
) {
    let paths = [
        "/explore?table=web&range=6h&view=table&agg=count&group=service",
        "/explore?table=web&range=6h&view=timeseries&agg=p99(latency_ms)&group=service",
        "/explore?table=web&range=6h&view=bar&agg=count&group=service&top=3",
        "/explore?table=web&range=6h&view=samples&limit=50",
        "/explore?table=web&range=6h&view=heatmap&column=latency_ms",
        "/explore?table=requests&range=6h&view=heatmap&column=latency_ms",
    ];
    let args: Vec<(&str, String)> = paths.iter().map(|p| ("path", p.to_string())).collect();
    let result = browser.run("views.mjs", fleet.http(), &args);
    let views = result["views"].as_array().unwrap();
    assert_eq!(views.len(), paths.len());
    for view in views {
        assert_complete(&view["panel"], 2);
    }

    // Table: the server's rows for the same SQL, one table row each.
    let table = &views[0]["panel"];
    let answer = fleet.query(table["sql"].as_str().unwrap());
    assert_eq!(table["answer"]["first_rows"], answer["rows"]);
    assert_eq!(table["table_rows"], SERVICES.len());
    let shown: BTreeMap<String, i64> = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
        .collect();
    assert_eq!(&shown, expected_counts);

    // Time series of a percentile: a line per service, a point for every
    // (bucket, service) the server answered (none invented: a percentile
    // is not 0 where there are no rows).
    let p99 = &views[1]["panel"];
    let answer = fleet.query(p99["sql"].as_str().unwrap());
    let expected = series_values(&answer);
    let (xs, series) = drawn_series(p99);
    assert_eq!(series.len(), SERVICES.len());
    assert_eq!(attribute_number(p99, "data-series"), SERVICES.len() as f64);
    assert_eq!(attribute_number(p99, "data-points"), expected.len() as f64);
    for ((service, bucket), value) in &expected {
        let index = xs.iter().position(|x| x == bucket).unwrap();
        assert_eq!(
            series[service][index],
            Some(*value),
            "{service} at {bucket}"
        );
    }

    // Bars: the 3 busiest services.
    let bar = &views[2]["panel"];
    let mut by_count: Vec<(&String, &i64)> = expected_counts.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    let top: Vec<&String> = by_count.iter().take(3).map(|(s, _)| *s).collect();
    assert_eq!(bar["data"]["labels"], json!(top));
    assert_eq!(attribute_number(bar, "data-points"), 3.0);

    // Samples: 50 raw rows, newest first.
    let samples = &views[3]["panel"];
    assert_eq!(samples["answer"]["rows"], 50);
    assert_eq!(samples["table_rows"], 50);
    let columns = samples["answer"]["columns"].as_array().unwrap();
    let time_index = columns.iter().position(|c| c == "time").unwrap();
    let times: Vec<i64> = samples["answer"]["first_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| epoch_ms(r[time_index].as_str().unwrap()))
        .collect();
    let newest = web.iter().map(|r| r.time_ms).max().unwrap();
    assert_eq!(times[0], newest);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // Heatmap: every row counted once, in the 48 five-minute buckets the
    // rows fall in.
    let heatmap = &views[4]["panel"];
    assert_eq!(heatmap_total(heatmap), web.len() as i64);
    assert_eq!(attribute_number(heatmap, "data-series"), 1.0);
    assert_eq!(attribute_number(heatmap, "data-points"), 48.0);
    assert_eq!(attribute_number(heatmap, "data-incomplete-buckets"), 0.0);
    // With an outlier of 1e300 among them: counted too.
    let outliers = &views[5]["panel"];
    assert_eq!(heatmap_total(outliers), requests.len() as i64);
}
