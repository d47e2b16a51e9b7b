//! Samba's JSON audit log (`log level = auth_json_audit:3 dsdb_json_audit:5
//! dsdb_password_json_audit:5 dsdb_group_json_audit:5`, or the `*.audit.jsonl` files the lab
//! writes): a Samba domain controller's equivalent of the Security log.
//!
//! Each record becomes the Windows event a Windows DC would have logged for the same act, so
//! the rest of Orthrus handles Samba and Windows DCs alike:
//!
//! | Samba record | Windows event |
//! |---|---|
//! | Authentication, Kerberos KDC, success or unknown user | 4768 (`PreAuthType` 2 for ENC-TS, 0 when none was given) |
//! | Authentication, Kerberos KDC, wrong password | 4771 (`0x18`) |
//! | Authentication, NTLMSSP over SMB2 / LDAP / DCE-RPC | 4776, with the address and carrier |
//! | Authentication, LDAP simple bind and others | 4624 / 4625 |
//! | groupChange Added / Removed | 4728 / 4729 (or the id Samba gives: 4732, 4756, …) |
//! | passwordChange Reset / Change | 4724 / 4723 |
//! | dsdbChange Add / Modify / Delete | 5137 / one 5136 per attribute value / 5141 |
//! | dsdbChange Add of a `trustedDomain` (LSA creating a trust) | 5137 and 4706, with the partner, type, direction and attributes |
//!
//! Samba names no computer in a record; the DC's own address (`localAddress`) becomes the
//! destination, and the reader carries what the log says of itself from record to record
//! ([`LogState`]): the DC's own name, learned where Samba writes it (an LDAP simple bind's
//! `workstation` and an NTLM or simple-bind authorization's `logonServer` are the server's
//! NetBIOS name, never the client's), and who each session authenticated as, so that a change
//! made in the session names its actor (Windows' 4728 names its subject; Samba gives only the
//! SID).
//! Lines may carry a log prefix before the JSON (`JSON Authentication: {…}` in log.samba).

use std::collections::HashMap;
use std::sync::Arc;

use orthrus_model::Position;
use serde_json::{Map, Value};

use crate::ReadSummary;
use crate::event::{EventData, WindowsEvent, parse_time};
use crate::evtx_json::text_of;

const TYPES: [&str; 6] =
    ["Authentication", "Authorization", "dsdbChange", "dsdbTransaction", "groupChange", "passwordChange"];

/// Whether a line is a Samba audit record.
pub fn is_audit_line(line: &str) -> bool {
    line.contains("\"timestamp\"")
        && line.contains("\"type\"")
        && TYPES.iter().any(|t| {
            line.contains(&format!("\"type\": \"{t}\"")) || line.contains(&format!("\"type\":\"{t}\""))
        })
}

/// Bounds on what one log's reading remembers: sessions (a busy DC opens thousands an hour;
/// past the bound the oldest are forgotten and their changes name the actor by SID, as Samba
/// does) and addresses of the DC itself (a DC has a handful).
const MAX_SESSIONS: usize = 65_536;
const MAX_OWN_ADDRESSES: usize = 64;

/// An account as a Samba authorization record names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SessionAccount {
    domain: String,
    account: String,
    sid: String,
}

/// What one Samba log has said of itself so far (see the module's documentation).
#[derive(Default)]
pub struct LogState {
    sessions: HashMap<String, SessionAccount>,
    /// Session ids in the order they were learned, to forget the oldest first.
    session_order: std::collections::VecDeque<String>,
    /// The DC's own NetBIOS name at each of its addresses (`localAddress` without the port).
    own_names: HashMap<String, String>,
}

impl LogState {
    fn learn_session(&mut self, id: String, account: SessionAccount) {
        if id.is_empty() || account.account.is_empty() {
            return;
        }
        if self.sessions.insert(id.clone(), account).is_none() {
            self.session_order.push_back(id);
            if self.session_order.len() > MAX_SESSIONS
                && let Some(oldest) = self.session_order.pop_front()
            {
                self.sessions.remove(&oldest);
            }
        }
    }

