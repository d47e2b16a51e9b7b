use std::fmt;

/// `"NTLMSSP\0"`, the first eight bytes of every message.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// AV pairs read from one list before it is called hostile (real lists hold about ten).
const MAX_AV_PAIRS: usize = 64;
/// Characters decoded from one NTLM string (names are at most a few hundred).
const MAX_STRING_CHARS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not NTLMSSP (no signature)")]
    NoSignature,
    #[error("truncated: {what} needs {needed} bytes at offset {offset}")]
    Truncated { what: &'static str, offset: usize, needed: usize },
    #[error("unknown NTLMSSP message type {0}")]
    UnknownType(u32),
}

impl DecodeError {
    /// A short, bounded label for statistics.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NoSignature => "no_signature",
            DecodeError::Truncated { what, .. } => what,
            DecodeError::UnknownType(_) => "unknown_type",
        }
    }
}

/// NegotiateFlags (MS-NLMP 2.2.2.5). Open: unknown bits survive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NegotiateFlags(pub u32);

impl NegotiateFlags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ANONYMOUS: u32 = 0x0000_0800;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const NEGOTIATE_56: u32 = 0x8000_0000;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    pub fn unicode(self) -> bool {
        self.has(Self::UNICODE)
    }
}

impl fmt::Debug for NegotiateFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// VERSION (MS-NLMP 2.2.2.10): the sender's Windows version, when it sends one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
    pub build: u16,
    pub ntlm_revision: u8,
}

/// A string field's bytes: UTF-16LE when UNICODE was negotiated, else the OEM code page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NtlmString<'a> {
    pub bytes: &'a [u8],
    pub unicode: bool,
}

impl NtlmString<'_> {
    /// The text, lossily decoded and bounded in length.
    pub fn to_string_lossy(&self) -> String {
        if self.unicode {
            let units = self.bytes.as_chunks::<2>().0.iter().map(|c| u16::from_le_bytes(*c));
            char::decode_utf16(units).take(MAX_STRING_CHARS).map(|c| c.unwrap_or('\u{fffd}')).collect()
        } else {
            self.bytes.iter().take(MAX_STRING_CHARS).map(|b| char::from(*b)).collect()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl fmt::Debug for NtlmString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

/// AV_PAIR identifier (MS-NLMP 2.2.2.1). Open newtype.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvId(pub u16);

impl AvId {
    pub const EOL: Self = Self(0);
    pub const NB_COMPUTER_NAME: Self = Self(1);
    pub const NB_DOMAIN_NAME: Self = Self(2);
    pub const DNS_COMPUTER_NAME: Self = Self(3);
    pub const DNS_DOMAIN_NAME: Self = Self(4);
    pub const DNS_TREE_NAME: Self = Self(5);
    pub const FLAGS: Self = Self(6);
    pub const TIMESTAMP: Self = Self(7);
    pub const SINGLE_HOST: Self = Self(8);
    pub const TARGET_NAME: Self = Self(9);
    pub const CHANNEL_BINDINGS: Self = Self(10);
}

impl fmt::Debug for AvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "MsvAvEOL",
            1 => "MsvAvNbComputerName",
            2 => "MsvAvNbDomainName",
            3 => "MsvAvDnsComputerName",
            4 => "MsvAvDnsDomainName",
            5 => "MsvAvDnsTreeName",
            6 => "MsvAvFlags",
            7 => "MsvAvTimestamp",
            8 => "MsvAvSingleHost",
            9 => "MsvAvTargetName",
            10 => "MsvChannelBindings",
            other => return write!(f, "AvId({other})"),
        };
        f.write_str(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvPair<'a> {
    pub id: AvId,
    pub value: &'a [u8],
}

impl AvPair<'_> {
    /// The value as a UTF-16LE name (for the name-carrying ids).
    pub fn text(&self) -> String {
        NtlmString { bytes: self.value, unicode: true }.to_string_lossy()
    }
}

