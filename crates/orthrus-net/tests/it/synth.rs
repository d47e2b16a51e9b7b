//! Generators: real lab frames re-encapsulated or re-segmented. Each keeps the original
//! bytes of the Kerberos conversation; only the layers around them change.

use std::path::Path;

#[derive(Clone)]
pub struct RawFrame {
    pub ts_micros: i64,
    pub data: Vec<u8>,
}

pub fn read(path: &Path) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    let reader = orthrus_net::capture::open(path).unwrap();
    orthrus_net::capture::read_frames(reader, |f| {
        assert_eq!(f.linktype, 1, "lab captures are Ethernet");
        frames.push(RawFrame { ts_micros: f.ts_micros, data: f.data.to_vec() });
    })
    .unwrap();
    frames
}

const ETH: usize = 14;

fn ether_type(eth: &[u8]) -> [u8; 2] {
    [eth[12], eth[13]]
}

pub fn to_sll(eth: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 1, 0, 6];
    out.extend_from_slice(&eth[6..12]);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&ether_type(eth));
    out.extend_from_slice(&eth[ETH..]);
    out
}

pub fn to_sll2(eth: &[u8]) -> Vec<u8> {
    let mut out = ether_type(eth).to_vec();
    out.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
    out.extend_from_slice(&eth[6..12]);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&eth[ETH..]);
    out
}

pub fn to_raw_ip(eth: &[u8]) -> Vec<u8> {
    eth[ETH..].to_vec()
}

/// DLT_NULL: a 4-byte address family in host order (AF_INET = 2), then the IP packet.
pub fn to_bsd_loopback(eth: &[u8]) -> Vec<u8> {
    let mut out = 2u32.to_le_bytes().to_vec();
    out.extend_from_slice(&eth[ETH..]);
    out
}

/// As captured on the sending host before segmentation offload filled in the IPv4 total
/// length: the field is 0.
pub fn to_unset_ip_length(eth: &[u8]) -> Vec<u8> {
    let mut out = eth.to_vec();
    if ipv4(eth).is_some() {
        out[ETH + 2] = 0;
        out[ETH + 3] = 0;
    }
    out
}

pub fn to_vlan(eth: &[u8]) -> Vec<u8> {
    let mut out = eth[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00, 0x00, 100]);
    out.extend_from_slice(&eth[12..]);
    out
}

pub fn to_qinq(eth: &[u8]) -> Vec<u8> {
    let mut out = eth[..12].to_vec();
    out.extend_from_slice(&[0x88, 0xa8, 0x00, 200, 0x81, 0x00, 0x00, 100]);
    out.extend_from_slice(&eth[12..]);
    out
}

/// The IPv4 header span and total length of an Ethernet/IPv4 frame.
fn ipv4(eth: &[u8]) -> Option<(usize, usize)> {
    if ether_type(eth) != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(eth[ETH] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([eth[ETH + 2], eth[ETH + 3]]));
    Some((ihl, total))
}

/// Same conversation over IPv6: fd00::a.b.c.d for each IPv4 address a.b.c.d.
pub fn to_ipv6(eth: &[u8]) -> Vec<u8> {
    let Some((ihl, total)) = ipv4(eth) else {
        return eth.to_vec();
    };
    let ip = &eth[ETH..];
    let payload = &ip[ihl..total];
    let mut out = eth[..12].to_vec();
    out.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.push(ip[9]);
    out.push(ip[8]);
    for addr in [&ip[12..16], &ip[16..20]] {
        out.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(addr);
    }
    out.extend_from_slice(payload);
    out
}