    fn learn_own_name(&mut self, local_address: Option<&str>, name: &str) {
        let (Some(address), name) = (local_address.map(address_only), name.trim()) else { return };
        if address.is_empty() || name.is_empty() {
            return;
        }
        if self.own_names.len() < MAX_OWN_ADDRESSES || self.own_names.contains_key(address) {
            self.own_names.insert(address.to_owned(), name.to_ascii_uppercase());
        }
    }

    /// The DC that logged a record: the name learned for its local address, else the one name
    /// this log has given itself (records without a local address, as the KDC's, come from the
    /// same DC); nothing when the log named more than one.
    fn computer(&self, local_address: Option<&str>) -> String {
        if let Some(name) = local_address.map(address_only).and_then(|a| self.own_names.get(a)) {
            return name.clone();
        }
        let mut names = self.own_names.values();
        match names.next() {
            Some(first) if names.all(|n| n == first) => first.clone(),
            _ => String::new(),
        }
    }
}

/// `ipv4:10.0.0.1:389` → `10.0.0.1`; `ipv6:fd00::1:389` → `fd00::1`.
fn address_only(text: &str) -> &str {
    let rest = text.strip_prefix("ipv4:").or_else(|| text.strip_prefix("ipv6:")).unwrap_or(text);
    let ip = match rest.rsplit_once(':') {
        Some((ip, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => rest,
    };
    ip.trim_start_matches('[').trim_end_matches(']')
}

pub fn read(text: &str, file: &Arc<str>, summary: &mut ReadSummary, out: &mut dyn FnMut(WindowsEvent)) {
    read_with_state(text, file, &mut LogState::default(), summary, out);
}

/// [`read`], carrying what the log said of itself from the text read before (a log read a
/// slice at a time).
pub fn read_with_state(
    text: &str,
    file: &Arc<str>,
    state: &mut LogState,
    summary: &mut ReadSummary,
    out: &mut dyn FnMut(WindowsEvent),
) {
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u64 + 1;
        let Some(json) = line.find('{').and_then(|start| line.get(start..)) else {
            if !line.trim().is_empty() {
                summary.skip("line without a Samba audit record");
            }
            continue;
        };
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(record)) => {
                let position = Position::Line(line_number);
                convert(&record, file, position, state, summary, out);
            }
            Ok(_) => summary.skip("Samba audit line is not an object"),
            Err(e) => summary.skip_with("malformed Samba audit record", &format!("line {line_number}: {e}")),
        }
    }
}

