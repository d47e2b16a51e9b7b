use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orthrus_detect::{Baseline, DetectionConfig, Engine};
use orthrus_events::{MapContext, ReadSummary, to_activity};
use orthrus_model::Activity;
use orthrus_net::{
    CaptureError, CaptureSummary, DecodeStats, Decoder, DecoderConfig, capture, decode_reader, file_label,
};

use crate::output::{print_stats, write_alerts};
use crate::{ActivitiesArgs, AnalyzeArgs, exit};

/// Inputs smaller than this finish before a progress bar would be worth drawing.
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<DetectionConfig> {
    Ok(match path {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            DetectionConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => DetectionConfig::default(),
    })
}

pub fn analyze(args: &AnalyzeArgs) -> anyhow::Result<u8> {
    let mut config = load_config(args.config.as_ref())?;
    let tags = config.entity_tags();
    config.directory = std::sync::Arc::new(match &args.directory {
        Some(path) => crate::directory::load_directory(path, &tags)?,
        None => orthrus_directory::Directory::new(orthrus_directory::Snapshot::default(), &tags),
    });
    // A bad syslog URL stops the run before any input is read.
    let syslog = args.syslog.as_deref().map(syslog_endpoint).transpose()?;
    let mut engine = Engine::new(&config, "orthrus-analyze");
    if let Some(path) = &args.baseline {
        let baseline = Baseline::load(path)?;
        for id in engine.restore(&baseline)? {
            eprintln!(
                "orthrus: {}: the state for {id} was left unused (not a detection enabled here)",
                path.display()
            );
        }
    }
    let run = decode_files(&args.files, !args.no_progress, &mut |activity| engine.observe(&activity));
    if let Some(server) = &args.reverse_dns {
        reverse_dns(&mut engine, server)?;
    }
    if let Some(path) = &args.save_baseline {
        engine.baseline().save(path)?;
    }
    let alerts = engine.finish();

    let mut sink = open_output(args.output.as_deref())?;
    write_alerts(&mut sink, &alerts, args.format)?;
    sink.flush()?;
    if let Some((transport, endpoint)) = syslog {
        send_syslog(transport, endpoint, args.syslog_format, &alerts)?;
    }
    if args.stats {
        print_stats(&run.stats, &run.files);
    }
    report_input_errors(&run);
    Ok(if run.failed_files > 0 {
        exit::INPUT_ERRORS
    } else if args.fail_on_alert && !alerts.is_empty() {
        exit::ALERTS
    } else {
        exit::OK
    })
}

/// Most PTR lookups one run makes; each waits at most `REVERSE_DNS_TIMEOUT`.
const REVERSE_DNS_LIMIT: usize = 256;
const REVERSE_DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

fn reverse_dns(engine: &mut Engine, server: &str) -> anyhow::Result<()> {
    let server = orthrus_directory::reverse_dns::server_address(server)
        .with_context(|| format!("--reverse-dns {server:?} is not an address (10.0.0.1 or 10.0.0.1:53)"))?;
    let pending = engine.unresolved_addresses();
    if pending.len() > REVERSE_DNS_LIMIT {
        eprintln!(
            "orthrus: reverse DNS: {} addresses, asking about the first {REVERSE_DNS_LIMIT}",
            pending.len()
        );
    }
    let mut failures = 0;
    for (ip, time) in pending.into_iter().take(REVERSE_DNS_LIMIT) {
        match orthrus_directory::reverse_dns::reverse_lookup(server, ip, REVERSE_DNS_TIMEOUT) {
            Ok(Some(name)) => engine.learn_name(ip, &name, orthrus_directory::Method::ReverseDns, time),
            Ok(None) => {}
            Err(e) => {
                failures += 1;
                if failures <= 3 {
                    eprintln!("orthrus: warning: {e}");
                }
            }
        }
    }
    if failures > 3 {
        eprintln!("orthrus: warning: reverse DNS failed for {failures} addresses in all");
    }
    Ok(())
}

