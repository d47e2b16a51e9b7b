//! Capture files: classic pcap (micro- and nanosecond) and pcapng, optionally gzip-compressed,
//! read as a stream with bounded memory. Frame numbers are 1-based and count every packet
//! record, as Wireshark and tshark number them.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError, create_reader};

/// Start size of the read buffer; it grows for larger records up to [`MAX_RECORD_BYTES`].
const READ_BUFFER_BYTES: usize = 1 << 20;
/// Largest packet record accepted. Snap lengths top out at 256 KiB in libpcap; anything far
/// beyond is a corrupt length field, and growing the buffer for it would let a hostile file
/// take memory.
const MAX_RECORD_BYTES: usize = 16 << 20;
/// Interfaces one pcapng section may declare before we call the file hostile.
const MAX_INTERFACES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("not a pcap or pcapng file (nor gzip-compressed one)")]
    NotACapture,
    #[error("empty file")]
    Empty,
    #[error("read failed after {frames} frames")]
    Read { frames: u64 },
}

/// How the reading of one file ended, beyond the packets themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CaptureSummary {
    pub frames: u64,
    /// The last record was cut short (capture interrupted): counted, not an error.
    pub truncated: bool,
    /// The file became unreadable mid-way (corrupt record header); frames before it were read.
    pub corrupt: Option<String>,
    /// pcapng packets naming an interface that was never described.
    pub unknown_interface: u64,
}

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based position in the file.
    pub number: u64,
    /// Capture time, microseconds since the Unix epoch.
    pub ts_micros: i64,
    pub linktype: i32,
    pub data: &'a [u8],
    /// Length on the wire (may exceed `data.len()` when the snap length cut it).
    pub orig_len: u32,
}

/// Opens a capture file, transparently decompressing gzip.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, CaptureError> {
    let file = File::open(path).map_err(CaptureError::Open)?;
    open_reader(Box::new(file))
}

/// Wraps any byte source, transparently decompressing gzip (magic 1f 8b).
pub fn open_reader(inner: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>, CaptureError> {
    let mut reader = BufReader::with_capacity(64 * 1024, inner);
    let head = std::io::BufRead::fill_buf(&mut reader).map_err(CaptureError::Open)?;
    if head.is_empty() {
        return Err(CaptureError::Empty);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(reader))))
    } else {
        Ok(Box::new(reader))
    }
}

#[derive(Clone, Copy)]
struct Interface {
    linktype: i32,
    /// Units per second of the interface's timestamps.
    ts_per_sec: u64,
    ts_offset_secs: i64,
}

