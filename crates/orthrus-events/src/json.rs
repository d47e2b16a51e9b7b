//! Windows events as JSON, in the three shapes shippers write:
//!
//! - Winlogbeat and Elastic Agent (ECS): `winlog.{event_id, channel, computer_name,
//!   record_id, provider_name, event_data, user_data}` and `@timestamp`;
//! - PowerShell `Get-WinEvent | ConvertTo-Json`: `Id`, `RecordId`, `TimeCreated`,
//!   `ProviderName`, `LogName`, `MachineName` and positional `Properties[].Value`, named
//!   through [`crate::schema`];
//! - flat objects (NXLog `to_json()`, OTRF Security Datasets): `EventID`, `Channel`,
//!   `Hostname`, `SourceName`/`ProviderName`, `EventTime`/`TimeCreated`, `RecordNumber`, and
//!   every event field as a top-level key.
//!
//! A file is JSON lines, one array of events, or pretty-printed objects one after another. A
//! document that does not parse is counted and skipped, and reading resumes at the next line.

use std::sync::Arc;

use orthrus_model::{Position, Timestamp};
use serde_json::{Map, Value};

use crate::ReadSummary;
use crate::event::{EventData, WindowsEvent, parse_time};
use crate::evtx_json::{number_or_text, text_of};
use crate::schema;

pub fn read(text: &str, file: &Arc<str>, summary: &mut ReadSummary, out: &mut dyn FnMut(WindowsEvent)) {
    if is_json_lines(text) {
        read_lines(text, file, summary, out);
    } else {
        read_stream(text, file, summary, out);
    }
}

/// Whether the text is JSON lines (its first line a whole document), not pretty-printed JSON.
pub fn is_json_lines(text: &str) -> bool {
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str::<Value>(first_line).is_ok()
}

/// JSON lines: every line is its own document, so one bad line costs only itself.
pub(crate) fn read_lines(
    text: &str,
    file: &Arc<str>,
    summary: &mut ReadSummary,
    out: &mut dyn FnMut(WindowsEvent),
) {
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(value) => take_document(value, file, line_number, summary, out),
            Err(e) => summary.skip_with("malformed JSON document", &format!("line {line_number}: {e}")),
        }
    }
}

/// Pretty-printed documents one after another (or one array): parsed as a stream; after an
/// error, reading resumes at the next line.
fn read_stream(text: &str, file: &Arc<str>, summary: &mut ReadSummary, out: &mut dyn FnMut(WindowsEvent)) {
    let mut offset = 0;
    let mut lines = crate::LineCounter::new(text);
    // Bounded: every pass either consumes a document or skips at least one line.
    while let Some(rest) = text.get(offset..) {
        if rest.trim().is_empty() {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        let start = offset;
        match stream.next() {
            Some(Ok(value)) => {
                let line = lines.line_at(start + leading_whitespace(rest));
                offset += stream.byte_offset().max(1);
                take_document(value, file, line, summary, out);
            }
            Some(Err(e)) => {
                summary.skip_with("malformed JSON document", &format!("line {}: {e}", lines.line_at(start)));
                let error_at = start + byte_of_line(rest, e.line());
                offset = match text.get(error_at..).and_then(|t| t.find('\n')) {
                    Some(nl) => error_at + nl + 1,
                    None => text.len(),
                };
            }
            None => break,
        }
    }
}

fn take_document(
    value: Value,
    file: &Arc<str>,
    line: u64,
    summary: &mut ReadSummary,
    out: &mut dyn FnMut(WindowsEvent),
) {
    match value {
        Value::Array(items) => {
            for item in items {
                take(&item, file, line, summary, out);
            }
        }
        value => take(&value, file, line, summary, out),
    }
}

fn take(
    value: &Value,
    file: &Arc<str>,
    line: u64,
    summary: &mut ReadSummary,
    out: &mut dyn FnMut(WindowsEvent),
) {
    match from_value(value, file, Position::Line(line)) {
        Ok(event) => {
            summary.events += 1;
            out(event);
        }
        Err(reason) => summary.skip(reason),
    }
}

fn leading_whitespace(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

/// Byte offset where 1-based `line` starts.
fn byte_of_line(text: &str, line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    text.match_indices('\n').nth(line - 2).map_or(text.len(), |(i, _)| i + 1)
}

/// One JSON event in any of the three shapes.
pub fn from_value(value: &Value, file: &Arc<str>, position: Position) -> Result<WindowsEvent, &'static str> {
    let Value::Object(object) = value else { return Err("JSON value is not an object") };
    if let Some(Value::Object(winlog)) = object.get("winlog") {
        return from_ecs(object, winlog, file, position);
    }
    if object.contains_key("Id") && object.contains_key("Properties") {
        return from_get_winevent(object, file, position);
    }
    from_flat(object, file, position)
}

fn from_ecs(
    object: &Map<String, Value>,
    winlog: &Map<String, Value>,
    file: &Arc<str>,
    position: Position,
) -> Result<WindowsEvent, &'static str> {
    let event_id = winlog
        .get("event_id")
        .or_else(|| object.get("event").and_then(|e| e.get("code")))
        .and_then(number_or_text)
        .ok_or("ECS event without winlog.event_id")?;
    let time = object
        .get("@timestamp")
        .or_else(|| winlog.get("time_created"))
        .and_then(Value::as_str)
        .and_then(parse_time)
        .ok_or("ECS event without a readable @timestamp")?;
    let mut data = EventData::default();
    for section in ["event_data", "user_data"] {
        if let Some(Value::Object(fields)) = winlog.get(section) {
            collect(fields, &mut data);
        }
    }
    let record_id = winlog.get("record_id").and_then(number_or_text);
    let computer = text_of(winlog.get("computer_name"))
        .or_else(|| text_of(object.get("host").and_then(|h| h.get("name"))))
        .unwrap_or_default();
    Ok(WindowsEvent {
        time,
        channel: text_of(winlog.get("channel")).unwrap_or_default(),
        provider: text_of(winlog.get("provider_name")).unwrap_or_default(),
        event_id: u32::try_from(event_id).map_err(|_| "event id out of range")?,
        record_id,
        computer,
        data,
        file: file.clone(),
        position: record_id.map_or(position, Position::Record),
    })
}

