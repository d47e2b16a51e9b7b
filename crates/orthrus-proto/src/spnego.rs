//! SPNEGO (RFC 4178, MS-SPNG) and the GSS-API token framing (RFC 2743 §3.1, RFC 4121 §4.1)
//! around the security tokens of SMB2 session setups, LDAP SASL binds, DCE-RPC auth and HTTP
//! Negotiate. Hand-written on a small BER walker: no crate parses SPNEGO passively.
//!
//! The result says which mechanism was offered or chosen and hands out the inner token
//! (NTLMSSP message or Kerberos AP-REQ/AP-REP/KRB-ERROR) for the protocol decoders.
//!
//! ```text
//! InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, innerToken }
//! NegotiationToken ::= CHOICE { negTokenInit [0] NegTokenInit, negTokenResp [1] NegTokenResp }
//! NegTokenInit  ::= SEQUENCE { mechTypes [0] SEQUENCE OF OID, reqFlags [1] BIT STRING OPTIONAL,
//!                              mechToken [2] OCTET STRING OPTIONAL, mechListMIC [3] or, in
//!                              MS-SPNG NegTokenInit2, negHints [3] and mechListMIC [4] }
//! NegTokenResp  ::= SEQUENCE { negState [0] ENUMERATED OPTIONAL, supportedMech [1] OID OPTIONAL,
//!                              responseToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OPTIONAL }
//! Kerberos GSS token: [APPLICATION 0] { OID 1.2.840.113554.1.2.2, TOK_ID u16, message }
//! ```

use crate::ber::{Tlv, children, find_child, tlv};
use crate::ntlmssp;

/// Mechanism OIDs offered in a NegTokenInit; more are a hostile token.
const MAX_MECH_TYPES: usize = 16;

const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
const OID_MS_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
const OID_KRB5_USER_TO_USER: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x03];
const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
const OID_NEGOEX: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a SPNEGO, GSS-API or NTLMSSP token")]
    Unrecognized,
    #[error("malformed {0}")]
    Malformed(&'static str),
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Unrecognized => "unrecognized",
            DecodeError::Malformed(what) => what,
        }
    }
}

/// A security mechanism, by OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism<'a> {
    Kerberos,
    /// Microsoft's (historically mistyped) Kerberos OID 1.2.840.48018.1.2.2.
    MsKerberos,
    KerberosUserToUser,
    Ntlmssp,
    NegoEx,
    /// Any other OID, as its DER content octets.
    Other(&'a [u8]),
}

impl<'a> Mechanism<'a> {
    fn from_oid(oid: &'a [u8]) -> Self {
        match oid {
            OID_KRB5 => Mechanism::Kerberos,
            OID_MS_KRB5 => Mechanism::MsKerberos,
            OID_KRB5_USER_TO_USER => Mechanism::KerberosUserToUser,
            OID_NTLMSSP => Mechanism::Ntlmssp,
            OID_NEGOEX => Mechanism::NegoEx,
            other => Mechanism::Other(other),
        }
    }
}

impl Mechanism<'_> {
    /// A short name (`negoex`, `ms-krb5`, `krb5`, `krb5-u2u`, `ntlmssp`), or the OID in
    /// dotted form.
    pub fn name(&self) -> String {
        match self {
            Mechanism::Kerberos => "krb5".to_owned(),
            Mechanism::MsKerberos => "ms-krb5".to_owned(),
            Mechanism::KerberosUserToUser => "krb5-u2u".to_owned(),
            Mechanism::Ntlmssp => "ntlmssp".to_owned(),
            Mechanism::NegoEx => "negoex".to_owned(),
            Mechanism::Other(oid) => {
                der_parser::oid::Oid::new(std::borrow::Cow::Borrowed(oid)).to_id_string()
            }
        }
    }
}

