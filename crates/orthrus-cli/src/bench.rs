//! `orthrus bench`: decoding throughput on a large capture, beside tshark's on the same file.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use orthrus_net::capture::{self, PcapWriter};
use orthrus_net::{Decoder, DecoderConfig, decode_file};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Captures (Ethernet/IPv4) to build the large capture from: Kerberos-heavy ones measure
    /// the Kerberos path (the lab's krb_*, kerberoast, asrep_roast, benign_busy), all of the
    /// lab's captures the mixed DC traffic (SMB, DCE-RPC, LDAP, DNS, Kerberos).
    #[arg(required = true)]
    captures: Vec<PathBuf>,
    /// Packets in the built capture (the inputs are repeated, each copy on its own addresses).
    #[arg(long, default_value_t = 2_000_000)]
    packets: u64,
    /// Where to write the built capture (default: a file in the temp folder, removed after).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Decoding rounds; the best is reported.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Do not run tshark for comparison.
    #[arg(long)]
    no_tshark: bool,
}

struct Frame {
    ts_micros: i64,
    data: Vec<u8>,
}

pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let mut frames = Vec::new();
    for path in &args.captures {
        let reader = capture::open(path).with_context(|| format!("{}", path.display()))?;
        let mut wrong_link = false;
        capture::read_frames(reader, |f| {
            wrong_link |= f.linktype != 1;
            frames.push(Frame { ts_micros: f.ts_micros, data: f.data.to_vec() });
        })
        .with_context(|| format!("{}", path.display()))?;
        if wrong_link {
            bail!("{}: bench inputs must be Ethernet captures", path.display());
        }
    }
    if frames.is_empty() {
        bail!("the inputs hold no packets");
    }
    let temp = tempfile_path();
    let path = args.keep.clone().unwrap_or_else(|| temp.clone());
    let (packets, bytes) = build(&frames, args.packets, &path)?;
    eprintln!("built {} ({packets} packets, {:.1} MB)", path.display(), bytes as f64 / 1e6);

    let mut best = f64::MAX;
    let mut activities = 0u64;
    for _ in 0..args.rounds.max(1) {
        let mut decoder = Decoder::new(DecoderConfig::default());
        let mut count = 0u64;
        let start = Instant::now();
        decode_file(&path, &mut decoder, &mut |_| count += 1)?;
        decoder.finish(&mut |_| count += 1);
        best = best.min(start.elapsed().as_secs_f64());
        activities = count;
    }
    report("orthrus", packets, bytes, best);
    println!("  activities: {activities}");

    if !args.no_tshark {
        // `tshark -q` alone reads the file without dissecting it (nothing asks for a field);
        // a display filter makes it dissect every packet, which is the work Orthrus does:
        // Kerberos alone, and every protocol Orthrus decodes.
        const ALL: &str = "kerberos || ntlmssp || smb || smb2 || dcerpc || ldap || dns";
        let runs: [(&str, &[&str]); 3] = [
            ("tshark -q", &[]),
            ("tshark -q -Y kerberos", &["-Y", "kerberos"]),
            ("tshark -q -Y <all Orthrus decodes>", &["-Y", ALL]),
        ];
        for (label, extra) in runs {
            let start = Instant::now();
            match Command::new("tshark").arg("-r").arg(&path).arg("-q").args(extra).output() {
                Ok(out) if out.status.success() => {
                    let secs = start.elapsed().as_secs_f64();
                    report(label, packets, bytes, secs);
                    println!("  orthrus is {:.1}x {label}", secs / best);
                }
                Ok(out) => eprintln!("{label} failed: {}", String::from_utf8_lossy(&out.stderr)),
                Err(e) => eprintln!("tshark not run: {e}"),
            }
        }
    }
    if args.keep.is_none() {
        let _ = std::fs::remove_file(&temp);
    }
    Ok(())
}

fn report(who: &str, packets: u64, bytes: u64, secs: f64) {
    println!(
        "{who:<22} {packets} packets in {secs:.3} s: {:.0} packets/s, {:.1} MB/s",
        packets as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
}

fn tempfile_path() -> PathBuf {
    std::env::temp_dir().join(format!("orthrus-bench-{}.pcap", std::process::id()))
}

/// Repeats the frames until `target` packets; copy k moves every IPv4 address to
/// a.(b^k_hi).(c^k_lo).d so each copy's flows are its own, and shifts time past the previous
/// copy. The IPv4 header checksum is left stale (neither Orthrus nor tshark checks it by
/// default).
fn build(frames: &[Frame], target: u64, path: &PathBuf) -> anyhow::Result<(u64, u64)> {
    let first = frames.iter().map(|f| f.ts_micros).min().unwrap_or(0);
    let last = frames.iter().map(|f| f.ts_micros).max().unwrap_or(0);
    let span = last - first + 1_000_000;
    let mut writer = PcapWriter::new(BufWriter::new(File::create(path)?), 1, 262_144)?;
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut copy = 0u16;
    'outer: loop {
        for frame in frames {
            if packets >= target {
                break 'outer;
            }
            let mut data = frame.data.clone();
            let is_ipv4 = data.get(12..14) == Some(&[0x08, 0x00]);
            if is_ipv4 {
                let [hi, lo] = copy.to_be_bytes();
                for at in [27, 31] {
                    if let Some(b) = data.get_mut(at) {
                        *b ^= hi;
                    }
                    if let Some(b) = data.get_mut(at + 1) {
                        *b ^= lo;
                    }
                }
            }
            writer.write(frame.ts_micros + i64::from(copy) * span, &data)?;
            packets += 1;
            bytes += data.len() as u64;
        }
        copy = copy.wrapping_add(1);
    }
    std::io::Write::flush(&mut writer.into_inner())?;
    Ok((packets, bytes))
}
