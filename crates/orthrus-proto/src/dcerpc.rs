//! Connection-oriented DCE-RPC (C706 ch. 12, MS-RPCE §2.2.2): PDU framing, BIND /
//! ALTER_CONTEXT (interface UUID and version per presentation context), BIND_ACK,
//! REQUEST / RESPONSE (opnum, fragments, stub), FAULT, AUTH3, and the auth verifier (auth
//! type and level, the security token: NTLMSSP, SPNEGO or Kerberos). Stubs sealed at
//! privacy level cannot be read and are marked so.
//!
//! Hand-written, zero-copy: no licence-clean passive decoder exists (see crates.md).
//!
//! ```
//! use orthrus_proto::dcerpc;
//! // A DCE-RPC header says its own fragment length (bytes 8..10).
//! let shutdown = [5, 0, 17, 3, 0x10, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0];
//! let pdu = dcerpc::parse_pdu(&shutdown).unwrap();
//! assert_eq!(pdu.header.ptype, dcerpc::ptype::SHUTDOWN);
//! ```

use crate::wire::{Cursor, Record, array_at, slice_at, u8_at, u16_at, u32_at};

/// Largest fragment accepted (frag_length is 16 bits).
pub const MAX_FRAGMENT_LEN: usize = u16::MAX as usize;
const HEADER_LEN: usize = 16;
/// Presentation contexts read from one BIND.
const MAX_CONTEXTS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not DCE-RPC version 5")]
    NotDceRpc,
    #[error("PDU truncated in {0}")]
    Truncated(&'static str),
    #[error("invalid {0}")]
    Invalid(&'static str),
}

impl DecodeError {
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotDceRpc => "not_dcerpc",
            DecodeError::Truncated(_) => "truncated",
            DecodeError::Invalid(what) => what,
        }
    }
}

/// PDU types (C706 §12.6.4).
pub mod ptype {
    pub const REQUEST: u8 = 0;
    pub const RESPONSE: u8 = 2;
    pub const FAULT: u8 = 3;
    pub const BIND: u8 = 11;
    pub const BIND_ACK: u8 = 12;
    pub const BIND_NAK: u8 = 13;
    pub const ALTER_CONTEXT: u8 = 14;
    pub const ALTER_CONTEXT_RESP: u8 = 15;
    pub const AUTH3: u8 = 16;
    pub const SHUTDOWN: u8 = 17;
    pub const CO_CANCEL: u8 = 18;
    pub const ORPHANED: u8 = 19;

    pub fn name(ptype: u8) -> &'static str {
        match ptype {
            REQUEST => "request",
            RESPONSE => "response",
            FAULT => "fault",
            BIND => "bind",
            BIND_ACK => "bind_ack",
            BIND_NAK => "bind_nak",
            ALTER_CONTEXT => "alter_context",
            ALTER_CONTEXT_RESP => "alter_context_resp",
            AUTH3 => "auth3",
            SHUTDOWN => "shutdown",
            CO_CANCEL => "co_cancel",
            ORPHANED => "orphaned",
            _ => "other",
        }
    }
}

/// Authentication service (MS-RPCE §2.2.1.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthType(pub u8);

impl AuthType {
    pub const SPNEGO: Self = Self(9);
    pub const NTLMSSP: Self = Self(10);
    pub const KERBEROS: Self = Self(16);
    pub const NETLOGON: Self = Self(68);

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "none",
            9 => "spnego",
            10 => "ntlmssp",
            14 => "schannel",
            16 => "kerberos",
            68 => "netlogon",
            _ => "other",
        }
    }
}

/// Authentication level (MS-RPCE §2.2.1.1.8). `PRIVACY` seals the stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthLevel(pub u8);

impl AuthLevel {
    pub const PRIVACY: Self = Self(6);

    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "none",
            2 => "connect",
            3 => "call",
            4 => "packet",
            5 => "integrity",
            6 => "privacy",
            _ => "other",
        }
    }
}

/// The common 16-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub ptype: u8,
    pub first_fragment: bool,
    pub last_fragment: bool,
    /// Data representation: little-endian integers (every Windows peer).
    pub little_endian: bool,
    pub frag_len: u16,
    pub auth_len: u16,
    pub call_id: u32,
}

/// The sec_trailer and its token (MS-RPCE §2.2.2.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthVerifier<'a> {
    pub auth_type: AuthType,
    pub auth_level: AuthLevel,
    pub token: &'a [u8],
}

/// An interface and its version: what a presentation context binds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyntaxId {
    pub uuid: [u8; 16],
    pub major: u16,
    pub minor: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextElement {
    pub context_id: u16,
    pub abstract_syntax: SyntaxId,
    /// The (first) transfer syntax offered is NDR64 rather than NDR 2.0.
    pub ndr64: bool,
}

