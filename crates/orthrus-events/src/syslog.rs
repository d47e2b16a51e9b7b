//! Windows events wrapped in syslog (RFC 3164 or 5424 headers, parsed with `syslog_loose`):
//!
//! - NXLog's `to_json()` body: the flat JSON of [`crate::json`];
//! - Snare's `MSWinEventLog` tab-separated record, whose last text field is the event's
//!   rendered message. The message's labels ("Account Name:", under the "Subject:" or the
//!   "New Logon:" section, …) are mapped back to the event's field names by a table, for the
//!   events Orthrus uses; English renderings only.

use std::sync::Arc;

use orthrus_model::{Position, Timestamp};
use syslog_loose::{Protocol, Variant};

use crate::ReadSummary;
use crate::event::{EventData, WindowsEvent, parse_number};
use crate::json;

/// Whether a line looks like syslog carrying a Windows event.
pub fn looks_like_syslog(line: &str) -> bool {
    let line = line.trim_start();
    // `<PRI>`: one to three digits in angle brackets (an XML tag starts with a letter).
    let priority = line
        .strip_prefix('<')
        .and_then(|rest| rest.split_once('>'))
        .is_some_and(|(pri, _)| (1..=3).contains(&pri.len()) && pri.bytes().all(|b| b.is_ascii_digit()));
    priority || line.contains("MSWinEventLog")
}

pub fn read(text: &str, file: &Arc<str>, summary: &mut ReadSummary, out: &mut dyn FnMut(WindowsEvent)) {
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, file, Position::Line(line_number)) {
            Ok(event) => {
                summary.events += 1;
                out(event);
            }
            Err(reason) => summary.skip_with(reason, &format!("line {line_number}")),
        }
    }
}

/// One syslog line as a Windows event.
pub fn parse_line(line: &str, file: &Arc<str>, position: Position) -> Result<WindowsEvent, &'static str> {
    // Snare's tag sits where RFC 3164 puts the program name, so look for it in the line.
    if let Some(snare) = line.find("MSWinEventLog").and_then(|at| line.get(at..)) {
        return snare_event(snare, file, position);
    }
    // A header the parser cannot take (Snare agents write loose ones) leaves the whole line
    // as the body.
    let (body, hostname, header_time) =
        match syslog_loose::parse_message_with_year_exact(line, |_| 1970, Variant::Either) {
            Ok(message) => {
                let time = match message.protocol {
                    Protocol::RFC5424(_) => {
                        message.timestamp.map(|t| Timestamp::from_micros(t.timestamp_micros()))
                    }
                    Protocol::RFC3164 => None,
                };
                (message.msg, message.hostname, time)
            }
            Err(_) => (line, None, None),
        };
    let body = body.trim();
    if let Some(json_body) = body.find('{').and_then(|at| body.get(at..)) {
        let value: serde_json::Value =
            serde_json::from_str(json_body).map_err(|_| "syslog body is malformed JSON")?;
        let mut event = json::from_value(&value, file, position).or_else(|reason| {
            // NXLog without EventTime: take the header's time when it has a year.
            let (Some(time), serde_json::Value::Object(mut map)) = (header_time, value.clone()) else {
                return Err(reason);
            };
            map.insert("EventTime".into(), serde_json::Value::String(time.to_string()));
            json::from_value(&serde_json::Value::Object(map), file, position)
        })?;
        if event.computer.is_empty() {
            event.computer = hostname.unwrap_or_default().to_owned();
        }
        return Ok(event);
    }
    Err("syslog message carries no Windows event (neither NXLog JSON nor Snare)")
}

/// `MSWinEventLog⇥criticality⇥log⇥counter⇥date⇥id⇥source⇥user⇥sid type⇥event type⇥computer⇥
/// category⇥data⇥message⇥…`
fn snare_event(record: &str, file: &Arc<str>, position: Position) -> Result<WindowsEvent, &'static str> {
    let fields: Vec<&str> = record.split('\t').map(str::trim).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let event_id = parse_number(field(5)).ok_or("Snare record without an event id")?;
    let time = snare_time(field(4)).ok_or("Snare record without a readable date")?;
    let mut data = EventData::default();
    for (name, value) in rendered_fields(field(13)) {
        data.push(name, value);
    }
    Ok(WindowsEvent {
        time,
        channel: field(2).to_owned(),
        provider: field(6).to_owned(),
        event_id: u32::try_from(event_id).map_err(|_| "event id out of range")?,
        record_id: None,
        computer: field(10).to_owned(),
        data,
        file: file.clone(),
        position,
    })
}

