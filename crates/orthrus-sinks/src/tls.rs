//! How a sink checks the TLS certificate of its endpoint (a SIEM's syslog over TLS, a webhook
//! over HTTPS): a CA file, a pinned SHA-256 fingerprint, or — with neither — the system's
//! trusted roots. The directory sync's helpers do the first two, so all of Orthrus checks
//! certificates one way.

use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("TLS settings: {0}")]
pub struct TlsSetupError(pub String);

/// A rustls client configuration (ring) for one endpoint.
pub fn client_config(
    ca_file: Option<&Path>,
    pin_sha256: Option<&str>,
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let config = match (ca_file, pin_sha256) {
        (Some(_), Some(_)) => {
            return Err(TlsSetupError("give a CA file or a pinned fingerprint, not both".into()));
        }
        (None, Some(pin)) => {
            orthrus_directory::ldap::pinned_config(pin).map_err(|e| TlsSetupError(e.to_string()))?
        }
        (Some(ca), None) => {
            orthrus_directory::ldap::ca_config(ca).map_err(|e| TlsSetupError(e.to_string()))?
        }
        (None, None) => system_roots()?,
    };
    Ok(Arc::new(config))
}

fn system_roots() -> Result<rustls::ClientConfig, TlsSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // One unusable certificate in the system store does not stop the others.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(TlsSetupError(
            "the system has no trusted root certificates (install ca-certificates, or give a CA file)".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}
