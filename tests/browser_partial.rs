//! The browser app with one of four leaves down, in real headless
//! Chromium over real processes (see `tests/browser.rs` for how the
//! scenarios run): each leaf holds one hour of rows, so the buckets a
//! missing leaf held are known. With one leaf SIGSTOPped and `deadline=4s`
//! in the page's URL, the explorer draws a first answer before the
//! deadline (sequence 0, not final) and the final one at it; with one
//! SIGKILLed, every panel of a saved dashboard turns partial, 3/4, and the
//! charts shade exactly the buckets of that leaf's hour and no other.
//!
//! Skipped (saying why) without node, Chromium or `npm ci --prefix
//! tests/browser`, unless `SHOAL_REQUIRE_BROWSER` is set: then it fails.

mod common;

use std::collections::BTreeSet;

use common::browser::*;
use common::browser_fleet::*;
use common::*;
use serde_json::{Value, json};

/// The explorer's automatic step for a 4 h range (about a 120th of it,
/// rounded up to 5 minutes).
const STEP_MS: i64 = 5 * MINUTE_MS;

const LEAVES: usize = 4;
const ROWS_PER_LEAF: i64 = 360;

/// Leaf `leaf`'s rows: one every 10 s through hour `leaf` after `base_ms`.
fn hour_rows(leaf: usize, base_ms: i64) -> Vec<Row> {
    (0..ROWS_PER_LEAF)
        .map(|j| {
            let index = leaf as i64 * ROWS_PER_LEAF + j;
            row(index, base_ms + leaf as i64 * HOUR_MS + j * 10_000)
        })
        .collect()
}

/// The 5-minute buckets of hour `leaf` after `base_ms`.
fn hour_buckets(leaf: usize, base_ms: i64) -> BTreeSet<i64> {
    let start = base_ms + leaf as i64 * HOUR_MS;
    (0..12).map(|i| start + i * STEP_MS).collect()
}

#[test]
fn with_one_of_four_leaves_stopped_or_killed_panels_show_what_is_missing() {
    let Some(browser) = browser() else { return };
    // The aggregator's own deadline is far off: the page's `deadline=`
    // is what ends the progressive query.
    let mut fleet = Fleet::start(LEAVES, &["--deadline", "60s"]);
    let base_ms = now_ms() / (10 * MINUTE_MS) * (10 * MINUTE_MS) - 4 * HOUR_MS;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for (leaf, process) in fleet.leaves.iter().enumerate() {
            let mut client = process.client().await;
            let batch = arrow_batch(&hour_rows(leaf, base_ms));
            ingest(&mut client, "web", &[batch]).await.unwrap();
        }
    });
    fleet.wait_for_rows("web", LEAVES * ROWS_PER_LEAF as usize);
    let range = format!("{base_ms}..{}", base_ms + 4 * HOUR_MS);
    let spec = json!({
        "title": "Four hours",
        "range": {"from_ms": base_ms, "to_ms": base_ms + 4 * HOUR_MS},
        "refresh": "off",
        "panels": [
            {"title": "Requests", "explore": "table=web&view=timeseries&agg=count&group=service"},
            {"title": "p99", "explore": "table=web&view=timeseries&agg=p99(latency_ms)"},
            {"title": "Latency", "explore": "table=web&view=heatmap&column=latency_ms"},
            {"title": "By service", "explore": "table=web&view=table&agg=count&group=service"},
        ],
    });
    let (saved, _, body) = http_request(
        fleet.http(),
        "PUT",
        "/api/v1/dashboards/four-hours",
        &[("content-type", "application/json")],
        spec.to_string().as_bytes(),
    );
    assert_eq!(saved, 200, "{}", String::from_utf8_lossy(&body));

    // Progressive: leaf 1 stopped, a 4 s deadline given in the page's URL.
    let stopped = 1;
    stop_process(fleet.leaves[stopped].pid());
    let deadline_ms = 4_000.0;
    let result = browser.run(
        "progressive.mjs",
        fleet.http(),
        &[(
            "path",
            format!("/explore?table=web&range={range}&view=timeseries&agg=count&group=service&deadline=4s"),
        )],
    );
    signal(fleet.leaves[stopped].pid(), libc::SIGCONT);
    check_progressive(
        &result,
        deadline_ms,
        &hour_buckets(stopped, base_ms),
        base_ms,
    );
    fleet.wait_for_rows("web", LEAVES * ROWS_PER_LEAF as usize);

    // SIGKILL a leaf (one that does not hold the dashboard, when one
    // other does): every panel turns partial, 3/4, and the charts shade
    // exactly the buckets of the hour it held.
    let holds_dashboards: Vec<bool> = runtime.block_on(async {
        let mut holds = Vec::new();
        for process in &fleet.leaves {
            let status = status(&mut process.client().await).await;
            holds.push(
                status
                    .tables
                    .iter()
                    .any(|t| t.name == "_shoal_dashboards" && t.rows > 0),
            );
        }
        holds
    });
    let killed = (0..LEAVES).find(|&l| !holds_dashboards[l]).unwrap_or(0);
    fleet.leaves[killed].kill();
    let page = browser.run(
        "open_dashboard.mjs",
        fleet.http(),
        &[("name", "four-hours".to_string())],
    );
    check_partial_dashboard(&page, &hour_buckets(killed, base_ms), base_ms);
}

