//! SMB2/3 (MS-SMB2 §2.2) over NBSS framing (RFC 1002 §4.3 on TCP 139; MS-SMB2 §2.1 direct
//! TCP on 445): the subset a passive identity sensor needs. Headers (sync and async,
//! compound chains), NEGOTIATE, SESSION_SETUP (the security blob), TREE_CONNECT (share
//! path), CREATE (file and pipe names, the FileId), CLOSE, READ/WRITE/IOCTL (the bytes
//! carried on named pipes), and status codes. An SMB3 transform header means the message
//! is encrypted: recorded, not decoded. SMB1 is recognised (legacy negotiation) and not
//! decoded further.
//!
//! Hand-written and zero-copy: the existing SMB crates are clients (see crates.md).
//!
//! ```
//! use orthrus_proto::smb2::{self, Packet};
//! // An SMB1 NEGOTIATE offering one dialect.
//! let mut smb1 = b"\xffSMB\x72".to_vec();
//! smb1.extend_from_slice(&[0; 27]);
//! smb1.extend_from_slice(b"\0\x0c\0\x02NT LM 0.12\0");
//! let Ok(Packet::Smb1 { command: 0x72, dialects, .. }) = smb2::parse_packet(&smb1) else { panic!() };
//! assert_eq!(dialects, ["NT LM 0.12"]);
//! ```

pub use orthrus_model::NtStatus;

use crate::wire::{Record, array_at, slice_at, u8_at, u16_at, u32_at, u64_at, utf16le};

/// Largest NBSS message accepted (the 24-bit length allows 16 MiB; SMB3 multi-credit
/// messages stay below 8 MiB).
pub const MAX_MESSAGE_LEN: usize = 16 << 20;
/// Messages followed in one compound chain.
const MAX_COMPOUND: usize = 64;
const HEADER_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not an SMB message")]
    NotSmb,
    #[error("message truncated in {0}")]
    Truncated(&'static str),
    #[error("invalid {0}")]
    Invalid(&'static str),
}

impl DecodeError {
    /// A stable, bounded reason for statistics.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotSmb => "not_smb",
            DecodeError::Truncated(_) => "truncated",
            DecodeError::Invalid(what) => what,
        }
    }
}

/// Splits one NBSS session message off the front of a stream. Keep-alives and other
/// session-service packets come back as empty messages.
pub fn split_nbss(stream: &[u8]) -> Record<'_> {
    let Some(head) = stream.first_chunk::<4>() else {
        return Record::Incomplete { needed: 4 - stream.len() };
    };
    let [kind, hi, mid, lo] = *head;
    // Session message (0x00) or keep-alive (0x85) and friends; RFC 1002 uses one extension
    // bit of the length, direct TCP three full bytes.
    if !matches!(kind, 0x00 | 0x81..=0x85) {
        return Record::Invalid { length: u32::from_be_bytes(*head) };
    }
    let len = (usize::from(hi) << 16) | (usize::from(mid) << 8) | usize::from(lo);
    if len > MAX_MESSAGE_LEN {
        return Record::Invalid { length: len as u32 };
    }
    match stream.get(4..4 + len) {
        Some(message) if kind == 0x00 => Record::Complete { message, consumed: 4 + len },
        Some(_) => Record::Complete { message: &[], consumed: 4 + len },
        None => Record::Incomplete { needed: 4 + len - stream.len() },
    }
}

/// SMB2 command codes (MS-SMB2 §2.2.1).
pub mod command {
    pub const NEGOTIATE: u16 = 0;
    pub const SESSION_SETUP: u16 = 1;
    pub const LOGOFF: u16 = 2;
    pub const TREE_CONNECT: u16 = 3;
    pub const TREE_DISCONNECT: u16 = 4;
    pub const CREATE: u16 = 5;
    pub const CLOSE: u16 = 6;
    pub const READ: u16 = 8;
    pub const WRITE: u16 = 9;
    pub const IOCTL: u16 = 11;

