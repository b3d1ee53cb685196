//! What keeps a web page from using a browser as its proxy into Shoal.
//!
//! A page on another origin can make a browser send a "simple" cross-origin
//! `POST` without asking first: its body `text/plain`, a form, or no type.
//! So the `POST` routes take only the types their bodies really are (JSON,
//! NDJSON, protobuf; [`allowed_content_type`]), which a browser sends
//! cross-origin only after a CORS preflight; and a request whose `Origin`
//! is neither this server's own nor one given with `--cors-origin` is
//! refused (403). Preflights (`OPTIONS`) from allowed origins are answered,
//! and answers to them carry `Access-Control-Allow-Origin`.
//!
//! Without an `Origin` header (curl, shippers, SDKs) only the content type
//! is checked. The dashboard is served from the same origin, so it passes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Origins allowed to call across origins (`--cors-origin`), e.g.
/// `https://grafana.example.com`; `*` allows every origin.
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins(pub Arc<Vec<String>>);

impl CorsOrigins {
    fn allows(&self, origin: &str) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed == "*" || allowed == origin)
    }
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
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
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
    let cross_origin = origin
        .as_deref()
        .filter(|origin| !same_origin(origin, request.headers()));
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
    if request.method() == Method::POST && !allowed_content_type(request.headers()) {
        let found = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string();
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {found} is not taken here: send application/json (queries, JSON arrays), application/x-ndjson (NDJSON, _bulk) or application/x-protobuf (OTLP)"
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
            HeaderValue::from_static("GET, POST"),
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
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin("http://127.0.0.1:8080", &headers));
        assert!(!same_origin("http://evil.example", &headers));
    }
}