/// The mechanism's own token, unwrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerToken<'a> {
    /// An NTLMSSP message (see [`crate::ntlmssp::parse`]).
    Ntlmssp(&'a [u8]),
    /// A Kerberos AP-REQ (TOK_ID 01 00), DER (see [`crate::kerberos::parse_message`]).
    KerberosApReq(&'a [u8]),
    /// A Kerberos AP-REP (TOK_ID 02 00).
    KerberosApRep(&'a [u8]),
    /// A KRB-ERROR (TOK_ID 03 00).
    KerberosError(&'a [u8]),
    /// Anything else (NegoEx, an unknown mechanism, a Kerberos token id we do not expand).
    Other(&'a [u8]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenInit<'a> {
    pub mech_types: Vec<Mechanism<'a>>,
    pub mech_token: Option<InnerToken<'a>>,
    pub mech_list_mic: bool,
}

/// negState (RFC 4178 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegState(pub u8);

impl NegState {
    pub const ACCEPT_COMPLETED: Self = Self(0);
    pub const ACCEPT_INCOMPLETE: Self = Self(1);
    pub const REJECT: Self = Self(2);
    pub const REQUEST_MIC: Self = Self(3);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenResp<'a> {
    pub neg_state: Option<NegState>,
    pub supported_mech: Option<Mechanism<'a>>,
    pub response_token: Option<InnerToken<'a>>,
    pub mech_list_mic: bool,
}

/// What a security blob holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityBlob<'a> {
    Init(NegTokenInit<'a>),
    Resp(NegTokenResp<'a>),
    /// A mechanism token sent without SPNEGO (raw NTLMSSP, a bare Kerberos GSS token).
    Raw(InnerToken<'a>),
}

impl<'a> SecurityBlob<'a> {
    /// The mechanism token carried, whichever way it was wrapped.
    pub fn token(&self) -> Option<InnerToken<'a>> {
        match self {
            SecurityBlob::Init(init) => init.mech_token,
            SecurityBlob::Resp(resp) => resp.response_token,
            SecurityBlob::Raw(token) => Some(*token),
        }
    }
}

/// Decodes a security blob: SPNEGO (framed or not), a Kerberos GSS token, or raw NTLMSSP.
pub fn parse_blob(blob: &[u8]) -> Result<SecurityBlob<'_>, DecodeError> {
    if blob.starts_with(ntlmssp::SIGNATURE) {
        return Ok(SecurityBlob::Raw(InnerToken::Ntlmssp(blob)));
    }
    match blob.first() {
        Some(0x60) => {
            let app = tlv(blob, 0).ok_or(DecodeError::Malformed("gss_token"))?;
            let oid =
                tlv(blob, app.content).filter(|t| t.tag == 0x06).ok_or(DecodeError::Malformed("gss_oid"))?;
            if oid.value(blob) == OID_SPNEGO {
                let token = tlv(blob, oid.end).ok_or(DecodeError::Malformed("negotiation_token"))?;
                negotiation_token(blob, token)
            } else {
                Ok(SecurityBlob::Raw(inner_token(blob.get(app.start..app.end).unwrap_or_default())))
            }
        }
        Some(0xa0 | 0xa1) => {
            let token = tlv(blob, 0).ok_or(DecodeError::Malformed("negotiation_token"))?;
            negotiation_token(blob, token)
        }
        _ => Err(DecodeError::Unrecognized),
    }
}

fn negotiation_token(blob: &[u8], token: Tlv) -> Result<SecurityBlob<'_>, DecodeError> {
    let seq = tlv(blob, token.content).filter(|t| t.tag == 0x30).ok_or(DecodeError::Malformed("sequence"))?;
    match token.tag {
        0xa0 => {
            let mech_types = find_child(blob, seq, 0xa0)
                .and_then(|list| tlv(blob, list.content))
                .map(|list| {
                    children(blob, list)
                        .filter(|oid| oid.tag == 0x06)
                        .take(MAX_MECH_TYPES)
                        .map(|oid| Mechanism::from_oid(oid.value(blob)))
                        .collect()
                })
                .unwrap_or_default();
            Ok(SecurityBlob::Init(NegTokenInit {
                mech_types,
                mech_token: octet_string(blob, seq, 0xa2).map(inner_token),
                // [3] is mechListMIC in RFC 4178 and negHints in MS-SPNG's NegTokenInit2,
                // whose MIC is [4].
                mech_list_mic: find_child(blob, seq, 0xa4).is_some()
                    || octet_string(blob, seq, 0xa3).is_some(),
            }))
        }
        0xa1 => Ok(SecurityBlob::Resp(NegTokenResp {
            neg_state: find_child(blob, seq, 0xa0)
                .and_then(|s| tlv(blob, s.content))
                .filter(|e| e.tag == 0x0a)
                .and_then(|e| e.value(blob).first().copied())
                .map(NegState),
            supported_mech: find_child(blob, seq, 0xa1)
                .and_then(|m| tlv(blob, m.content))
                .filter(|oid| oid.tag == 0x06)
                .map(|oid| Mechanism::from_oid(oid.value(blob))),
            response_token: octet_string(blob, seq, 0xa2).map(inner_token),
            mech_list_mic: octet_string(blob, seq, 0xa3).is_some(),
        })),
        _ => Err(DecodeError::Unrecognized),
    }
}

/// The content of an OCTET STRING inside the context-tagged child `tag` of `seq`.
fn octet_string(blob: &[u8], seq: Tlv, tag: u8) -> Option<&[u8]> {
    let wrapper = find_child(blob, seq, tag)?;
    let octets = tlv(blob, wrapper.content).filter(|t| t.tag == 0x04)?;
    Some(octets.value(blob))
}

/// Classifies a mechanism token: NTLMSSP, a Kerberos GSS token, or other.
fn inner_token(token: &[u8]) -> InnerToken<'_> {
    if token.starts_with(ntlmssp::SIGNATURE) {
        return InnerToken::Ntlmssp(token);
    }
    let kerberos = tlv(token, 0).filter(|app| app.tag == 0x60).and_then(|app| {
        let oid = tlv(token, app.content).filter(|t| t.tag == 0x06)?;
        matches!(Mechanism::from_oid(oid.value(token)), Mechanism::Kerberos | Mechanism::MsKerberos)
            .then(|| (token.get(oid.end..oid.end + 2), token.get(oid.end + 2..app.end)))
    });
    match kerberos {
        Some((Some([0x01, 0x00]), Some(message))) => InnerToken::KerberosApReq(message),
        Some((Some([0x02, 0x00]), Some(message))) => InnerToken::KerberosApRep(message),
        Some((Some([0x03, 0x00]), Some(message))) => InnerToken::KerberosError(message),
        _ => InnerToken::Other(token),
    }
}

#[cfg(test)]
mod tests {
    //! Real SMB2 session-setup security blobs from the lab captures (testdata/spnego/).

    use super::*;
    use crate::kerberos::{self, KrbMessage};
    use crate::ntlmssp::NtlmMessage;

    fn blob(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../../testdata/spnego/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn ntlm_negotiate_in_a_neg_token_init() {
        let bytes = blob("ntlm_bruteforce-frame-10.bin");
        let Ok(SecurityBlob::Init(init)) = parse_blob(&bytes) else { panic!("NegTokenInit") };
        assert_eq!(init.mech_types, [Mechanism::Ntlmssp]);
        let Some(InnerToken::Ntlmssp(msg)) = init.mech_token else { panic!("NTLMSSP token") };
        assert!(matches!(ntlmssp::parse(msg), Ok(NtlmMessage::Negotiate(_))));
    }

    #[test]
    fn ntlm_challenge_and_authenticate_in_neg_token_resps() {
        let bytes = blob("ntlm_bruteforce-frame-11.bin");
        let Ok(SecurityBlob::Resp(resp)) = parse_blob(&bytes) else { panic!("NegTokenResp") };
        assert_eq!(resp.neg_state, Some(NegState::ACCEPT_INCOMPLETE));
        assert_eq!(resp.supported_mech, Some(Mechanism::Ntlmssp));
        let Some(InnerToken::Ntlmssp(msg)) = resp.response_token else { panic!("NTLMSSP token") };
        assert!(matches!(ntlmssp::parse(msg), Ok(NtlmMessage::Challenge(_))));

        let bytes = blob("ntlm_bruteforce-frame-12.bin");
        let parsed = parse_blob(&bytes).unwrap();
        let Some(InnerToken::Ntlmssp(msg)) = parsed.token() else { panic!("NTLMSSP token") };
        let Ok(NtlmMessage::Authenticate(auth)) = ntlmssp::parse(msg) else { panic!("AUTHENTICATE") };
        assert_eq!(auth.user.to_string_lossy(), "carol");
    }

    #[test]
    fn mechanisms_are_named_and_unknown_oids_dotted() {
        let names: Vec<String> =
            [Mechanism::NegoEx, Mechanism::MsKerberos, Mechanism::Kerberos, Mechanism::Ntlmssp]
                .iter()
                .map(Mechanism::name)
                .collect();
        assert_eq!(names, ["negoex", "ms-krb5", "krb5", "ntlmssp"]);
        // PKU2U, which Windows offers between computers outside a domain.
        assert_eq!(Mechanism::Other(&[0x2b, 0x06, 0x01, 0x05, 0x02, 0x07]).name(), "1.3.6.1.5.2.7");
        // A hostile OID (an arc that never ends) is still named, not refused.
        assert!(!Mechanism::Other(&[0x2b, 0x86]).name().is_empty());
    }

    #[test]
    fn kerberos_ap_req_and_ap_rep() {
        let bytes = blob("benign_logon-frame-50.bin");
        let Ok(SecurityBlob::Init(init)) = parse_blob(&bytes) else { panic!("NegTokenInit") };
        assert_eq!(init.mech_types, [Mechanism::MsKerberos, Mechanism::Kerberos]);
        let Some(InnerToken::KerberosApReq(ap)) = init.mech_token else { panic!("AP-REQ") };
        let Ok(KrbMessage::ApReq(ap)) = kerberos::parse_message(ap) else { panic!("AP-REQ parses") };
        assert_eq!(kerberos::principal(&ap.ticket.sname), "cifs/dc1.lab.test");

        let bytes = blob("benign_logon-frame-54.bin");
        let Ok(SecurityBlob::Resp(resp)) = parse_blob(&bytes) else { panic!("NegTokenResp") };
        assert_eq!(resp.neg_state, Some(NegState::ACCEPT_COMPLETED));
        assert_eq!(resp.supported_mech, Some(Mechanism::MsKerberos));
        assert!(matches!(resp.response_token, Some(InnerToken::KerberosApRep(_))));
    }

    #[test]
    fn raw_tokens_and_garbage() {
        let bytes = blob("ntlm_bruteforce-frame-12.bin");
        let raw = ntlmssp::find(&bytes).unwrap();
        assert!(matches!(parse_blob(raw), Ok(SecurityBlob::Raw(InnerToken::Ntlmssp(_)))));
        assert_eq!(parse_blob(b"\x30\x00"), Err(DecodeError::Unrecognized));
        for name in ["benign_logon-frame-50.bin", "ntlm_bruteforce-frame-11.bin"] {
            let bytes = blob(name);
            for len in 0..bytes.len() {
                let _ = parse_blob(&bytes[..len]).map(|b| b.token());
            }
        }
    }
}