fn from_get_winevent(
    object: &Map<String, Value>,
    file: &Arc<str>,
    position: Position,
) -> Result<WindowsEvent, &'static str> {
    let event_id = object.get("Id").and_then(number_or_text).ok_or("Get-WinEvent object without Id")?;
    let event_id = u32::try_from(event_id).map_err(|_| "event id out of range")?;
    let time = object
        .get("TimeCreated")
        .and_then(powershell_time)
        .ok_or("Get-WinEvent object without a readable TimeCreated")?;
    let provider = text_of(object.get("ProviderName")).unwrap_or_default();
    let names = schema::field_names(&provider, event_id);
    let mut data = EventData::default();
    if let Some(Value::Array(properties)) = object.get("Properties") {
        for (i, property) in properties.iter().enumerate() {
            let value = property.get("Value").map_or_else(|| powershell_text(property), powershell_text);
            match names.get(i) {
                Some(name) => data.push(*name, value),
                None => data.push(format!("param{}", i + 1), value),
            }
        }
    }
    let record_id = object.get("RecordId").and_then(number_or_text);
    Ok(WindowsEvent {
        time,
        channel: text_of(object.get("LogName")).unwrap_or_default(),
        provider,
        event_id,
        record_id,
        computer: text_of(object.get("MachineName")).unwrap_or_default(),
        data,
        file: file.clone(),
        position: record_id.map_or(position, Position::Record),
    })
}

/// PowerShell writes dates as `/Date(ms)/` (5.1) or ISO text (7), sometimes wrapped in an
/// object with `value` and `DateTime`.
fn powershell_time(value: &Value) -> Option<Timestamp> {
    match value {
        Value::String(s) => parse_time(s),
        Value::Object(map) => map.get("value").or_else(|| map.get("DateTime")).and_then(powershell_time),
        _ => None,
    }
}

/// Property values: strings and numbers, SIDs as `{"Value": "S-1-…"}`, GUIDs as
/// `{"Guid": "…"}`.
fn powershell_text(value: &Value) -> String {
    match value {
        Value::Object(map) => map
            .get("Value")
            .or_else(|| map.get("Guid"))
            .map(powershell_text)
            .unwrap_or_else(|| text_of(Some(value)).unwrap_or_default()),
        other => text_of(Some(other)).unwrap_or_default(),
    }
}

/// Keys of flat JSON that are the event's envelope, not its data.
const FLAT_ENVELOPE: &[&str] = &[
    "EventID",
    "EventId",
    "Channel",
    "Hostname",
    "Computer",
    "SourceName",
    "ProviderName",
    "EventTime",
    "TimeCreated",
    "@timestamp",
    "RecordNumber",
    "EventRecordID",
    "EventReceivedTime",
    "SourceModuleName",
    "SourceModuleType",
    "Severity",
    "SeverityValue",
    "EventType",
    "Keywords",
    "Opcode",
    "OpcodeValue",
    "Task",
    "Category",
    "Version",
    "ProcessID",
    "ThreadID",
    "Message",
    "ExecutionProcessID",
    "ExecutionThreadID",
];

