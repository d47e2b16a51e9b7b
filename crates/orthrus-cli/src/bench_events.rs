//! `orthrus bench-events`: event-log throughput (EVTX → events → activities → detections),
//! beside the `evtx` crate's own plain parse of the same files in the same run — the ceiling,
//! since Orthrus reads EVTX through that crate.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use orthrus_detect::{DetectionConfig, Engine};
use orthrus_events::{MapContext, to_activity};

#[derive(clap::Args)]
pub struct EventBenchArgs {
    /// EVTX files (e.g. every one of the public corpus); each round reads them all.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Passes over the files per measurement, so small sets still take long enough to time.
    #[arg(long, default_value_t = 10)]
    repeat: u32,
    /// Measurements of each side; the best is reported.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Worker threads for EVTX parsing (both sides use the same).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

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
    eprintln!("{} EVTX files, {:.1} MB, {} passes per round", files.len(), bytes as f64 / 1e6, args.repeat);

    // The ceiling: the evtx crate parsing every record to JSON, as Orthrus's reader has it do.
    let mut ceiling = f64::MAX;
    let mut records = 0u64;
    for _ in 0..args.rounds.max(1) {
        let start = Instant::now();
        let mut count = 0u64;
        for _ in 0..args.repeat.max(1) {
            for path in &files {
                let parser = evtx::EvtxParser::from_path(path).with_context(|| path.display().to_string())?;
                let mut parser = parser.with_configuration(orthrus_events::evtx::settings(args.threads));
                count += parser.records_json_value().filter(Result::is_ok).count() as u64;
            }
        }
        ceiling = ceiling.min(start.elapsed().as_secs_f64());
        records = count;
    }

    // Orthrus: the same records read, normalized, mapped to activities, ordered by time and
    // run through every detection.
    let mut best = f64::MAX;
    let (mut events, mut activities, mut alerts) = (0u64, 0u64, 0usize);
    let context = MapContext::default();
    for _ in 0..args.rounds.max(1) {
        let start = Instant::now();
        let (mut e, mut a, mut raised) = (0u64, 0u64, 0usize);
        for _ in 0..args.repeat.max(1) {
            for path in &files {
                let mut engine = Engine::new(&DetectionConfig::default(), "bench");
                let mut mapped = Vec::new();
                let summary = orthrus_events::read_file(path, "bench", args.threads, &mut |event| {
                    mapped.extend(to_activity(&event, &context));
                })?;
                e += summary.events;
                a += mapped.len() as u64;
                mapped.sort_by_key(|activity| activity.time);
                for activity in &mapped {
                    engine.observe(activity);
                }
                raised += engine.finish().len();
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
        (events, activities, alerts) = (e, a, raised);
    }

    let rate = |n: u64, secs: f64| n as f64 / secs;
    println!(
        "evtx crate (parse to JSON)  {records} records in {ceiling:.3} s: {:.0} records/s",
        rate(records, ceiling)
    );
    println!(
        "orthrus (events → activities → detections)  {events} events in {best:.3} s: {:.0} events/s",
        rate(events, best)
    );
    println!("  activities: {activities}, alerts: {alerts}");
    println!("  orthrus runs at {:.0}% of the evtx crate's parse rate", 100.0 * ceiling / best);
    Ok(())
}