/// An AV_PAIR list, iterated lazily; stops at MsvAvEOL, at a truncated pair, or after
/// [`MAX_AV_PAIRS`].
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct AvPairs<'a>(pub &'a [u8]);

impl<'a> AvPairs<'a> {
    pub fn iter(&self) -> impl Iterator<Item = AvPair<'a>> + 'a {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let (&[a, b, c, d], tail) = rest.split_first_chunk::<4>()?;
            let id = AvId(u16::from_le_bytes([a, b]));
            let len = usize::from(u16::from_le_bytes([c, d]));
            if id == AvId::EOL {
                return None;
            }
            let value = tail.get(..len)?;
            rest = tail.get(len..).unwrap_or_default();
            Some(AvPair { id, value })
        })
        .take(MAX_AV_PAIRS)
    }

    pub fn get(&self, id: AvId) -> Option<&'a [u8]> {
        self.iter().find(|p| p.id == id).map(|p| p.value)
    }

    /// MsvAvFlags (0x2: the message carries a MIC).
    pub fn flags(&self) -> Option<u32> {
        self.get(AvId::FLAGS).and_then(|v| v.first_chunk::<4>()).map(|b| u32::from_le_bytes(*b))
    }

    /// MsvAvTimestamp, a FILETIME (100 ns since 1601-01-01).
    pub fn timestamp(&self) -> Option<u64> {
        self.get(AvId::TIMESTAMP).and_then(|v| v.first_chunk::<8>()).map(|b| u64::from_le_bytes(*b))
    }
}

impl fmt::Debug for AvPairs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|p| (p.id, p.value.len()))).finish()
    }
}

/// NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1).
/// ```text
/// Signature[8] | MessageType u32 = 1 | NegotiateFlags u32 | DomainNameFields[8]
/// | WorkstationFields[8] | Version[8] (if NEGOTIATE_VERSION) | Payload
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiate<'a> {
    pub flags: NegotiateFlags,
    pub domain: NtlmString<'a>,
    pub workstation: NtlmString<'a>,
    pub version: Option<Version>,
}

/// CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
/// ```text
/// Signature[8] | MessageType u32 = 2 | TargetNameFields[8] | NegotiateFlags u32
/// | ServerChallenge[8] | Reserved[8] | TargetInfoFields[8] | Version[8] | Payload
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge<'a> {
    pub flags: NegotiateFlags,
    pub target_name: NtlmString<'a>,
    pub server_challenge: [u8; 8],
    pub target_info: AvPairs<'a>,
    pub version: Option<Version>,
}

/// AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3).
/// ```text
/// Signature[8] | MessageType u32 = 3 | LmChallengeResponseFields[8]
/// | NtChallengeResponseFields[8] | DomainNameFields[8] | UserNameFields[8]
/// | WorkstationFields[8] | EncryptedRandomSessionKeyFields[8] | NegotiateFlags u32
/// | Version[8] (if NEGOTIATE_VERSION) | MIC[16] (if present) | Payload
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticate<'a> {
    pub flags: NegotiateFlags,
    pub lm_response: &'a [u8],
    pub nt_response: &'a [u8],
    pub domain: NtlmString<'a>,
    pub user: NtlmString<'a>,
    pub workstation: NtlmString<'a>,
    pub session_key: &'a [u8],
    pub version: Option<Version>,
    pub mic: Option<&'a [u8; 16]>,
    /// The NTLMv2 response's MsvAvFlags say a MIC is in the message (0x2). The response is
    /// covered by NTProofStr, so a relay cannot clear this flag when it strips the MIC.
    pub mic_claimed: bool,
}

/// Which NTLM response the client computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NtlmVersion {
    /// Empty responses: an anonymous (null session) logon.
    Anonymous,
    /// A 24-byte NT response: NTLMv1 (crackable to the NT hash; relayable with fewer checks).
    V1,
    /// An NTLMv2 response (NTProofStr + client challenge blob).
    V2,
}

