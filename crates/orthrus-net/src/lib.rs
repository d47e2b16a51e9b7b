//! The network half of Orthrus's sensor: capture files → frames → link layer → IP (with
//! defragmentation) → UDP datagrams and reassembled TCP streams → protocol transactions →
//! [`orthrus_model::Activity`].
//!
//! ```no_run
//! use orthrus_net::{Decoder, DecoderConfig, decode_file};
//! let mut decoder = Decoder::new(DecoderConfig::default());
//! let mut activities = Vec::new();
//! let summary = decode_file("kerberoast.pcap".as_ref(), &mut decoder, &mut |a| activities.push(a))?;
//! decoder.finish(&mut |a| activities.push(a));
//! println!("{} frames, {} activities", summary.frames, activities.len());
//! # Ok::<(), orthrus_net::CaptureError>(())
//! ```

mod auth;
pub mod capture;
mod context;
mod decoder;
pub mod dns;
mod framing;
pub mod http;
pub mod kerberos;
pub mod ldap;
pub mod names;
mod protocols;
pub mod rpc;
pub mod smb;
mod stats;
pub mod tcp;
pub mod tls;
mod tracker;

use std::io::Read;
use std::path::Path;

pub use capture::{CaptureError, CaptureSummary, Frame};
pub use context::{Origin, Seen};
pub use decoder::{Decoder, DecoderConfig, ProtocolPorts};
use orthrus_model::Activity;
pub use protocols::{PROTOCOLS, Protocol, protocol};
pub use stats::{DecodeStats, ProtocolStats};
pub use tracker::Tracker;

/// Decodes every frame of a capture file into `out`. Call [`Decoder::finish`] after the last
/// file of a source to flush flows and unanswered requests.
pub fn decode_file(
    path: &Path,
    decoder: &mut Decoder,
    out: &mut dyn FnMut(Activity),
) -> Result<CaptureSummary, CaptureError> {
    decode_reader(capture::open(path)?, &file_label(path), decoder, out)
}

/// As [`decode_file`], over any byte source (already opened, e.g. wrapped for progress).
pub fn decode_reader(
    reader: Box<dyn Read + Send>,
    label: &str,
    decoder: &mut Decoder,
    out: &mut dyn FnMut(Activity),
) -> Result<CaptureSummary, CaptureError> {
    decoder.set_file(label);
    let reader = capture::open_reader(reader)?;
    capture::read_frames(reader, |frame| decoder.frame(frame, out))
}

/// How provenance names a file: its file name (evidence is read beside the capture).
pub fn file_label(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}
