//! The HTTP front end over TLS (`--tls-cert`, `--tls-key`): rustls accepts
//! each connection (HTTP/2 or HTTP/1.1 by ALPN) and hyper serves the same
//! axum router as plain HTTP does. axum's own `serve` speaks plain TCP only.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use shoal_proto::tls::TlsFiles;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tracing::{debug, warn};

use crate::error::Result;

/// A client has this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The acceptor for `tls`'s certificate chain and key.
pub fn http_acceptor(tls: &TlsFiles) -> std::result::Result<TlsAcceptor, String> {
    let (cert, key) = tls.read()?;
    let chain = CertificateDer::pem_slice_iter(&cert)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", tls.cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", tls.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| format!("{}: not a PEM private key: {e}", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", tls.cert.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `routes` over TLS on `listener` until `shutdown` resolves.
pub async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    routes: Router,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return Ok(()),
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: wait instead of spinning.
                warn!(%error, "HTTPS accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(routes.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => return debug!(%error, "TLS handshake failed"),
                Err(_) => return debug!("TLS handshake timed out"),
            };
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
            if let Err(error) = served {
                debug!(%error, "HTTPS connection ended with an error");
            }
        });
    }
}