fn from_flat(
    object: &Map<String, Value>,
    file: &Arc<str>,
    position: Position,
) -> Result<WindowsEvent, &'static str> {
    let event_id = ["EventID", "EventId", "event_id"]
        .iter()
        .find_map(|k| object.get(*k))
        .and_then(number_or_text)
        .ok_or("JSON object is not a Windows event (no EventID, winlog or Id)")?;
    // NXLog's EventTime is the agent's local time without a zone; a shipper's UTC
    // `@timestamp` is then closer to the truth (off by the shipping delay, not by hours).
    let zoned = |text: &str| text.ends_with('Z') || text.get(19..).is_some_and(|t| t.contains(['+', '-']));
    let event_time = object.get("EventTime").and_then(Value::as_str);
    let keys: &[&str] = match event_time {
        Some(t) if !zoned(t) && object.contains_key("@timestamp") => &["@timestamp", "EventTime"],
        _ => &["EventTime", "TimeCreated", "@timestamp", "EventReceivedTime"],
    };
    let time = keys
        .iter()
        .filter_map(|k| object.get(*k))
        .find_map(powershell_time)
        .ok_or("Windows event JSON without a readable EventTime")?;
    let mut data = EventData::default();
    for (name, value) in object {
        if FLAT_ENVELOPE.contains(&name.as_str()) || name.starts_with('@') {
            continue;
        }
        data.push(name.clone(), text_of(Some(value)).unwrap_or_default());
    }
    let record_id =
        ["RecordNumber", "EventRecordID"].iter().find_map(|k| object.get(*k)).and_then(number_or_text);
    let first = |keys: &[&str]| keys.iter().find_map(|k| text_of(object.get(*k))).unwrap_or_default();
    Ok(WindowsEvent {
        time,
        channel: first(&["Channel"]),
        provider: first(&["SourceName", "ProviderName"]),
        event_id: u32::try_from(event_id).map_err(|_| "event id out of range")?,
        record_id,
        computer: first(&["Hostname", "Computer"]),
        data,
        file: file.clone(),
        position: record_id.map_or(position, Position::Record),
    })
}

fn collect(fields: &Map<String, Value>, data: &mut EventData) {
    for (name, value) in fields {
        data.push(name.clone(), text_of(Some(value)).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> (Vec<WindowsEvent>, ReadSummary) {
        let mut events = Vec::new();
        let mut summary = ReadSummary::default();
        read(text, &Arc::from("t.json"), &mut summary, &mut |e| events.push(e));
        (events, summary)
    }

    #[test]
    fn pretty_printed_arrays_and_objects_are_read_as_a_stream() {
        let text = "[\n  {\n    \"EventID\": 4776,\n    \"EventTime\": \"2024-01-01T00:00:00Z\"\n  }\n]\n{\n \"EventID\": 4625, \"EventTime\": \"2024-01-01T00:00:01Z\"\n}\n{ broken\n";
        let (events, summary) = read_all(text);
        assert_eq!(events.iter().map(|e| e.event_id).collect::<Vec<_>>(), [4776, 4625]);
        assert_eq!(events.get(1).map(|e| e.position), Some(Position::Line(7)));
        assert_eq!(summary.skipped.get("malformed JSON document"), Some(&1));
    }

    #[test]
    fn a_broken_line_is_skipped_and_reading_resumes() {
        let text = concat!(
            r#"{"EventID": 4776, "EventTime": "2024-01-01T00:00:00Z", "TargetUserName": "bob"}"#,
            "\n{\"EventID\": 4776, \"EventTime\": \n",
            r#"{"EventID": 4625, "EventTime": "2024-01-01T00:00:01Z", "TargetUserName": "eve"}"#,
            "\n[1, 2]\n"
        );
        let (events, summary) = read_all(text);
        assert_eq!(events.iter().map(|e| e.event_id).collect::<Vec<_>>(), [4776, 4625]);
        assert_eq!(events.get(1).map(|e| e.position), Some(Position::Line(3)));
        assert_eq!(summary.skipped.get("malformed JSON document"), Some(&1));
        assert_eq!(summary.skipped.get("JSON value is not an object"), Some(&2));
    }
}
