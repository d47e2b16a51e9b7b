use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orthrus_detect::{Baseline, Engine};
use orthrus_model::Activity;
use orthrus_timeline::{FileOutcome, Progress, Run};

use crate::config::load_config;
use crate::output::{print_stats, write_alerts};
use crate::{ActivitiesArgs, AnalyzeArgs, exit};

/// Inputs smaller than this finish before a progress bar would be worth drawing.
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

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
    let run =
        decode_files(&args.files, args.threads, !args.no_progress, &mut |activity| engine.observe(&activity));
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
    let run = decode_files(&args.files, None, false, &mut |activity| {
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

/// The terminal's progress bars, for inputs large enough to be worth one (hidden otherwise,
/// and when standard error is not a terminal).
struct TerminalProgress {
    enabled: bool,
    bar: std::cell::RefCell<ProgressBar>,
}

impl TerminalProgress {
    fn new(enabled: bool) -> Self {
        Self { enabled, bar: std::cell::RefCell::new(ProgressBar::hidden()) }
    }

    fn start(&self, show: bool, total: u64, template: &str) {
        let bar = if self.enabled && show && std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        *self.bar.borrow_mut() = bar;
    }
}

impl Progress for TerminalProgress {
    fn event_files(&self, files: u64, bytes: u64) {
        self.start(bytes >= PROGRESS_MIN_BYTES, files, "{bar:40} {pos}/{len} event logs {wide_msg}");
    }

    fn event_file(&self, label: &str) {
        self.bar.borrow().set_message(label.to_owned());
    }

    fn event_file_done(&self) {
        self.bar.borrow().inc(1);
    }

    fn captures(&self, bytes: u64) {
        self.start(
            bytes >= PROGRESS_MIN_BYTES,
            bytes,
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        );
    }

    fn capture_reader(&self, reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        Box::new(self.bar.borrow().wrap_read(reader))
    }

    fn phase_done(&self) {
        self.bar.borrow().finish_and_clear();
    }
}

/// Decodes the files as one timeline (`orthrus_timeline`), with a progress bar on a terminal
/// when `progress` allows it.
pub fn decode_files(
    files: &[PathBuf],
    threads: Option<usize>,
    progress: bool,
    out: &mut dyn FnMut(Activity),
) -> Run {
    let progress = TerminalProgress::new(progress);
    match threads {
        Some(threads) => orthrus_timeline::decode_files_on(files, threads, &progress, out),
        None => orthrus_timeline::decode_files(files, &progress, out),
    }
}

fn report_input_errors(run: &Run) {
    for file in &run.files {
        match &file.outcome {
            FileOutcome::Failed(e) => eprintln!("orthrus: {}: {e}", file.label),
            FileOutcome::Events { summary, late, .. } => {
                if *late > 0 {
                    eprintln!(
                        "orthrus: {}: {late} activities were further out of time order than the reorder \
                         window ({} per log) and were analyzed where they were",
                        file.label,
                        orthrus_timeline::merge::REORDER_WINDOW
                    );
                }
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
