//! TLS settings both tiers share: the certificate and key a process serves
//! with (`--tls-cert`, `--tls-key`), and the CA an aggregator trusts for its
//! children (`--tls-ca`). rustls with ring, no OpenSSL.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A PEM certificate chain and its PEM private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both files, read.
    pub fn read(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        Ok((
            read(&self.cert, "--tls-cert")?,
            read(&self.key, "--tls-key")?,
        ))
    }

    /// The gRPC server's TLS settings.
    pub fn server_config(&self) -> Result<ServerTlsConfig, String> {
        let (cert, key) = self.read()?;
        Ok(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
    }
}

/// The settings of a client that trusts the CA certificate at `ca`.
pub fn client_tls(ca: &Path) -> Result<ClientTlsConfig, String> {
    let pem = read(ca, "--tls-ca")?;
    Ok(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))
}
