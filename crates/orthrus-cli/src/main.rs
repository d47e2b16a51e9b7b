//! `orthrus`: identity threat detection for Active Directory.
//!
//! The binary is glue: argument parsing, files, terminals and exit codes. The work is done by
//! the library crates (`orthrus-net` decodes, `orthrus-detect` detects).

mod admin;
mod analyze;
mod bench;
mod bench_center;
mod bench_events;
mod bench_ui;
mod config;
mod directory;
mod output;
mod sensor;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc (see orthrus-alloc for why, and how batch commands tune it).
#[global_allocator]
static GLOBAL: orthrus_alloc::MiMalloc = orthrus_alloc::MiMalloc;

/// Identity threat detection for Active Directory: reads what domain controllers say on the
/// wire and raises alerts on Kerberos attacks.
#[derive(Parser)]
#[command(name = "orthrus", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the detections over capture files (pcap, pcapng) and Windows event logs (EVTX,
    /// forwarded XML, Winlogbeat/Get-WinEvent/NXLog JSON, NXLog/Snare syslog, Samba audit
    /// logs), optionally gzip-compressed.
    Analyze(AnalyzeArgs),
    /// Print what Orthrus decoded from capture files and event logs, one JSON activity per
    /// line.
    Activities(ActivitiesArgs),
    /// The detection catalogue this binary implements.
    Detections {
        #[command(subcommand)]
        command: DetectionsCommand,
    },
    /// Measure decoding throughput (and tshark's, for comparison) on a large capture built
    /// from the given ones.
    Bench(bench::BenchArgs),
    /// Measure event-log throughput (`orthrus analyze` over EVTX, every detection on) beside
    /// evtx_dump on the same files: records per CPU-second and peak memory of each.
    BenchEvents(bench_events::EventBenchArgs),
    /// Run a program and print the CPU time and peak memory the kernel charged it (JSON);
    /// bench-events measures each side through it.
    #[command(hide = true)]
    BenchMeasure {
        /// Drop the program's standard error too.
        #[arg(long)]
        quiet: bool,
        /// Send the program's standard output to /dev/null instead of counting its lines (a
        /// pipe costs the writer CPU time of its own).
        #[arg(long)]
        discard: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// Measure the center's intake (activities stored and detected on per second) with its
    /// SQLite store, in process or over HTTPS on loopback.
    BenchCenter(bench_center::CenterBenchArgs),
    /// Render the web UI's main pages with many alerts in a temporary store: how long each takes.
    BenchUi(bench_ui::UiBenchArgs),
    /// Directory knowledge: sync a domain over LDAP into a snapshot, look entities up.
    Directory {
        #[command(subcommand)]
        command: directory::DirectoryCommand,
    },
    /// The center's administration: tenants, sensor credentials, users, roles, API tokens.
    Admin(admin::AdminArgs),
    /// Run the center: HTTPS intake for sensors, the REST API, detections per tenant, CEF
    /// syslog forwarding, health issues.
    Server(server::ServerArgs),
    /// Run a sensor: read the capture files and event logs dropped in a folder, keep them in a
    /// disk buffer, ship them to the center over pinned HTTPS, with heartbeats.
    Sensor(sensor::SensorArgs),
    /// Send one test message to every syslog endpoint and webhook of a center configuration,
    /// and say which took it.
    CefTest(server::CefTestArgs),
}

