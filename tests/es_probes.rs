//! The calls log shippers make around `_bulk` (Vector's health check,
//! Logstash's `HEAD /` and license check, every Elasticsearch client's
//! `GET /`), and what `GET /` shows a browser and a person with curl;
//! against real processes, open and with tokens.

mod common;

use std::time::Duration;

use common::secured::{SecuredStack, basic, bearer};
use common::stack::Stack;
use common::*;
use serde_json::Value;

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `GET path` with `headers`: status, headers, body as text.
fn get(
    stack_http: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    let (status, headers, body) = http_request(stack_http, "GET", path, headers, b"");
    (status, headers, String::from_utf8_lossy(&body).to_string())
}

#[test]
fn shippers_browsers_and_people_each_get_their_answer_at_the_root() {
    let stack = Stack::start(1);
    let http = stack.aggregator.http;

    // Vector: its own User-Agent, no Accept; reads version.number.
    let (status, headers, body) = get(http, "/", &[("user-agent", "Vector/0.49.0 (x86_64)")]);
    let document: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status, 200);
    assert_eq!(document["version"]["number"], "8.11.0", "{document}");
    assert_eq!(document["cluster_name"], "shoal");
    assert_eq!(document["tagline"], "You Know, for Search");
    assert_eq!(header(&headers, "x-elastic-product"), Some("Elasticsearch"));

    // An Elasticsearch client asks for its own JSON type.
    let (status, headers, body) = get(
        http,
        "/",
        &[
            (
                "accept",
                "application/vnd.elasticsearch+json; compatible-with=8",
            ),
            ("user-agent", "elasticsearch-py/8.15.0 (Python/3.11.2)"),
        ],
    );
    let document: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (status, document["version"]["build_flavor"].as_str()),
        (200, Some("default"))
    );
    assert_eq!(header(&headers, "x-elastic-product"), Some("Elasticsearch"));

    // Logstash sends `*/*` but names itself.
    let (_, _, body) = get(
        http,
        "/",
        &[
            ("accept", "*/*"),
            (
                "user-agent",
                "Logstash/8.15.0 (OS=Linux-6.1-amd64; JVM=Eclipse-21) logstash-output-elasticsearch/11.22.0",
            ),
        ],
    );
    assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");

    // A browser gets the dashboard.
    let (status, headers, body) = get(
        http,
        "/",
        &[
            (
                "accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
            (
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Firefox/130.0",
            ),
        ],
    );
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.contains("<title>Shoal</title>"));

    // A person with curl gets a page saying where things are.
    let (status, headers, body) = get(
        http,
        "/",
        &[("accept", "*/*"), ("user-agent", "curl/8.14.1")],
    );
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let host = http.to_string();
    assert!(
        body.contains(&format!("http://{host}/ in a browser")),
        "{body}"
    );
    assert!(
        body.contains(&format!("curl -s {host}/api/v1/query")),
        "{body}"
    );
    assert!(body.contains("README.md"), "{body}");

    // Logstash's health check: HEAD /, no body.
    let (status, headers, body) = http_request(http, "HEAD", "/", &[], b"");
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(header(&headers, "x-elastic-product"), Some("Elasticsearch"));
}

#[test]
fn cluster_health_follows_the_leaves_and_license_is_active() {
    let mut stack = Stack::start(2);
    let http = stack.aggregator.http;

    let (status, headers, body) = get(http, "/_cluster/health", &[]);
    let health: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status, 200, "{body}");
    assert_eq!(health["cluster_name"], "shoal");
    assert_eq!(health["status"], "green", "{health}");
    assert_eq!(health["number_of_data_nodes"], 2);
    assert_eq!(health["timed_out"], false);
    assert_eq!(header(&headers, "x-elastic-product"), Some("Elasticsearch"));

    let (status, _, body) = get(http, "/_license", &[]);
    let license: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (status, license["license"]["status"].as_str()),
        (200, Some("active"))
    );

    // `_bulk` answers carry the product header too (clients check every answer).
    let (status, headers, _) = http_request(
        http,
        "POST",
        "/_bulk",
        &[("content-type", "application/x-ndjson")],
        b"{\"index\":{\"_index\":\"probed\"}}\n{\"n\":1}\n",
    );
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-elastic-product"), Some("Elasticsearch"));

    // One leaf down: yellow, still 200 (rows go to the other).
    stack.leaves[0].kill();
    let health = wait_for_health(http, "yellow");
    assert_eq!(health.0, 200);
    assert_eq!(health.1["number_of_data_nodes"], 1);
    assert_eq!(health.1["active_shards_percent_as_number"], 50.0);

    // Every leaf down: red and 503, so a shipper's health check fails.
    stack.leaves[1].kill();
    let health = wait_for_health(http, "red");
    assert_eq!(health.0, 503);
}

/// Polls `/_cluster/health` (leaves are polled every second) until its
/// status is `wanted`.
fn wait_for_health(http: std::net::SocketAddr, wanted: &str) -> (u16, Value) {
    let mut last = (0, Value::Null);
    for _ in 0..100 {
        let (status, _, body) = get(http, "/_cluster/health", &[]);
        last = (status, serde_json::from_str(&body).unwrap_or(Value::Null));
        if last.1["status"] == wanted {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cluster health never {wanted}: last {last:?}");
}

#[test]
fn probes_with_tokens_root_is_open_health_needs_the_shippers_token() {
    let stack = SecuredStack::start(1, &[], &[]);
    let http = stack.aggregator.http;

    let (status, _, body) = get(http, "/", &[("user-agent", "Vector/0.49.0")]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("8.11.0"));
    let (status, _, _) = http_request(http, "HEAD", "/", &[], b"");
    assert_eq!(status, 200);

    let (status, headers, _) = get(http, "/_cluster/health", &[]);
    assert_eq!(status, 401);
    assert!(header(&headers, "www-authenticate").is_some());
    let shipper = basic("vector", &stack.tokens.shipper);
    let (status, _, body) = get(http, "/_cluster/health", &[("authorization", &shipper)]);
    assert_eq!(status, 200, "{body}");
    let reader = bearer(&stack.tokens.reader);
    let (status, _, _) = get(http, "/_cluster/health", &[("authorization", &reader)]);
    assert_eq!(status, 403);
    let (status, _, _) = get(http, "/_license", &[]);
    assert_eq!(status, 401);
    let (status, _, body) = get(http, "/_license", &[("authorization", &shipper)]);
    assert_eq!(status, 200, "{body}");
}
