//! `orthrus bench-ui`: how long the web UI's pages take with many alerts in the store. Fills a
//! temporary SQLite store with the given captures' activities (through the center, so the
//! timelines are real) and `--alerts` alerts copied from the ones those captures raise (spread
//! over 90 days, sources and severities varied, a third closed), then renders each main page
//! `--repeat` times through the real router and prints the median and slowest time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use orthrus_center::{Center, CenterConfig};
use orthrus_detect::Engine;
use orthrus_model::{Activity, Alert, Severity, TenantId};
use orthrus_store::credentials::{hash_password, new_token};
use orthrus_store::{AlertStatus, Role, SqliteStore, Store};
use tower::ServiceExt as _;

#[derive(clap::Args)]
pub struct UiBenchArgs {
    /// Captures (or event logs) whose activities and alerts fill the store.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Alerts in the store.
    #[arg(long, default_value_t = 100_000)]
    alerts: usize,
    /// Renderings of each page.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

const PASSWORD: &str = "bench-ui password, not a secret";
const DAY_SECS: i64 = 86_400;

pub fn bench_ui(args: &UiBenchArgs) -> anyhow::Result<()> {
    let mut activities: Vec<Activity> = Vec::new();
    orthrus_timeline::decode_files(&args.files, &orthrus_timeline::NoProgress, &mut |a| activities.push(a));
    let config = crate::config::load_config(None)?;
    let mut engine = Engine::new(&config, "bench");
    for activity in &activities {
        engine.observe(activity);
    }
    let templates = engine.finish();
    if templates.is_empty() {
        bail!(
            "the inputs raise no alert: give captures of attacks (testdata/pcap/dcsync.pcap, kerberoast.pcap)"
        );
    }

    let dir = tempfile::tempdir().context("temporary folder")?;
    let store = SqliteStore::open(&dir.path().join("bench.db"))?;
    let tenant = TenantId("bench".into());
    let now = crate::wall_clock();
    store.create_tenant(&tenant, "bench", now)?;
    let (token, hash) = new_token()?;
    store.create_sensor(&tenant, "load", &hash, now)?;
    store.create_user("analyst", None, now)?;
    store.grant("analyst", &tenant, Role::Analyst)?;
    store.set_password("analyst", &hash_password(PASSWORD)?)?;
    let store: Arc<dyn Store> = Arc::new(store);
    let center = Center::start(store.clone(), CenterConfig::default())?;
    center.ingest(&token, 1, &activities, now)?;

    let started = Instant::now();
    let mut sample = None;
    for n in 0..args.alerts {
        let template = templates.get(n % templates.len()).context("a template alert")?;
        let alert = copy(template, &tenant, n);
        store.upsert_alert(&alert)?;
        if n % 3 == 2 {
            store.set_alert_status(&tenant, &alert.id, AlertStatus::Closed)?;
        }
        if n == args.alerts / 2 {
            sample = Some(alert);
        }
    }
    eprintln!(
        "{} alerts (copies of {} raised by the inputs) and {} activities stored in {:.1} s",
        args.alerts,
        templates.len(),
        activities.len(),
        started.elapsed().as_secs_f64()
    );
    let sample = sample.or_else(|| templates.first().cloned()).context("an alert to open")?;
    let account = sample.source.account.clone().unwrap_or_else(|| "administrator".into());
    let address = sample.source.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "10.200.0.7".into());

    let state = Arc::new(orthrus_server::AppState::new(center, store, crate::wall_clock));
    let app = orthrus_server::router(state);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let cookie = login(&app).await?;
        let pages = [
            ("dashboard", "/ui/t/bench/".to_owned()),
            ("alerts, first page", "/ui/t/bench/alerts".to_owned()),
            ("alerts, page 1000", "/ui/t/bench/alerts?page=1000".to_owned()),
            ("alerts, open high", "/ui/t/bench/alerts?status=open&severity=high".to_owned()),
            ("alerts, one detection", format!("/ui/t/bench/alerts?detection={}", sample.detection)),
            ("alerts, one address", format!("/ui/t/bench/alerts?entity=ip:{address}")),
            ("alert page", format!("/ui/t/bench/alerts/{}", sample.id)),
            ("incidents, first page", "/ui/t/bench/incidents".to_owned()),
            ("incidents, page 100", "/ui/t/bench/incidents?page=100".to_owned()),
            (
                "incident page",
                format!("/ui/t/bench/incidents/{}", sample.incident.as_deref().unwrap_or_default()),
            ),
            ("account profile", format!("/ui/t/bench/entities/account:{account}")),
            ("health", "/ui/t/bench/health".to_owned()),
        ];
        println!("{:<24} {:>10} {:>10} {:>10}", "page", "median ms", "max ms", "bytes");
        for (name, path) in pages {
            let mut times = Vec::new();
            let mut bytes = 0;
            for _ in 0..args.repeat.max(1) {
                let started = Instant::now();
                let (status, body) = get(&app, &path, &cookie).await?;
                times.push(started.elapsed());
                if status != StatusCode::OK {
                    bail!("{path}: {status}");
                }
                bytes = body;
            }
            times.sort();
            let median = times.get(times.len() / 2).copied().unwrap_or_default();
            let max = times.last().copied().unwrap_or_default();
            println!("{name:<24} {:>10.1} {:>10.1} {bytes:>10}", millis(median), millis(max));
        }
        Ok(())
    })
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Alert `n`: the template under a new id, `n % 90` days earlier, from one of 250 addresses,
/// its severity turned by `n`.
fn copy(template: &Alert, tenant: &TenantId, n: usize) -> Alert {
    let mut alert = template.clone();
    let n_i64 = i64::try_from(n).unwrap_or(i64::MAX);
    alert.id = format!("{}-bench-{n}", template.id);
    alert.tenant = tenant.clone();
    let back = -(n_i64 % 90) * DAY_SECS - n_i64 % DAY_SECS;
    alert.first_seen = template.first_seen.saturating_add_secs(back);
    alert.last_seen = template.last_seen.saturating_add_secs(back);
    alert.severity = match n % 5 {
        0 | 1 => Severity::High,
        2 | 3 => Severity::Medium,
        _ => Severity::Low,
    };
    let host = u8::try_from(n % 250).unwrap_or(0);
    alert.source.ip = Some(std::net::IpAddr::from([10, 200, 0, host]));
    // Incidents of about five alerts each: 20 000 incidents for 100 000 alerts.
    alert.incident = Some(format!("inc-bench-{}", n / INCIDENT_SIZE));
    alert
}

/// Alerts per incident in the bench's store.
const INCIDENT_SIZE: usize = 5;

async fn login(app: &axum::Router) -> anyhow::Result<String> {
    let form = format!("user=analyst&password={}", PASSWORD.replace(' ', "+").replace(',', "%2C"));
    let request = Request::post("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))?;
    let response = app.clone().oneshot(request).await?;
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("the login opened no session")?;
    Ok(cookie.to_owned())
}

/// GET `path` with the session: its status and body size.
async fn get(app: &axum::Router, path: &str, cookie: &str) -> anyhow::Result<(StatusCode, usize)> {
    let request = Request::get(path).header(header::COOKIE, cookie).body(Body::empty())?;
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20).await?;
    Ok((status, body.len()))
}
