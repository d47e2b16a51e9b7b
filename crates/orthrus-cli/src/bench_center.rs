//! `orthrus bench-center`: how many activities a second the center takes in — stored once,
//! detected on per tenant, alerts stored — with its SQLite store in a temporary folder. A
//! bounded load generator: a fixed number of batches of the given captures' activities,
//! posted over HTTPS on loopback to a center started in this process (`--https`), or handed
//! to the center's core directly (the ceiling without TLS, HTTP and JSON).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use orthrus_center::{Center, CenterConfig};
use orthrus_model::{Activity, TenantId};
use orthrus_store::credentials::new_token;
use orthrus_store::{SqliteStore, Store};

#[derive(clap::Args)]
pub struct CenterBenchArgs {
    /// Captures (or event logs) whose activities make the load.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Batches sent.
    #[arg(long, default_value_t = 200)]
    batches: usize,
    /// Activities per batch.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Send over HTTPS on loopback to a center started here, as sensors do.
    #[arg(long)]
    https: bool,
}

pub fn bench_center(args: &CenterBenchArgs) -> anyhow::Result<()> {
    let mut pool: Vec<Activity> = Vec::new();
    orthrus_timeline::decode_files(&args.files, &orthrus_timeline::NoProgress, &mut |a| pool.push(a));
    if pool.is_empty() {
        bail!("no activity in the inputs");
    }
    let batch_size = args.batch_size.max(1);
    let batches: Vec<Vec<Activity>> = (0..args.batches)
        .map(|n| pool.iter().cycle().skip((n * batch_size) % pool.len()).take(batch_size).cloned().collect())
        .collect();
    let dir = tempfile::tempdir().context("temporary folder")?;
    let store_path = dir.path().join("bench.db");
    let store = SqliteStore::open(&store_path)?;
    let tenant = TenantId("bench".into());
    let now = crate::wall_clock();
    store.create_tenant(&tenant, "bench", now)?;
    let (token, hash) = new_token()?;
    store.create_sensor(&tenant, "load", &hash, now)?;
    let store: Arc<dyn Store> = Arc::new(store);
    let total = (args.batches * batch_size) as f64;
    eprintln!(
        "{} activities from {} file(s); {} batches of {batch_size}{}",
        pool.len(),
        args.files.len(),
        args.batches,
        if args.https { ", over HTTPS on loopback" } else { ", in process" }
    );

    let elapsed = if args.https {
        https_load(dir.path(), &token, &batches)?
    } else {
        let center = Center::start(store.clone(), CenterConfig::default())?;
        let started = Instant::now();
        for (n, batch) in batches.iter().enumerate() {
            center.ingest(&token, n as u64 + 1, batch, now)?;
        }
        started.elapsed()
    };
    let stored = store_count(&store_path, &tenant)?;
    println!(
        "center: {:.0} activities/s ({} stored in {:.2} s)",
        total / elapsed.as_secs_f64(),
        stored,
        elapsed.as_secs_f64()
    );
    Ok(())
}

fn store_count(path: &std::path::Path, tenant: &TenantId) -> anyhow::Result<u64> {
    Ok(SqliteStore::open(path)?.activity_count(tenant)?)
}

/// Starts a center on 127.0.0.1 in this process and posts every batch to it over HTTPS.
fn https_load(
    dir: &std::path::Path,
    token: &str,
    batches: &[Vec<Activity>],
) -> anyhow::Result<std::time::Duration> {
    let config = orthrus_server::run::ServerConfig {
        listen: "127.0.0.1:0".into(),
        store: dir.join("bench.db").display().to_string(),
        tls_cert: dir.join("bench.crt"),
        tls_key: dir.join("bench.key"),
        health_interval_secs: 0,
        ..Default::default()
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<(std::net::SocketAddr, String)>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let server = std::thread::spawn(move || {
        runtime.block_on(orthrus_server::run::run(
            config,
            crate::wall_clock,
            move |address, fingerprint| {
                let _ = ready_tx.send((address, fingerprint.to_owned()));
            },
            async {
                let _ = stop_rx.await;
            },
        ))
    });
    let (address, fingerprint) = ready_rx.recv().context("the center did not start")?;
    let client = orthrus_sensor::client::CenterClient::pinned(
        &format!("https://localhost:{}", address.port()),
        &fingerprint,
        token,
    )?;
    // The sensors' share (JSON, compression) is done before the clock starts: this measures
    // the center (TLS, decompression, parsing, store, detection), as sensors elsewhere feed it.
    let bodies: Vec<(Vec<u8>, bool)> = batches
        .iter()
        .enumerate()
        .map(|(n, batch)| {
            orthrus_sensor::client::encode_body(
                &serde_json::json!({ "sequence": n + 1, "activities": batch }),
            )
        })
        .collect();
    let started = Instant::now();
    for body in &bodies {
        client.post_encoded("/api/v1/sensor/batches", body)?;
    }
    let elapsed = started.elapsed();
    let _ = stop_tx.send(());
    let _ = server.join();
    Ok(elapsed)
}
