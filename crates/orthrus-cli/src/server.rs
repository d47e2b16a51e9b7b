//! `orthrus server`: runs the center (crates/orthrus-server) until interrupted.

use std::path::PathBuf;

use anyhow::Context;
use orthrus_server::run::{ServerConfig, run};

use crate::exit;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// The center's configuration (TOML); every key has a default (see the README).
    #[arg(long, env = "ORTHRUS_SERVER_CONFIG")]
    config: Option<PathBuf>,
}

pub fn server(args: &ServerArgs) -> anyhow::Result<u8> {
    let config: ServerConfig = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => ServerConfig::default(),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run(
        config,
        crate::wall_clock,
        |address, fingerprint| {
            eprintln!("orthrus: center listening on https://{address} (certificate SHA-256 {fingerprint})");
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ))?;
    eprintln!("orthrus: center stopped");
    Ok(exit::OK)
}
