//! The center's TLS identity: a certificate and key from files, or a self-signed pair made on
//! first start and kept beside the store, so sensors can pin its SHA-256 fingerprint.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: {error}")]
    Pem { path: String, error: String },
    #[error("making the self-signed certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate's SHA-256 fingerprint, hex: what a sensor pins.
pub fn fingerprint(certificate: &CertificateDer<'_>) -> String {
    orthrus_tls::certificate_fingerprint(certificate.as_ref())
}

/// Reads `cert`/`key` (PEM); when both are missing, makes a self-signed pair for `names` and
/// writes it there (key readable by the owner only).
pub fn load_or_generate(
    cert: &Path,
    key: &Path,
    names: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |error| TlsError::Io { path: path.clone(), error }
    };
    if !cert.exists() && !key.exists() {
        let pair = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        std::fs::write(cert, pair.cert.pem()).map_err(io(cert))?;
        write_private(key, pair.signing_key.serialize_pem().as_bytes()).map_err(io(key))?;
    }
    orthrus_listen::pem_identity(cert, key)
        .map_err(|e| TlsError::Pem { path: e.path.display().to_string(), error: e.reason })
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3).
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    Ok(orthrus_listen::tls_server_config(certs, key, None)?)
}
