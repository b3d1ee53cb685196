//! Authentication of HTTP requests: one middleware in front of every route.
//!
//! The dashboard page (`GET /`, which also answers Elasticsearch clients'
//! probe) and `GET /healthz` are open; every other route needs a
//! [`Caller`] with the route's role (queries and `GET /api/v1/tables` and
//! `/metrics`: `read`; ingest routes: `ingest`). Table rights are checked by
//! the handlers, which know the tables.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{AuthError, Authenticator, Caller, Role};

/// The role a path needs, or `None` for the open ones.
fn required_role(path: &str) -> Option<Role> {
    match path {
        "/" | "/healthz" => None,
        "/api/v1/query" | "/api/v1/tables" | "/metrics" => Some(Role::Read),
        _ => Some(Role::Ingest),
    }
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
    let role = required_role(request.uri().path());
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
