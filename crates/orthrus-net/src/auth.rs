//! Security blobs (SPNEGO, raw NTLMSSP, GSS-wrapped Kerberos) carried by SMB, LDAP and
//! DCE-RPC, turned into the authentication facts of activities.

use orthrus_model::{
    AuthOutcome, Carrier, EncryptionType, KerberosServiceAccess, NtlmAuthentication, NtlmResponse, Timestamp,
};
use orthrus_proto::kerberos::{self as krb, KrbMessage};
use orthrus_proto::ntlmssp::{self, AvId, NtlmMessage, NtlmVersion};
use orthrus_proto::spnego::{self, InnerToken, SecurityBlob};

/// The client's proof of identity, found in a security blob.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClientAuth {
    Ntlm(NtlmAuthentication),
    Kerberos(KerberosServiceAccess),
}

/// Microseconds between 1601-01-01 (FILETIME's epoch) and 1970-01-01.
const FILETIME_UNIX_OFFSET_MICROS: i64 = 11_644_473_600 * 1_000_000;

/// Reads the client's authentication out of a blob; `Ok(None)` when the blob holds another
/// step of the handshake (NEGOTIATE, a bare SPNEGO offer). The outcome is left unknown for
/// the carrier to fill in from the server's answer.
pub(crate) fn client_auth(blob: &[u8], via: Carrier) -> Result<Option<ClientAuth>, &'static str> {
    if blob.is_empty() {
        return Ok(None);
    }
    let parsed = spnego::parse_blob(blob).map_err(|e| e.reason())?;
    match parsed.token() {
        Some(InnerToken::Ntlmssp(bytes)) => match ntlmssp::parse(bytes).map_err(|e| e.reason())? {
            NtlmMessage::Authenticate(a) => {
                let client_pairs = a.client_av_pairs();
                let target_name = client_pairs
                    .and_then(|p| p.iter().find(|pair| pair.id == AvId::TARGET_NAME))
                    .map(|pair| pair.text())
                    .filter(|t| !t.is_empty());
                let channel_bindings = client_pairs
                    .and_then(|p| p.get(AvId::CHANNEL_BINDINGS))
                    .is_some_and(|v| v.iter().any(|b| *b != 0));
                Ok(Some(ClientAuth::Ntlm(NtlmAuthentication {
                    via,
                    user: a.user.to_string_lossy(),
                    domain: a.domain.to_string_lossy(),
                    workstation: a.workstation.to_string_lossy(),
                    response: match a.ntlm_version() {
                        NtlmVersion::Anonymous => NtlmResponse::Anonymous,
                        NtlmVersion::V1 => NtlmResponse::V1,
                        NtlmVersion::V2 => NtlmResponse::V2,
                    },
                    client_time: a.client_timestamp().and_then(filetime),
                    mic: a.mic_present(),
                    mic_missing: a.mic_missing(),
                    os_version: a.version.map(|v| format!("{}.{}.{}", v.major, v.minor, v.build)),
                    target_name,
                    server_name: client_pairs
                        .and_then(|p| p.iter().find(|pair| pair.id == AvId::NB_COMPUTER_NAME))
                        .map(|pair| pair.text())
                        .filter(|t| !t.is_empty()),
                    channel_bindings,
                    outcome: AuthOutcome::Unknown,
                })))
            }
            _ => Ok(None),
        },
        Some(InnerToken::KerberosApReq(bytes)) => match krb::parse_message(bytes).map_err(|e| e.reason())? {
            KrbMessage::ApReq(ap) => Ok(Some(ClientAuth::Kerberos(KerberosServiceAccess {
                via,
                service: krb::principal(&ap.ticket.sname),
                realm: ap.ticket.realm.0.clone(),
                ticket_etype: EncryptionType(ap.ticket.enc_part.etype.0),
                ticket_id: crate::kerberos::ticket_id(ap.ticket.enc_part.cipher),
                // Named only here: most offers carry NTLM's first leg, which needs none.
                offered_mechanisms: match &parsed {
                    SecurityBlob::Init(init) => init.mech_types.iter().map(|m| m.name()).collect(),
                    _ => Vec::new(),
                },
                outcome: AuthOutcome::Unknown,
            }))),
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

fn filetime(ft: u64) -> Option<Timestamp> {
    let micros = i64::try_from(ft / 10).ok()?.checked_sub(FILETIME_UNIX_OFFSET_MICROS)?;
    Some(Timestamp::from_micros(micros))
}

impl ClientAuth {
    pub fn set_outcome(&mut self, outcome: AuthOutcome) {
        match self {
            ClientAuth::Ntlm(n) => n.outcome = outcome,
            ClientAuth::Kerberos(k) => k.outcome = outcome,
        }
    }

    /// The account to attribute later requests of the session to (NTLM only: a Kerberos
    /// authenticator's client name is encrypted).
    pub fn account(&self) -> Option<String> {
        match self {
            ClientAuth::Ntlm(n) if n.response != NtlmResponse::Anonymous => Some(n.account()),
            _ => None,
        }
    }

    pub fn into_kind(self) -> orthrus_model::ActivityKind {
        match self {
            ClientAuth::Ntlm(n) => orthrus_model::ActivityKind::NtlmAuthenticated(n),
            ClientAuth::Kerberos(k) => orthrus_model::ActivityKind::ServiceAccessed(k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_converts_to_unix_micros() {
        // 2020-01-01T00:00:00Z
        assert_eq!(filetime(132_223_104_000_000_000), Some(Timestamp::from_micros(1_577_836_800_000_000)));
        assert_eq!(filetime(0), Some(Timestamp::from_micros(-FILETIME_UNIX_OFFSET_MICROS)));
    }
}