/// Scenario e: a first answer drawn before the deadline (sequence 0, not
/// final), the final one at the deadline, partial, with the stopped
/// leaf's hour shaded.
fn check_progressive(
    result: &Value,
    deadline_ms: f64,
    stopped_buckets: &BTreeSet<i64>,
    base_ms: i64,
) {
    let timeline = result["timeline"].as_array().unwrap();
    let requests: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["event"] == "request")
        .collect();
    assert_eq!(requests.len(), 1, "{timeline:?}");
    assert_eq!(requests[0]["deadline"], "4s", "the page sends its deadline");
    let sent = requests[0]["t"].as_f64().unwrap();
    let draws: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["event"] == "panel" && e["sequence"].is_string())
        .collect();
    let first = draws
        .iter()
        .find(|e| e["final"] == "false" && e["sequence"] == "0")
        .unwrap_or_else(|| panic!("no intermediate answer drawn: {timeline:?}"));
    assert_eq!(first["state"], "loading", "{first}");
    let first_ms = first["t"].as_f64().unwrap() - sent;
    assert!(
        first_ms < deadline_ms,
        "the first answer was drawn {first_ms} ms after the request: {timeline:?}"
    );
    assert!(
        first["leaves_answered"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1
    );
    let last = draws.last().unwrap();
    assert_eq!(last["final"], "true", "{timeline:?}");
    let final_ms = last["t"].as_f64().unwrap() - sent;
    assert!(
        final_ms >= deadline_ms,
        "the final answer came {final_ms} ms after the request, before the deadline"
    );
    eprintln!(
        "progressive: first answer drawn {first_ms:.0} ms after the request, the final one {final_ms:.0} ms (deadline {deadline_ms} ms)"
    );
    assert!(
        last["sequence"].as_str().unwrap().parse::<u32>().unwrap() >= 1,
        "{last}"
    );

    let panel = &result["panel"];
    assert_eq!(attribute(panel, "data-state"), "partial");
    assert_eq!(attribute(panel, "data-leaves-answered"), "3");
    assert_eq!(attribute(panel, "data-leaves-queried"), "4");
    let shaded = shaded_buckets(&panel["answer"], base_ms, base_ms + 4 * HOUR_MS);
    assert_eq!(&shaded, stopped_buckets);
    assert_eq!(
        attribute_number(panel, "data-incomplete-buckets"),
        shaded.len() as f64
    );
}

/// Scenario d: every panel partial with 3 of 4 leaves, the charts shading
/// the killed leaf's hour and nothing else.
fn check_partial_dashboard(page: &Value, killed_buckets: &BTreeSet<i64>, base_ms: i64) {
    assert_eq!(page["dashboard"]["state"], "done", "{}", page["dashboard"]);
    let panels = page["panels"].as_array().unwrap();
    assert_eq!(panels.len(), 4);
    for panel in panels {
        let context = &panel["attributes"];
        assert_eq!(attribute(panel, "data-state"), "partial", "{context}");
        assert_eq!(attribute(panel, "data-leaves-answered"), "3", "{context}");
        assert_eq!(attribute(panel, "data-leaves-queried"), "4", "{context}");
        assert_eq!(
            attribute_number(panel, "data-rows-ratio"),
            0.75,
            "{context}"
        );
    }
    for panel in &panels[0..3] {
        let context = &panel["attributes"];
        let shaded = shaded_buckets(&panel["answer"], base_ms, base_ms + 4 * HOUR_MS);
        assert_eq!(&shaded, killed_buckets, "{context}");
        assert_eq!(
            attribute_number(panel, "data-incomplete-buckets"),
            12.0,
            "{context}"
        );
        // The leaf held every row of those buckets.
        let missing = panel["answer"]["time_completeness"]["missing"]
            .as_array()
            .unwrap();
        let start = panel["answer"]["time_completeness"]["start_ms"]
            .as_i64()
            .unwrap();
        for bucket in killed_buckets {
            let index = ((bucket - start) / STEP_MS) as usize;
            assert!(
                missing[index].as_f64().unwrap() > 0.99,
                "{bucket}: {missing:?}"
            );
        }
        assert!(
            panel["missing_note"]
                .as_str()
                .unwrap()
                .contains("12 buckets"),
            "{}",
            panel["missing_note"]
        );
    }
    // The counts drawn are the three other leaves' rows.
    let (_, series) = drawn_series(&panels[0]);
    let total: f64 = series.values().flatten().flatten().sum();
    assert_eq!(total, (3 * ROWS_PER_LEAF) as f64);
    assert_eq!(heatmap_total(&panels[2]), 3 * ROWS_PER_LEAF);
    assert!(panels[3]["attributes"]["data-incomplete-buckets"].is_null());
}
