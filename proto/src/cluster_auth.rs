//! The cluster secret: how Shoal's own processes know each other.
//!
//! Leaves and aggregators of one fleet share a secret
//! (`--cluster-secret-file`; `shoal local` makes one in memory). Every call
//! between tiers carries it in the [`CLUSTER_SECRET_HEADER`] metadata
//! ([`ClusterSecretInterceptor`] on the caller's side); a leaf started with
//! a secret refuses every call without it ([`require_cluster_secret`]),
//! and an aggregator serves its internal calls (plan fragments, the
//! `shoal.v1.Leaf` service of a child) only to callers that have it. User
//! tokens never open those calls.
//!
//! The secret travels as it is, so between hosts it needs TLS like any
//! other credential.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::check_layer::CheckLayer;

/// Metadata key that carries the cluster secret between tiers.
pub const CLUSTER_SECRET_HEADER: &str = "x-shoal-cluster-secret";
/// Shortest secret accepted from a file, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// A cluster secret; compared in constant time, never printed.
#[derive(Clone)]
pub struct ClusterSecret(Arc<str>);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// Reads a secret from `path` (surrounding white space is dropped).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the cluster secret file {}: {e}",
                path.display()
            )
        })?;
        Self::new(text.trim()).map_err(|reason| format!("{}: {reason}", path.display()))
    }

    /// A secret from its text: printable ASCII, at least
    /// [`MIN_SECRET_BYTES`] long.
    pub fn new(text: &str) -> Result<Self, String> {
        if text.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the cluster secret must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the cluster secret must be printable ASCII without spaces".to_string());
        }
        Ok(Self(text.into()))
    }

    /// A new random secret (64 hex digits).
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(text.into())
    }

    /// HMAC-SHA256 of `message` keyed by the secret: how members sign
    /// what they publish by gossip, so the secret itself never travels
    /// there.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        self.mac_parts(&[message])
    }

    /// [`ClusterSecret::mac`] of `parts` one after the other, without
    /// joining them first.
    pub fn mac_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        use hmac::Mac;
        // HMAC takes a key of any length; `new_from_slice` cannot fail.
        let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.as_bytes()) {
            Ok(mac) => mac,
            Err(_) => return [0; 32],
        };
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `headers` carry this secret.
    pub fn is_carried_by(&self, headers: &http::HeaderMap) -> bool {
        headers
            .get(CLUSTER_SECRET_HEADER)
            .is_some_and(|value| constant_time_eq(value.as_bytes(), self.0.as_bytes()))
    }
}

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Adds the cluster secret (if any) to every outgoing call.
#[derive(Debug, Clone, Default)]
pub struct ClusterSecretInterceptor {
    /// The secret as a metadata value, made once (it is checked printable
    /// ASCII when loaded, so it always makes one).
    value: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl ClusterSecretInterceptor {
    pub fn new(secret: Option<&ClusterSecret>) -> Self {
        Self {
            value: secret.and_then(|secret| secret.0.parse().ok()),
        }
    }
}

impl Interceptor for ClusterSecretInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.value {
            request
                .metadata_mut()
                .insert(CLUSTER_SECRET_HEADER, value.clone());
        }
        Ok(request)
    }
}

/// A layer refusing every call that does not carry `secret`
/// (`UNAUTHENTICATED`); without a secret it lets everything through.
pub fn require_cluster_secret(
    secret: Option<ClusterSecret>,
) -> CheckLayer<impl Fn(&mut http::request::Parts) -> Result<(), Status> + Clone> {
    CheckLayer::new(move |request: &mut http::request::Parts| match &secret {
        Some(secret) if !secret.is_carried_by(&request.headers) => Err(Status::unauthenticated(
            "this Shoal process serves only its own cluster: the call lacks the cluster secret (--cluster-secret-file)",
        )),
        _ => Ok(()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked_whole() {
        let secret = ClusterSecret::new("0123456789abcdef0123").unwrap();
        let mut headers = http::HeaderMap::new();
        assert!(!secret.is_carried_by(&headers));
        headers.insert(
            CLUSTER_SECRET_HEADER,
            "0123456789abcdef012".parse().unwrap(),
        );
        assert!(!secret.is_carried_by(&headers));
        headers.insert(
            CLUSTER_SECRET_HEADER,
            "0123456789abcdef0123".parse().unwrap(),
        );
        assert!(secret.is_carried_by(&headers));
        assert!(ClusterSecret::new("short").is_err());
        assert!(ClusterSecret::new("has a space in it, long enough").is_err());
        assert_eq!(ClusterSecret::generate().0.len(), 64);
    }
}