impl<'a> Authenticate<'a> {
    pub fn ntlm_version(&self) -> NtlmVersion {
        match self.nt_response.len() {
            0 => NtlmVersion::Anonymous,
            24 => NtlmVersion::V1,
            _ => NtlmVersion::V2,
        }
    }

    /// The AV pairs inside the NTLMv2 client challenge (target name, timestamp, flags,
    /// channel bindings), as the client echoed and extended them.
    ///
    /// ```text
    /// NTProofStr[16] | RespType u8 | HiRespType u8 | Reserved1 u16 | Reserved2 u32
    /// | TimeStamp u64 | ChallengeFromClient[8] | Reserved3 u32 | AvPairs
    /// ```
    pub fn client_av_pairs(&self) -> Option<AvPairs<'a>> {
        (self.ntlm_version() == NtlmVersion::V2)
            .then(|| AvPairs(self.nt_response.get(44..).unwrap_or_default()))
    }

    /// The NTLMv2 client challenge's timestamp (FILETIME).
    pub fn client_timestamp(&self) -> Option<u64> {
        let bytes = self.nt_response.get(24..32)?.first_chunk::<8>()?;
        (self.ntlm_version() == NtlmVersion::V2).then(|| u64::from_le_bytes(*bytes))
    }

    /// Whether the message carries a MIC (MsvAvFlags bit 0x2 and the MIC field present).
    pub fn mic_present(&self) -> bool {
        self.mic.is_some_and(|m| *m != [0; 16])
    }

    /// The client claimed a MIC (MsvAvFlags) that the message does not carry, or carries
    /// zeroed: removed on the way (drop-the-MIC, CVE-2019-1040).
    pub fn mic_missing(&self) -> bool {
        self.mic_claimed && !self.mic_present()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NtlmMessage<'a> {
    Negotiate(Negotiate<'a>),
    Challenge(Challenge<'a>),
    Authenticate(Authenticate<'a>),
}

/// Finds an NTLMSSP message inside a larger blob (SPNEGO, raw SASL, HTTP auth token).
pub fn find(blob: &[u8]) -> Option<&[u8]> {
    let at = blob.windows(SIGNATURE.len()).position(|w| w == SIGNATURE)?;
    blob.get(at..)
}

/// Parses one NTLMSSP message (starting at its signature).
pub fn parse(msg: &[u8]) -> Result<NtlmMessage<'_>, DecodeError> {
    if !msg.starts_with(SIGNATURE) {
        return Err(DecodeError::NoSignature);
    }
    let reader = Reader { msg };
    match reader.u32(8, "message_type")? {
        1 => {
            let flags = NegotiateFlags(reader.u32(12, "negotiate_flags")?);
            Ok(NtlmMessage::Negotiate(Negotiate {
                flags,
                // Negotiate strings are OEM whatever the flags say (MS-NLMP 2.2.1.1).
                domain: reader.string(16, false, "domain")?,
                workstation: reader.string(24, false, "workstation")?,
                version: reader.version(32, flags),
            }))
        }
        2 => {
            let flags = NegotiateFlags(reader.u32(20, "negotiate_flags")?);
            let server_challenge = *reader.array::<8>(24, "server_challenge")?;
            Ok(NtlmMessage::Challenge(Challenge {
                flags,
                target_name: reader.string(12, flags.unicode(), "target_name")?,
                server_challenge,
                target_info: AvPairs(reader.field(40, "target_info")?),
                version: reader.version(48, flags),
            }))
        }
        3 => {
            let flags = NegotiateFlags(reader.u32(60, "negotiate_flags")?);
            let unicode = flags.unicode();
            let nt_response = reader.field(20, "nt_response")?;
            let offsets = [12, 20, 28, 36, 44, 52].map(|at| reader.offset(at).unwrap_or(usize::MAX));
            let payload_start = offsets.iter().copied().filter(|o| *o != 0).min().unwrap_or(usize::MAX);
            let mic_flag = (nt_response.len() > 24)
                .then(|| AvPairs(nt_response.get(44..).unwrap_or_default()).flags())
                .flatten()
                .is_some_and(|f| f & 0x2 != 0);
            // The MIC sits after the Version field, before the payload.
            let mic = if mic_flag && payload_start >= 88 {
                msg.get(72..88).and_then(|m| m.first_chunk::<16>())
            } else {
                None
            };
            Ok(NtlmMessage::Authenticate(Authenticate {
                flags,
                lm_response: reader.field(12, "lm_response")?,
                nt_response,
                domain: reader.string(28, unicode, "domain")?,
                user: reader.string(36, unicode, "user")?,
                workstation: reader.string(44, unicode, "workstation")?,
                session_key: reader.field(52, "session_key")?,
                version: if payload_start >= 72 { reader.version(64, flags) } else { None },
                mic,
                mic_claimed: mic_flag,
            }))
        }
        other => Err(DecodeError::UnknownType(other)),
    }
}

struct Reader<'a> {
    msg: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&self, offset: usize, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        offset.checked_add(len).and_then(|end| self.msg.get(offset..end)).ok_or(DecodeError::Truncated {
            what,
            offset,
            needed: len,
        })
    }

    fn array<const N: usize>(&self, offset: usize, what: &'static str) -> Result<&'a [u8; N], DecodeError> {
        self.msg.get(offset..).and_then(|rest| rest.first_chunk::<N>()).ok_or(DecodeError::Truncated {
            what,
            offset,
            needed: N,
        })
    }

    fn u32(&self, offset: usize, what: &'static str) -> Result<u32, DecodeError> {
        self.array::<4>(offset, what).map(|b| u32::from_le_bytes(*b))
    }

    /// A Len/MaxLen/BufferOffset field header (MS-NLMP 2.2.1): (Len, BufferOffset).
    fn field_header(&self, at: usize, what: &'static str) -> Result<(usize, usize), DecodeError> {
        let [l0, l1, _, _, o0, o1, o2, o3] = *self.array::<8>(at, what)?;
        Ok((usize::from(u16::from_le_bytes([l0, l1])), u32::from_le_bytes([o0, o1, o2, o3]) as usize))
    }

    /// A field's payload offset (None when the field is empty or absent).
    fn offset(&self, at: usize) -> Option<usize> {
        self.field_header(at, "field").ok().and_then(|(len, offset)| (len > 0).then_some(offset))
    }

    /// A field's payload.
    fn field(&self, at: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        match self.field_header(at, what)? {
            (0, _) => Ok(&[]),
            (len, offset) => self.bytes(offset, len, what),
        }
    }

    fn string(&self, at: usize, unicode: bool, what: &'static str) -> Result<NtlmString<'a>, DecodeError> {
        Ok(NtlmString { bytes: self.field(at, what)?, unicode })
    }

    /// VERSION (MS-NLMP 2.2.2.10): ProductMajorVersion u8 | ProductMinorVersion u8 |
    /// ProductBuild u16 | Reserved[3] | NTLMRevisionCurrent u8. Present only with
    /// NEGOTIATE_VERSION; a message too short for it simply has none.
    fn version(&self, at: usize, flags: NegotiateFlags) -> Option<Version> {
        if !flags.has(NegotiateFlags::VERSION) {
            return None;
        }
        let [major, minor, b0, b1, _, _, _, ntlm_revision] = *self.array::<8>(at, "version").ok()?;
        Some(Version { major, minor, build: u16::from_le_bytes([b0, b1]), ntlm_revision })
    }
}

#[cfg(test)]
mod tests {
    //! Real messages from the lab's ntlm_bruteforce capture (impacket smbclient against
    //! Samba): testdata/ntlmssp/ntlm_bruteforce-frame-N-*.bin, cut from the SMB2 security
    //! blob at the NTLMSSP signature. Expected values as tshark shows them.

    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../../testdata/ntlmssp/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn negotiate() {
        let bytes = fixture("ntlm_bruteforce-frame-10-negotiate.bin");
        let Ok(NtlmMessage::Negotiate(n)) = parse(&bytes) else { panic!("negotiate") };
        assert!(n.flags.unicode() && n.flags.has(NegotiateFlags::NTLM));
        assert!(n.domain.is_empty() && n.workstation.is_empty());
    }

    #[test]
    fn challenge_names_the_server() {
        let bytes = fixture("ntlm_bruteforce-frame-11-challenge.bin");
        let Ok(NtlmMessage::Challenge(c)) = parse(&bytes) else { panic!("challenge") };
        assert_eq!(c.target_name.to_string_lossy(), "LAB");
        let names: Vec<(AvId, String)> =
            c.target_info.iter().filter(|p| p.id != AvId::TIMESTAMP).map(|p| (p.id, p.text())).collect();
        assert!(names.contains(&(AvId::NB_COMPUTER_NAME, "DC1".into())), "{names:?}");
        assert!(names.contains(&(AvId::DNS_DOMAIN_NAME, "lab.test".into())), "{names:?}");
    }

    #[test]
    fn authenticate_carries_user_domain_and_an_ntlmv2_response() {
        let bytes = fixture("ntlm_bruteforce-frame-12-authenticate-carol-wrong.bin");
        let Ok(NtlmMessage::Authenticate(a)) = parse(&bytes) else { panic!("authenticate") };
        assert_eq!(a.user.to_string_lossy(), "carol");
        assert_eq!(a.domain.to_string_lossy(), "LAB");
        assert!(a.workstation.is_empty(), "tshark: Host name: NULL");
        assert_eq!(a.lm_response.len(), 24);
        assert_eq!(a.nt_response.len(), 166);
        assert_eq!(a.ntlm_version(), NtlmVersion::V2);
        assert!(!a.mic_present(), "impacket sends no MIC");
        let av = a.client_av_pairs().unwrap();
        assert_eq!(
            av.get(AvId::TARGET_NAME).map(|v| AvPair { id: AvId::TARGET_NAME, value: v }.text()).as_deref(),
            Some("cifs/dc1.lab.test")
        );
        // Client timestamp: Nov 25, 2026 07:17:35.1677 UTC (tshark), as FILETIME.
        let filetime = a.client_timestamp().unwrap();
        let unix_micros = (filetime / 10) as i64 - 11_644_473_600_000_000;
        assert_eq!(unix_micros / 1_000_000, 1_795_591_055);
        assert_eq!(a.session_key.len(), 16);
    }

    #[test]
    fn found_inside_a_larger_blob() {
        let mut blob = vec![0x60, 0x48, 0x06, 0x06];
        blob.extend_from_slice(&fixture("ntlm_bruteforce-frame-10-negotiate.bin"));
        assert!(matches!(find(&blob).map(parse), Some(Ok(NtlmMessage::Negotiate(_)))));
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_message_never_a_panic() {
        for name in [
            "ntlm_bruteforce-frame-10-negotiate.bin",
            "ntlm_bruteforce-frame-11-challenge.bin",
            "ntlm_bruteforce-frame-12-authenticate-carol-wrong.bin",
        ] {
            let bytes = fixture(name);
            for len in 0..bytes.len() {
                if let Ok(NtlmMessage::Authenticate(a)) = parse(&bytes[..len]) {
                    let _ = (a.client_av_pairs().map(|p| p.iter().count()), a.client_timestamp());
                }
            }
        }
        assert_eq!(parse(b"NTLMSSP\0\x09\0\0\0"), Err(DecodeError::UnknownType(9)));
        assert_eq!(parse(b"NTLMSSX\0\x01\0\0\0"), Err(DecodeError::NoSignature));
    }
}