    /// A bounded name for statistics.
    pub fn name(code: u16) -> &'static str {
        match code {
            NEGOTIATE => "negotiate",
            SESSION_SETUP => "session_setup",
            LOGOFF => "logoff",
            TREE_CONNECT => "tree_connect",
            TREE_DISCONNECT => "tree_disconnect",
            CREATE => "create",
            CLOSE => "close",
            7 => "flush",
            READ => "read",
            WRITE => "write",
            10 => "lock",
            IOCTL => "ioctl",
            12 => "cancel",
            13 => "echo",
            14 => "query_directory",
            15 => "change_notify",
            16 => "query_info",
            17 => "set_info",
            18 => "oplock_break",
            _ => "other",
        }
    }
}

/// FSCTL_PIPE_TRANSCEIVE: one write-then-read on a named pipe (how RPC calls travel).
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_c017;

/// The 64-byte SMB2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub command: u16,
    pub status: NtStatus,
    pub is_response: bool,
    pub is_async: bool,
    pub signed: bool,
    pub message_id: u64,
    /// Zero in async headers.
    pub tree_id: u32,
    pub session_id: u64,
}

/// A file handle (persistent + volatile halves).
pub type FileId = [u8; 16];

/// The decoded body, for the commands Orthrus follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    NegotiateRequest {
        dialects: Vec<u16>,
        signing_required: bool,
    },
    NegotiateResponse {
        dialect: u16,
        signing_required: bool,
        security_blob: &'a [u8],
    },
    SessionSetupRequest {
        security_blob: &'a [u8],
        previous_session_id: u64,
    },
    SessionSetupResponse {
        security_blob: &'a [u8],
        guest: bool,
        anonymous: bool,
    },
    TreeConnectRequest {
        path: String,
    },
    TreeConnectResponse {
        share_type: u8,
    },
    CreateRequest {
        name: String,
        desired_access: u32,
        disposition: u32,
    },
    CreateResponse {
        file_id: FileId,
    },
    Close {
        file_id: FileId,
    },
    ReadRequest {
        file_id: FileId,
    },
    ReadResponse {
        data: &'a [u8],
    },
    WriteRequest {
        file_id: FileId,
        offset: u64,
        data: &'a [u8],
    },
    IoctlRequest {
        ctl_code: u32,
        file_id: FileId,
        input: &'a [u8],
    },
    IoctlResponse {
        ctl_code: u32,
        file_id: FileId,
        output: &'a [u8],
    },
    /// An error response (or a command we do not decode).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub header: Header,
    pub body: Body<'a>,
}

/// What one NBSS message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// One SMB2 message or a compound chain of them. A member that fails to decode ends the
    /// chain; the error is returned beside the members before it.
    Smb2 { messages: Vec<Message<'a>>, error: Option<DecodeError> },
    /// SMB3 encrypted (transform header): session id only.
    Encrypted { session_id: u64 },
    /// SMB3.1.1 compressed (compression transform header).
    Compressed,
    /// SMB1 (legacy): the command, and for NEGOTIATE the dialects offered (request) or the
    /// index of the one chosen (response).
    Smb1 { command: u8, is_response: bool, dialects: Vec<String>, chosen: Option<u16> },
}

/// Decodes the contents of one NBSS session message.
pub fn parse_packet(msg: &[u8]) -> Result<Packet<'_>, DecodeError> {
    match msg.first_chunk::<4>() {
        Some(b"\xfeSMB") => {}
        Some(b"\xfdSMB") => {
            // Transform header: ProtocolId, Signature[16], Nonce[16], OriginalMessageSize,
            // Reserved, Flags/EncryptionAlgorithm, SessionId.
            let session_id = u64_at(msg, 44).ok_or(DecodeError::Truncated("transform_header"))?;
            return Ok(Packet::Encrypted { session_id });
        }
        Some(b"\xfcSMB") => return Ok(Packet::Compressed),
        Some(b"\xffSMB") => return smb1(msg),
        _ => return Err(DecodeError::NotSmb),
    }
    let mut messages = Vec::new();
    let mut at = 0usize;
    let mut error = None;
    for _ in 0..MAX_COMPOUND {
        let Some(rest) = msg.get(at..) else { break };
        let next = u32_at(rest, 20).unwrap_or(0) as usize;
        let one = if next == 0 { rest } else { rest.get(..next).unwrap_or(rest) };
        match parse_message(one) {
            Ok(m) => messages.push(m),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
        // NextCommand is 8-byte aligned and always moves forward.
        if next < HEADER_LEN || !next.is_multiple_of(8) {
            break;
        }
        at += next;
    }
    if messages.is_empty() {
        return Err(error.unwrap_or(DecodeError::Truncated("header")));
    }
    Ok(Packet::Smb2 { messages, error })
}