/// One Samba audit record as zero or more Windows events.
pub fn convert(
    record: &Map<String, Value>,
    file: &Arc<str>,
    position: Position,
    state: &mut LogState,
    summary: &mut ReadSummary,
    out: &mut dyn FnMut(WindowsEvent),
) {
    let Some(kind) = record.get("type").and_then(Value::as_str) else {
        summary.skip("Samba audit record without a type");
        return;
    };
    let Some(Value::Object(body)) = record.get(kind) else {
        summary.skip("Samba audit record without a body");
        return;
    };
    let Some(time) = record.get("timestamp").and_then(Value::as_str).and_then(parse_time) else {
        summary.skip("Samba audit record without a readable timestamp");
        return;
    };
    let mut emitted: Vec<(u32, EventData)> = Vec::new();
    let mut emit = |event_id: u32, data: EventData| emitted.push((event_id, data));
    let text = |name: &str| text_of(body.get(name)).filter(|s| !s.is_empty());
    let mut data = EventData::default();
    let local_address = text("localAddress");
    add_address(&mut data, text("remoteAddress").as_deref(), "IpAddress", "IpPort");
    add_address(&mut data, local_address.as_deref(), "DestinationIp", "DestinationPort");
    // A change made in a session the log authorized: its actor by name, beside Samba's SID
    // (when the record gives a SID, only if the session's is the same).
    let session = text("sessionId").and_then(|id| state.sessions.get(&id));
    let record_sid = text("userSid");
    if let Some(known) =
        session.filter(|k| record_sid.as_ref().is_none_or(|sid| sid.eq_ignore_ascii_case(&k.sid)))
    {
        data.push("SubjectUserName", known.account.clone());
        data.push("SubjectDomainName", known.domain.clone());
    }
    match kind {
        "Authentication" => {
            let status = text("status").unwrap_or_default();
            let code = nt_status(&status);
            let service = text("serviceDescription").unwrap_or_default();
            let method = text("authDescription").unwrap_or_default();
            let account = text("clientAccount").unwrap_or_default();
            if service == "Kerberos KDC" {
                let (user, realm) = account.split_once('@').unwrap_or((account.as_str(), ""));
                data.push("TargetUserName", user);
                data.push("TargetDomainName", realm);
                data.push("ServiceName", "krbtgt");
                let etype = text("passwordType").and_then(|p| etype_number(&p));
                let pre_auth = match method.as_str() {
                    "ENC-TS Pre-authentication" => "2",
                    m if m.contains("PKINIT") => "16",
                    "Unknown Pre-authentication" => "0",
                    _ => "",
                };
                data.push("PreAuthType", pre_auth);
                if let Some(etype) = etype {
                    data.push("TicketEncryptionType", format!("{etype:#x}"));
                }
                match code {
                    0xc000_006a => {
                        data.push("Status", "0x18");
                        emit(4771, data);
                    }
                    _ => {
                        data.push("Status", format!("{:#x}", kerberos_code(code)));
                        emit(4768, data);
                    }
                }
            } else if method == "NTLMSSP" {
                data.push("PackageName", "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0");
                data.push("TargetUserName", account);
                data.push("TargetDomainName", text("clientDomain").unwrap_or_default());
                data.push("Workstation", text("workstation").unwrap_or_default());
                data.push("Status", format!("{code:#x}"));
                data.push("Carrier", service);
                data.push("NtlmVersion", text("passwordType").unwrap_or_default());
                emit(4776, data);
            } else {
                // A simple bind's `workstation` is the DC's own name (the client sends none).
                let workstation = text("workstation").unwrap_or_default();
                let client_workstation = if method == "simple bind" {
                    state.learn_own_name(local_address.as_deref(), &workstation);
                    String::new()
                } else {
                    workstation
                };
                data.push("TargetUserName", account);
                data.push("TargetDomainName", text("clientDomain").unwrap_or_default());
                data.push("TargetUserSid", text("becameSid").unwrap_or_default());
                data.push("LogonType", text("logonType").unwrap_or_default());
                data.push("AuthenticationPackageName", method);
                data.push("WorkstationName", client_workstation);
                data.push("Carrier", service);
                if code == 0 {
                    emit(4624, data);
                } else {
                    data.push("Status", format!("{code:#x}"));
                    emit(4625, data);
                }
            }
        }
        "groupChange" => {
            let action = text("action").unwrap_or_default();
            let event_id = match (action.as_str(), body.get("eventId").and_then(Value::as_u64)) {
                (_, Some(id)) if matches!(id, 4728 | 4729 | 4732 | 4733 | 4756 | 4757) => id,
                ("Added", _) => 4728,
                ("Removed", _) => 4729,
                _ => {
                    summary.skip("Samba group change Orthrus does not use (primary group)");
                    return;
                }
            };
            if !succeeded(body) {
                summary.skip("Samba change that failed");
                return;
            }
            let group = text("group").unwrap_or_default();
            data.push("MemberName", text("user").unwrap_or_default());
            data.push("TargetUserName", first_rdn(&group));
            data.push("GroupDn", group);
            data.push("SubjectUserSid", text("userSid").unwrap_or_default());
            emit(u32::try_from(event_id).unwrap_or(4728), data);
        }
        "passwordChange" => {
            let event_id = match text("action").as_deref() {
                Some("Reset") => 4724,
                Some("Change") => 4723,
                _ => {
                    summary.skip("Samba password action Orthrus does not use");
                    return;
                }
            };
            let dn = text("dn").unwrap_or_default();
            data.push("TargetUserName", first_rdn(&dn));
            data.push("ObjectDN", dn);
            data.push("SubjectUserSid", text("userSid").unwrap_or_default());
            data.push("Status", if succeeded(body) { "0x0" } else { "0xc0000022" });
            emit(event_id, data);
        }
        "dsdbChange" => {
            if !succeeded(body) {
                summary.skip("Samba change that failed");
                return;
            }
            let dn = text("dn").unwrap_or_default();
            data.push("ObjectDN", dn);
            data.push("SubjectUserSid", text("userSid").unwrap_or_default());
            let attributes = body.get("attributes").and_then(Value::as_object);
            match text("operation").as_deref() {
                Some("Add") => {
                    let class = attributes
                        .and_then(|a| a.get("objectClass"))
                        .and_then(|c| attribute_values(c).last().map(|(_, v)| v.clone()));
                    let trust = class.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("trustedDomain"));
                    data.push("ObjectClass", class.unwrap_or_default());
                    if trust {
                        emit(4706, trust_created(&data, attributes));
                    }
                    emit(5137, data);
                }
                Some("Delete") => emit(5141, data),
                Some("Modify") => {
                    let mut any = false;
                    for (name, change) in attributes.into_iter().flatten() {
                        if BOOKKEEPING.iter().any(|b| b.eq_ignore_ascii_case(name)) {
                            continue;
                        }
                        for (action, value) in attribute_values(change) {
                            let mut one = data.clone();
                            one.push("AttributeLDAPDisplayName", name.clone());
                            one.push("AttributeValue", value);
                            one.push("OperationType", if action == "delete" { "%%14675" } else { "%%14674" });
                            emit(5136, one);
                            any = true;
                        }
                    }
                    if !any {
                        summary.skip("Samba logon bookkeeping change (lastLogon, badPwdCount, …)");
                    }
                }
                _ => summary.skip("Samba directory operation Orthrus does not use"),
            }
        }
        "Authorization" => {
            let account = SessionAccount {
                domain: text("domain").unwrap_or_default(),
                account: text("account").unwrap_or_default(),
                sid: text("sid").unwrap_or_default(),
            };
            state.learn_session(text("sessionId").unwrap_or_default(), account);
            // The server that validated an NTLM or simple-bind logon is this DC itself; a
            // Kerberos session's `logonServer` comes from the ticket's PAC, which another DC
            // (or a forger) wrote.
            if matches!(text("authType").as_deref(), Some("NTLMSSP" | "simple bind")) {
                state.learn_own_name(local_address.as_deref(), &text("logonServer").unwrap_or_default());
            }
            summary.skip("Samba authorization record (session detail, read for names)");
        }
        _ => summary.skip("Samba audit record Orthrus does not use"),
    }
    let computer = state.computer(local_address.as_deref());
    for (event_id, data) in emitted {
        summary.events += 1;
        out(WindowsEvent {
            time,
            channel: "Samba".to_owned(),
            provider: format!("Samba {kind}"),
            event_id,
            record_id: None,
            computer: computer.clone(),
            data,
            file: file.clone(),
            position,
        });
    }
}

