use std::io::Write;

use orthrus_detect::DetectionConfig;
use orthrus_detect::detections::{DETECTIONS, catalogue_markdown};
use orthrus_model::{Alert, Position, Severity};
use orthrus_net::DecodeStats;

use crate::Format;
use orthrus_timeline::{FileOutcome, FileResult};

pub fn write_alerts(out: &mut dyn Write, alerts: &[Alert], format: Format) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for alert in alerts {
                serde_json::to_writer(&mut *out, alert)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Table => write_table(out, alerts)?,
    }
    Ok(())
}

fn write_table(out: &mut dyn Write, alerts: &[Alert]) -> std::io::Result<()> {
    if alerts.is_empty() {
        return writeln!(out, "No alerts.");
    }
    for alert in alerts {
        writeln!(
            out,
            "{:<7} {}  {}",
            alert.severity.to_string().to_uppercase(),
            alert.detection,
            alert.title
        )?;
        let incident = alert.incident.as_deref().map(|i| format!("  incident {i}")).unwrap_or_default();
        writeln!(
            out,
            "        {} .. {}  count {}  MITRE {}{incident}",
            alert.first_seen,
            alert.last_seen,
            alert.count,
            alert.mitre.techniques.join(",")
        )?;
        writeln!(out, "        {}", alert.description)?;
        let marks: Vec<String> = alert
            .entities
            .iter()
            .filter_map(|e| {
                let name = e.directory_name.as_deref().unwrap_or(&e.name);
                if e.honeytoken {
                    Some(format!("{name} is a honeytoken"))
                } else {
                    e.sensitive_reason.as_ref().map(|why| format!("{name} is sensitive ({why})"))
                }
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !marks.is_empty() {
            writeln!(out, "        {}", marks.join("; "))?;
        }
        let mut frames: Vec<String> = Vec::new();
        let mut file = None;
        for evidence in &alert.evidence {
            if file != Some(&evidence.at.file) {
                file = Some(&evidence.at.file);
                frames.push(format!("{} {}", evidence.at.file, position_text(evidence.at.at)));
            } else {
                frames.push(position_number(evidence.at.at).to_string());
            }
        }
        let more = if alert.evidence_omitted > 0 {
            format!(" (+{} more)", alert.evidence_omitted)
        } else {
            String::new()
        };
        writeln!(out, "        evidence: {}{more}", frames.join(", "))?;
        writeln!(out)?;
    }
    let count = |s| alerts.iter().filter(|a| a.severity == s).count();
    let incidents: std::collections::BTreeSet<&str> =
        alerts.iter().filter_map(|a| a.incident.as_deref()).collect();
    let in_incidents = match incidents.len() {
        0 => String::new(),
        1 => " in 1 incident".to_owned(),
        n => format!(" in {n} incidents"),
    };
    writeln!(
        out,
        "{} alert{} ({} high, {} medium, {} low){in_incidents}.",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    )?;
    if !alerts.is_empty() {
        writeln!(out, "What an alert means and what to do: orthrus detections show ID")?;
    }
    Ok(())
}

fn position_text(at: Position) -> String {
    match at {
        Position::Frame(n) => format!("frame {n}"),
        Position::Record(n) => format!("record {n}"),
        Position::Line(n) => format!("line {n}"),
    }
}

fn position_number(at: Position) -> u64 {
    match at {
        Position::Frame(n) | Position::Record(n) | Position::Line(n) => n,
    }
}

pub fn print_stats(stats: &DecodeStats, files: &[FileResult]) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "Decode statistics");
    for file in files {
        let status = match &file.outcome {
            FileOutcome::Capture(s) if s.corrupt.is_some() => format!("{} frames, then corrupt", s.frames),
            FileOutcome::Capture(s) if s.truncated => format!("{} frames, last one truncated", s.frames),
            FileOutcome::Capture(s) => format!("{} frames", s.frames),
            FileOutcome::Events { summary, activities, late } => {
                let skipped: Vec<String> = summary.skipped.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "{}: {} events ({} unused), {activities} activities{}{}",
                    summary.format.map_or("events", |f| f.name()),
                    summary.events,
                    summary.passed_over,
                    if *late > 0 { format!(", {late} out of time order") } else { String::new() },
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!(", skipped: {}", skipped.join(" "))
                    }
                )
            }
            FileOutcome::Failed(e) => format!("unreadable: {e}"),
        };
        let _ = writeln!(err, "  file {}: {status}", file.label);
    }
    let any_capture = files.iter().any(|f| matches!(f.outcome, FileOutcome::Capture(_)));
    for (protocol, section) in stats.protocols.iter().filter(|_| any_capture) {
        let counters: Vec<String> = section.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(err, "  {protocol:<9} {}", counters.join(" "));
        if !section.errors.is_empty() {
            let errors: Vec<String> = section.errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(err, "  {:<9} skipped/anomalies: {}", "", errors.join(" "));
        }
    }
}

/// `orthrus detections show ID`: what the detection means and what to do, as the alert page
/// says it.
pub fn show_detection(id: &str) -> anyhow::Result<()> {
    let meta = DETECTIONS.iter().map(|e| e.meta).find(|m| m.id.eq_ignore_ascii_case(id.trim())).ok_or_else(
        || anyhow::anyhow!("there is no detection {id:?}: `orthrus detections list` names them all"),
    )?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}  {}", meta.id, meta.title)?;
    writeln!(out, "MDI: {}    MITRE ATT&CK: {} ({})", meta.mdi, meta.techniques.join(", "), meta.tactic)?;
    writeln!(out, "\nWhat it means\n  {}\n\nImpact\n  {}\n\nRecommended actions", meta.meaning, meta.impact)?;
    for (n, action) in meta.actions.iter().enumerate() {
        writeln!(out, "  {}. {action}", n + 1)?;
    }
    Ok(())
}

pub fn list_detections(markdown: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if markdown {
        out.write_all(catalogue_markdown().as_bytes())?;
        return Ok(());
    }
    let config = DetectionConfig::default();
    writeln!(
        out,
        "{:<12} {:<20} {:<8} NAME   (severity+: one level higher for a sensitive target)",
        "ID", "MITRE", "SEVERITY"
    )?;
    for entry in DETECTIONS {
        let meta = entry.meta;
        writeln!(
            out,
            "{:<12} {:<20} {:<8} {}",
            meta.id,
            meta.techniques.join(","),
            if meta.escalates_for_sensitive {
                format!("{}+", meta.base_severity)
            } else {
                meta.base_severity.to_string()
            },
            meta.title
        )?;
        writeln!(out, "{:<43} data: {}", "", meta.data_sources.join("; "))?;
        let thresholds: Vec<String> = config
            .thresholds(meta.config_section)
            .into_iter()
            .map(|(k, v)| format!("{}.{k} = {v}", meta.config_section))
            .collect();
        writeln!(out, "{:<43} thresholds: {}", "", thresholds.join(", "))?;
    }
    Ok(())
}

pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