/// SMB1 (MS-CIFS §2.2.4.52): a NEGOTIATE's dialect strings or chosen index; other commands
/// by their code only.
fn smb1(msg: &[u8]) -> Result<Packet<'_>, DecodeError> {
    const NEGOTIATE: u8 = 0x72;
    let command = u8_at(msg, 4).ok_or(DecodeError::Truncated("smb1_header"))?;
    let is_response = u8_at(msg, 9).ok_or(DecodeError::Truncated("smb1_header"))? & 0x80 != 0;
    let (mut dialects, mut chosen) = (Vec::new(), None);
    if command == NEGOTIATE && is_response {
        // WordCount, then DialectIndex.
        chosen = u16_at(msg, 33);
    } else if command == NEGOTIATE {
        let count = usize::from(u16_at(msg, 33).unwrap_or(0));
        let bytes = msg.get(35..35 + count).or_else(|| msg.get(35..)).unwrap_or_default();
        dialects = bytes
            .split(|b| *b == 0)
            .filter_map(|d| d.strip_prefix(&[0x02]))
            .take(32)
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect();
    }
    Ok(Packet::Smb1 { command, is_response, dialects, chosen })
}

/// Decodes one SMB2 message (header and body), `msg` bounded to it.
pub fn parse_message(msg: &[u8]) -> Result<Message<'_>, DecodeError> {
    let header = parse_header(msg)?;
    let body = msg.get(HEADER_LEN..).ok_or(DecodeError::Truncated("header"))?;
    let body = parse_body(&header, msg, body)?;
    Ok(Message { header, body })
}

/// The 64-byte SMB2 header at the start of `msg`.
fn parse_header(msg: &[u8]) -> Result<Header, DecodeError> {
    if msg.get(..4) != Some(b"\xfeSMB") {
        return Err(DecodeError::NotSmb);
    }
    let truncated = || DecodeError::Truncated("header");
    if u16_at(msg, 4) != Some(64) {
        return Err(DecodeError::Invalid("header_size"));
    }
    let status = NtStatus(u32_at(msg, 8).ok_or_else(truncated)?);
    let command = u16_at(msg, 12).ok_or_else(truncated)?;
    let flags = u32_at(msg, 16).ok_or_else(truncated)?;
    let is_async = flags & 0x2 != 0;
    Ok(Header {
        command,
        status,
        is_response: flags & 0x1 != 0,
        is_async,
        signed: flags & 0x8 != 0,
        message_id: u64_at(msg, 24).ok_or_else(truncated)?,
        tree_id: if is_async { 0 } else { u32_at(msg, 36).ok_or_else(truncated)? },
        session_id: u64_at(msg, 40).ok_or_else(truncated)?,
    })
}

/// A successful READ response known from its start only (its data too large to keep): the
/// message id it answers and its data length.
pub fn read_response_head(head: &[u8]) -> Option<(u64, u64)> {
    let header = parse_header(head).ok()?;
    if header.command != command::READ || !header.is_response || header.status != NtStatus::SUCCESS {
        return None;
    }
    Some((header.message_id, u64::from(u32_at(head, HEADER_LEN + 4)?)))
}

/// A buffer given as (offset from the start of the SMB2 header, length).
fn buffer<'a>(msg: &'a [u8], offset: usize, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
    if len == 0 {
        return Ok(&[]);
    }
    slice_at(msg, offset, len).ok_or(DecodeError::Truncated(what))
}

fn field<T>(v: Option<T>, what: &'static str) -> Result<T, DecodeError> {
    v.ok_or(DecodeError::Truncated(what))
}

