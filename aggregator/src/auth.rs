//! Who is calling an aggregator, and what they may do.
//!
//! ```text
//!  HTTP request ──► http_layer ─┐                       ┌─► handler checks
//!  gRPC call ─────► grpc_layer ─┴─► Caller in the ──────┤   role and tables
//!                   (credentials)   request extensions  └─► (query, ingest)
//! ```
//!
//! Both front ends read the same credentials the same way ([`credentials`]):
//! `Authorization: Bearer T`, or Basic with T as the password (shippers
//! such as syslog-ng, Fluent Bit and rsyslog only do Basic), checked against
//! the token file ([`tokens`]). The cluster secret
//! ([`shoal_proto::cluster_auth`]) marks calls from Shoal's own processes.
//! The result is one [`Caller`] per request; handlers ask it for a role
//! ([`Caller::require`]), a table ([`Caller::require_table`]) or cluster
//! membership ([`Caller::require_cluster`]).
//!
//! | role     | may                                                        |
//! |----------|------------------------------------------------------------|
//! | `read`   | queries, catalog calls, `GET /api/v1/tables`, `/metrics`   |
//! | `ingest` | every ingest route (NDJSON, `_bulk`, OTLP, Flight SQL bulk ingest) |
//! | `admin`  | both, and `DROP TABLE`                                      |
//!
//! A token made with `--tables GLOB,...` reaches only tables matching one
//! of the globs, for reading and writing alike.

pub mod browser;
pub mod grpc_layer;
pub mod http_layer;
pub mod tokens;

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use shoal_proto::cluster_auth::ClusterSecret;

use crate::auth::tokens::TokenFile;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Ingest,
    Admin,
}

impl Role {
    /// Parses `read`, `ingest` or `admin`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Self::Read),
            "ingest" => Some(Self::Ingest),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    fn grants(self, wanted: Role) -> bool {
        self == Role::Admin || self == wanted
    }

    fn verb(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Ingest => "write",
            Role::Admin => "administer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Read => "read",
            Role::Ingest => "ingest",
            Role::Admin => "admin",
        })
    }
}

/// A token's holder: its name, role and tables.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// Empty: every table.
    pub tables: Vec<glob::Pattern>,
}

impl Principal {
    fn reaches(&self, table: &str) -> bool {
        self.tables.is_empty() || self.tables.iter().any(|p| p.matches(table))
    }
}

/// Why a call was turned away.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or unknown ones: HTTP 401, gRPC `UNAUTHENTICATED`.
    #[error("{0}")]
    Unauthenticated(String),
    /// Known credentials without the right: HTTP 403, gRPC `PERMISSION_DENIED`.
    #[error("{0}")]
    Forbidden(String),
}

impl AuthError {
    /// The HTTP status of this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unauthenticated(_) => 401,
            Self::Forbidden(_) => 403,
        }
    }
}

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthenticated(message) => tonic::Status::unauthenticated(message),
            AuthError::Forbidden(message) => tonic::Status::permission_denied(message),
        }
    }
}

/// What a caller's credentials give.
#[derive(Debug, Clone)]
pub enum Access {
    /// The aggregator runs without `--auth-file`: every user operation.
    Everything,
    /// A token from the token file.
    Token(Arc<Principal>),
    /// No user rights (a Shoal peer that sent only the cluster secret).
    Nothing,
}

/// The caller of one request; see the module docs.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access: Access,
    /// Sent the cluster secret, or the aggregator has neither a secret nor
    /// tokens (a loopback or `--insecure` fleet).
    pub cluster: bool,
}

impl Caller {
    /// A caller with every right (in-process use and tests).
    pub fn trusted() -> Self {
        Self {
            access: Access::Everything,
            cluster: true,
        }
    }

    /// A caller with no rights at all.
    pub fn nobody() -> Self {
        Self {
            access: Access::Nothing,
            cluster: false,
        }
    }

    /// The caller's name for logs and errors.
    pub fn name(&self) -> &str {
        match &self.access {
            Access::Everything => "anonymous",
            Access::Token(principal) => &principal.name,
            Access::Nothing => "cluster peer",
        }
    }

    /// Fails unless the caller holds `role`.
    pub fn require(&self, role: Role) -> Result<(), AuthError> {
        match &self.access {
            Access::Everything => Ok(()),
            Access::Token(principal) if principal.role.grants(role) => Ok(()),
            Access::Token(principal) => Err(AuthError::Forbidden(format!(
                "token {:?} has role {}, which may not {}",
                principal.name,
                principal.role,
                role.verb()
            ))),
            Access::Nothing => Err(AuthError::Unauthenticated(
                "this call needs a user token (Authorization: Bearer T)".to_string(),
            )),
        }
    }

