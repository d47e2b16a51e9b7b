//! `orthrus bench-events`: event-log throughput beside `evtx_dump`, the `evtx` crate's own CLI
//! (the fastest EVTX renderer there is, and the parser Orthrus reads through), on the same
//! files in the same run: records per CPU-second and peak memory of each.
//!
//! Each side runs as a child of a small measuring process (`orthrus bench-measure`), which
//! reports the child's CPU time and peak resident set from the kernel's accounting
//! (`getrusage(RUSAGE_CHILDREN)`): neither side pays for the other's memory, and the figures
//! are what the kernel charged, not wall time on a shared machine.

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

#[derive(clap::Args)]
pub struct EventBenchArgs {
    /// EVTX files (e.g. a set built by scripts/repack-evtx.py from the public corpus).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Threads parsing EVTX chunks, given to both sides (`evtx_dump -t`, `orthrus analyze
    /// --threads`); 1 compares the work each does per record.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Measurements of each side; the one with the least CPU time is reported.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// The evtx_dump to run beside Orthrus (`cargo install evtx --version 0.15.1 --locked`).
    #[arg(long, default_value = "evtx_dump")]
    evtx_dump: PathBuf,
}

/// What the kernel charged one measured run.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    /// Lines the program wrote to standard output (none counted when it was discarded).
    pub lines: u64,
}

/// Counts records without reading any (each passed over by its header).
const NO_EVENT: orthrus_events::Wanted = orthrus_events::Wanted { event: |_, _, _| false, field: |_| false };

pub fn bench_events(args: &EventBenchArgs) -> anyhow::Result<()> {
    let files: Vec<&PathBuf> = args
        .files
        .iter()
        .filter(|f| orthrus_events::sniff_file(f) == Some(orthrus_events::Format::Evtx))
        .collect();
    if files.is_empty() {
        bail!("no EVTX file among the inputs");
    }
    let bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let mut records = 0u64;
    for path in &files {
        records +=
            orthrus_events::read_file_where(path, "count", args.threads, NO_EVENT, &mut |_| {})?.events;
    }
    eprintln!("{} EVTX files, {:.1} MiB, {records} records", files.len(), bytes as f64 / 1048576.0);
    let version = Command::new(&args.evtx_dump).arg("--version").output().with_context(|| {
        format!("cannot run {} (cargo install evtx --version 0.15.1 --locked)", args.evtx_dump.display())
    })?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();

    let me = std::env::current_exe().context("cannot find the orthrus binary")?;
    let threads = args.threads.to_string();
    // evtx_dump takes one file a run; its usage is the sum of its runs and its peak the
    // largest of them. Its output goes to /dev/null, the cheapest place there is: written
    // to a pipe, as a first version of this benchmark counted it, the pipe alone added a
    // third to its CPU time. Its records are counted once, in a run not measured.
    let evtx_dump_runs = |discard: bool| -> anyhow::Result<Usage> {
        let mut total = Usage::default();
        for path in &files {
            let mut command: Vec<OsString> = vec![args.evtx_dump.clone().into()];
            command.extend(["-t", &threads, "-o", "jsonl"].map(OsString::from));
            command.push(path.as_os_str().to_owned());
            let usage = measure(&me, &command, false, discard)?;
            total.cpu_seconds += usage.cpu_seconds;
            total.peak_rss_kib = total.peak_rss_kib.max(usage.peak_rss_kib);
            total.lines += usage.lines;
        }
        Ok(total)
    };
    let rendered = evtx_dump_runs(false)?.lines;
    let evtx_dump = best(args.rounds, || evtx_dump_runs(true))?;
    let orthrus = best(args.rounds, || {
        let mut command: Vec<OsString> = vec![me.clone().into()];
        command.extend(
            ["analyze", "--no-progress", "--threads", &threads, "--format", "json"].map(OsString::from),
        );
        command.extend(files.iter().map(|f| f.as_os_str().to_owned()));
        // The re-packed benchmark sets step back in time where they start over on their
        // chunks; analyze's notes saying so are left out of the report.
        measure(&me, &command, true, false)
    })?;

    if rendered != records {
        eprintln!("note: evtx_dump wrote {rendered} records, Orthrus read {records}");
    }
    let row = |name: &str, usage: &Usage| {
        println!(
            "{name:<58} {:>8.2} CPU-s {:>10.0} records/CPU-s {:>7.1} MiB peak",
            usage.cpu_seconds,
            records as f64 / usage.cpu_seconds,
            usage.peak_rss_kib as f64 / 1024.0
        );
    };
    row(&format!("{version} (-t {threads} -o jsonl > /dev/null: renders every record)"), &evtx_dump);
    row(&format!("orthrus analyze --threads {threads} (every detection)"), &orthrus);
    println!(
        "  orthrus reads {:.2}× evtx_dump's records per CPU-second; {} alerts",
        evtx_dump.cpu_seconds / orthrus.cpu_seconds,
        orthrus.lines
    );
    Ok(())
}

/// The round with the least CPU time.
fn best(rounds: u32, mut run: impl FnMut() -> anyhow::Result<Usage>) -> anyhow::Result<Usage> {
    let mut best: Option<Usage> = None;
    for _ in 0..rounds.max(1) {
        let usage = run()?;
        if best.is_none_or(|b| usage.cpu_seconds < b.cpu_seconds) {
            best = Some(usage);
        }
    }
    best.context("no round ran")
}

/// Runs `command` under `orthrus bench-measure` and reads back what the kernel charged it.
fn measure(me: &PathBuf, command: &[OsString], quiet: bool, discard: bool) -> anyhow::Result<Usage> {
    let mut measure = Command::new(me);
    measure.arg("bench-measure");
    if quiet {
        measure.arg("--quiet");
    }
    if discard {
        measure.arg("--discard");
    }
    let output = measure.arg("--").args(command).stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        bail!("{:?} failed ({})", command, output.status);
    }
    serde_json::from_slice(&output.stdout).context("bench-measure answered no usage")
}

/// `orthrus bench-measure [--quiet] -- PROGRAM ARGS…`: runs the program (its output counted
/// in lines, then dropped; its standard error too with `--quiet`) and prints its [`Usage`] as
/// JSON. The only child this process has, so the kernel's account of its children is the
/// program's alone.
pub fn bench_measure(command: &[OsString], quiet: bool, discard: bool) -> anyhow::Result<()> {
    let (program, rest) = command.split_first().context("no program to measure")?;
    let mut child = Command::new(program)
        .args(rest)
        .stdout(if discard { Stdio::null() } else { Stdio::piped() })
        .stderr(if quiet { Stdio::null() } else { Stdio::inherit() })
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    let mut lines = 0u64;
    if let Some(mut stdout) = child.stdout.take() {
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = stdout.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            lines += buffer.get(..n).unwrap_or_default().iter().filter(|b| **b == b'\n').count() as u64;
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{} exited with {status}", program.to_string_lossy());
    }
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let usage = Usage {
        cpu_seconds: seconds(usage.user_time()) + seconds(usage.system_time()),
        // Linux reports kilobytes (KiB).
        peak_rss_kib: u64::try_from(usage.max_rss()).unwrap_or_default(),
        lines,
    };
    println!("{}", serde_json::to_string(&usage)?);
    Ok(())
}