fn parse_body<'a>(header: &Header, msg: &'a [u8], body: &'a [u8]) -> Result<Body<'a>, DecodeError> {
    let structure_size = u16_at(body, 0).unwrap_or(0);
    // An error response has StructureSize 9 whatever the command (session setup's own
    // response is 9 too, but an error status never carries it); STATUS_MORE_PROCESSING_REQUIRED
    // is a session setup leg with its real body.
    let error_body = header.is_response
        && header.status.is_error()
        && header.status != NtStatus::MORE_PROCESSING_REQUIRED
        && structure_size == 9;
    if error_body {
        return Ok(Body::Other);
    }
    let resp = header.is_response;
    Ok(match (header.command, resp) {
        (command::NEGOTIATE, false) => {
            let count = usize::from(field(u16_at(body, 2), "negotiate")?).min(64);
            let mode = field(u16_at(body, 4), "negotiate")?;
            let dialects = (0..count).map_while(|i| u16_at(body, 36 + 2 * i)).collect();
            Body::NegotiateRequest { dialects, signing_required: mode & 0x2 != 0 }
        }
        (command::NEGOTIATE, true) => {
            let mode = field(u16_at(body, 2), "negotiate")?;
            let dialect = field(u16_at(body, 4), "negotiate")?;
            let off = usize::from(field(u16_at(body, 56), "negotiate")?);
            let len = usize::from(field(u16_at(body, 58), "negotiate")?);
            Body::NegotiateResponse {
                dialect,
                signing_required: mode & 0x2 != 0,
                security_blob: buffer(msg, off, len, "negotiate_blob").unwrap_or_default(),
            }
        }
        (command::SESSION_SETUP, false) => {
            let off = usize::from(field(u16_at(body, 12), "session_setup")?);
            let len = usize::from(field(u16_at(body, 14), "session_setup")?);
            Body::SessionSetupRequest {
                security_blob: buffer(msg, off, len, "session_setup_blob")?,
                previous_session_id: u64_at(body, 16).unwrap_or(0),
            }
        }
        (command::SESSION_SETUP, true) => {
            let flags = field(u16_at(body, 2), "session_setup")?;
            let off = usize::from(field(u16_at(body, 4), "session_setup")?);
            let len = usize::from(field(u16_at(body, 6), "session_setup")?);
            Body::SessionSetupResponse {
                security_blob: buffer(msg, off, len, "session_setup_blob").unwrap_or_default(),
                guest: flags & 0x1 != 0,
                anonymous: flags & 0x2 != 0,
            }
        }
        (command::TREE_CONNECT, false) => {
            let off = usize::from(field(u16_at(body, 4), "tree_connect")?);
            let len = usize::from(field(u16_at(body, 6), "tree_connect")?);
            Body::TreeConnectRequest { path: utf16le(buffer(msg, off, len, "tree_connect_path")?) }
        }
        (command::TREE_CONNECT, true) => {
            Body::TreeConnectResponse { share_type: field(u8_at(body, 2), "tree_connect")? }
        }
        (command::CREATE, false) => {
            let off = usize::from(field(u16_at(body, 44), "create")?);
            let len = usize::from(field(u16_at(body, 46), "create")?);
            Body::CreateRequest {
                name: utf16le(buffer(msg, off, len, "create_name")?),
                desired_access: field(u32_at(body, 24), "create")?,
                disposition: field(u32_at(body, 36), "create")?,
            }
        }
        (command::CREATE, true) => Body::CreateResponse { file_id: field(array_at(body, 64), "create")? },
        (command::CLOSE, false) => Body::Close { file_id: field(array_at(body, 8), "close")? },
        (command::READ, false) => Body::ReadRequest { file_id: field(array_at(body, 16), "read")? },
        (command::READ, true) => {
            let off = usize::from(field(u8_at(body, 2), "read")?);
            let len = field(u32_at(body, 4), "read")? as usize;
            Body::ReadResponse { data: buffer(msg, off, len, "read_data")? }
        }
        (command::WRITE, false) => {
            let off = usize::from(field(u16_at(body, 2), "write")?);
            let len = field(u32_at(body, 4), "write")? as usize;
            Body::WriteRequest {
                file_id: field(array_at(body, 16), "write")?,
                offset: field(crate::wire::u64_at(body, 8), "write")?,
                data: buffer(msg, off, len, "write_data")?,
            }
        }
        (command::IOCTL, false) => {
            let off = field(u32_at(body, 24), "ioctl")? as usize;
            let len = field(u32_at(body, 28), "ioctl")? as usize;
            Body::IoctlRequest {
                ctl_code: field(u32_at(body, 4), "ioctl")?,
                file_id: field(array_at(body, 8), "ioctl")?,
                input: buffer(msg, off, len, "ioctl_input")?,
            }
        }
        (command::IOCTL, true) => {
            let off = field(u32_at(body, 32), "ioctl")? as usize;
            let len = field(u32_at(body, 36), "ioctl")? as usize;
            Body::IoctlResponse {
                ctl_code: field(u32_at(body, 4), "ioctl")?,
                file_id: field(array_at(body, 8), "ioctl")?,
                output: buffer(msg, off, len, "ioctl_output")?,
            }
        }
        _ => Body::Other,
    })
}

