//! Windows events as XML: Windows Event Forwarding's rendered events, `wevtutil qe /f:xml`,
//! Event Viewer's "Save as XML" (events wrapped in `<Events>`), one after another.
//!
//! After malformed XML the reader counts the damage and resumes at the next `<Event`, so one
//! bad event costs only itself.

use std::sync::Arc;

use orthrus_model::{Position, Timestamp};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::ReadSummary;
use crate::event::{EventData, WindowsEvent, parse_number, parse_time};

pub fn read(text: &str, file: &Arc<str>, summary: &mut ReadSummary, out: &mut dyn FnMut(WindowsEvent)) {
    read_with_time(text, file, None, summary, out);
}

/// [`read`], an event without `TimeCreated` taking `fallback_time` (an EVTX record rendered
/// whole has its header's time) instead of being skipped.
pub fn read_with_time(
    text: &str,
    file: &Arc<str>,
    fallback_time: Option<Timestamp>,
    summary: &mut ReadSummary,
    out: &mut dyn FnMut(WindowsEvent),
) {
    let mut offset = 0;
    let mut lines = crate::LineCounter::new(text);
    while let Some(rest) = text.get(offset..) {
        match read_from(rest, offset, &mut lines, (file, fallback_time), summary, out) {
            Ok(()) => break,
            Err((error_at, message, in_event)) => {
                // Damage outside any event (a wrapper's close tag after a resume) loses nothing.
                if in_event {
                    summary.skip_with(
                        "malformed event XML",
                        &format!("line {}: {message}", lines.line_at(error_at)),
                    );
                }
                // Resume at the next event after the damage; `+ 1` guarantees progress.
                let from = error_at.max(offset) + 1;
                match text.get(from..).and_then(next_event_start) {
                    Some(next) => offset = from + next,
                    None => break,
                }
            }
        }
    }
}

fn next_event_start(text: &str) -> Option<usize> {
    text.match_indices("<Event").find_map(|(i, _)| {
        let after = text.as_bytes().get(i + "<Event".len())?;
        matches!(after, b' ' | b'>' | b'\t' | b'\r' | b'\n').then_some(i)
    })
}

/// Where the current element is inside an `<Event>`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Outside,
    System,
    EventData,
    UserData,
    Other,
}

#[derive(Default)]
struct Builder {
    line: u64,
    provider: String,
    event_id: Option<u64>,
    time: Option<Timestamp>,
    record_id: Option<u64>,
    channel: String,
    computer: String,
    data: EventData,
    unnamed: usize,
}

