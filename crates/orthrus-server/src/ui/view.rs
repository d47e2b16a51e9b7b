//! What the pages show, made ready for the templates: times in words, activities in one line,
//! the dashboard's chart as SVG (drawn here, so the UI needs no script and no chart library).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use orthrus_model::{Activity, Severity, Timestamp};
use orthrus_store::{AlertBucket, AlertRecord, AlertStatus};
use serde_json::Value;

/// `2026-11-25 08:00:03 UTC`.
/// `1 alert`, `3 alerts`: a count with the noun in the right number.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn time(t: Timestamp) -> String {
    jiff::Timestamp::from_microsecond(t.as_micros())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// `2026-11-25`.
pub fn day(t: Timestamp) -> String {
    jiff::Timestamp::from_microsecond(t.as_micros())
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// Midnight (UTC) starting the day `text` (`2026-11-25`) names.
pub fn parse_day(text: &str) -> Option<Timestamp> {
    let date: jiff::civil::Date = text.trim().parse().ok()?;
    let midnight: jiff::Timestamp = format!("{date}T00:00:00Z").parse().ok()?;
    Some(Timestamp::from_micros(midnight.as_microsecond()))
}

/// A path segment or query value with everything but unreserved characters percent-encoded
/// (names may hold spaces, `\`, `#` or `&`).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:@$".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// One row of an alert list.
pub struct AlertRow {
    pub href: String,
    pub id: String,
    pub title: String,
    pub description: String,
    pub detection: String,
    pub severity: String,
    pub status: &'static str,
    pub first_seen: String,
    pub last_seen: String,
    pub count: u64,
    /// The source as the alert names it: `WS01 (10.0.0.5)`, an address, or empty.
    pub source: String,
    pub account: String,
}

impl AlertRow {
    pub fn new(tenant: &str, record: &AlertRecord) -> Self {
        let text = |key: &str| record.alert.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let source = |key: &str| {
            record.alert.get("source").and_then(|s| s.get(key)).and_then(Value::as_str).map(str::to_owned)
        };
        Self {
            href: format!("/ui/t/{}/alerts/{}", segment(tenant), segment(&record.id)),
            id: record.id.clone(),
            title: text("title"),
            description: text("description"),
            detection: record.detection.clone(),
            severity: record.severity.to_string(),
            status: record.status.name(),
            first_seen: time(record.first_seen),
            last_seen: time(record.last_seen),
            count: record.count,
            source: match (source("computer"), source("ip")) {
                (Some(computer), Some(ip)) => format!("{computer} ({ip})"),
                (one, other) => one.or(other).unwrap_or_default(),
            },
            account: source("account").unwrap_or_default(),
        }
    }
}

/// One activity of a timeline.
pub struct ActivityRow {
    pub time: String,
    /// What the activity did, in a word or two (an RPC operation, a service, a path), for
    /// grouping repeats.
    pub label: String,
    /// The first provenance's unit (`frame`, `record`, `line`) and number.
    pub place: Option<(&'static str, u64)>,
    pub kind: &'static str,
    pub source: String,
    pub destination: String,
    pub accounts: String,
    /// Its own fields, `key=value`, the ones every activity has left out.
    pub summary: String,
    /// Whether the alert being shown cites it as evidence.
    pub evidence: bool,
    /// Where it was read: `file#frame 38`.
    pub provenance: String,
}

/// Fields every activity has, shown in their own columns rather than in the summary.
const COMMON_FIELDS: &[&str] = &[
    "time",
    "tenant",
    "sensor",
    "source",
    "destination",
    "transport",
    "source_host",
    "destination_host",
    "provenance",
    "activity",
];
/// Longest summary shown (the full record is in the API).
const SUMMARY_CHARS: usize = 240;

impl ActivityRow {
    pub fn new(activity: &Activity, evidence: bool) -> Self {
        let endpoint = |ip: Option<std::net::IpAddr>, host: Option<&str>| match (ip, host) {
            (Some(ip), Some(host)) => format!("{host} ({ip})"),
            (Some(ip), None) => ip.to_string(),
            (None, Some(host)) => host.to_owned(),
            (None, None) => String::new(),
        };
        let mut summary = String::new();
        let mut label = String::new();
        if let Ok(value @ Value::Object(_)) = serde_json::to_value(activity) {
            label = label_of(&value);
            flatten(&mut summary, "", &value, COMMON_FIELDS);
        }
        if summary.chars().count() > SUMMARY_CHARS {
            summary = summary.chars().take(SUMMARY_CHARS).collect::<String>() + "…";
        }
        let provenance = activity
            .provenance
            .first()
            .map(|p| match p.at {
                orthrus_model::Position::Frame(n) => format!("{} frame {n}", p.file),
                orthrus_model::Position::Record(n) => format!("{} record {n}", p.file),
                orthrus_model::Position::Line(n) => format!("{} line {n}", p.file),
            })
            .unwrap_or_default();
        Self {
            time: time(activity.time),
            label,
            place: activity.provenance.first().map(|p| match p.at {
                orthrus_model::Position::Frame(n) => ("frame", n),
                orthrus_model::Position::Record(n) => ("record", n),
                orthrus_model::Position::Line(n) => ("line", n),
            }),
            kind: activity.kind.name(),
            source: endpoint(activity.source_ip(), activity.source_host.as_deref()),
            destination: endpoint(activity.destination.map(|d| d.ip), activity.destination_host.as_deref()),
            accounts: activity.accounts().join(", "),
            summary,
            evidence,
            provenance,
        }
    }
}

/// The fields that say what an activity did, in the order they are looked for: the first the
/// activity has is its label.
const LABEL_FIELDS: &[&str] = &["operation", "service", "path", "share", "name", "filter", "dn", "method"];

/// The label of an activity's JSON (the kind's fields sit beside the common ones).
fn label_of(activity: &Value) -> String {
    LABEL_FIELDS
        .iter()
        .find_map(|key| activity.get(*key).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// Consecutive activities that did the same thing between the same parties: one row of a
/// grouped timeline ("26× rpc_called DRSGetNCChanges, frames 67–164"), its activities kept for
/// the raw view.
pub struct ActivityGroup {
    pub count: usize,
    pub first: String,
    pub last: String,
    pub kind: &'static str,
    pub label: String,
    pub source: String,
    pub destination: String,
    pub accounts: String,
    /// Whether the alert cites any of them.
    pub evidence: bool,
    /// `frames 67–164` (or records, lines), from the first's provenance and the last's.
    pub places: String,
    pub rows: Vec<ActivityRow>,
}

/// Groups consecutive rows with the same kind, label, parties and accounts.
pub fn group_activities(rows: Vec<ActivityRow>) -> Vec<ActivityGroup> {
    let mut groups: Vec<ActivityGroup> = Vec::new();
    for row in rows {
        let same = groups.last().is_some_and(|g| {
            g.kind == row.kind
                && g.label == row.label
                && g.source == row.source
                && g.destination == row.destination
                && g.accounts == row.accounts
        });
        match groups.last_mut() {
            Some(group) if same => {
                group.count += 1;
                group.last = row.time.clone();
                group.evidence |= row.evidence;
                group.rows.push(row);
            }
            _ => groups.push(ActivityGroup {
                count: 1,
                first: row.time.clone(),
                last: row.time.clone(),
                kind: row.kind,
                label: row.label.clone(),
                source: row.source.clone(),
                destination: row.destination.clone(),
                accounts: row.accounts.clone(),
                evidence: row.evidence,
                places: String::new(),
                rows: vec![row],
            }),
        }
    }
    for group in &mut groups {
        let first = group.rows.first().and_then(|r| r.place);
        let last = group.rows.last().and_then(|r| r.place);
        group.places = match (first, last) {
            (Some((unit, a)), Some((same, b))) if unit == same && a != b => format!("{unit}s {a}–{b}"),
            (Some((unit, a)), _) => format!("{unit} {a}"),
            _ => String::new(),
        };
    }
    groups
}

/// `key=value` pairs of a JSON object's scalar leaves (nested keys joined by `.`), `skip`ped
/// top-level keys left out.
fn flatten(out: &mut String, prefix: &str, value: &Value, skip: &[&str]) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                if prefix.is_empty() && skip.contains(&key.as_str()) {
                    continue;
                }
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(out, &path, value, skip);
            }
        }
        Value::Array(items) => {
            let scalars: Vec<String> = items.iter().filter_map(scalar).collect();
            if !scalars.is_empty() {
                push_pair(out, prefix, &scalars.join(","));
            }
        }
        other => {
            if let Some(text) = scalar(other) {
                push_pair(out, prefix, &text);
            }
        }
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn push_pair(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    let _ = write!(out, "{key}={value}");
}

/// Rows of `key: value` from a JSON object (a directory object), nested values flattened.
pub fn attribute_rows(value: &Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Value::Object(fields) = value {
        for (key, value) in fields {
            let text = match value {
                Value::Array(items) => items.iter().filter_map(scalar).collect::<Vec<_>>().join(", "),
                Value::Object(_) => {
                    let mut text = String::new();
                    flatten(&mut text, "", value, &[]);
                    text
                }
                other => scalar(other).unwrap_or_default(),
            };
            if !text.is_empty() {
                rows.push((key.clone(), text));
            }
        }
    }
    rows
}

/// The dashboard's numbers: open alerts per severity, per detection, per day.
pub struct Dashboard {
    pub open_total: u64,
    pub all_total: u64,
    /// High, medium, low.
    pub open_by_severity: [u64; 3],
    /// Detection id, its open alerts per severity (high, medium, low), their sum.
    pub by_detection: Vec<(String, [u64; 3], u64)>,
    /// The chart, an SVG element.
    pub chart: String,
    /// The chart's numbers as rows for a table (screen readers, copying): day, high, medium, low.
    pub chart_rows: Vec<(String, [u64; 3])>,
    /// The tallest bar: open alerts on the busiest day.
    pub peak: u64,
}

/// Days the chart spans.
pub const CHART_DAYS: i64 = 30;
const DAY_SECS: i64 = 86_400;

fn severity_slot(severity: Severity) -> usize {
    match severity {
        Severity::High => 0,
        Severity::Medium => 1,
        Severity::Low => 2,
    }
}

impl Dashboard {
    /// From the histogram: the chart ends on the last day with alerts (a replayed capture's
    /// alerts are old: a chart ending today would show nothing).
    pub fn new(buckets: &[AlertBucket]) -> Self {
        let mut open_by_severity = [0u64; 3];
        let mut by_detection: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
        let mut by_day: BTreeMap<i64, [u64; 3]> = BTreeMap::new();
        let (mut open_total, mut all_total) = (0, 0);
        for bucket in buckets {
            all_total += bucket.count;
            if bucket.status != AlertStatus::Open {
                continue;
            }
            let slot = severity_slot(bucket.severity);
            open_total += bucket.count;
            if let Some(n) = open_by_severity.get_mut(slot) {
                *n += bucket.count;
            }
            if let Some(n) = by_detection.entry(&bucket.detection).or_default().get_mut(slot) {
                *n += bucket.count;
            }
            if let Some(n) = by_day.entry(bucket.day.as_micros()).or_default().get_mut(slot) {
                *n += bucket.count;
            }
        }
        let mut by_detection: Vec<(String, [u64; 3], u64)> =
            by_detection.into_iter().map(|(id, n)| (id.to_owned(), n, n.iter().sum())).collect();
        by_detection.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        let last_day = by_day.keys().next_back().copied();
        let days: Vec<(Timestamp, [u64; 3])> = match last_day {
            Some(last) => (0..CHART_DAYS)
                .rev()
                .map(|back| {
                    let day = Timestamp::from_micros(last).saturating_add_secs(-back * DAY_SECS);
                    (day, by_day.get(&day.as_micros()).copied().unwrap_or_default())
                })
                .collect(),
            None => Vec::new(),
        };
        let peak = days.iter().map(|(_, n)| n.iter().sum::<u64>()).max().unwrap_or(0);
        let chart = chart_svg(&days);
        let chart_rows =
            days.iter().filter(|(_, n)| n.iter().sum::<u64>() > 0).map(|(d, n)| (day(*d), *n)).collect();
        Self { open_total, all_total, open_by_severity, by_detection, chart, chart_rows, peak }
    }
}

/// A y axis for counts up to `peak`: a step of 1, 2 or 5 × 10^k that draws at most five
/// lines, and the axis top (whole steps, at least the peak): round numbers an analyst reads at
/// a glance, whatever the volume.
fn axis_scale(peak: u64) -> (u64, u64) {
    const MAX_LINES: u64 = 5;
    let mut magnitude = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let step = magnitude.saturating_mul(factor);
            if peak.div_ceil(step) <= MAX_LINES || step == u64::MAX {
                return (step, peak.div_ceil(step).max(1).saturating_mul(step));
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// Stacked bars, one per day (high at the bottom), each with a tooltip title, over a y axis
/// with labelled gridlines.
fn chart_svg(days: &[(Timestamp, [u64; 3])]) -> String {
    const WIDTH: usize = 720;
    const HEIGHT: usize = 180;
    const AXIS: usize = 20;
    /// Room left of the bars for the y axis' labels.
    const LEFT: usize = 48;
    /// Room above the top line for its label.
    const TOP: usize = 8;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {}" role="img" aria-labelledby="chart-title"><title id="chart-title">Open alerts per day by severity, the last {CHART_DAYS} days with alerts</title>"#,
        TOP + HEIGHT + AXIS
    );
    let peak = days.iter().map(|(_, n)| n.iter().sum::<u64>()).max().unwrap_or(0);
    let (step, top_count) = axis_scale(peak);
    let y_of =
        |count: u64| TOP + HEIGHT - usize::try_from(count * HEIGHT as u64 / top_count).unwrap_or(HEIGHT);
    let mut line = 0;
    while line <= top_count {
        let y = y_of(line);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{WIDTH}" y1="{y}" y2="{y}"/><text class="tick" x="{}" y="{}" text-anchor="end">{line}</text>"#,
            LEFT - 6,
            y + 4
        );
        line += step;
    }
    let slot_width = (WIDTH - LEFT) / days.len().max(1);
    let bar_width = slot_width.saturating_sub(4).max(2);
    let classes = ["high", "medium", "low"];
    for (index, (when, counts)) in days.iter().enumerate() {
        let x = LEFT + index * slot_width + 2;
        let mut below = 0;
        let [high, medium, low] = *counts;
        let total = high + medium + low;
        let _ = write!(
            svg,
            r#"<g><title>{}: {total} open ({high} high, {medium} medium, {low} low)</title>"#,
            day(*when)
        );
        for (count, class) in counts.iter().zip(classes) {
            if *count == 0 {
                continue;
            }
            // Each segment from the running sum, so rounding never stacks above the total.
            let (bottom, top) = (y_of(below), y_of(below + count));
            below += count;
            let height = bottom.saturating_sub(top).max(1);
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{x}" y="{}" width="{bar_width}" height="{height}"/>"#,
                bottom - height
            );
        }
        svg.push_str("</g>");
        // A date every week, counted back from the last day (which always has one).
        if (days.len() - 1 - index).is_multiple_of(7) {
            // Each date ends under its bar, so the last one stays inside the chart.
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                x + bar_width,
                TOP + HEIGHT + 15,
                day(*when).get(5..).unwrap_or_default()
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Names with how often they were seen, most frequent first.
pub type Ranked = Vec<(String, u64)>;

/// The computers an entity's activities came from, the services they reached and the accounts
/// they used. For an address's page (`address`), the accounts and services are those used
/// *from* it and the computers the others that reached it. One account spelled several ways (`LAB\bob`,
/// `bob@LAB.TEST`) is one row, under its most frequent spelling.
pub fn logons_and_services(
    activities: &[Activity],
    address: Option<std::net::IpAddr>,
) -> (Ranked, Ranked, Ranked) {
    use orthrus_model::ActivityKind;
    let mut computers: BTreeMap<String, u64> = BTreeMap::new();
    let mut services: BTreeMap<String, u64> = BTreeMap::new();
    // Entity key → spelling → count.
    let mut accounts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for activity in activities {
        let from_here = address.is_none_or(|ip| activity.source_ip() == Some(ip));
        for account in activity.accounts().into_iter().filter(|_| from_here) {
            let spellings = accounts.entry(orthrus_store::entity_key("account", &account)).or_default();
            *spellings.entry(account).or_default() += 1;
        }
        let from = activity
            .source_host
            .as_deref()
            .map(str::to_owned)
            .or_else(|| activity.source_ip().map(|ip| ip.to_string()));
        // An address's page lists who reached it, not itself.
        if let Some(from) = from.filter(|_| address.is_none() || !from_here) {
            *computers.entry(from).or_default() += 1;
        }
        let service = match &activity.kind {
            ActivityKind::ServiceTicketRequested(exchange) => exchange.service().map(str::to_owned),
            ActivityKind::ServiceAccessed(access) => Some(access.service.clone()),
            ActivityKind::ShareOpened(share) => Some(share.path.clone()),
            ActivityKind::NtlmAuthenticated(ntlm) => ntlm.target_name.clone(),
            _ => None,
        };
        // An address's services are those asked for from it: a DC's address is where every
        // client asks for its tickets, which are the clients' services, not the DC's.
        if let Some(service) = service.filter(|s| !s.is_empty() && from_here) {
            *services.entry(service).or_default() += 1;
        }
    }
    let ranked = |map: BTreeMap<String, u64>| {
        let mut list: Vec<(String, u64)> = map.into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list
    };
    let accounts = accounts
        .into_values()
        .filter_map(|spellings| {
            let total = spellings.values().sum();
            let (spelling, _) =
                spellings.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
            Some((spelling, total))
        })
        .collect();
    (ranked(computers), ranked(services), ranked(accounts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_scale_is_round_numbers_above_the_peak() {
        assert_eq!(axis_scale(0), (1, 1));
        assert_eq!(axis_scale(1), (1, 1));
        assert_eq!(axis_scale(5), (1, 5));
        assert_eq!(axis_scale(7), (2, 8));
        assert_eq!(axis_scale(23), (5, 25));
        assert_eq!(axis_scale(1234), (500, 1500));
        assert_eq!(axis_scale(100_000), (20_000, 100_000));
        assert!(axis_scale(u64::MAX).1 >= u64::MAX / 2);
        let day = Timestamp::from_micros(1_764_547_200_000_000);
        let svg = chart_svg(&[(day, [3, 2, 2])]);
        // Lines at 0, 2, 4, 6, 8 with their labels; the bar's three segments reach 7 of 8.
        for label in ["0", "2", "4", "6", "8"] {
            assert!(svg.contains(&format!(r#"text-anchor="end">{label}</text>"#)), "{svg}");
        }
        let heights: usize = svg
            .split("<rect ")
            .skip(1)
            .filter_map(|r| r.split("height=\"").nth(1)?.split('"').next()?.parse::<usize>().ok())
            .sum();
        assert_eq!(heights, 180 * 7 / 8, "{svg}");
    }

    #[test]
    fn segments_and_days_round_trip_what_pages_put_in_urls() {
        assert_eq!(segment("account:CORP\\j doe#1"), "account:CORP%5Cj%20doe%231");
        assert_eq!(segment("computer:WS01$"), "computer:WS01$");
        let midnight = parse_day("2026-11-25").unwrap();
        assert_eq!(day(midnight), "2026-11-25");
        assert_eq!(time(midnight), "2026-11-25 00:00:00 UTC");
        assert!(parse_day("25/11/2026").is_none());
    }

    #[test]
    fn the_dashboard_counts_open_alerts_and_charts_the_days_up_to_the_last() {
        let day_one = parse_day("2026-11-20").unwrap();
        let day_two = parse_day("2026-11-22").unwrap();
        let bucket = |day, detection: &str, severity, status, count| AlertBucket {
            day,
            detection: detection.into(),
            severity,
            status,
            count,
        };
        let board = Dashboard::new(&[
            bucket(day_one, "ORT-A", Severity::High, AlertStatus::Open, 2),
            bucket(day_one, "ORT-B", Severity::Low, AlertStatus::Closed, 5),
            bucket(day_two, "ORT-B", Severity::Low, AlertStatus::Open, 3),
            bucket(day_two, "ORT-A", Severity::Medium, AlertStatus::Open, 1),
        ]);
        assert_eq!((board.open_total, board.all_total), (6, 11));
        assert_eq!(board.open_by_severity, [2, 1, 3]);
        assert_eq!(board.by_detection[0], ("ORT-A".into(), [2, 1, 0], 3));
        assert_eq!(board.by_detection[1], ("ORT-B".into(), [0, 0, 3], 3));
        assert_eq!(
            board.chart_rows,
            vec![("2026-11-20".into(), [2, 0, 0]), ("2026-11-22".into(), [0, 1, 3])]
        );
        assert!(board.chart.contains("2026-11-22: 4 open (0 high, 1 medium, 3 low)"), "{}", board.chart);
        assert_eq!(board.chart.matches("<g>").count(), CHART_DAYS as usize);
        assert!(Dashboard::new(&[]).chart_rows.is_empty());
    }
}
