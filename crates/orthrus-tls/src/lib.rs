//! How Orthrus checks the certificate of what it connects to — the directory sync's domain
//! controller (LDAPS, StartTLS), the sensor's center, a SIEM's syslog over TLS, a webhook — in
//! one way: a CA file, a pinned SHA-256 fingerprint, or, with neither, the system's trusted
//! roots. rustls with ring throughout.

use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("TLS settings: {0}")]
pub struct TlsError(pub String);

/// A rustls client configuration (ring) for one endpoint.
pub fn client_config(
    ca_file: Option<&Path>,
    pin_sha256: Option<&str>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = match (ca_file, pin_sha256) {
        (Some(_), Some(_)) => {
            return Err(TlsError("give a CA file or a pinned fingerprint, not both".into()));
        }
        (None, Some(pin)) => pinned_config(pin)?,
        (Some(ca), None) => ca_config(ca)?,
        (None, None) => system_roots()?,
    };
    Ok(Arc::new(config))
}

fn system_roots() -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // One unusable certificate in the system store does not stop the others.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(TlsError(
            "the system has no trusted root certificates (install ca-certificates, or give a CA file)".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// Trusts the CAs of a PEM file (and nothing else).
pub fn ca_config(ca_file: &Path) -> Result<rustls::ClientConfig, TlsError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| TlsError(format!("{}: {e}", ca_file.display())))?;
    for cert in certs {
        let cert = cert.map_err(|e| TlsError(format!("{}: {e}", ca_file.display())))?;
        roots.add(cert).map_err(|e| TlsError(format!("{}: {e}", ca_file.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// Accepts the one certificate whose SHA-256 is pinned; handshake signatures are still
/// verified with the provider's algorithms (so the peer must hold that certificate's key).
#[derive(Debug)]
struct PinnedCertificate {
    fingerprint: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if digest.as_ref() == self.fingerprint.as_slice() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate (SHA-256 {}) is not the pinned one",
                hex(digest.as_ref())
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A certificate's SHA-256 fingerprint (lower-case hex), as pins give it.
pub fn certificate_fingerprint(der: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

/// A rustls client configuration that accepts exactly the certificate with SHA-256 `pin`
/// (hex, colons allowed): the directory sync's `--pin-sha256`, and the sensor's pin on the
/// center's self-signed certificate.
pub fn pinned_config(pin: &str) -> Result<rustls::ClientConfig, TlsError> {
    let digits: String = pin.chars().filter(|c| *c != ':').collect();
    let fingerprint = (0..digits.len())
        .step_by(2)
        .map(|i| digits.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .filter(|f| f.len() == 32)
        .ok_or_else(|| TlsError(format!("{pin:?} is not a SHA-256 fingerprint (64 hex digits)")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCertificate { fingerprint, provider: provider.clone() });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))
        .map(|b| b.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_must_be_a_sha256_fingerprint() {
        let pin = "ab".repeat(32);
        assert!(pinned_config(&pin).is_ok());
        let with_colons: String =
            pin.as_bytes().chunks(2).map(|c| String::from_utf8_lossy(c)).collect::<Vec<_>>().join(":");
        assert!(pinned_config(&with_colons).is_ok());
        for bad in ["", "abcd", &"zz".repeat(32), &"ab".repeat(33)] {
            assert!(pinned_config(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_are_lower_case_hex_sha256() {
        assert_eq!(
            certificate_fingerprint(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_ca_file_and_a_pin_together_are_refused() {
        let error = client_config(Some(Path::new("/nonexistent.pem")), Some(&"ab".repeat(32))).unwrap_err();
        assert!(error.0.contains("not both"), "{error}");
        assert!(ca_config(Path::new("/nonexistent/ca.pem")).is_err());
    }
}