/// The dialect's usual name (MS-SMB2 §2.2.3).
pub fn dialect_name(dialect: u16) -> &'static str {
    match dialect {
        0x0202 => "2.0.2",
        0x0210 => "2.1",
        0x0300 => "3.0",
        0x0302 => "3.0.2",
        0x0311 => "3.1.1",
        0x02ff => "2.x (multi-protocol)",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(command: u16, response: bool, status: u32) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\xfeSMB");
        h[4] = 64;
        h[8..12].copy_from_slice(&status.to_le_bytes());
        h[12..14].copy_from_slice(&command.to_le_bytes());
        h[16] = u8::from(response);
        h[24] = 7;
        h[36] = 5;
        h[40] = 9;
        h
    }

    #[test]
    fn nbss_framing() {
        assert_eq!(
            split_nbss(&[0, 0, 0, 2, 0xfe, 0x53, 9]),
            Record::Complete { message: &[0xfe, 0x53], consumed: 6 }
        );
        assert_eq!(split_nbss(&[0, 0, 1]), Record::Incomplete { needed: 1 });
        assert_eq!(split_nbss(&[0x85, 0, 0, 0]), Record::Complete { message: &[], consumed: 4 });
        assert!(matches!(split_nbss(&[0x42, 0, 0, 0]), Record::Invalid { .. }));
    }

    #[test]
    fn tree_connect_request_path() {
        let mut m = header(command::TREE_CONNECT, false, 0);
        let path: Vec<u8> = "\\\\dc1\\IPC$".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let mut body = vec![9, 0, 0, 0];
        body.extend_from_slice(&72u16.to_le_bytes());
        body.extend_from_slice(&(path.len() as u16).to_le_bytes());
        m.extend_from_slice(&body);
        m.extend_from_slice(&path);
        let msg = parse_message(&m).unwrap();
        assert_eq!(msg.header.message_id, 7);
        assert_eq!(msg.header.tree_id, 5);
        assert_eq!(msg.header.session_id, 9);
        assert_eq!(msg.body, Body::TreeConnectRequest { path: "\\\\dc1\\IPC$".into() });
    }

    #[test]
    fn error_responses_and_bad_offsets_do_not_panic() {
        let mut m = header(command::CREATE, true, 0xc000_0022);
        m.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse_message(&m).unwrap().body, Body::Other);
        let mut m = header(command::WRITE, false, 0);
        m.extend_from_slice(&[49, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        m.extend_from_slice(&[0; 40]);
        assert!(parse_message(&m).is_err());
        assert!(parse_message(&m[..30]).is_err());
    }

    #[test]
    fn compound_chain_is_followed_and_bounded() {
        let mut first = header(command::CLOSE, false, 0);
        first.extend_from_slice(&[24, 0, 0, 0, 0, 0, 0, 0]);
        first.extend_from_slice(&[0xaa; 16]);
        let len = first.len() as u32;
        first[20..24].copy_from_slice(&len.to_le_bytes());
        let mut second = header(command::CLOSE, false, 0);
        second.extend_from_slice(&[24, 0, 0, 0, 0, 0, 0, 0]);
        second.extend_from_slice(&[0xbb; 16]);
        first.extend_from_slice(&second);
        let Ok(Packet::Smb2 { messages, error: None }) = parse_packet(&first) else { panic!() };
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].body, Body::Close { file_id: [0xbb; 16] });
    }
}
