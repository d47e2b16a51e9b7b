//! `orthrus server`: runs the center (crates/orthrus-server) until interrupted.

use std::path::{Path, PathBuf};

use anyhow::Context;
use orthrus_server::run::{ServerConfig, run};

use crate::exit;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// The center's configuration (TOML); every key has a default (see the README).
    #[arg(long, env = "ORTHRUS_SERVER_CONFIG")]
    config: Option<PathBuf>,
}

/// The configuration file, or the defaults without one.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<ServerConfig> {
    Ok(match path {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => ServerConfig::default(),
    })
}

pub fn server(args: &ServerArgs) -> anyhow::Result<u8> {
    let config = load_config(args.config.as_deref())?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run(
        config,
        crate::wall_clock,
        |address, fingerprint| {
            eprintln!("orthrus: center listening on https://{address} (certificate SHA-256 {fingerprint})");
        },
        stop_signal(),
    ))?;
    eprintln!("orthrus: center stopped");
    Ok(exit::OK)
}

/// Ctrl-C or SIGTERM (what service managers send): the center stops accepting, and what waits
/// for the SIEMs goes out first.
pub async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

#[derive(clap::Args)]
pub struct CefTestArgs {
    /// The center's configuration (TOML) naming the syslog endpoints and webhooks.
    #[arg(long, env = "ORTHRUS_SERVER_CONFIG")]
    config: PathBuf,
}

/// `orthrus cef-test`: one test message to every configured endpoint, as the center would
/// send it (framing, transport, TLS checks), filters aside; says which endpoints took it.
pub fn cef_test(args: &CefTestArgs) -> anyhow::Result<u8> {
    let config = load_config(Some(&args.config))?;
    let (routes, mut senders) = orthrus_server::run::sinks(&config, &orthrus_server::run::hostname())?;
    if senders.is_empty() {
        anyhow::bail!("{} names no [[syslog]] or [[webhook]] endpoint", args.config.display());
    }
    let now = crate::wall_clock();
    let cef = orthrus_sinks::CefOptions { url_base: config.url_base.clone(), ..Default::default() };
    let mut failed = 0;
    for (route, sender) in routes.iter().zip(senders.iter_mut()) {
        route.test_message(&cef, now);
        match sender.flush() {
            Ok(()) => println!("ok      {}", route.name),
            Err(error) => {
                failed += 1;
                println!("FAILED  {}: {error}", route.name);
            }
        }
    }
    // Like a partly unreadable input: some of the work could not be done.
    Ok(if failed == 0 { crate::exit::OK } else { crate::exit::INPUT_ERRORS })
}