/// Parses from `base` to the end; on malformed XML returns the byte offset (in the whole
/// text), the message, and whether an event was being read.
fn read_from(
    rest: &str,
    base: usize,
    lines: &mut crate::LineCounter<'_>,
    (file, fallback_time): (&Arc<str>, Option<Timestamp>),
    summary: &mut ReadSummary,
    out: &mut dyn FnMut(WindowsEvent),
) -> Result<(), (usize, String, bool)> {
    let mut reader = Reader::from_str(rest);
    reader.config_mut().allow_dangling_amp = true;
    let mut section = Section::Outside;
    let mut event: Option<Builder> = None;
    // Names of open elements below the section element (UserData nests one deeper).
    let mut depth_in_section = 0usize;
    let mut data_name: Option<String> = None;
    let mut text = String::new();
    loop {
        let at = base + usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let next = reader.read_event().map_err(|e| (at, e.to_string(), event.is_some()))?;
        match next {
            Event::Start(start) => {
                text.clear();
                let name = local_name(&start);
                match (section, event.as_mut()) {
                    (_, None) if name == "Event" => {
                        event = Some(Builder { line: lines.line_at(at), ..Builder::default() });
                    }
                    (Section::Outside, Some(_)) => {
                        section = match name.as_str() {
                            "System" => Section::System,
                            "EventData" => Section::EventData,
                            "UserData" => Section::UserData,
                            _ => Section::Other,
                        };
                        depth_in_section = 0;
                    }
                    (Section::System, Some(b)) => {
                        depth_in_section += 1;
                        system_attributes(&name, &start, b);
                    }
                    (Section::EventData, Some(_)) => {
                        depth_in_section += 1;
                        data_name = attribute(&start, "Name");
                    }
                    _ => depth_in_section += 1,
                }
            }
            Event::Empty(start) => {
                let name = local_name(&start);
                if let Some(b) = event.as_mut() {
                    match section {
                        Section::System => system_attributes(&name, &start, b),
                        Section::EventData if name == "Data" => {
                            let field = attribute(&start, "Name").unwrap_or_else(|| {
                                b.unnamed += 1;
                                format!("param{}", b.unnamed)
                            });
                            b.data.push(field, "");
                        }
                        Section::UserData if depth_in_section >= 1 => b.data.push(name, ""),
                        _ => {}
                    }
                }
            }
            Event::Text(t) => text.push_str(t.as_ref()),
            Event::CData(t) => text.push_str(t.as_ref()),
            Event::GeneralRef(r) => text.push_str(&resolve(&r)),
            Event::End(end) => {
                let name = end.local_name().as_ref().to_owned();
                match (section, event.as_mut()) {
                    (Section::Outside, Some(_)) if name == "Event" => {
                        if let Some(b) = event.take() {
                            finish(b, (file, fallback_time), summary, out);
                        }
                    }
                    (Section::Outside, _) => {}
                    (_, Some(b)) if depth_in_section == 0 => {
                        let _ = b;
                        section = Section::Outside;
                    }
                    (Section::System, Some(b)) => {
                        depth_in_section -= 1;
                        system_text(&name, text.trim(), b);
                    }
                    (Section::EventData, Some(b)) => {
                        depth_in_section -= 1;
                        if name == "Data" {
                            let field = data_name.take().unwrap_or_else(|| {
                                b.unnamed += 1;
                                format!("param{}", b.unnamed)
                            });
                            b.data.push(field, text.trim());
                        } else if depth_in_section == 0 {
                            // EventData's other children (`<Binary>`) are fields by their name,
                            // as in every other form.
                            b.data.push(name, text.trim());
                        }
                    }
                    (Section::UserData, Some(b)) => {
                        depth_in_section -= 1;
                        // Fields are the children of UserData's one element.
                        if depth_in_section == 1 {
                            b.data.push(name, text.trim());
                        }
                    }
                    _ => depth_in_section = depth_in_section.saturating_sub(1),
                }
                text.clear();
            }
            Event::Eof => {
                if event.is_some() {
                    summary.skip("event XML cut off at end of file");
                }
                return Ok(());
            }
            _ => {}
        }
    }
}

fn finish(
    b: Builder,
    (file, fallback_time): (&Arc<str>, Option<Timestamp>),
    summary: &mut ReadSummary,
    out: &mut dyn FnMut(WindowsEvent),
) {
    let event_id = b.event_id.and_then(|id| u32::try_from(id).ok());
    let (Some(event_id), Some(time)) = (event_id, b.time.or(fallback_time)) else {
        summary.skip("event XML without EventID or TimeCreated");
        return;
    };
    summary.events += 1;
    out(WindowsEvent {
        time,
        channel: b.channel,
        provider: b.provider,
        event_id,
        record_id: b.record_id,
        computer: b.computer,
        data: b.data,
        file: file.clone(),
        position: b.record_id.map_or(Position::Line(b.line), Position::Record),
    });
}

fn system_attributes(name: &str, start: &BytesStart<'_>, b: &mut Builder) {
    match name {
        "Provider" => b.provider = attribute(start, "Name").unwrap_or_default(),
        "TimeCreated" => b.time = attribute(start, "SystemTime").as_deref().and_then(parse_time),
        _ => {}
    }
}

