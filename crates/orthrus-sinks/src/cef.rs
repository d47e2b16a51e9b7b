//! CEF (ArcSight Common Event Format) for alerts, as `design/cef.md` fixes it: MDI's shape
//! (a SIEM parser written for Defender for Identity needs at most a vendor/product change)
//! and the CEF standard's escaping applied strictly. Hand-written: the format is a dozen
//! rules, and the one crate for it (rust-cef 0.2) is unmaintained since 2021.

use std::fmt::Write as _;

use orthrus_model::{Alert, Severity, Timestamp};

/// Settings of the CEF form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CefOptions {
    pub vendor: String,
    pub product: String,
    pub version: String,
    /// The web UI's base URL (`https://orthrus.corp.example`): `cs1` links to the alert.
    pub url_base: Option<String>,
    /// Write `https\://` as MDI does (the standard does not ask for it).
    pub escape_colon: bool,
}

impl Default for CefOptions {
    fn default() -> Self {
        Self {
            vendor: "Orthrus".into(),
            product: "Orthrus".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url_base: None,
            escape_colon: false,
        }
    }
}

/// Why a message is sent (`cs2Label=trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    New,
    Update,
    Closed,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::New => "new",
            Trigger::Update => "update",
            Trigger::Closed => "closed",
        }
    }
}

/// CEF severity: Low 3, Medium 5, High 10 (MDI's numbers).
pub fn cef_severity(severity: Severity) -> u8 {
    match severity {
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 10,
    }
}

/// The MITRE ATT&CK tactic's name, for `cat`.
pub use orthrus_model::tactic_name;

/// Field limits from the CEF dictionary (characters).
const MSG_MAX: usize = 1023;
const NAME_MAX: usize = 1023;
const CUSTOM_MAX: usize = 4000;
const APP_MAX: usize = 31;