/// NDR64's transfer syntax UUID (71710533-beba-4937-8319-b5dbef9ccc36) as laid out on the wire.
const NDR64_UUID: [u8; 16] =
    [0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49, 0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// BIND or ALTER_CONTEXT.
    Bind {
        contexts: Vec<ContextElement>,
    },
    /// BIND_ACK or ALTER_CONTEXT_RESP: per context, in the BIND's order, the rejection
    /// reason, or `None` when it was accepted (or acknowledged a negotiated feature).
    BindAck {
        rejected: Vec<Option<u16>>,
    },
    BindNak {
        reason: u16,
    },
    Request {
        context_id: u16,
        opnum: u16,
        stub: &'a [u8],
    },
    Response {
        context_id: u16,
        stub: &'a [u8],
    },
    Fault {
        status: u32,
    },
    /// AUTH3 and the PDUs with no body we use.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu<'a> {
    pub header: Header,
    pub body: Body<'a>,
    pub auth: Option<AuthVerifier<'a>>,
}

fn fail<T>(v: Option<T>, what: &'static str) -> Result<T, DecodeError> {
    v.ok_or(DecodeError::Truncated(what))
}

/// Whether these bytes start a CO DCE-RPC PDU (version 5.0 or 5.1, a known type).
pub fn looks_like_pdu(bytes: &[u8]) -> bool {
    matches!(bytes, [5, 0 | 1, t, ..] if *t <= ptype::ORPHANED)
}

/// Splits one fragment off the front of a stream (its header says its length).
pub fn split_pdu(stream: &[u8]) -> Record<'_> {
    if stream.len() < HEADER_LEN {
        return Record::Incomplete { needed: HEADER_LEN - stream.len() };
    }
    if !looks_like_pdu(stream) {
        return Record::Invalid { length: 0 };
    }
    let little = u8_at(stream, 4).is_some_and(|d| d & 0x10 != 0);
    let raw = array_at::<2>(stream, 8).unwrap_or_default();
    let len = usize::from(if little { u16::from_le_bytes(raw) } else { u16::from_be_bytes(raw) });
    if len < HEADER_LEN {
        return Record::Invalid { length: len as u32 };
    }
    match stream.get(..len) {
        Some(message) => Record::Complete { message, consumed: len },
        None => Record::Incomplete { needed: len - stream.len() },
    }
}

/// Decodes one fragment (exactly `frag_length` bytes).
pub fn parse_pdu(pdu: &[u8]) -> Result<Pdu<'_>, DecodeError> {
    if !looks_like_pdu(pdu) {
        return Err(DecodeError::NotDceRpc);
    }
    let flags = fail(u8_at(pdu, 3), "header")?;
    let little_endian = fail(u8_at(pdu, 4), "header")? & 0x10 != 0;
    if !little_endian {
        // Big-endian peers do not exist in Windows networks; decoding them would double
        // every field read for no gain.
        return Err(DecodeError::Invalid("big_endian"));
    }
    let header = Header {
        ptype: fail(u8_at(pdu, 2), "header")?,
        first_fragment: flags & 0x01 != 0,
        last_fragment: flags & 0x02 != 0,
        little_endian,
        frag_len: fail(u16_at(pdu, 8), "header")?,
        auth_len: fail(u16_at(pdu, 10), "header")?,
        call_id: fail(u32_at(pdu, 12), "header")?,
    };
    let pdu = pdu.get(..usize::from(header.frag_len)).ok_or(DecodeError::Truncated("fragment"))?;
    // The verifier is the frag's last 8 + auth_len bytes; padding before it belongs to it.
    let (body_end, auth) = if header.auth_len > 0 {
        let auth_len = usize::from(header.auth_len);
        let trailer = pdu.len().checked_sub(auth_len + 8).ok_or(DecodeError::Invalid("auth_length"))?;
        if trailer < HEADER_LEN {
            return Err(DecodeError::Invalid("auth_length"));
        }
        let pad = usize::from(fail(u8_at(pdu, trailer + 2), "auth")?);
        let verifier = AuthVerifier {
            auth_type: AuthType(fail(u8_at(pdu, trailer), "auth")?),
            auth_level: AuthLevel(fail(u8_at(pdu, trailer + 1), "auth")?),
            token: fail(slice_at(pdu, trailer + 8, auth_len), "auth")?,
        };
        (trailer.saturating_sub(pad).max(HEADER_LEN), Some(verifier))
    } else {
        (pdu.len(), None)
    };
    let body = pdu.get(HEADER_LEN..body_end).unwrap_or_default();
    let object_uuid = flags & 0x80 != 0;
    let body = match header.ptype {
        ptype::BIND | ptype::ALTER_CONTEXT => bind(body)?,
        ptype::BIND_ACK | ptype::ALTER_CONTEXT_RESP => bind_ack(body)?,
        ptype::BIND_NAK => Body::BindNak { reason: fail(u16_at(body, 0), "bind_nak")? },
        ptype::REQUEST => {
            let stub_at = if object_uuid { 24 } else { 8 };
            Body::Request {
                context_id: fail(u16_at(body, 4), "request")?,
                opnum: fail(u16_at(body, 6), "request")?,
                stub: fail(body.get(stub_at..), "request")?,
            }
        }
        ptype::RESPONSE => Body::Response {
            context_id: fail(u16_at(body, 4), "response")?,
            stub: fail(body.get(8..), "response")?,
        },
        ptype::FAULT => Body::Fault { status: fail(u32_at(body, 8), "fault")? },
        _ => Body::Other,
    };
    Ok(Pdu { header, body, auth })
}