#[derive(clap::Args)]
pub struct AnalyzeArgs {
    /// Capture files and event logs, read as one timeline: captures ordered by their first
    /// packet (rotated captures may be given in any order), events merged in by event time.
    /// The form of each file is recognised from its content.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format for alerts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write alerts to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print per-protocol decode statistics (with skip reasons) to standard error.
    #[arg(long)]
    stats: bool,
    /// Exit with status 3 when any alert is raised (for scripts and CI gates).
    #[arg(long)]
    fail_on_alert: bool,
    /// Detection settings (TOML): thresholds, exclusions, disabled detections.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A directory snapshot (`orthrus directory sync`): alerts then name accounts as the
    /// directory knows them, mark sensitive accounts and honeytokens, and raise severity.
    #[arg(long)]
    directory: Option<PathBuf>,
    /// Ask this DNS server (address, port 53 by default) for the names of the addresses alerts
    /// stand on that the input did not name (PTR lookups, at most 256, 2 s each). Off by
    /// default: offline analysis asks no one unless told.
    #[arg(long, value_name = "SERVER")]
    reverse_dns: Option<String>,
    /// Start from what an earlier run learned (a file written by `--save-baseline`): the
    /// detections that learn (profiles of who changes sensitive groups, …) begin with it.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Write what the detections learned over this run (and the `--baseline` it started
    /// from) to FILE, for later runs or the center to start from.
    #[arg(long, value_name = "FILE")]
    save_baseline: Option<PathBuf>,
    /// Also send every alert as CEF over syslog to this endpoint: `udp://HOST[:PORT]` or
    /// `tcp://HOST[:PORT]` (port 514 by default; TCP uses RFC 6587 octet counting).
    #[arg(long, value_name = "URL")]
    syslog: Option<String>,
    /// Syslog framing for `--syslog`.
    #[arg(long, value_enum, default_value_t = SyslogFraming::Rfc5424)]
    syslog_format: SyslogFraming,
    /// Never draw a progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    no_progress: bool,
    /// Threads parsing EVTX chunks (default: every core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(clap::Args)]
pub struct ActivitiesArgs {
    /// Capture files and event logs (as for `analyze`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write activities to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print per-protocol decode statistics to standard error.
    #[arg(long)]
    stats: bool,
}

#[derive(Subcommand)]
enum DetectionsCommand {
    /// List every detection: id, name, MITRE ATT&CK, data sources, thresholds.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// One detection: what an alert of it means, its impact and the recommended actions.
    Show {
        /// The detection's id (`ORT-DRS-001`), as alerts name it.
        id: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyslogFraming {
    Rfc5424,
    Rfc3164,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table.
    Table,
    /// One JSON alert per line.
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Table,
    Markdown,
}

/// Exit statuses: 0 ran; 1 some input could not be read (the rest was analyzed); 2 fatal;
/// 3 alerts raised under `--fail-on-alert`.
/// The wall clock, for what happens now rather than in event time: administration records,
/// syslog send times. Detection never reads it.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock() -> orthrus_model::Timestamp {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    orthrus_model::Timestamp::from_micros(micros)
}

pub mod exit {
    pub const OK: u8 = 0;
    pub const INPUT_ERRORS: u8 = 1;
    pub const FATAL: u8 = 2;
    pub const ALERTS: u8 = 3;
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORTHRUS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or the journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    // Commands that read their input through and exit keep freed memory for reuse; the
    // server and the sensor run for months and give it back.
    if matches!(cli.command, Command::Analyze(_) | Command::Activities(_) | Command::Bench(_)) {
        orthrus_alloc::keep_freed_memory();
    }
    let result = match cli.command {
        Command::Analyze(args) => analyze::analyze(&args),
        Command::Activities(args) => analyze::activities(&args),
        Command::Detections { command: DetectionsCommand::List { format } } => {
            output::list_detections(format == ListFormat::Markdown).map(|()| exit::OK)
        }
        Command::Detections { command: DetectionsCommand::Show { id } } => {
            output::show_detection(&id).map(|()| exit::OK)
        }
        Command::Bench(args) => bench::bench(&args).map(|()| exit::OK),
        Command::BenchEvents(args) => bench_events::bench_events(&args).map(|()| exit::OK),
        Command::BenchMeasure { command, quiet, discard } => {
            bench_events::bench_measure(&command, quiet, discard).map(|()| exit::OK)
        }
        Command::BenchCenter(args) => bench_center::bench_center(&args).map(|()| exit::OK),
        Command::BenchUi(args) => bench_ui::bench_ui(&args).map(|()| exit::OK),
        Command::Directory { command } => directory::run(&command),
        Command::Admin(args) => admin::run(&args),
        Command::Server(args) => server::server(&args),
        Command::Sensor(args) => sensor::sensor(&args),
        Command::CefTest(args) => server::cef_test(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) if output::is_broken_pipe(&error) => ExitCode::from(exit::OK),
        Err(error) => {
            eprintln!("orthrus: error: {error:#}");
            ExitCode::from(exit::FATAL)
        }
    }
}
