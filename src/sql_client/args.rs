//! The flags of `shoal sql` and what they become: where the server is, how
//! to reach it, and what every request asks of it.
//!
//! Flag values are checked here, before any connection, so a typo fails at
//! once with the flag named rather than as a server error later.

use std::path::PathBuf;
use std::time::Duration;

use shoal_aggregator::AggregatorError;
use shoal_aggregator::query::{parse_deadline, parse_min_completeness};
use tonic::codegen::http::Uri;
use tonic::codegen::http::uri::InvalidUri;

use super::error::SqlClientError;
use super::output::OutputFormat;

/// `shoal sql [--flight URI] [--token T] [--format F] [--min-completeness R] [--deadline D] [QUERY]`
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The aggregator's Flight SQL endpoint: `http://HOST:PORT`, or
    /// `https://HOST:PORT` for TLS (`grpc://` and `grpc+tls://` work too).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    flight: String,
    /// Token sent as `authorization: Bearer T` (default: `$SHOAL_TOKEN`).
    #[arg(long)]
    token: Option<String>,
    /// PEM CA certificate to trust for an https:// server instead of the
    /// system's roots.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// How answers are printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// Fail a query whose answer covers less than this share (0 to 1) of
    /// the leaves (`x-shoal-min-completeness`).
    #[arg(long)]
    min_completeness: Option<String>,
    /// Leave out leaves that have not answered after this long, e.g. `2s`
    /// (`x-shoal-deadline`).
    #[arg(long)]
    deadline: Option<String>,
    /// The SQL to run. Without it, a prompt on a terminal, or the
    /// statements read from standard input.
    query: Option<String>,
}

/// How to reach the server and what every request carries.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// `http://` or `https://` URI of the Flight SQL endpoint.
    pub uri: String,
    /// PEM bytes of the CA to trust, when given.
    pub tls_ca: Option<Vec<u8>>,
    pub token: Option<String>,
    /// Request headers sent with every call (`x-shoal-*`).
    pub headers: Vec<(&'static str, String)>,
}

/// The parsed [`SqlArgs`].
#[derive(Debug)]
pub struct ClientOptions {
    pub connection: ConnectionSettings,
    pub format: OutputFormat,
    pub query: Option<String>,
}

impl SqlArgs {
    /// Checks every flag and reads `--tls-ca`.
    pub fn into_options(self) -> Result<ClientOptions, SqlClientError> {
        let uri = normalize_uri(&self.flight)?;
        if self.tls_ca.is_some() && !uri.starts_with("https://") {
            return Err(SqlClientError::InvalidFlag {
                flag: "--tls-ca",
                value: uri,
                reason: "is for https:// servers; this one would be reached without TLS (use --flight https://...)".to_string(),
            });
        }
        let tls_ca = self
            .tls_ca
            .map(|path| {
                std::fs::read(&path).map_err(|source| SqlClientError::UnreadableFile {
                    flag: "--tls-ca",
                    path,
                    source,
                })
            })
            .transpose()?;
        let mut headers = Vec::new();
        if let Some(value) = self.min_completeness {
            check_min_completeness(&value)?;
            headers.push(("x-shoal-min-completeness", value.trim().to_string()));
        }
        if let Some(value) = self.deadline {
            check_deadline(&value)?;
            headers.push(("x-shoal-deadline", value.trim().to_string()));
        }
        let token = self
            .token
            .or_else(|| std::env::var("SHOAL_TOKEN").ok())
            .map(|token| token.trim().to_string())
            .filter(|token| !token.is_empty());
        if let Some(token) = &token
            && !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(SqlClientError::InvalidFlag {
                flag: "--token",
                value: "(hidden)".to_string(),
                reason: "a token is printable ASCII without spaces".to_string(),
            });
        }
        Ok(ClientOptions {
            connection: ConnectionSettings {
                uri,
                tls_ca,
                token,
                headers,
            },
            format: self.format,
            query: self.query,
        })
    }
}

/// `grpc://` and `grpc+tls://` (ADBC's spelling) become `http://` and
/// `https://`; a bare `HOST:PORT` is `http://`.
fn normalize_uri(flight: &str) -> Result<String, SqlClientError> {
    let flight = flight.trim();
    let invalid = |reason: &str| SqlClientError::InvalidFlag {
        flag: "--flight",
        value: flight.to_string(),
        reason: reason.to_string(),
    };
    let uri = if let Some(rest) = flight.strip_prefix("grpc+tls://") {
        format!("https://{rest}")
    } else if let Some(rest) = flight.strip_prefix("grpc://") {
        format!("http://{rest}")
    } else if flight.starts_with("http://") || flight.starts_with("https://") {
        flight.to_string()
    } else if flight.contains("://") {
        return Err(invalid("the scheme must be http, https, grpc or grpc+tls"));
    } else {
        format!("http://{flight}")
    };
    let parsed: Uri = uri
        .parse()
        .map_err(|e: InvalidUri| invalid(&e.to_string()))?;
    if parsed.host().is_none_or(str::is_empty) {
        return Err(invalid("no host (e.g. http://127.0.0.1:50051)"));
    }
    Ok(uri)
}

fn check_min_completeness(value: &str) -> Result<(), SqlClientError> {
    parse_min_completeness(value)
        .map(|_| ())
        .map_err(|error| invalid_flag("--min-completeness", value, error))
}

fn check_deadline(value: &str) -> Result<Duration, SqlClientError> {
    parse_deadline(value).map_err(|error| invalid_flag("--deadline", value, error))
}

/// A flag the aggregator's own rules refuse, said before the query is sent.
fn invalid_flag(flag: &'static str, value: &str, error: AggregatorError) -> SqlClientError {
    SqlClientError::InvalidFlag {
        flag,
        value: value.to_string(),
        reason: match error {
            AggregatorError::InvalidOption { reason, .. } => reason,
            other => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flight_uris_take_every_spelling() {
        for (given, expected) in [
            ("http://127.0.0.1:50051", "http://127.0.0.1:50051"),
            ("https://shoal.internal:443", "https://shoal.internal:443"),
            ("grpc://127.0.0.1:50051", "http://127.0.0.1:50051"),
            ("grpc+tls://host:1", "https://host:1"),
            ("127.0.0.1:50051", "http://127.0.0.1:50051"),
        ] {
            assert_eq!(normalize_uri(given).unwrap(), expected);
        }
        assert!(normalize_uri("ftp://host:1").is_err());
        assert!(normalize_uri("http://").is_err());
    }

    #[test]
    fn request_options_are_checked() {
        assert!(check_min_completeness("0.9").is_ok());
        assert!(check_min_completeness("1").is_ok());
        assert!(check_min_completeness("1.5").is_err());
        assert!(check_min_completeness("most").is_err());
        assert!(check_deadline("2s").is_ok());
        assert!(check_deadline("0s").is_err());
        assert!(check_deadline("soon").is_err());
    }
}