/// Attributes the DC rewrites on every logon: not changes anyone made.
const BOOKKEEPING: [&str; 6] =
    ["lastLogon", "lastLogonTimestamp", "logonCount", "badPwdCount", "badPasswordTime", "lastLogoff"];

fn succeeded(body: &Map<String, Value>) -> bool {
    body.get("statusCode").and_then(Value::as_u64).is_none_or(|c| c == 0)
}

/// A Windows DC's 4706 for a trusted domain object Samba added: the LSA calls that create a
/// trust (LsarCreateTrustedDomain and its Ex forms) write the object, and Samba's audit of the
/// write carries what 4706 says.
fn trust_created(data: &EventData, attributes: Option<&Map<String, Value>>) -> EventData {
    let mut trust = data.clone();
    let first = |name: &str| {
        attributes
            .and_then(|a| a.get(name))
            .and_then(|c| attribute_values(c).into_iter().next())
            .map(|(_, v)| v)
    };
    let fields = [
        ("DomainName", "trustPartner"),
        ("TdoType", "trustType"),
        ("TdoDirection", "trustDirection"),
        ("TdoAttributes", "trustAttributes"),
    ];
    for (field, attribute) in fields {
        if let Some(value) = first(attribute) {
            trust.push(field, value);
        }
    }
    trust
}

