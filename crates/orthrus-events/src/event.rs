//! The one normalized Windows event every reader produces.

use std::sync::Arc;

use orthrus_model::{Position, Timestamp};

/// A Windows event, whatever form it arrived in: system fields and named data fields.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowsEvent {
    pub time: Timestamp,
    /// `Security`, `System`, `Microsoft-Windows-Sysmon/Operational`, …
    pub channel: String,
    /// `Microsoft-Windows-Security-Auditing`, `Service Control Manager`, …
    pub provider: String,
    pub event_id: u32,
    pub record_id: Option<u64>,
    /// The computer that logged the event (FQDN as Windows writes it).
    pub computer: String,
    /// EventData (or UserData) fields by name, in the event's order.
    pub data: EventData,
    /// Where in its file the event is: record id, or line for text logs without one.
    pub file: Arc<str>,
    pub position: Position,
}

/// Named fields. Events carry a few dozen at most, so a vector beats a map. Names are shared:
/// an EVTX reader hands every record of a template the same ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventData(Vec<(Arc<str>, String)>);

impl EventData {
    pub fn with_capacity(fields: usize) -> Self {
        Self(Vec::with_capacity(fields))
    }

    pub fn reserve(&mut self, fields: usize) {
        self.0.reserve(fields);
    }

    pub fn push(&mut self, name: impl Into<Arc<str>>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The field's value, trimmed; `None` when absent, empty or `-` (Windows' "no value").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty() && *v != "-")
    }

    /// The field parsed as a number written in decimal or `0x` hex.
    pub fn number(&self, name: &str) -> Option<u64> {
        parse_number(self.get(name)?)
    }

    /// Keeps only the fields whose names `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.0.retain(|(name, _)| keep(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `0x1F`, `31`, `%%1842`-free numbers as Windows writes them.
pub fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Parses the timestamps Windows tooling writes: RFC 3339 with or without a zone (UTC
/// assumed), with up to 7 fractional digits; `/Date(1620000000000)/` from PowerShell's
/// ConvertTo-Json; `2026-11-25 07:16:46.25` with a space.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Some(ms) = text.strip_prefix("/Date(").and_then(|t| t.strip_suffix(")/")) {
        let digits: String = ms.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
        let ms: i64 = digits.parse().ok()?;
        return Some(Timestamp::from_micros(ms.checked_mul(1000)?));
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Some(Timestamp::from_micros(ts.as_microsecond()));
    }
    // Samba writes `+0000` (no colon); jiff wants `+00:00`.
    if let Some((head, zone)) = text.rsplit_once(['+', '-'])
        && zone.len() == 4
        && zone.bytes().all(|b| b.is_ascii_digit())
        && head.contains('T')
    {
        let sign = if text.as_bytes().get(head.len()) == Some(&b'-') { '-' } else { '+' };
        let (hh, mm) = zone.split_at(2);
        return parse_time(&format!("{head}{sign}{hh}:{mm}"));
    }
    let civil = text.replace(' ', "T");
    let dt: jiff::civil::DateTime = civil.trim_end_matches('Z').parse().ok()?;
    let ts = jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()?;
    Some(Timestamp::from_micros(ts.as_microsecond()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form_windows_tools_write() {
        let want = Timestamp::from_micros(1_557_281_443_487_217);
        assert_eq!(parse_time("2019-05-08T02:10:43.4872170Z"), Some(want));
        assert_eq!(parse_time("2019-05-08T02:10:43.487217+00:00"), Some(want));
        assert_eq!(parse_time("2019-05-08T02:10:43.487217+0000"), Some(want));
        assert_eq!(parse_time("2019-05-08 02:10:43.487217"), Some(want));
        assert_eq!(parse_time("/Date(1557281443487)/"), Some(Timestamp::from_micros(1_557_281_443_487_000)));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn windows_empty_values_are_absent() {
        let mut d = EventData::default();
        d.push("IpAddress", "-");
        d.push("Status", "0xC000006A");
        d.push("LogonType", "3");
        assert_eq!(d.get("IpAddress"), None);
        assert_eq!(d.number("Status"), Some(0xc000_006a));
        assert_eq!(d.number("LogonType"), Some(3));
    }
}
