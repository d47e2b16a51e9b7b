//! An EVTX record as the `evtx` crate renders it to JSON, as a [`WindowsEvent`]: the reading of
//! records whose template or values only rendering gets right, and the reference the
//! template-based reading is checked against.

use std::sync::Arc;

use orthrus_model::{Position, Timestamp};
use serde_json::{Map, Value};

use crate::event::{EventData, WindowsEvent, parse_number, parse_time};

/// One record as the crate renders it to JSON (`{"Event": {"System": …, "EventData": …}}`).
pub fn from_json(value: &Value, time: Timestamp, record_id: u64, file: &Arc<str>) -> Option<WindowsEvent> {
    let event = value.get("Event")?;
    let system = event.get("System")?;
    let event_id = system.get("EventID").and_then(number_or_text)?;
    let provider = system
        .get("Provider")
        .and_then(|p| p.get("#attributes"))
        .and_then(|a| a.get("Name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let time = system
        .get("TimeCreated")
        .and_then(|t| t.get("#attributes"))
        .and_then(|a| a.get("SystemTime"))
        .and_then(Value::as_str)
        .and_then(parse_time)
        .unwrap_or(time);
    let mut data = EventData::default();
    if let Some(Value::Object(fields)) = event.get("EventData") {
        collect(fields, &mut data);
    }
    // UserData holds one element named for the event (LogFileCleared, …) with the fields.
    if let Some(Value::Object(user)) = event.get("UserData") {
        for inner in user.values() {
            if let Value::Object(fields) = inner {
                collect(fields, &mut data);
            }
        }
    }
    Some(WindowsEvent {
        time,
        channel: text_of(system.get("Channel")).unwrap_or_default(),
        provider: provider.to_owned(),
        event_id: u32::try_from(event_id).ok()?,
        record_id: Some(record_id),
        computer: text_of(system.get("Computer")).unwrap_or_default(),
        data,
        file: file.clone(),
        position: Position::Record(record_id),
    })
}

fn collect(fields: &Map<String, Value>, data: &mut EventData) {
    for (name, value) in fields {
        if name.starts_with('#') {
            continue;
        }
        // Unnamed `<Data>` elements come as `"Data": {"#text": [...]}` or a list.
        if name == "Data" {
            let items = match value.get("#text").unwrap_or(value) {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            for (i, item) in items.iter().enumerate() {
                data.push(format!("param{}", i + 1), text_of(Some(item)).unwrap_or_default());
            }
            continue;
        }
        data.push(name.clone(), text_of(Some(value)).unwrap_or_default());
    }
}

/// A JSON value as the text Windows would have shown.
pub(crate) fn text_of(value: Option<&Value>) -> Option<String> {
    Some(match value? {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items.iter().filter_map(|i| text_of(Some(i))).collect::<Vec<_>>().join("\n"),
        Value::Object(map) => return text_of(map.get("#text")),
    })
}

pub(crate) fn number_or_text(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_number(s),
        Value::Object(map) => map.get("#text").and_then(number_or_text),
        _ => None,
    }
}
