//! What Shoal answers to the calls log shippers and Elasticsearch clients
//! make around `_bulk`, and what `GET /` shows to whom.
//!
//! ```text
//!  GET /  ──► Accept has text/html ─────────────────────────► the app's page (browsers)
//!         ──► Accept has json, no Accept, or a shipper's or  ─► Elasticsearch's version
//!             Elasticsearch client's User-Agent                 document (JSON)
//!         ──► anything else (curl, wget, HTTPie: Accept */*) ─► a short text page
//!  HEAD /                ──► 200, no body (Logstash's health check)
//!  GET /_cluster/health  ──► cluster health as Elasticsearch writes it (Vector's health check)
//!  GET /_license         ──► an active basic license (Logstash marks a node without one dead)
//! ```
//!
//! Only probes a real shipper sends are answered, each checked against its
//! source: Vector's `elasticsearch` sink sends `GET /_cluster/health` as its
//! health check (any status but 200 fails it) and, with `api_version =
//! "auto"` (the default), `GET /` to read `version.number`, with the
//! User-Agent `Vector/<version>` and no `Accept`; Logstash's
//! `elasticsearch` output sends `HEAD /`, then `GET /` (it wants
//! `X-Elastic-Product: Elasticsearch` on the answer from 7.14 on) and
//! `GET /_license` (`license.status` must be `active`); Elasticsearch's own
//! clients (elasticsearch-py, -js, -ruby as Fluentd uses it, go-elasticsearch)
//! ask for `application/vnd.elasticsearch+json` and refuse any answer
//! without `X-Elastic-Product`, so every answer here and `_bulk`'s carry it
//! ([`elastic_product_header`]). Fluent Bit's `es` output and rsyslog's
//! omelasticsearch send only `_bulk`. Filebeat also installs index templates
//! and lifecycle policies, which Shoal does not have.
//!
//! Authentication ([`crate::auth::http_layer`] decides by path): `GET /` and
//! `HEAD /` are open, as the dashboard page is (the version document says
//! nothing about the data); `/_cluster/health` and `/_license` need an
//! `ingest` (or `admin`) token like `_bulk`. A shipper sends its `_bulk`
//! credentials to its health check too, so a wrong token fails the health
//! check at start-up instead of the first batch. A load balancer or
//! orchestrator without a token probes `GET /healthz`, which is open.
//!
//! The health is the fleet's: `green` while every leaf answers its status
//! calls, `yellow` while some do (rows still go to those), `red` with 503
//! when none does (no row can be stored; Elasticsearch answers 503 too when
//! it has no master).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::HttpState;
use crate::ingest::bulk;

/// What Elasticsearch's clients check on every answer (from 7.14 on).
const ELASTIC_PRODUCT: (&str, &str) = ("x-elastic-product", "Elasticsearch");

/// Marks an answer as an Elasticsearch node's: for the probes here and
/// `_bulk` (a map-response middleware).
pub async fn elastic_product_header(mut response: Response) -> Response {
    response.headers_mut().insert(
        ELASTIC_PRODUCT.0,
        HeaderValue::from_static(ELASTIC_PRODUCT.1),
    );
    response
}

/// Who asked for `/`, by its `Accept` and `User-Agent` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asker {
    /// A browser (asks for `text/html`).
    Browser,
    /// A program that wants JSON: an Elasticsearch client or a shipper.
    ElasticsearchClient,
    /// A person with curl, wget or HTTPie.
    Person,
}

/// User-Agents (lower-cased prefixes or words) of shippers and clients that
/// read `GET /` as Elasticsearch's version document. Go's default client
/// is there because nobody types at it: Beats and many Go tools send it.
const PROGRAM_USER_AGENTS: &[&str] = &[
    "vector/",
    "logstash/",
    "fluent-bit",
    "fluentd",
    "elasticsearch-",
    "elastic-",
    "go-elasticsearch",
    "opensearch-",
    "go-http-client/",
];

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn asker(headers: &HeaderMap) -> Asker {
    let accept = header_text(headers, header::ACCEPT).map(str::to_ascii_lowercase);
    if accept.as_deref().is_some_and(|a| a.contains("text/html")) {
        return Asker::Browser;
    }
    if accept.as_deref().is_none_or(|a| a.contains("json")) {
        return Asker::ElasticsearchClient;
    }
    let user_agent = header_text(headers, header::USER_AGENT)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let program = PROGRAM_USER_AGENTS
        .iter()
        .any(|known| user_agent.starts_with(known) || user_agent.contains(&format!(" {known}")));
    match program {
        true => Asker::ElasticsearchClient,
        false => Asker::Person,
    }
}

/// `GET /`: the browser app's page ([`super::assets::index`]),
/// Elasticsearch's version document, or a text page, by who asks (see the
/// module docs).
pub async fn root(headers: HeaderMap) -> Response {
    match asker(&headers) {
        Asker::Browser => super::assets::index(),
        Asker::ElasticsearchClient => {
            elastic_json(StatusCode::OK, bulk::elasticsearch_probe()).await
        }
        Asker::Person => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text_page(shown_host(&headers)),
        )
            .into_response(),
    }
}

/// `HEAD /`: reachable, nothing more (Logstash's health check).
pub async fn root_head() -> Response {
    elastic_product_header(StatusCode::OK.into_response()).await
}

