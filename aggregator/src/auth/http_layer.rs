//! Authentication of HTTP requests: one middleware in front of every route.
//!
//! The browser app's pages (`GET /`, which also answers Elasticsearch
//! clients' probe, `/explore`, `/dashboards`, `/dashboards/{name}`) and its
//! files (`/assets/...`) are open: they hold no data, and the app sends the
//! user's token with its API calls. `GET /healthz` is open too. Every other
//! route needs a [`Caller`] with the route's role (queries,
//! `GET /api/v1/tables`, `/metrics`: `read`; ingest routes: `ingest`).
//! Saved dashboards (`/api/v1/dashboards...`, saving and deleting too) need
//! `read`: a dashboard is no data, only queries, which are checked against
//! the caller's rights when its panels run them. Table rights are checked by
//! the handlers, which know the tables.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{AuthError, Authenticator, Caller, Role};

/// The role a call needs, or `None` for the open ones. Pages and files
/// are open to `GET` and `HEAD` only: the open prefixes (`/dashboards/`,
/// `/assets/`) must not open another route whose pattern their paths also
/// match (`/{index}/_bulk` takes `POST /assets/_bulk`).
fn required_role(method: &Method, path: &str) -> Option<Role> {
    if method != Method::GET && method != Method::HEAD {
        return match path {
            "/api/v1/query" | "/api/v1/tables" | "/api/v1/dashboards" | "/metrics" => {
                Some(Role::Read)
            }
            _ if is_under(path, "/api/v1/dashboards") => Some(Role::Read),
            _ => Some(Role::Ingest),
        };
    }
    match path {
        "/" | "/healthz" | "/explore" | "/dashboards" => None,
        "/api/v1/query" | "/api/v1/tables" | "/api/v1/dashboards" | "/metrics" => Some(Role::Read),
        _ if is_under(path, "/dashboards") || is_under(path, "/assets") => None,
        _ if is_under(path, "/api/v1/dashboards") => Some(Role::Read),
        _ => Some(Role::Ingest),
    }
}

/// Whether `path` is below `prefix` (`/assets/x`, not `/assetsx`).
fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The answer to a refused request.
pub fn auth_error_response(error: &AuthError) -> Response {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = (status, axum::Json(json!({ "error": error.to_string() }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"shoal\", Bearer"),
        );
    }
    response
}

/// The middleware: puts the [`Caller`] in the request's extensions.
pub async fn authenticate(
    State(authenticator): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let role = required_role(request.method(), request.uri().path());
    let caller = match (authenticator.caller(request.headers()), role) {
        (Ok(caller), _) => caller,
        (Err(_), None) => Caller {
            access: crate::auth::Access::Nothing,
            cluster: false,
        },
        (Err(error), Some(_)) => return auth_error_response(&error),
    };
    if let Some(role) = role
        && let Err(error) = caller.require(role)
    {
        return auth_error_response(&error);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_open_and_dashboards_need_read() {
        for open in [
            "/",
            "/healthz",
            "/explore",
            "/dashboards",
            "/dashboards/checkout",
            "/assets/js/main.js",
        ] {
            assert_eq!(required_role(&Method::GET, open), None, "{open}");
            assert_eq!(required_role(&Method::HEAD, open), None, "{open}");
        }
        for read in [
            "/api/v1/query",
            "/api/v1/dashboards",
            "/api/v1/dashboards/checkout",
        ] {
            for method in [Method::GET, Method::PUT, Method::DELETE] {
                assert_eq!(required_role(&method, read), Some(Role::Read), "{read}");
            }
        }
        for ingest in ["/api/v1/ingest/t", "/_bulk", "/assetsx", "/dashboardsx"] {
            assert_eq!(
                required_role(&Method::POST, ingest),
                Some(Role::Ingest),
                "{ingest}"
            );
        }
        // An open page's path is open to reading only: a POST there is
        // another route's (`/{index}/_bulk`), which needs `ingest`.
        for path in ["/dashboards/_bulk", "/assets/_bulk", "/explore", "/"] {
            for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
                assert_eq!(
                    required_role(&method, path),
                    Some(Role::Ingest),
                    "{method} {path}"
                );
            }
        }
    }
}
