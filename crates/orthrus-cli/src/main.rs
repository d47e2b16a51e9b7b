use std::io::Write;
use std::path::PathBuf;

use orthrus_net::{Decoder, DecoderConfig, decode_file};

fn main() -> anyhow::Result<()> {
    let files: Vec<PathBuf> = std::env::args().skip(2).map(PathBuf::from).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in files {
        let mut d = Decoder::new(DecoderConfig::default());
        let mut acts = Vec::new();
        decode_file(&f, &mut d, &mut |a| acts.push(a))?;
        d.finish(&mut |a| acts.push(a));
        for a in acts {
            serde_json::to_writer(&mut out, &a)?;
            writeln!(out)?;
        }
        eprintln!("{}", serde_json::to_string_pretty(&d.stats())?);
    }
    Ok(())
}
