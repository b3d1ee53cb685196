//! The flags that make a Shoal process safe on a network, shared by
//! `shoal aggregator`, `shoal leaf` and `shoal local`, and the rule that a
//! process listening beyond loopback without credentials does not start
//! unless told `--insecure`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use shoal_aggregator::auth::Authenticator;
use shoal_aggregator::auth::tokens::TokenFile;
use shoal_proto::cluster_auth::ClusterSecret;
use shoal_proto::tls::TlsFiles;

use crate::error::CliError;

/// Flags of the user-facing front ends (`shoal aggregator`, `shoal local`).
#[derive(Debug, clap::Args)]
pub struct FrontEndFlags {
    /// Token file (`shoal token create`); every call then needs a token.
    #[arg(long)]
    pub auth_file: Option<PathBuf>,
    /// Listen beyond loopback without --auth-file: anyone who reaches the
    /// ports may read and write every table.
    #[arg(long)]
    pub insecure: bool,
    /// Origins whose web pages may call the HTTP API, e.g.
    /// `https://grafana.example.com` (`*` for any).
    #[arg(long, value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Queries running at once; as many more wait briefly, then 429.
    #[arg(long, default_value_t = shoal_aggregator::query::DEFAULT_MAX_CONCURRENT_QUERIES)]
    pub max_concurrent_queries: usize,
    #[command(flatten)]
    pub tls: TlsFlags,
}

/// Certificate and key to serve with (`--tls-cert`, `--tls-key`).
#[derive(Debug, clap::Args)]
pub struct TlsFlags {
    /// PEM certificate chain: serve HTTP and gRPC over TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsFlags {
    pub fn files(&self) -> Option<TlsFiles> {
        Some(TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
        })
    }
}

/// The cluster secret in `path`, if given.
pub fn load_cluster_secret(path: Option<&PathBuf>) -> Result<Option<ClusterSecret>, CliError> {
    path.map(|path| {
        ClusterSecret::load(path).map_err(|reason| CliError::InvalidFlag {
            flag: "--cluster-secret-file",
            value: path.display().to_string(),
            reason,
        })
    })
    .transpose()
}

impl FrontEndFlags {
    /// The authenticator these flags ask for.
    pub fn authenticator(
        &self,
        cluster_secret: Option<ClusterSecret>,
    ) -> Result<Authenticator, CliError> {
        let tokens = self
            .auth_file
            .as_ref()
            .map(|path| {
                TokenFile::open(path)
                    .map(Arc::new)
                    .map_err(|reason| CliError::InvalidFlag {
                        flag: "--auth-file",
                        value: path.display().to_string(),
                        reason,
                    })
            })
            .transpose()?;
        Ok(Authenticator {
            tokens,
            cluster_secret,
        })
    }

    /// Refuses to listen beyond loopback without tokens, unless `--insecure`.
    pub fn check_exposure(&self, addresses: &[SocketAddr]) -> Result<(), CliError> {
        if self.auth_file.is_some() || self.insecure {
            return Ok(());
        }
        refuse_exposed(
            addresses,
            "--auth-file",
            "anyone who reaches it could read, write and drop every table",
        )
    }
}

/// Refuses addresses beyond loopback: `needed` is the flag that would
/// protect them, `exposed` what is open without it.
pub fn refuse_exposed(
    addresses: &[SocketAddr],
    needed: &'static str,
    exposed: &str,
) -> Result<(), CliError> {
    match addresses.iter().find(|a| !a.ip().is_loopback()) {
        None => Ok(()),
        Some(address) => Err(CliError::InvalidFlag {
            flag: "listen address",
            value: address.to_string(),
            reason: format!(
                "refusing to listen beyond loopback without {needed}: {exposed}. Give {needed}, or --insecure to accept that"
            ),
        }),
    }
}
