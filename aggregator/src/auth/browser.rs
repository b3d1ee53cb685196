//! What keeps a web page from using a browser as its proxy into Shoal.
//!
//! A page on another origin can make a browser send a "simple" cross-origin
//! `POST` without asking first: its body `text/plain`, a form, or no type.
//! So the `POST` and `PUT` routes (a `PUT` saves a dashboard) take only the
//! types their bodies really are (JSON, NDJSON, protobuf;
//! [`allowed_content_type`]), which a browser sends cross-origin only after
//! a CORS preflight, as it does any `PUT` or `DELETE`; and a request whose `Origin`
//! is neither this server's own nor one given with `--cors-origin` is
//! refused (403). Preflights (`OPTIONS`) from allowed origins are answered,
//! and answers to them carry `Access-Control-Allow-Origin`.
//!
//! Without an `Origin` header (curl, shippers, SDKs) only the content type
//! is checked. The dashboard is served from the same origin, so it passes.
//!
//! DNS rebinding (a page's own name made to resolve to Shoal's address)
//! makes a request look same-origin. Where tokens are required, the page
//! has none; in open mode (no `--auth-file`) a request from a browser
//! (`Origin` or `Sec-Fetch-Site` present) is answered only when it names the
//! server by an IP address or `localhost`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What browsers may do: origins allowed to call across origins
/// (`--cors-origin`, e.g. `https://grafana.example.com`; `*` allows every
/// origin), and whether calls need tokens.
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins {
    pub origins: Arc<Vec<String>>,
    pub tokens_required: bool,
}

impl CorsOrigins {
    fn allows(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|allowed| allowed == "*" || allowed == origin)
    }
}

/// The host a request names: `Host`, or the URI's authority (HTTP/2).
fn requested_host(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_string()))
}

/// Whether `host` (with or without a port) is an IP address or localhost.
fn is_address_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

const ALLOWED_HEADERS: &str = "authorization, content-type, content-encoding, x-shoal-deadline, x-shoal-min-completeness, x-shoal-table";

/// Whether a `POST` body of this `Content-Type` may be taken.
pub fn allowed_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json"
            | "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonlines"
            | "application/x-protobuf"
            | "application/protobuf"
    ) || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether `origin` is this server itself (the dashboard's own requests).
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let without_scheme = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    without_scheme == Some(host)
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// The middleware; see the module docs.
pub async fn guard(State(cors): State<CorsOrigins>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let host = requested_host(&request);
    let from_browser = origin.is_some() || request.headers().contains_key("sec-fetch-site");
    if from_browser && !cors.tokens_required && !host.as_deref().is_some_and(is_address_host) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "a browser request for host {:?} is refused: without --auth-file, Shoal answers browsers only at an IP address or localhost (a page could rebind its own name to this address)",
                host.unwrap_or_default()
            ),
        );
    }
    let cross_origin = origin
        .as_deref()
        .filter(|origin| !same_origin(origin, host.as_deref()));
    if let Some(origin) = cross_origin
        && !cors.allows(origin)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "cross-origin requests from {origin} are refused; start the aggregator with --cors-origin {origin} to allow them"
            ),
        );
    }
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        add_cors_headers(response.headers_mut(), cross_origin, true);
        return response;
    }
    let has_body = request.method() == Method::POST || request.method() == Method::PUT;
    if has_body && !allowed_content_type(request.headers()) {
        let found = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string();
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {found} is not taken here: send application/json (queries, JSON arrays, dashboards), application/x-ndjson (NDJSON, _bulk) or application/x-protobuf (OTLP)"
            ),
        );
    }
    let cross_origin = cross_origin.map(str::to_string);
    let mut response = next.run(request).await;
    add_cors_headers(response.headers_mut(), cross_origin.as_deref(), false);
    response
}

fn add_cors_headers(headers: &mut HeaderMap, origin: Option<&str>, preflight: bool) {
    let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) else {
        return;
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_types_are_refused() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            allowed_content_type(&headers)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/x-ndjson"));
        assert!(with("application/x-protobuf"));
        assert!(with("application/vnd.elasticsearch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("multipart/form-data; boundary=x"));
        assert!(!allowed_content_type(&HeaderMap::new()));
    }

    #[test]
    fn own_origin_is_same() {
        assert!(same_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(!same_origin("http://evil.example", Some("127.0.0.1:8080")));
        assert!(!same_origin("http://evil.example", None));
    }

    #[test]
    fn address_hosts_are_told_from_names() {
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "10.0.0.5",
            "LOCALHOST",
        ] {
            assert!(is_address_host(host), "{host}");
        }
        for host in ["evil.example:8080", "shoal.internal", "127.0.0.1.nip.io:80"] {
            assert!(!is_address_host(host), "{host}");
        }
    }
}