pub fn activities(args: &ActivitiesArgs) -> anyhow::Result<u8> {
    let mut sink = open_output(args.output.as_deref())?;
    let mut write_error: Option<std::io::Error> = None;
    let run = decode_files(&args.files, false, &mut |activity| {
        if write_error.is_none() {
            let line = serde_json::to_writer(&mut sink, &activity)
                .map_err(std::io::Error::from)
                .and_then(|()| sink.write_all(b"\n"));
            write_error = line.err();
        }
    });
    if let Some(e) = write_error {
        return Err(e.into());
    }
    sink.flush()?;
    if args.stats {
        print_stats(&run.stats, &run.files);
    }
    report_input_errors(&run);
    Ok(if run.failed_files > 0 { exit::INPUT_ERRORS } else { exit::OK })
}

fn open_output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).with_context(|| format!("creating {}", p.display()))?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

/// What happened to each input file.
pub struct FileResult {
    pub label: String,
    pub outcome: FileOutcome,
}

pub enum FileOutcome {
    Capture(CaptureSummary),
    Events { summary: ReadSummary, activities: u64 },
    Failed(String),
}

pub struct Run {
    pub stats: DecodeStats,
    pub files: Vec<FileResult>,
    pub failed_files: usize,
}

/// Decodes the files as one timeline. Event logs (EVTX, XML, JSON, syslog, Samba audit) are
/// read first and their activities ordered by event time; captures are ordered by their first
/// packet's time (so rotated captures such as `dc.pcap0 dc.pcap1 ...` may be given in any
/// order) and decoded through one decoder, so flows and requests that cross a file boundary
/// stay whole. Event activities are merged in before every network activity that is later
/// than they are; activities go to `out` in that order.
pub fn decode_files(files: &[PathBuf], progress: bool, out: &mut dyn FnMut(Activity)) -> Run {
    let (event_files, captures): (Vec<&PathBuf>, Vec<&PathBuf>) =
        files.iter().partition(|path| orthrus_events::sniff_file(path).is_some());
    let mut run = Run { stats: DecodeStats::default(), files: Vec::new(), failed_files: 0 };
    let mut pending = read_event_files(&event_files, progress, &mut run).into_iter().peekable();
    let mut merged = |activity: Activity| {
        while let Some(earlier) = pending.next_if(|e| e.time <= activity.time) {
            out(earlier);
        }
        out(activity);
    };
    decode_captures(&captures, progress, &mut run, &mut merged);
    pending.for_each(out);
    run
}

/// Every event file's activities, ordered by event time (stable: file order within a time).
fn read_event_files(files: &[&PathBuf], progress: bool, run: &mut Run) -> Vec<Activity> {
    let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = progress_bar(progress && total >= PROGRESS_MIN_BYTES, files.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} event logs {wide_msg}") {
        bar.set_style(style);
    }
    let context = MapContext::default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut activities = Vec::new();
    for path in files {
        let label = file_label(path);
        bar.set_message(label.clone());
        let before = activities.len();
        let read = orthrus_events::read_file(path, &label, threads, &mut |event| {
            if let Some(activity) = to_activity(&event, &context) {
                activities.push(activity);
            }
        });
        let outcome = match read {
            Ok(summary) => FileOutcome::Events { summary, activities: (activities.len() - before) as u64 },
            Err(e) => {
                run.failed_files += 1;
                FileOutcome::Failed(e.to_string())
            }
        };
        run.files.push(FileResult { label, outcome });
        bar.inc(1);
    }
    bar.finish_and_clear();
    activities.sort_by_key(|a| a.time);
    activities
}