/// Reads every frame of a capture, calling `on_frame` for each, in file order.
pub fn read_frames(
    reader: Box<dyn Read + Send>,
    mut on_frame: impl FnMut(&Frame<'_>),
) -> Result<CaptureSummary, CaptureError> {
    read_frames_while(reader, |frame| {
        on_frame(frame);
        true
    })
}

/// The capture time of a capture's first frame (`None` for a capture without frames).
pub fn first_timestamp(reader: Box<dyn Read + Send>) -> Result<Option<i64>, CaptureError> {
    let mut first = None;
    read_frames_while(reader, |frame| {
        first = Some(frame.ts_micros);
        false
    })?;
    Ok(first)
}

/// As [`read_frames`], stopping after the first frame for which `on_frame` returns false.
pub fn read_frames_while(
    reader: Box<dyn Read + Send>,
    mut on_frame: impl FnMut(&Frame<'_>) -> bool,
) -> Result<CaptureSummary, CaptureError> {
    let mut keep_going = true;
    let mut pcap = match create_reader(READ_BUFFER_BYTES, reader) {
        Ok(r) => r,
        Err(PcapError::Eof) => return Err(CaptureError::Empty),
        Err(PcapError::ReadError) => return Err(CaptureError::Read { frames: 0 }),
        Err(_) => return Err(CaptureError::NotACapture),
    };
    let mut summary = CaptureSummary::default();
    let mut legacy_linktype = Linktype::ETHERNET.0;
    let mut legacy_nanos = false;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut capacity = READ_BUFFER_BYTES;
    loop {
        match pcap.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(header) => {
                        legacy_linktype = header.network.0;
                        legacy_nanos = header.is_nanosecond_precision();
                    }
                    PcapBlockOwned::Legacy(record) => {
                        summary.frames += 1;
                        let sub = i64::from(record.ts_usec);
                        let ts_micros = i64::from(record.ts_sec) * 1_000_000
                            + if legacy_nanos { sub / 1_000 } else { sub };
                        let len = (record.caplen as usize).min(record.data.len());
                        keep_going &= on_frame(&Frame {
                            number: summary.frames,
                            ts_micros,
                            linktype: legacy_linktype,
                            data: record.data.get(..len).unwrap_or(record.data),
                            orig_len: record.origlen,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        if interfaces.len() < MAX_INTERFACES {
                            interfaces.push(Interface {
                                linktype: idb.linktype.0,
                                ts_per_sec: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                                ts_offset_secs: idb.ts_offset(),
                            });
                        }
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        summary.frames += 1;
                        match interfaces.get(epb.if_id as usize) {
                            Some(iface) => {
                                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                let len = (epb.caplen as usize).min(epb.data.len());
                                keep_going &= on_frame(&Frame {
                                    number: summary.frames,
                                    ts_micros: ng_micros(raw, *iface),
                                    linktype: iface.linktype,
                                    data: epb.data.get(..len).unwrap_or(epb.data),
                                    orig_len: epb.origlen,
                                });
                            }
                            None => summary.unknown_interface += 1,
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        summary.frames += 1;
                        // A simple packet block belongs to interface 0 and has no timestamp.
                        match interfaces.first() {
                            Some(iface) => {
                                let len = (spb.origlen as usize).min(spb.data.len());
                                keep_going &= on_frame(&Frame {
                                    number: summary.frames,
                                    ts_micros: 0,
                                    linktype: iface.linktype,
                                    data: spb.data.get(..len).unwrap_or(spb.data),
                                    orig_len: spb.origlen,
                                });
                            }
                            None => summary.unknown_interface += 1,
                        }
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                // `consume` would move the unread half of the buffer each time the read
                // position passed its middle (a second copy of every byte); `refill` moves
                // only the partial record left when the buffer runs out.
                pcap.consume_noshift(offset);
                if !keep_going {
                    break;
                }
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::UnexpectedEof) => {
                summary.truncated = true;
                break;
            }
            Err(PcapError::Incomplete(_)) => {
                if pcap.refill().is_err() {
                    return Err(CaptureError::Read { frames: summary.frames });
                }
            }
            Err(PcapError::BufferTooSmall) => {
                capacity *= 2;
                if capacity > MAX_RECORD_BYTES || !pcap.grow(capacity) {
                    summary.corrupt = Some(format!(
                        "record after frame {} claims more than {} bytes",
                        summary.frames, MAX_RECORD_BYTES
                    ));
                    break;
                }
                if pcap.refill().is_err() {
                    return Err(CaptureError::Read { frames: summary.frames });
                }
            }
            Err(PcapError::ReadError) => {
                return Err(CaptureError::Read { frames: summary.frames });
            }
            Err(other) => {
                summary.corrupt = Some(format!("unreadable record after frame {}: {other}", summary.frames));
                break;
            }
        }
    }
    Ok(summary)
}

fn ng_micros(raw: u64, iface: Interface) -> i64 {
    let per = u128::from(iface.ts_per_sec);
    let micros = u128::from(raw) * 1_000_000 / per;
    i64::try_from(micros).unwrap_or(i64::MAX).saturating_add(iface.ts_offset_secs.saturating_mul(1_000_000))
}

/// Writes a classic pcap file (microsecond timestamps). Written here rather than with a
/// second pcap crate: the format is a 24-byte header and a 16-byte header per record.
pub struct PcapWriter<W: std::io::Write> {
    out: W,
}

impl<W: std::io::Write> PcapWriter<W> {
    pub fn new(mut out: W, linktype: i32, snaplen: u32) -> std::io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&linktype.to_le_bytes())?;
        Ok(Self { out })
    }

    pub fn write(&mut self, ts_micros: i64, data: &[u8]) -> std::io::Result<()> {
        let secs = u32::try_from(ts_micros.div_euclid(1_000_000)).unwrap_or(0);
        let micros = u32::try_from(ts_micros.rem_euclid(1_000_000)).unwrap_or(0);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&micros.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(data)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}