/// Cuts `text` to at most `max` characters, ending in `…` when it was longer.
fn limit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A header field: `\` and `|` escaped, no line breaks.
pub fn escape_header(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An extension value: `\` and `=` escaped, line breaks as `\n` / `\r`, no other control
/// characters; `:` too when `escape_colon`.
pub fn escape_value(text: &str, escape_colon: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ':' if escape_colon => out.push_str("\\:"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `2026-03-02T09:12:51.208Z`: UTC, milliseconds (MDI's shape).
pub fn cef_time(t: Timestamp) -> String {
    let micros = t.as_micros();
    let Ok(ts) = jiff::Timestamp::from_microsecond(micros.div_euclid(1000) * 1000) else {
        return String::new();
    };
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One alert as a CEF line (no syslog header): header, then the extension in `cef.md`'s fixed
/// key order, only keys that have a value. `evidence_budget` bounds `cs6` (the UDP sender
/// shrinks it to fit a datagram).
pub fn alert_line(alert: &Alert, trigger: Trigger, options: &CefOptions) -> String {
    alert_line_within(alert, trigger, options, CUSTOM_MAX, MSG_MAX)
}

pub(crate) fn alert_line_within(
    alert: &Alert,
    trigger: Trigger,
    options: &CefOptions,
    evidence_max: usize,
    msg_max: usize,
) -> String {
    let mut fields: Vec<(&str, String)> = Vec::new();
    let mut add = |key: &'static str, value: String| {
        if !value.is_empty() {
            fields.push((key, value));
        }
    };
    add("start", cef_time(alert.first_seen));
    if alert.last_seen > alert.first_seen {
        add("end", cef_time(alert.last_seen));
    }
    add("app", limit(&alert.cef.app, APP_MAX));
    let src = alert.source.ip.map(|ip| ip.to_string()).unwrap_or_default();
    add("shost", limit(alert.source.computer.as_deref().unwrap_or(&src), NAME_MAX));
    add("src", src.clone());
    add("suser", limit(alert.source.account.as_deref().unwrap_or_default(), NAME_MAX));
    let accounts: Vec<&str> = alert.targets.accounts.iter().map(String::as_str).collect();
    add("duser", limit(&accounts.join(", "), NAME_MAX));
    let (dst, dhost): (Vec<&String>, Vec<&String>) =
        alert.targets.computers.iter().partition(|c| c.parse::<std::net::IpAddr>().is_ok());
    add("dhost", limit(&dhost.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "), NAME_MAX));
    add("dst", dst.first().map(|s| s.to_string()).unwrap_or_default());
    add("cnt", alert.count.to_string());
    add("msg", limit(&alert.description, msg_max));
    add("externalId", alert.cef.external_id.to_string());
    if let Some(base) = &options.url_base {
        add("cs1Label", "url".into());
        add("cs1", limit(&alert_url(base, alert), CUSTOM_MAX));
    }
    add("cs2Label", "trigger".into());
    add("cs2", trigger.name().into());
    add("cs4Label", "mitre".into());
    add("cs4", alert.mitre.techniques.join(","));
    add("cs5Label", "tenant".into());
    add("cs5", alert.tenant.0.to_string());
    let evidence: Vec<String> = alert.evidence.iter().map(|e| e.at.to_string()).collect();
    if evidence_max > 0 && !evidence.is_empty() {
        add("cs6Label", "evidence".into());
        add("cs6", limit(&evidence.join(";"), evidence_max));
    }
    // cs3 is MDI's (shostfqdn): the incident goes in the first flex string.
    if let Some(incident) = &alert.incident {
        add("flexString1Label", "incident".into());
        add("flexString1", limit(incident, CUSTOM_MAX));
    }
    add("cat", tactic_name(&alert.mitre.tactic).into());
    add("act", "alert".into());
    add("deviceExternalId", alert.sensor.clone());

    cef_line(options, &alert.detection, &alert.title, alert.severity, &fields)
}

/// `CEF:0|vendor|product|version|signature|name|severity|key=value …`, escaped.
fn cef_line(
    options: &CefOptions,
    signature: &str,
    name: &str,
    severity: Severity,
    fields: &[(&str, String)],
) -> String {
    let mut line = format!(
        "CEF:0|{}|{}|{}|{}|{}|{}|",
        escape_header(&options.vendor),
        escape_header(&options.product),
        escape_header(&options.version),
        escape_header(signature),
        escape_header(name),
        cef_severity(severity),
    );
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        let _ = write!(line, "{key}={}", escape_value(value, options.escape_colon));
    }
    line
}

/// A health issue as CEF carries it (`design/cef.md`: the alert template with `act=health`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRecord<'a> {
    /// `ORT-H-SENSOR-SILENT`…
    pub id: &'a str,
    pub title: &'a str,
    pub external_id: u16,
    pub severity: Severity,
    pub message: &'a str,
    pub tenant: &'a str,
    /// The sensor concerned (`dhost` and `deviceExternalId`).
    pub sensor: &'a str,
    pub opened: Timestamp,
    /// Set when the message closes the issue.
    pub closed: Option<Timestamp>,
}

/// A health issue as a CEF line.
pub fn health_line(issue: &HealthRecord<'_>, trigger: Trigger, options: &CefOptions) -> String {
    let mut fields: Vec<(&str, String)> = vec![("start", cef_time(issue.opened))];
    if let Some(closed) = issue.closed {
        fields.push(("end", cef_time(closed)));
    }
    fields.push(("dhost", limit(issue.sensor, NAME_MAX)));
    fields.push(("msg", limit(issue.message, MSG_MAX)));
    fields.push(("externalId", issue.external_id.to_string()));
    if let Some(base) = &options.url_base {
        fields.push(("cs1Label", "url".into()));
        fields.push(("cs1", limit(&format!("{}/health", base.trim_end_matches('/')), CUSTOM_MAX)));
    }
    fields.push(("cs2Label", "trigger".into()));
    fields.push(("cs2", trigger.name().into()));
    fields.push(("cs5Label", "tenant".into()));
    fields.push(("cs5", issue.tenant.to_owned()));
    fields.push(("act", "health".into()));
    fields.push(("deviceExternalId", issue.sensor.to_owned()));
    cef_line(options, issue.id, issue.title, issue.severity, &fields)
}

/// Reads an extension back into (key, value) pairs, unescaping: what a SIEM's parser does,
/// for tests and for `orthrus cef-test`'s echo.
pub fn parse_extension(extension: &str) -> Vec<(String, String)> {
    // Keys are identifiers preceded by a space (or the start) and followed by `=`; a `=`
    // inside a value is escaped, so the first unescaped `=` after a key starts its value.
    let chars: Vec<char> = extension.chars().collect();
    let mut starts: Vec<(usize, usize)> = Vec::new(); // (key start, '=' position)
    let mut i = 0;
    while i < chars.len() {
        if chars.get(i) == Some(&'\\') {
            i += 2;
            continue;
        }
        if chars.get(i) == Some(&'=') {
            let mut k = i;
            while k > 0 && chars.get(k - 1).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                k -= 1;
            }
            if k < i && (k == 0 || chars.get(k - 1) == Some(&' ')) {
                starts.push((k, i));
            }
        }
        i += 1;
    }
    let mut out = Vec::new();
    for (n, (key_start, eq)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(chars.len(), |(next, _)| next.saturating_sub(1));
        let key: String = chars.get(*key_start..*eq).unwrap_or_default().iter().collect();
        let raw: String = chars.get(eq + 1..end).unwrap_or_default().iter().collect();
        out.push((key, unescape_value(&raw)));
    }
    out
}

fn unescape_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The alert's page in the center's web UI under `base` (`url_base` of center.toml).
pub fn alert_url(base: &str, alert: &Alert) -> String {
    format!("{}/ui/t/{}/alerts/{}", base.trim_end_matches('/'), alert.tenant.0, alert.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_standard() {
        assert_eq!(escape_header(r"a|b\c"), r"a\|b\\c");
        assert_eq!(escape_value("adminCount=1", false), r"adminCount\=1");
        assert_eq!(escape_value(r"CORP\m.silva", false), r"CORP\\m.silva");
        assert_eq!(escape_value("a\nb\r", false), r"a\nb\r");
        assert_eq!(escape_value("https://x", true), r"https\://x");
        assert_eq!(escape_value("x\u{7}y", false), "xy");
        let text = "SAMR queries:\nSuccessful enumeration by CORP\\j.doe adminCount=1 | done";
        let line = format!("msg={} cnt=3", escape_value(text, false));
        assert_eq!(parse_extension(&line), [("msg".into(), text.into()), ("cnt".into(), "3".into())]);
    }

    #[test]
    fn long_values_are_cut_with_an_ellipsis() {
        let long = "é".repeat(2000);
        let cut = limit(&long, MSG_MAX);
        assert_eq!(cut.chars().count(), MSG_MAX);
        assert!(cut.ends_with('…'));
        assert_eq!(limit("short", MSG_MAX), "short");
    }

    #[test]
    fn times_are_utc_milliseconds() {
        assert_eq!(cef_time(Timestamp::from_micros(1_772_442_771_208_999)), "2026-03-02T09:12:51.208Z");
    }
}