/// Splits an IPv4 datagram into fragments carrying at most `max_payload` bytes each.
pub fn fragment_ipv4(frame: &RawFrame, max_payload: usize) -> Vec<RawFrame> {
    let eth = &frame.data;
    let Some((ihl, total)) = ipv4(eth) else {
        return vec![frame.clone()];
    };
    let payload = &eth[ETH + ihl..ETH + total];
    if payload.len() <= max_payload {
        return vec![frame.clone()];
    }
    let step = max_payload / 8 * 8;
    let id = (frame.ts_micros as u16) ^ (payload.len() as u16);
    payload
        .chunks(step)
        .enumerate()
        .map(|(i, chunk)| {
            let mut data = eth[..ETH + ihl].to_vec();
            let ip = &mut data[ETH..];
            ip[2..4].copy_from_slice(&((ihl + chunk.len()) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            let more = (i + 1) * step < payload.len();
            let field = ((i * step / 8) as u16) | if more { 0x2000 } else { 0 };
            ip[6..8].copy_from_slice(&field.to_be_bytes());
            data.extend_from_slice(chunk);
            RawFrame { ts_micros: frame.ts_micros, data }
        })
        .collect()
}

/// (header length up to the TCP payload, payload length) of an Ethernet/IPv4/TCP frame.
fn tcp(eth: &[u8]) -> Option<(usize, usize)> {
    let (ihl, total) = ipv4(eth)?;
    if eth[ETH + 9] != 6 {
        return None;
    }
    let doff = usize::from(eth[ETH + ihl + 12] >> 4) * 4;
    let headers = ETH + ihl + doff;
    Some((headers, ETH + total - headers))
}

pub fn tcp_payload_len(frame: &RawFrame) -> usize {
    tcp(&frame.data).map_or(0, |(_, len)| len)
}

/// A TCP segment carrying `payload[from..to]` of `frame`'s segment.
fn sub_segment(frame: &RawFrame, from: usize, to: usize, keep_fin: bool) -> RawFrame {
    let (headers, _) = tcp(&frame.data).unwrap();
    let ihl = usize::from(frame.data[ETH] & 0x0f) * 4;
    let mut data = frame.data[..headers].to_vec();
    data.extend_from_slice(&frame.data[headers + from..headers + to]);
    let total = (data.len() - ETH) as u16;
    data[ETH + 2..ETH + 4].copy_from_slice(&total.to_be_bytes());
    let seq_at = ETH + ihl + 4;
    let seq = u32::from_be_bytes(data[seq_at..seq_at + 4].try_into().unwrap()).wrapping_add(from as u32);
    data[seq_at..seq_at + 4].copy_from_slice(&seq.to_be_bytes());
    if !keep_fin {
        data[ETH + ihl + 13] &= !0x01;
    }
    RawFrame { ts_micros: frame.ts_micros, data }
}

/// Splits a TCP data segment into `parts` segments sent last-first.
pub fn split_tcp_reversed(frame: &RawFrame, parts: usize) -> Vec<RawFrame> {
    let Some((_, len)) = tcp(&frame.data) else {
        return vec![frame.clone()];
    };
    if len < parts {
        return vec![frame.clone()];
    }
    let step = len.div_ceil(parts);
    let mut out: Vec<RawFrame> = (0..len)
        .step_by(step)
        .map(|from| sub_segment(frame, from, (from + step).min(len), from + step >= len))
        .collect();
    out.reverse();
    out
}

/// Sends the first half of a data segment, then the whole (overlapping), then the whole again
/// (a pure retransmission).
pub fn retransmit_with_overlap(frame: &RawFrame) -> Vec<RawFrame> {
    let Some((_, len)) = tcp(&frame.data) else {
        return vec![frame.clone()];
    };
    if len < 2 {
        return vec![frame.clone()];
    }
    vec![sub_segment(frame, 0, len / 2, false), frame.clone(), frame.clone()]
}

/// A pcapng file (section header, one Ethernet interface with nanosecond timestamps,
/// enhanced packet blocks).
pub fn to_pcapng(frames: &[RawFrame]) -> Vec<u8> {
    let mut out = Vec::new();
    let block = |out: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&len.to_le_bytes());
    };
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    block(&mut out, 1, &idb);
    for f in frames {
        let ns = (f.ts_micros as u64) * 1_000;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ns >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ns as u32).to_le_bytes());
        epb.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&f.data);
        epb.resize(epb.len().div_ceil(4) * 4, 0);
        block(&mut out, 6, &epb);
    }
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}