fn system_text(name: &str, text: &str, b: &mut Builder) {
    match name {
        "EventID" => b.event_id = parse_number(text),
        "EventRecordID" => b.record_id = parse_number(text),
        "Channel" => b.channel = text.to_owned(),
        "Computer" => b.computer = text.to_owned(),
        _ => {}
    }
}

fn local_name(start: &BytesStart<'_>) -> String {
    start.local_name().as_ref().to_owned()
}

fn attribute(start: &BytesStart<'_>, name: &str) -> Option<String> {
    let attr = start.try_get_attribute(name).ok()??;
    let raw = attr.value.into_owned();
    Some(quick_xml::escape::unescape(&raw).map(|v| v.into_owned()).unwrap_or(raw))
}

fn resolve(reference: &BytesRef<'_>) -> String {
    if let Ok(Some(ch)) = reference.resolve_char_ref() {
        return ch.to_string();
    }
    let name: &str = reference.as_ref();
    quick_xml::escape::resolve_predefined_entity(name).map_or_else(|| format!("&{name};"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORWARDED: &str = r#"<Events>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4776</EventID><TimeCreated SystemTime='2021-03-02T10:00:00.1234567Z'/><EventRecordID>77</EventRecordID><Channel>Security</Channel><Computer>DC01.corp.example</Computer></System><EventData><Data Name='PackageName'>MICROSOFT_AUTHENTICATION_PACKAGE_V1_0</Data><Data Name='TargetUserName'>a&amp;b</Data><Data Name='Workstation'>WS7</Data><Data Name='Status'>0xc000006a</Data></EventData><RenderingInfo Culture='en-US'><Message>The computer attempted to validate</Message></RenderingInfo></Event>
<Event><System><EventID>4698</Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>1102</EventID><TimeCreated SystemTime='2021-03-02T10:00:02Z'/><EventRecordID>79</EventRecordID></System><UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'><SubjectUserName>eve</SubjectUserName><SubjectDomainName>CORP</SubjectDomainName></LogFileCleared></UserData></Event>
</Events>"#;

    #[test]
    fn forwarded_events_with_entities_userdata_and_damage() {
        let mut events = Vec::new();
        let mut summary = ReadSummary::default();
        read(FORWARDED, &Arc::from("fwd.xml"), &mut summary, &mut |e| events.push(e));
        let ids: Vec<u32> = events.iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [4776, 1102], "{summary:?}");
        let ntlm = events.first().expect("4776");
        assert_eq!(ntlm.data.get("TargetUserName"), Some("a&b"));
        assert_eq!(ntlm.data.number("Status"), Some(0xc000_006a));
        assert_eq!(ntlm.computer, "DC01.corp.example");
        assert_eq!(ntlm.position, Position::Record(77));
        let cleared = events.get(1).expect("1102");
        assert_eq!(cleared.data.get("SubjectUserName"), Some("eve"));
        assert_eq!(cleared.data.get("SubjectDomainName"), Some("CORP"));
        assert_eq!(summary.skipped.get("malformed event XML"), Some(&1), "{summary:?}");
    }

    #[test]
    fn an_event_without_time_takes_the_records_time_when_given_one() {
        // What an EVTX record rendered whole may lack: its header still has a time.
        let xml = "<Event><System><EventID>4624</EventID><EventRecordID>5</EventRecordID></System></Event>";
        let file: Arc<str> = Arc::from("f");
        let mut summary = ReadSummary::default();
        let mut events = Vec::new();
        read(xml, &file, &mut summary, &mut |e| events.push(e));
        assert!(events.is_empty());
        assert_eq!(summary.skipped_total(), 1, "no time, no fallback: skipped and counted");
        let at = Timestamp::from_micros(1_600_000_000_000_000);
        let mut summary = ReadSummary::default();
        read_with_time(xml, &file, Some(at), &mut summary, &mut |e| events.push(e));
        assert_eq!((events.len(), summary.skipped_total()), (1, 0));
        assert_eq!((events[0].time, events[0].event_id), (at, 4624));
    }
}
