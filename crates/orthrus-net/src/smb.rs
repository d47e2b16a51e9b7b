//! SMB2/3 sessions over TCP 445 and 139: session setup (NTLM or Kerberos identity and the
//! server's verdict), tree connects, file and pipe opens, and the DCE-RPC conversations
//! carried on named pipes (WRITE/READ and FSCTL_PIPE_TRANSCEIVE), into activities.

use std::collections::BTreeMap;

use foldhash::HashMap;
use orthrus_model::{
    Activity, ActivityKind, AuthOutcome, Carrier, FileAccess, FileRead, NtStatus, PolicyFileWrite,
    Provenance, ShareAccess, SmbEncryptedSession, SmbNegotiation, TenantId,
};
use orthrus_proto::dcerpc;
use orthrus_proto::smb2::{self, Body, FileId, Message, Packet, command};

use crate::auth::{ClientAuth, client_auth};
use crate::context::{Origin, Seen};
use crate::framing::Reframer;
use crate::rpc::{Conversation, Delivery, RpcCounters};
use crate::stats::DecodeStats;
use crate::tcp::{Direction, StreamEvent};
use crate::tracker::Tracker;

/// Bytes of one direction buffered while an NBSS message completes. Larger messages (bulk
/// file reads and writes) are passed over: nothing Orthrus reads is that large.
const MAX_MESSAGE_BUFFER: usize = 1 << 20;
/// Requests one connection may have outstanding.
const MAX_PENDING: usize = 1024;
/// Sessions, trees and open files followed per connection.
const MAX_PER_CONNECTION: usize = 4096;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SmbCounters {
    pub commands: BTreeMap<&'static str, u64>,
    pub encrypted_messages: u64,
    pub compressed_messages: u64,
    pub smb1_messages: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

impl SmbCounters {
    fn count_error(&mut self, reason: &'static str) {
        *self.errors.entry(reason).or_default() += 1;
    }
}

enum Pending {
    SessionSetup {
        auth: ClientAuth,
        seen: Seen,
        at: Provenance,
    },
    TreeConnect {
        path: String,
        seen: Seen,
        at: Provenance,
    },
    Create {
        name: String,
        tree_id: u32,
        desired_access: u32,
        seen: Seen,
        at: Provenance,
    },
    /// A READ on a pipe or file: its response carries no FileId.
    Read {
        file_id: FileId,
    },
}

struct OpenFile {
    rpc: Option<Conversation>,
    session_id: u64,
    /// A Group Policy registry file being written: its bytes until CLOSE.
    policy: Option<PolicyWrite>,
    /// A file (not a pipe): what was read from it until CLOSE.
    reads: Option<FileReads>,
}

/// The READ responses of one open file.
struct FileReads {
    share: Option<String>,
    name: String,
    bytes: u64,
    reads: u64,
    seen: Seen,
    /// The CREATE's frames, then the first READ responses' (bounded).
    provenance: Vec<Provenance>,
}

/// READ responses cited per file read.
const MAX_READ_FRAMES: usize = 16;

impl FileReads {
    fn count(&mut self, length: u64, at: Provenance) {
        self.bytes = self.bytes.saturating_add(length);
        self.reads = self.reads.saturating_add(1);
        if self.provenance.len() < MAX_READ_FRAMES {
            self.provenance.push(at);
        }
    }

    fn into_activity(self, origin: &Origin, user: Option<String>) -> Activity {
        let read =
            FileRead { share: self.share, name: self.name, user, bytes: self.bytes, reads: self.reads };
        origin.activity(&self.seen, self.provenance, ActivityKind::FileRead(read))
    }
}

/// The writes to one open `Registry.pol` (bounded; offsets beyond the bound are counted, not
/// kept).
struct PolicyWrite {
    share: Option<String>,
    name: String,
    data: Vec<u8>,
    bytes: u64,
    seen: Seen,
    provenance: Vec<Provenance>,
}

/// Bytes of one policy file kept (Registry.pol files are a few KiB).
const MAX_POLICY_FILE: usize = 1 << 20;
/// Settings listed per policy file.
const MAX_POLICY_SETTINGS: usize = 256;

impl PolicyWrite {
    fn write(&mut self, offset: u64, data: &[u8], at: Provenance) {
        self.bytes = self.bytes.saturating_add(data.len() as u64);
        if self.provenance.len() < 16 {
            self.provenance.push(at);
        }
        let Ok(start) = usize::try_from(offset) else { return };
        let Some(end) = start.checked_add(data.len()).filter(|e| *e <= MAX_POLICY_FILE) else { return };
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        if let Some(slot) = self.data.get_mut(start..end) {
            slot.copy_from_slice(data);
        }
    }

    fn into_activity(self, origin: &Origin, user: Option<String>) -> Activity {
        let settings = orthrus_proto::preg::parse(&self.data)
            .map(|entries| {
                entries
                    .into_iter()
                    .take(MAX_POLICY_SETTINGS)
                    .map(|e| format!("{}\\{} = {}", e.key, e.value, e.data))
                    .collect()
            })
            .unwrap_or_default();
        let write = PolicyFileWrite { share: self.share, name: self.name, user, bytes: self.bytes, settings };
        origin.activity(&self.seen, self.provenance, ActivityKind::PolicyFileWritten(write))
    }
}

impl OpenFile {
    /// The file is closed (or its connection ended): the pipe's pending calls and a written
    /// policy file are reported.
    fn close(
        self,
        origin: &Origin,
        user: Option<String>,
        counters: &mut RpcCounters,
        out: &mut dyn FnMut(Activity),
    ) {
        if let Some(mut rpc) = self.rpc {
            rpc.finish(origin, user.as_deref(), counters, out);
        }
        if let Some(policy) = self.policy.filter(|p| p.bytes > 0) {
            out(policy.into_activity(origin, user.clone()));
        }
        if let Some(reads) = self.reads.filter(|r| r.bytes > 0) {
            out(reads.into_activity(origin, user));
        }
    }
}

/// Whether an opened file is a Group Policy registry file.
fn is_policy_file(name: &str) -> bool {
    name.rsplit(['\\', '/']).next().is_some_and(|f| f.eq_ignore_ascii_case("registry.pol"))
}

#[derive(Default)]
struct Connection {
    frames: Reframer,
    /// Session id → the account its NTLM logon named.
    sessions: HashMap<u64, Option<String>>,
    trees: HashMap<u32, String>,
    files: HashMap<FileId, OpenFile>,
    pending: HashMap<u64, Pending>,
    /// Sessions already reported as encrypted.
    encrypted: foldhash::HashSet<u64>,
    /// The client's NEGOTIATE (SMB1 or SMB2) until the server answers.
    negotiation: Option<(SmbNegotiation, Seen, Provenance)>,
}

impl Connection {
    /// A pipe opened before the capture began (a transceive, or DCE-RPC written to an
    /// unknown handle) is followed from here, its name unknown.
    fn adopt_pipe(&mut self, file_id: FileId, session_id: u64) {
        if !self.files.contains_key(&file_id) && self.files.len() < MAX_PER_CONNECTION {
            self.files.insert(
                file_id,
                OpenFile { rpc: Some(Conversation::pipe(None)), session_id, policy: None, reads: None },
            );
        }
    }
}

pub struct SmbTracker {
    origin: Origin,
    connections: HashMap<u64, Connection>,
    pub counters: SmbCounters,
    pub rpc_counters: RpcCounters,
    /// Dynamic RPC endpoints learned from endpoint-mapper answers on pipes.
    pub learned: Vec<(std::net::IpAddr, u16)>,
}

impl SmbTracker {
    pub fn new(tenant: TenantId, sensor: std::sync::Arc<str>) -> Self {
        Self {
            origin: Origin::new(tenant, sensor),
            connections: HashMap::default(),
            counters: SmbCounters::default(),
            rpc_counters: RpcCounters::default(),
            learned: Vec::new(),
        }
    }

    fn packet(&mut self, conn: &mut Connection, msg: &[u8], seen: &Seen, out: &mut dyn FnMut(Activity)) {
        match smb2::parse_packet(msg) {
            Ok(Packet::Smb2 { messages, error }) => {
                if let Some(e) = error {
                    self.counters.count_error(e.reason());
                }
                for m in messages {
                    *self.counters.commands.entry(command::name(m.header.command)).or_default() += 1;
                    self.message(conn, m, seen, out);
                }
            }
            Ok(Packet::Encrypted { session_id }) => {
                self.counters.encrypted_messages += 1;
                if conn.encrypted.len() < MAX_PER_CONNECTION && conn.encrypted.insert(session_id) {
                    let session = SmbEncryptedSession {
                        session_id: format!("{session_id:#018x}"),
                        user: conn.sessions.get(&session_id).cloned().flatten(),
                    };
                    let provenance = vec![self.origin.at(seen.frame)];
                    out(self.origin.activity(seen, provenance, ActivityKind::SmbSessionEncrypted(session)));
                }
            }
            Ok(Packet::Compressed) => self.counters.compressed_messages += 1,
            Ok(Packet::Smb1 { command, is_response, dialects, chosen }) => {
                self.counters.smb1_messages += 1;
                const NEGOTIATE: u8 = 0x72;
                if command != NEGOTIATE {
                    return;
                }
                if !is_response {
                    let offer = SmbNegotiation {
                        smb1_offered: true,
                        offered: dialects,
                        dialect: None,
                        smb1_chosen: false,
                        signing_required: None,
                    };
                    conn.negotiation = Some((offer, seen.clone(), self.origin.at(seen.frame)));
                } else if let Some((mut n, req, at)) = conn.negotiation.take() {
                    n.dialect = chosen.and_then(|i| n.offered.get(usize::from(i)).cloned());
                    n.smb1_chosen = n.dialect.is_some();
                    let provenance = vec![at, self.origin.at(seen.frame)];
                    out(self.origin.activity(&req, provenance, ActivityKind::SmbNegotiated(n)));
                }
            }
            Err(e) => self.counters.count_error(e.reason()),
        }
    }

    /// A READ response whose data was passed over for its size: its length still counts.
    fn large_read(&mut self, conn: &mut Connection, message_id: u64, length: u64, seen: &Seen) {
        let Some(Pending::Read { file_id }) = conn.pending.remove(&message_id) else { return };
        if let Some(reads) = conn.files.get_mut(&file_id).and_then(|f| f.reads.as_mut()) {
            reads.count(length, self.origin.at(seen.frame));
        }
    }

    fn message(&mut self, conn: &mut Connection, m: Message<'_>, seen: &Seen, out: &mut dyn FnMut(Activity)) {
        let h = m.header;
        let at = self.origin.at(seen.frame);
        if !h.is_response {
            let pending = match m.body {
                Body::SessionSetupRequest { security_blob, .. } => {
                    match client_auth(security_blob, Carrier::Smb) {
                        Ok(Some(auth)) => Some(Pending::SessionSetup { auth, seen: seen.clone(), at }),
                        Ok(None) => None,
                        Err(reason) => {
                            self.counters.count_error(reason);
                            None
                        }
                    }
                }
                Body::NegotiateRequest { dialects, signing_required } => {
                    let offer = SmbNegotiation {
                        smb1_offered: false,
                        offered: dialects.iter().map(|d| smb2::dialect_name(*d).to_owned()).collect(),
                        dialect: None,
                        smb1_chosen: false,
                        signing_required: Some(signing_required),
                    };
                    conn.negotiation = Some((offer, seen.clone(), at));
                    None
                }
                Body::TreeConnectRequest { path } => {
                    Some(Pending::TreeConnect { path, seen: seen.clone(), at })
                }
                Body::CreateRequest { name, desired_access, .. } => {
                    Some(Pending::Create { name, tree_id: h.tree_id, desired_access, seen: seen.clone(), at })
                }
                // Every open file follows its reads: a pipe's as RPC, a file's as bytes.
                Body::ReadRequest { file_id } => {
                    conn.files.contains_key(&file_id).then_some(Pending::Read { file_id })
                }
                Body::WriteRequest { file_id, offset, data } => {
                    if let Some(policy) = conn.files.get_mut(&file_id).and_then(|f| f.policy.as_mut()) {
                        policy.write(offset, data, at);
                    } else {
                        if dcerpc::looks_like_pdu(data) {
                            conn.adopt_pipe(file_id, h.session_id);
                        }
                        self.pipe_data(conn, file_id, Direction::ToServer, data, seen, out);
                    }
                    None
                }
                Body::IoctlRequest { ctl_code: smb2::FSCTL_PIPE_TRANSCEIVE, file_id, input } => {
                    conn.adopt_pipe(file_id, h.session_id);
                    self.pipe_data(conn, file_id, Direction::ToServer, input, seen, out);
                    None
                }
                Body::Close { file_id } => {
                    if let Some(file) = conn.files.remove(&file_id) {
                        let user = conn.sessions.get(&file.session_id).cloned().flatten();
                        file.close(&self.origin, user, &mut self.rpc_counters, out);
                    }
                    None
                }
                _ => None,
            };
            if let Some(p) = pending {
                if conn.pending.len() >= MAX_PENDING {
                    self.counters.count_error("pending_requests_overflow");
                    conn.pending.clear();
                }
                conn.pending.insert(h.message_id, p);
            }
            return;
        }
        // Interim answers (STATUS_PENDING) come again with the final status.
        if h.is_async && h.status == NtStatus::PENDING {
            return;
        }
        if let Body::NegotiateResponse { dialect, signing_required, .. } = m.body
            && let Some((mut n, req, at)) = conn.negotiation.take()
        {
            n.dialect = Some(smb2::dialect_name(dialect).to_owned());
            n.signing_required = Some(signing_required || n.signing_required == Some(true));
            out(self.origin.activity(
                &req,
                vec![at, self.origin.at(seen.frame)],
                ActivityKind::SmbNegotiated(n),
            ));
            return;
        }
        match (conn.pending.remove(&h.message_id), m.body) {
            (Some(Pending::SessionSetup { mut auth, seen: req, at }), _) => {
                let status = h.status;
                let outcome = if status == NtStatus::SUCCESS {
                    if conn.sessions.len() < MAX_PER_CONNECTION {
                        conn.sessions.insert(h.session_id, auth.account());
                    }
                    AuthOutcome::Succeeded
                } else if status.is_error() && h.status != NtStatus::MORE_PROCESSING_REQUIRED {
                    AuthOutcome::Failed { status }
                } else {
                    AuthOutcome::Unknown
                };
                auth.set_outcome(outcome);
                out(self.origin.activity(&req, vec![at, self.origin.at(seen.frame)], auth.into_kind()));
            }
            (Some(Pending::TreeConnect { path, seen: req, at }), _) => {
                if h.status == NtStatus::SUCCESS && conn.trees.len() < MAX_PER_CONNECTION {
                    conn.trees.insert(h.tree_id, path.clone());
                }
                let access = ShareAccess {
                    path,
                    user: conn.sessions.get(&h.session_id).cloned().flatten(),
                    status: Some(h.status),
                };
                out(self.origin.activity(
                    &req,
                    vec![at, self.origin.at(seen.frame)],
                    ActivityKind::ShareOpened(access),
                ));
            }
            (Some(Pending::Create { name, tree_id, desired_access, seen: req, at }), body) => {
                let share = conn.trees.get(&tree_id).cloned();
                let pipe = share.as_deref().is_some_and(is_ipc_share);
                if let Body::CreateResponse { file_id } = body
                    && h.status == NtStatus::SUCCESS
                    && conn.files.len() < MAX_PER_CONNECTION
                {
                    let rpc = pipe.then(|| Conversation::pipe(Some(name.clone())));
                    let policy = (!pipe && is_policy_file(&name)).then(|| PolicyWrite {
                        share: share.clone(),
                        name: name.clone(),
                        data: Vec::new(),
                        bytes: 0,
                        seen: req.clone(),
                        provenance: Vec::new(),
                    });
                    let reads = (!pipe).then(|| FileReads {
                        share: share.clone(),
                        name: name.clone(),
                        bytes: 0,
                        reads: 0,
                        seen: req.clone(),
                        provenance: vec![at.clone(), self.origin.at(seen.frame)],
                    });
                    conn.files.insert(file_id, OpenFile { rpc, session_id: h.session_id, policy, reads });
                }
                let access = FileAccess {
                    share,
                    name,
                    pipe,
                    desired_access,
                    user: conn.sessions.get(&h.session_id).cloned().flatten(),
                    status: Some(h.status),
                };
                out(self.origin.activity(
                    &req,
                    vec![at, self.origin.at(seen.frame)],
                    ActivityKind::FileOpened(access),
                ));
            }
            (Some(Pending::Read { file_id }), Body::ReadResponse { data }) => {
                match conn.files.get_mut(&file_id).and_then(|f| f.reads.as_mut()) {
                    Some(reads) => reads.count(data.len() as u64, self.origin.at(seen.frame)),
                    None => self.pipe_data(conn, file_id, Direction::ToClient, data, seen, out),
                }
            }
            (_, Body::IoctlResponse { ctl_code: smb2::FSCTL_PIPE_TRANSCEIVE, file_id, output }) => {
                self.pipe_data(conn, file_id, Direction::ToClient, output, seen, out);
            }
            _ => {}
        }
    }

    fn pipe_data(
        &mut self,
        conn: &mut Connection,
        file_id: FileId,
        dir: Direction,
        data: &[u8],
        seen: &Seen,
        out: &mut dyn FnMut(Activity),
    ) {
        let Some(file) = conn.files.get_mut(&file_id) else { return };
        let Some(rpc) = &mut file.rpc else { return };
        let user = conn.sessions.get(&file.session_id).cloned().flatten();
        let mut delivery = Delivery {
            origin: &self.origin,
            seen,
            session_user: user.as_deref(),
            counters: &mut self.rpc_counters,
            learned: &mut self.learned,
        };
        rpc.feed(dir, data, &mut delivery, out);
    }
}

/// `\\server\IPC$`: the share named pipes live on.
fn is_ipc_share(path: &str) -> bool {
    path.rsplit('\\').next().is_some_and(|share| share.eq_ignore_ascii_case("IPC$"))
}

impl Tracker for SmbTracker {
    fn take_endpoints(&mut self, into: &mut Vec<(std::net::IpAddr, u16)>) {
        into.append(&mut self.learned);
    }

    fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    fn stream(&mut self, event: StreamEvent<'_>, ts_micros: i64, out: &mut dyn FnMut(Activity)) {
        match event {
            StreamEvent::Data { flow, pair, dir, bytes, frame } => {
                let seen = Seen::tcp(pair, ts_micros, frame);
                let mut conn = self.connections.remove(&flow).unwrap_or_default();
                let mut frames = std::mem::take(&mut conn.frames);
                let mut large_reads = Vec::new();
                let result = frames.feed_noting_oversized(
                    dir,
                    bytes,
                    MAX_MESSAGE_BUFFER,
                    smb2::split_nbss,
                    &mut |msg| {
                        if !msg.is_empty() {
                            self.packet(&mut conn, msg, &seen, out);
                        }
                    },
                    // A READ response too large to keep is still counted from its header.
                    &mut |head| large_reads.extend(head.get(4..).and_then(smb2::read_response_head)),
                );
                conn.frames = frames;
                for (message_id, length) in large_reads {
                    self.large_read(&mut conn, message_id, length, &seen);
                }
                if let Err(e) = result {
                    self.counters.count_error(e.reason());
                }
                self.connections.insert(flow, conn);
            }
            StreamEvent::Gap { flow, dir, .. } => {
                if let Some(conn) = self.connections.get_mut(&flow) {
                    conn.frames.gap(dir);
                    for file in conn.files.values_mut() {
                        if let Some(rpc) = &mut file.rpc {
                            rpc.gap(dir, &mut self.rpc_counters);
                        }
                    }
                }
            }
            StreamEvent::Closed { flow, .. } => {
                if let Some(conn) = self.connections.remove(&flow) {
                    // By file id: a hash map's order would differ from run to run.
                    let mut files: Vec<(FileId, OpenFile)> = conn.files.into_iter().collect();
                    files.sort_unstable_by_key(|(id, _)| *id);
                    for (_, file) in files {
                        let user = conn.sessions.get(&file.session_id).cloned().flatten();
                        file.close(&self.origin, user, &mut self.rpc_counters, out);
                    }
                }
            }
        }
    }

    fn stats(&self, stats: &mut DecodeStats) {
        let s = stats.section("smb");
        for (name, value) in &self.counters.commands {
            s.counters.insert(name, *value);
        }
        s.counters.insert("encrypted_messages", self.counters.encrypted_messages);
        s.counters.insert("compressed_messages", self.counters.compressed_messages);
        s.counters.insert("smb1_messages", self.counters.smb1_messages);
        s.errors = self.counters.errors.clone();

        self.rpc_counters.add_to(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipc_share_by_last_component() {
        assert!(is_ipc_share("\\\\10.99.0.10\\IPC$"));
        assert!(is_ipc_share("\\\\dc1.lab.test\\ipc$"));
        assert!(!is_ipc_share("\\\\dc1\\C$"));
    }
}