fn syntax(c: &mut Cursor<'_>) -> Option<SyntaxId> {
    Some(SyntaxId { uuid: c.array::<16>()?, major: c.u16()?, minor: c.u16()? })
}

fn bind(body: &[u8]) -> Result<Body<'_>, DecodeError> {
    let mut c = Cursor::new(body);
    fail(c.skip(8), "bind")?; // max_xmit_frag, max_recv_frag, assoc_group_id
    let count = usize::from(fail(c.u8(), "bind")?);
    fail(c.skip(3), "bind")?;
    let mut contexts = Vec::with_capacity(count.min(MAX_CONTEXTS));
    for _ in 0..count.min(MAX_CONTEXTS) {
        let context_id = fail(c.u16(), "bind_context")?;
        let transfer_syntaxes = usize::from(fail(c.u8(), "bind_context")?);
        fail(c.skip(1), "bind_context")?;
        let abstract_syntax = fail(syntax(&mut c), "bind_context")?;
        let transfer = fail(c.take(20 * transfer_syntaxes), "bind_context")?;
        let ndr64 = transfer.first_chunk::<16>() == Some(&NDR64_UUID);
        contexts.push(ContextElement { context_id, abstract_syntax, ndr64 });
    }
    Ok(Body::Bind { contexts })
}

fn bind_ack(body: &[u8]) -> Result<Body<'_>, DecodeError> {
    let mut c = Cursor::new(body);
    fail(c.skip(8), "bind_ack")?;
    // The secondary address (a port string), then alignment to 4.
    let addr_len = usize::from(fail(c.u16(), "bind_ack")?);
    fail(c.skip(addr_len), "bind_ack")?;
    // Alignment is relative to the PDU start, 16 bytes before the body.
    fail(c.align(4), "bind_ack")?;
    let count = usize::from(fail(c.u8(), "bind_ack")?);
    fail(c.skip(3), "bind_ack")?;
    // Result 0 is acceptance, 3 the acknowledgement of bind-time feature negotiation; 1 and 2
    // are rejections, with their reason.
    let rejected = (0..count.min(MAX_CONTEXTS))
        .map_while(|_| {
            let result = c.u16()?;
            let reason = c.u16()?;
            c.skip(20)?;
            Some(matches!(result, 1 | 2).then_some(reason))
        })
        .collect();
    Ok(Body::BindAck { rejected })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(ptype: u8, body: &[u8], auth: Option<(u8, u8, &[u8])>) -> Vec<u8> {
        let auth_len = auth.map_or(0, |a| a.2.len());
        let mut p = vec![5, 0, ptype, 3, 0x10, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0];
        p.extend_from_slice(body);
        if let Some((t, l, token)) = auth {
            let pad = (4 - p.len() % 4) % 4;
            p.extend(std::iter::repeat_n(0, pad));
            p.extend_from_slice(&[t, l, pad as u8, 0, 0, 0, 0, 0]);
            p.extend_from_slice(token);
        }
        let len = p.len() as u16;
        p[8..10].copy_from_slice(&len.to_le_bytes());
        p[10..12].copy_from_slice(&(auth_len as u16).to_le_bytes());
        p
    }

    #[test]
    fn request_with_privacy_verifier() {
        let mut body = vec![0, 0, 0, 0, 1, 0, 3, 0];
        body.extend_from_slice(&[0xee; 13]);
        let bytes = pdu(ptype::REQUEST, &body, Some((10, 6, &[0xab; 16])));
        let p = parse_pdu(&bytes).unwrap();
        assert_eq!(p.header.call_id, 7);
        let Body::Request { context_id: 1, opnum: 3, stub } = p.body else { panic!("{:?}", p.body) };
        assert_eq!(stub, &[0xee; 13][..]);
        let auth = p.auth.unwrap();
        assert_eq!((auth.auth_type, auth.auth_level), (AuthType::NTLMSSP, AuthLevel::PRIVACY));
        assert_eq!(auth.token, &[0xab; 16][..]);
    }

    #[test]
    fn framing_and_hostile_lengths() {
        let bytes = pdu(ptype::SHUTDOWN, &[], None);
        assert_eq!(split_pdu(&bytes), Record::Complete { message: &bytes[..], consumed: 16 });
        assert_eq!(split_pdu(&bytes[..10]), Record::Incomplete { needed: 6 });
        let mut short = bytes.clone();
        short[8] = 3;
        assert!(matches!(split_pdu(&short), Record::Invalid { .. }));
        // An auth length larger than the fragment.
        let mut bad = pdu(ptype::REQUEST, &[0; 8], None);
        bad[10] = 0xff;
        assert!(parse_pdu(&bad).is_err());
        assert!(parse_pdu(&[5, 0, 0]).is_err());
    }
}