/// `GET /_cluster/health`, as Elasticsearch answers it.
pub async fn cluster_health(State(state): State<HttpState>) -> Response {
    let fleet = state.engine.fleet();
    let leaves_up = fleet.live_children().len();
    let leaves_configured = fleet.children().len();
    let (status, health) = match (leaves_up, leaves_configured) {
        (up, configured) if up == configured => (StatusCode::OK, "green"),
        (0, _) => (StatusCode::SERVICE_UNAVAILABLE, "red"),
        _ => (StatusCode::OK, "yellow"),
    };
    let active_percent = match leaves_configured {
        0 => 100.0,
        configured => 100.0 * leaves_up as f64 / configured as f64,
    };
    let body = json!({
        "cluster_name": "shoal",
        "status": health,
        "timed_out": false,
        "number_of_nodes": leaves_up,
        "number_of_data_nodes": leaves_up,
        "active_primary_shards": leaves_up,
        "active_shards": leaves_up,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": leaves_configured.saturating_sub(leaves_up),
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": active_percent,
    });
    elastic_json(status, body).await
}

/// `GET /_license`: what Logstash's license check accepts.
pub async fn license() -> Response {
    let body = json!({
        "license": {
            "status": "active",
            "uid": "00000000-0000-0000-0000-000000000000",
            "type": "basic",
            "issue_date": "1970-01-01T00:00:00.000Z",
            "issue_date_in_millis": 0,
            "max_nodes": 1000,
            "max_resource_units": null,
            "issued_to": "shoal",
            "issuer": "shoal",
            "start_date_in_millis": -1
        }
    });
    elastic_json(StatusCode::OK, body).await
}

async fn elastic_json(status: StatusCode, body: Value) -> Response {
    elastic_product_header((status, axum::Json(body)).into_response()).await
}

/// The `Host` the request named, when it is plainly a host name or
/// address (it is printed back, so nothing else is).
fn shown_host(headers: &HeaderMap) -> &str {
    header_text(headers, header::HOST)
        .filter(|host| {
            !host.is_empty()
                && host.len() <= 255
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
        })
        .unwrap_or("HOST:PORT")
}

/// The page a person with curl gets: where the dashboard, the query API,
/// ingest and the docs are.
fn text_page(host: &str) -> String {
    format!(
        "Shoal {version}: a fan-out, in-memory analytics store. This is its HTTP port.\n\
         \n\
         dashboard   open http://{host}/ in a browser\n\
         query       curl -s {host}/api/v1/query -H 'content-type: application/json' -d '{{\"sql\": \"SHOW TABLES\"}}'\n\
         tables      curl -s {host}/api/v1/tables\n\
         ingest      POST /api/v1/ingest/{{table}} (NDJSON), /_bulk (Elasticsearch), /v1/logs (OTLP)\n\
         health      GET /healthz, GET /metrics (Prometheus)\n\
         Flight SQL  ADBC and JDBC connect to the aggregator's --flight port\n\
         \n\
         With --auth-file, send a token: -H 'authorization: Bearer TOKEN'.\n\
         Docs: README.md in Shoal's source tree (Commands, Queries, Ingest, Security model), and `shoal --help`.\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn each_kind_of_caller_gets_its_answer() {
        let cases: &[(&[(&'static str, &'static str)], Asker)] = &[
            (
                &[
                    (
                        "accept",
                        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                    ),
                    (
                        "user-agent",
                        "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
                    ),
                ],
                Asker::Browser,
            ),
            (
                &[("user-agent", "Vector/0.49.0 (x86_64-unknown-linux-gnu)")],
                Asker::ElasticsearchClient,
            ),
            (&[], Asker::ElasticsearchClient),
            (
                &[("accept", "application/json")],
                Asker::ElasticsearchClient,
            ),
            (
                &[
                    (
                        "accept",
                        "application/vnd.elasticsearch+json; compatible-with=8",
                    ),
                    (
                        "user-agent",
                        "elasticsearch-py/8.15.0 (Python/3.11.2; elastic-transport/8.15.0)",
                    ),
                ],
                Asker::ElasticsearchClient,
            ),
            (
                &[
                    ("accept", "*/*"),
                    (
                        "user-agent",
                        "Logstash/8.15.0 (OS=Linux-6.1-amd64; JVM=Eclipse-21) logstash-output-elasticsearch/11.22.0",
                    ),
                ],
                Asker::ElasticsearchClient,
            ),
            (
                &[("accept", "*/*"), ("user-agent", "Fluent-Bit")],
                Asker::ElasticsearchClient,
            ),
            (
                &[("accept", "*/*"), ("user-agent", "curl/8.14.1")],
                Asker::Person,
            ),
            (
                &[("accept", "*/*"), ("user-agent", "Wget/1.25.0")],
                Asker::Person,
            ),
            (
                &[("accept", "*/*"), ("user-agent", "HTTPie/3.2.4")],
                Asker::Person,
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(asker(&headers(pairs)), *expected, "{pairs:?}");
        }
    }

    #[test]
    fn only_a_plain_host_is_printed_back() {
        assert_eq!(
            shown_host(&headers(&[("host", "127.0.0.1:8080")])),
            "127.0.0.1:8080"
        );
        assert_eq!(
            shown_host(&headers(&[("host", "[::1]:8080")])),
            "[::1]:8080"
        );
        assert_eq!(
            shown_host(&headers(&[("host", "a b<script>")])),
            "HOST:PORT"
        );
        assert_eq!(shown_host(&HeaderMap::new()), "HOST:PORT");
    }
}