    /// Fails unless the caller holds `role` on `table`.
    pub fn require_table(&self, role: Role, table: &str) -> Result<(), AuthError> {
        self.require(role)?;
        match &self.access {
            Access::Token(principal) if !principal.reaches(table) => {
                Err(AuthError::Forbidden(format!(
                    "token {:?} may not {} table {table:?} (it reaches tables {})",
                    principal.name,
                    role.verb(),
                    principal
                        .tables
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// Whether the caller may see `table` in catalog listings.
    pub fn sees_table(&self, table: &str) -> bool {
        self.require_table(Role::Read, table).is_ok()
    }

    /// Fails unless the call comes from Shoal's own cluster.
    pub fn require_cluster(&self) -> Result<(), AuthError> {
        match self.cluster {
            true => Ok(()),
            false => Err(AuthError::Forbidden(
                "plan fragments and the shoal.v1.Leaf service are for Shoal's own processes (the cluster secret), not for user tokens".to_string(),
            )),
        }
    }
}

/// How an aggregator tells callers apart: its token file (if any) and its
/// cluster secret (if any).
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    pub tokens: Option<Arc<TokenFile>>,
    pub cluster_secret: Option<ClusterSecret>,
}

impl Authenticator {
    /// The caller behind `headers`, or why there is none.
    pub fn caller(&self, headers: &http::HeaderMap) -> Result<Caller, AuthError> {
        // Without a secret, internal calls are open only where user calls
        // are: an aggregator that requires tokens keeps them closed.
        let cluster = match &self.cluster_secret {
            Some(secret) => secret.is_carried_by(headers),
            None => self.tokens.is_none(),
        };
        let Some(tokens) = &self.tokens else {
            return Ok(Caller {
                access: Access::Everything,
                cluster,
            });
        };
        match credentials(headers)? {
            Some(token) => match tokens.authenticate(&token) {
                Some(principal) => Ok(Caller {
                    access: Access::Token(principal),
                    cluster,
                }),
                None => Err(AuthError::Unauthenticated(
                    "the token is not known (see shoal token create)".to_string(),
                )),
            },
            None if self.cluster_secret.is_some() && cluster => Ok(Caller {
                access: Access::Nothing,
                cluster,
            }),
            None => Err(AuthError::Unauthenticated(
                "this Shoal requires a token: send Authorization: Bearer T, or Basic with T as the password".to_string(),
            )),
        }
    }

    /// Whether calls need a token.
    pub fn requires_tokens(&self) -> bool {
        self.tokens.is_some()
    }
}

/// The token in an `Authorization` header: `Bearer T`, or `Basic` with T as
/// the password (the user name is ignored). `Ok(None)` when there is none.
pub fn credentials(headers: &http::HeaderMap) -> Result<Option<String>, AuthError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed =
        |why: &str| AuthError::Unauthenticated(format!("malformed Authorization header: {why}"));
    let text = value.to_str().map_err(|_| malformed("not ASCII"))?.trim();
    let (scheme, rest) = text.split_once(' ').ok_or_else(|| malformed("no scheme"))?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Some(rest.to_string()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        // Padded or not: Arrow's Go Flight client (in ADBC) sends it unpadded.
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let decoded = engine
            .decode(rest)
            .map_err(|_| malformed("Basic credentials are not base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| malformed("Basic credentials are not UTF-8"))?;
        let (_, password) = decoded
            .split_once(':')
            .ok_or_else(|| malformed("Basic credentials without ':'"))?;
        return Ok(Some(password.to_string()));
    }
    Err(malformed("the scheme must be Bearer or Basic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, tables: &[&str]) -> Caller {
        Caller {
            access: Access::Token(Arc::new(Principal {
                name: "t".into(),
                role,
                tables: tables
                    .iter()
                    .map(|t| glob::Pattern::new(t).unwrap())
                    .collect(),
            })),
            cluster: false,
        }
    }

    #[test]
    fn roles_and_tables_are_enforced() {
        let reader = principal(Role::Read, &["logs*"]);
        assert!(reader.require_table(Role::Read, "logs_web").is_ok());
        assert!(matches!(
            reader.require_table(Role::Read, "billing"),
            Err(AuthError::Forbidden(_))
        ));
        assert!(matches!(
            reader.require(Role::Ingest),
            Err(AuthError::Forbidden(_))
        ));
        let admin = principal(Role::Admin, &[]);
        assert!(admin.require_table(Role::Ingest, "anything").is_ok());
        assert!(admin.require_cluster().is_err());
    }

    #[test]
    fn bearer_and_basic_carry_the_token() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(credentials(&headers), Ok(None));
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(credentials(&headers), Ok(Some("abc".into())));
        // "shipper:abc"
        headers.insert("authorization", "Basic c2hpcHBlcjphYmM=".parse().unwrap());
        assert_eq!(credentials(&headers), Ok(Some("abc".into())));
        // "shipper:abcd", unpadded
        headers.insert("authorization", "Basic c2hpcHBlcjphYmNk".parse().unwrap());
        assert_eq!(credentials(&headers), Ok(Some("abcd".into())));
        headers.insert("authorization", "Basic c2hpcHBlcjphYmM".parse().unwrap());
        assert_eq!(credentials(&headers), Ok(Some("abc".into())));
        headers.insert("authorization", "Basic !!!".parse().unwrap());
        assert!(credentials(&headers).is_err());
        headers.insert("authorization", "Digest x".parse().unwrap());
        assert!(credentials(&headers).is_err());
    }
}