/// `(action, value)` for every value of an attribute change; redacted secrets have no value.
fn attribute_values(change: &Value) -> Vec<(String, String)> {
    let mut values = Vec::new();
    for action in change.get("actions").and_then(Value::as_array).into_iter().flatten() {
        let name = text_of(action.get("action")).unwrap_or_default();
        let items = action.get("values").and_then(Value::as_array).cloned().unwrap_or_default();
        if items.is_empty() {
            values.push((name.clone(), String::new()));
        }
        for item in items {
            let value = text_of(item.get("value").or_else(|| item.get("base64"))).unwrap_or_default();
            values.push((name.clone(), value));
        }
    }
    values
}

/// `ipv4:10.0.0.1:445`, `ipv6:fd00::1:445` → address and port fields.
fn add_address(data: &mut EventData, text: Option<&str>, ip_field: &str, port_field: &str) {
    let Some(text) = text else { return };
    let rest = text.strip_prefix("ipv4:").or_else(|| text.strip_prefix("ipv6:")).unwrap_or(text);
    let port = match rest.rsplit_once(':') {
        Some((_, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => port,
        _ => "",
    };
    data.push(ip_field, address_only(text));
    if !port.is_empty() {
        data.push(port_field, port);
    }
}

/// `CN=Domain Admins,CN=Users,DC=corp` → `Domain Admins`.
pub fn first_rdn(dn: &str) -> String {
    let first = dn.split(',').next().unwrap_or_default();
    first.split_once('=').map_or(first, |(_, v)| v).to_owned()
}

/// Samba's NT status names as codes.
fn nt_status(name: &str) -> u32 {
    match name {
        "NT_STATUS_OK" => 0,
        "NT_STATUS_ACCESS_DENIED" => 0xc000_0022,
        "NT_STATUS_NO_SUCH_USER" => 0xc000_0064,
        "NT_STATUS_WRONG_PASSWORD" => 0xc000_006a,
        "NT_STATUS_LOGON_FAILURE" => 0xc000_006d,
        "NT_STATUS_ACCOUNT_RESTRICTION" => 0xc000_006e,
        "NT_STATUS_INVALID_LOGON_HOURS" => 0xc000_006f,
        "NT_STATUS_INVALID_WORKSTATION" => 0xc000_0070,
        "NT_STATUS_PASSWORD_EXPIRED" => 0xc000_0071,
        "NT_STATUS_ACCOUNT_DISABLED" => 0xc000_0072,
        "NT_STATUS_ACCOUNT_EXPIRED" => 0xc000_0193,
        "NT_STATUS_PASSWORD_MUST_CHANGE" => 0xc000_0224,
        "NT_STATUS_ACCOUNT_LOCKED_OUT" => 0xc000_0234,
        _ => 0xc000_0001,
    }
}

/// The Kerberos error a Windows KDC would have logged in 4768 for an NT status.
fn kerberos_code(status: u32) -> u32 {
    match status {
        0 => 0,
        0xc000_0064 => 6,
        0xc000_0072 | 0xc000_0234 | 0xc000_0193 | 0xc000_006f | 0xc000_0070 => 0x12,
        0xc000_0071 | 0xc000_0224 => 0x17,
        0xc000_006a | 0xc000_006d => 0x18,
        _ => 0x3c,
    }
}

fn etype_number(name: &str) -> Option<u32> {
    Some(match name {
        "des-cbc-crc" => 1,
        "des-cbc-md5" => 3,
        "aes128-cts-hmac-sha1-96" => 17,
        "aes256-cts-hmac-sha1-96" => 18,
        "arcfour-hmac-md5" | "arcfour-hmac" | "rc4-hmac" => 23,
        _ => return None,
    })
}