fn decode_captures(files: &[&PathBuf], progress: bool, run: &mut Run, out: &mut dyn FnMut(Activity)) {
    let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = progress_bar(progress && total >= PROGRESS_MIN_BYTES, total);
    let mut ordered: Vec<(i64, usize, &PathBuf)> = files
        .iter()
        .copied()
        .enumerate()
        .map(|(index, path)| {
            let first = capture::open(path).ok().and_then(|r| capture::first_timestamp(r).ok().flatten());
            // Unreadable and empty files go last; reading them again reports why.
            (first.unwrap_or(i64::MAX), index, path)
        })
        .collect();
    ordered.sort_unstable();
    let mut decoder = Decoder::new(DecoderConfig::default());
    for (_, _, path) in ordered {
        let label = file_label(path);
        let outcome = File::open(path).map_err(|e| format!("cannot open: {e}")).and_then(|file| {
            let reader: Box<dyn Read + Send> = Box::new(bar.wrap_read(file));
            decode_reader(reader, &label, &mut decoder, out).map_err(|e| match e {
                CaptureError::NotACapture => {
                    "neither a capture (pcap, pcapng) nor an event log Orthrus reads \
                                              (EVTX, event XML or JSON, syslog, Samba audit log)"
                        .to_owned()
                }
                other => other.to_string(),
            })
        });
        let outcome = match outcome {
            Ok(summary) => {
                if summary.corrupt.is_some() {
                    run.failed_files += 1;
                }
                FileOutcome::Capture(summary)
            }
            Err(e) => {
                run.failed_files += 1;
                FileOutcome::Failed(e)
            }
        };
        run.files.push(FileResult { label, outcome });
    }
    decoder.finish(out);
    run.stats = decoder.stats();
    bar.finish_and_clear();
}

fn progress_bar(show: bool, total: u64) -> ProgressBar {
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn report_input_errors(run: &Run) {
    for file in &run.files {
        match &file.outcome {
            FileOutcome::Failed(e) => eprintln!("orthrus: {}: {e}", file.label),
            FileOutcome::Events { summary, .. } => {
                if summary.skipped_total() > 0 {
                    eprintln!(
                        "orthrus: {}: skipped {} unreadable records or chunks ({}); the rest was analyzed",
                        file.label,
                        summary.skipped_total(),
                        summary
                            .skipped
                            .iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            FileOutcome::Capture(summary) => {
                if let Some(corrupt) = &summary.corrupt {
                    eprintln!("orthrus: {}: stopped reading: {corrupt}", file.label);
                }
                if summary.truncated {
                    eprintln!(
                        "orthrus: {}: last packet record cut short (capture interrupted); the rest was analyzed",
                        file.label
                    );
                }
            }
        }
    }
}

/// `udp://HOST[:PORT]` or `tcp://HOST[:PORT]` (514 by default).
fn syslog_endpoint(url: &str) -> anyhow::Result<(orthrus_sinks::Transport, std::net::SocketAddr)> {
    use std::net::ToSocketAddrs;
    let (transport, rest) = if let Some(rest) = url.strip_prefix("udp://") {
        (orthrus_sinks::Transport::Udp, rest)
    } else if let Some(rest) = url.strip_prefix("tcp://") {
        (orthrus_sinks::Transport::Tcp { octet_counting: true }, rest)
    } else {
        anyhow::bail!("--syslog {url}: use udp://HOST[:PORT] or tcp://HOST[:PORT]");
    };
    let with_port =
        if rest.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !rest.ends_with(']') {
            rest.to_owned()
        } else {
            format!("{rest}:514")
        };
    let endpoint = with_port
        .to_socket_addrs()
        .with_context(|| format!("--syslog {url}"))?
        .next()
        .with_context(|| format!("--syslog {url}: no address"))?;
    Ok((transport, endpoint))
}

/// Sends the run's alerts as CEF over syslog (`design/cef.md`), then says how many went.
fn send_syslog(
    transport: orthrus_sinks::Transport,
    endpoint: std::net::SocketAddr,
    framing: crate::SyslogFraming,
    alerts: &[orthrus_model::Alert],
) -> anyhow::Result<()> {
    use orthrus_sinks::{CefOptions, Framing, SyslogOptions, SyslogSink, Trigger, alert_message};
    let hostname =
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let options = SyslogOptions {
        framing: match framing {
            crate::SyslogFraming::Rfc5424 => Framing::Rfc5424,
            crate::SyslogFraming::Rfc3164 => Framing::Rfc3164,
        },
        hostname: if hostname.is_empty() { "orthrus".into() } else { hostname },
        ..SyslogOptions::default()
    };
    let mut sink = SyslogSink::new(endpoint, transport, alerts.len().max(1));
    let now = crate::wall_clock();
    for alert in alerts {
        sink.push(alert_message(alert, Trigger::New, &CefOptions::default(), &options, transport, now));
    }
    sink.flush()?;
    eprintln!("orthrus: sent {} alert(s) as CEF to syslog {endpoint}", sink.sent);
    Ok(())
}