/// Snare writes `Tue Mar 02 10:00:00 2021` in the agent's local time (taken as UTC).
fn snare_time(text: &str) -> Option<Timestamp> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, month, day, clock, year] = parts.as_slice() else { return None };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))?
        + 1;
    crate::event::parse_time(&format!("{year}-{month:02}-{:02}T{clock}Z", day.parse::<u32>().ok()?))
}

/// Section headings of rendered Security messages.
const SECTIONS: &[&str] = &[
    "Subject",
    "New Logon",
    "Account For Which Logon Failed",
    "Failure Information",
    "Network Information",
    "Process Information",
    "Detailed Authentication Information",
    "Account Information",
    "Service Information",
    "Additional Information",
    "Target Account",
    "Member",
    "Group",
    "Account Whose Credentials Were Used",
    "Target Server",
    "Object",
    "Operation",
    "Attribute",
    "Directory Service",
    "Task Information",
    "Share Information",
    "Access Request Information",
    "Changed Attributes",
    "Logon Information",
];

/// (section or `*` for any, label, field names).
const LABELS: &[(&str, &str, &[&str])] = &[
    ("Subject", "Security ID", &["SubjectUserSid"]),
    ("Subject", "Account Name", &["SubjectUserName"]),
    ("Subject", "Account Domain", &["SubjectDomainName"]),
    ("Subject", "Domain Name", &["SubjectDomainName"]),
    ("Subject", "Logon ID", &["SubjectLogonId"]),
    ("Member", "Security ID", &["MemberSid"]),
    ("Member", "Account Name", &["MemberName"]),
    ("Group", "Security ID", &["TargetSid"]),
    ("Group", "Group Name", &["TargetUserName"]),
    ("Group", "Group Domain", &["TargetDomainName"]),
    ("Service Information", "Service Name", &["ServiceName"]),
    ("*", "Security ID", &["TargetUserSid"]),
    ("*", "Account Name", &["TargetUserName"]),
    ("*", "Account Domain", &["TargetDomainName"]),
    ("*", "Supplied Realm Name", &["TargetDomainName"]),
    ("*", "Logon ID", &["TargetLogonId"]),
    ("*", "Logon Type", &["LogonType"]),
    ("*", "Logon Account", &["TargetUserName"]),
    ("*", "Source Workstation", &["Workstation"]),
    ("*", "Workstation Name", &["WorkstationName"]),
    ("*", "Source Network Address", &["IpAddress"]),
    ("*", "Source Address", &["IpAddress"]),
    ("*", "Client Address", &["IpAddress"]),
    ("*", "Network Address", &["IpAddress"]),
    ("*", "Source Port", &["IpPort"]),
    ("*", "Client Port", &["IpPort"]),
    ("*", "Status", &["Status"]),
    ("*", "Sub Status", &["SubStatus"]),
    ("*", "Error Code", &["Status"]),
    ("*", "Result Code", &["Status"]),
    ("*", "Failure Code", &["Status"]),
    ("*", "Authentication Package", &["AuthenticationPackageName", "PackageName"]),
    ("*", "Logon Process", &["LogonProcessName"]),
    ("*", "Process Name", &["ProcessName"]),
    ("*", "Ticket Options", &["TicketOptions"]),
    ("*", "Ticket Encryption Type", &["TicketEncryptionType"]),
    ("*", "Pre-Authentication Type", &["PreAuthType"]),
    ("*", "Service Name", &["ServiceName"]),
    ("*", "Service File Name", &["ServiceFileName", "ImagePath"]),
    ("*", "Service Type", &["ServiceType"]),
    ("*", "Service Start Type", &["StartType"]),
    ("*", "Service Account", &["AccountName", "ServiceAccount"]),
    ("*", "Target Server Name", &["TargetServerName"]),
    ("*", "Object Server", &["ObjectServer"]),
    ("*", "Object Type", &["ObjectType"]),
    ("*", "Object Name", &["ObjectName"]),
    ("*", "Access Mask", &["AccessMask"]),
    ("*", "Properties", &["Properties"]),
    ("*", "DN", &["ObjectDN"]),
    ("*", "Class", &["ObjectClass"]),
    ("*", "LDAP Display Name", &["AttributeLDAPDisplayName"]),
    ("*", "Value", &["AttributeValue"]),
    ("Operation", "Type", &["OperationType"]),
    ("*", "Task Name", &["TaskName"]),
    ("*", "Task Content", &["TaskContent"]),
    ("*", "Share Name", &["ShareName"]),
    ("*", "Relative Target Name", &["RelativeTargetName"]),
    ("*", "Privileges", &["PrivilegeList"]),
    ("*", "SID History", &["SidHistory"]),
    ("*", "New Account Name", &["NewTargetUserName"]),
    ("*", "Old Account Name", &["OldTargetUserName"]),
];

