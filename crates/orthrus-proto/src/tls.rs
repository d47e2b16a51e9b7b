//! TLS handshake metadata (LDAPS on 636, the global catalog on 3269): the client's server
//! name and offer, the server's chosen version and cipher suite. Records are decoded by
//! rusticata's `tls-parser` (used by Suricata); this module adds stream framing and keeps
//! what identity monitoring reads. Everything after the handshake is encrypted and skipped.
//!
//! ```
//! use orthrus_proto::tls;
//! // A record header announcing 5 bytes of handshake, with only 2 present.
//! assert!(matches!(tls::split_record(&[0x16, 3, 3, 0, 5, 1, 0]), orthrus_proto::wire::Record::Incomplete { needed: 3 }));
//! ```

use tls_parser::{TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_extensions, parse_tls_plaintext};

use crate::wire::Record;

/// Largest TLS record (2^14 plus the allowed expansion) and its 5-byte header.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048 + 5;

/// Splits one TLS record off the front of a stream.
pub fn split_record(stream: &[u8]) -> Record<'_> {
    let Some(&[kind, major, _, hi, lo]) = stream.first_chunk::<5>() else {
        return Record::Incomplete { needed: 5 - stream.len() };
    };
    let len = usize::from(u16::from_be_bytes([hi, lo])) + 5;
    if !(20..=24).contains(&kind) || major != 3 || len > MAX_RECORD_LEN {
        return Record::Invalid { length: len as u32 };
    }
    match stream.get(..len) {
        Some(message) => Record::Complete { message, consumed: len },
        None => Record::Incomplete { needed: len - stream.len() },
    }
}

/// What a record's handshake messages say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandshakeInfo {
    /// ClientHello: the server name asked for (SNI).
    pub server_name: Option<String>,
    /// ClientHello: the highest version offered (supported_versions when present).
    pub offered_version: Option<u16>,
    /// ServerHello: the version chosen (supported_versions when present) and cipher suite.
    pub version: Option<u16>,
    pub cipher: Option<u16>,
    pub client_hello: bool,
    pub server_hello: bool,
}

/// Reads the handshake messages of one plaintext record; other records give an empty
/// answer. `Err` when the record does not parse.
pub fn handshake(record: &[u8]) -> Result<HandshakeInfo, &'static str> {
    let mut info = HandshakeInfo::default();
    if record.first() != Some(&0x16) {
        return Ok(info);
    }
    let (_, plain) = parse_tls_plaintext(record).map_err(|_| "invalid_handshake")?;
    for msg in &plain.msg {
        match msg {
            TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) => {
                info.client_hello = true;
                info.offered_version = Some(hello.version.0);
                for ext in extensions(hello.ext) {
                    match ext {
                        TlsExtension::SNI(names) => {
                            info.server_name = names
                                .first()
                                .map(|(_, name)| String::from_utf8_lossy(name).chars().take(255).collect());
                        }
                        TlsExtension::SupportedVersions(versions) => {
                            // GREASE values (0x?a?a) are not versions.
                            info.offered_version =
                                versions.iter().map(|v| v.0).filter(|v| v & 0x0f0f != 0x0a0a).max();
                        }
                        _ => {}
                    }
                }
            }
            TlsMessage::Handshake(TlsMessageHandshake::ServerHello(hello)) => {
                info.server_hello = true;
                info.version = Some(hello.version.0);
                info.cipher = Some(hello.cipher.0);
                for ext in extensions(hello.ext) {
                    if let TlsExtension::SupportedVersions(versions) = ext
                        && let Some(v) = versions.first()
                    {
                        info.version = Some(v.0);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

fn extensions(raw: Option<&[u8]>) -> Vec<TlsExtension<'_>> {
    raw.and_then(|r| parse_tls_extensions(r).ok()).map(|(_, e)| e).unwrap_or_default()
}

/// `TLS 1.2`, `TLS 1.3`, ... for a version number.
pub fn version_name(version: u16) -> &'static str {
    match version {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "unknown",
    }
}

/// The IANA name of a cipher suite, when tls-parser knows it.
pub fn cipher_name(id: u16) -> Option<&'static str> {
    tls_parser::TlsCipherSuite::from_id(id).map(|c| c.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_refuses_what_is_not_tls() {
        assert!(matches!(split_record(&[0x30, 0x84, 0, 0, 0]), Record::Invalid { .. }));
        assert!(matches!(split_record(&[0x16, 3, 1, 0xff, 0xff]), Record::Invalid { .. }));
        assert_eq!(handshake(&[0x17, 3, 3, 0, 1, 0]), Ok(HandshakeInfo::default()));
        assert!(handshake(&[0x16, 3, 3, 0, 4, 1, 0, 0, 9]).is_err());
    }
}