/// The named fields of a rendered message, by its labels.
pub fn rendered_fields(message: &str) -> Vec<(&'static str, String)> {
    // Every place a known heading or label followed by ':' starts, in message order.
    let mut marks: Vec<(usize, usize, Option<&'static str>, &'static str)> = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let rest = message.get(at..).unwrap_or_default();
        let boundary = at == 0 || message.get(..at).is_some_and(|b| b.ends_with(char::is_whitespace));
        if boundary {
            let heading = SECTIONS.iter().find(|s| colon_after(rest, s));
            let label =
                LABELS.iter().map(|(_, l, _)| *l).filter(|l| colon_after(rest, l)).max_by_key(|l| l.len());
            let mark = match (heading, label) {
                (Some(h), Some(l)) if l.len() > h.len() => Some((at, at + l.len() + 1, None, l)),
                (Some(h), _) => Some((at, at + h.len() + 1, Some(*h), *h)),
                (None, Some(l)) => Some((at, at + l.len() + 1, None, l)),
                (None, None) => None,
            };
            if let Some(mark) = mark {
                // Continue after the label, so "Status" is not found again inside "Sub Status".
                at = mark.1;
                marks.push(mark);
                continue;
            }
        }
        at += rest.chars().next().map_or(1, char::len_utf8);
    }
    let mut fields = Vec::new();
    let mut section = "";
    for (i, (_, value_start, heading, label)) in marks.iter().enumerate() {
        if let Some(h) = heading {
            section = h;
            continue;
        }
        let value_end = marks.get(i + 1).map_or(message.len(), |m| m.0);
        let value = message.get(*value_start..value_end).unwrap_or_default().trim();
        let names = LABELS
            .iter()
            .find(|(s, l, _)| *l == *label && *s == section)
            .or_else(|| LABELS.iter().find(|(s, l, _)| *l == *label && *s == "*"));
        if let Some((_, _, names)) = names {
            for name in names.iter() {
                if !fields.iter().any(|(n, _)| n == name) {
                    fields.push((*name, value.to_owned()));
                }
            }
        }
    }
    fields
}

fn colon_after(text: &str, label: &str) -> bool {
    text.starts_with(label) && text.get(label.len()..).is_some_and(|r| r.starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snare_rendered_4625_is_mapped_back_to_fields() {
        let line = "<13>Mar  2 10:00:00 DC01 MSWinEventLog\t1\tSecurity\t9\tTue Mar 02 10:00:00 2021\t4625\tMicrosoft-Windows-Security-Auditing\tN/A\tN/A\tFailure Audit\tDC01.corp.example\tLogon\t\tAn account failed to log on.    Subject:   Security ID:  S-1-0-0   Account Name:  -   Account Domain:  -   Logon ID:  0x0    Logon Type:   3    Account For Which Logon Failed:   Security ID:  S-1-0-0   Account Name:  bob   Account Domain:  CORP    Failure Information:   Failure Reason:  Unknown user name or bad password.   Status:   0xC000006D   Sub Status:  0xC000006A    Network Information:   Workstation Name: WS7   Source Network Address: 10.0.0.5   Source Port:  51234\t9";
        let event = parse_line(line, &Arc::from("snare.log"), Position::Line(1));
        let event = event.expect("snare");
        assert_eq!(event.event_id, 4625);
        assert_eq!(event.computer, "DC01.corp.example");
        assert_eq!(event.data.get("SubjectUserName"), None);
        assert_eq!(event.data.get("TargetUserName"), Some("bob"));
        assert_eq!(event.data.get("TargetDomainName"), Some("CORP"));
        assert_eq!(event.data.number("SubStatus"), Some(0xc000_006a));
        assert_eq!(event.data.get("IpAddress"), Some("10.0.0.5"));
        assert_eq!(event.data.get("LogonType"), Some("3"));
        assert_eq!(event.time.to_string(), "2021-03-02T10:00:00Z");
    }

    #[test]
    fn nxlog_json_body_takes_the_header_host_when_it_names_none() {
        let line = r#"<14>1 2021-03-02T10:00:00Z dc02 nxlog - - - {"EventID":4776,"EventTime":"2021-03-02 10:00:00","TargetUserName":"bob","Workstation":"WS7","Status":"0xc000006a"}"#;
        let event = parse_line(line, &Arc::from("nx.log"), Position::Line(1)).expect("nxlog");
        assert_eq!(event.event_id, 4776);
        assert_eq!(event.computer, "dc02");
        assert_eq!(event.data.get("Workstation"), Some("WS7"));
        assert!(parse_line("hello", &Arc::from("x"), Position::Line(1)).is_err());
    }
}
