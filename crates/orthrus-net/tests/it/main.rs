//! Decoder tests on real lab traffic, re-encapsulated, fragmented, split, reordered,
//! duplicated and cut by the generators in `synth.rs` (so each test's input is the real
//! Kerberos conversation, seen through a different network or a worse capture).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod directory;
mod synth;
mod windows;

use std::path::PathBuf;

use orthrus_model::{Activity, ActivityKind, KdcOutcome};
use orthrus_net::capture::{self, PcapWriter};
use orthrus_net::{DecodeStats, Decoder, DecoderConfig, decode_reader};
use synth::RawFrame;

fn lab(name: &str) -> PathBuf {
    orthrus_testkit::fixture(&format!("pcap/{name}.pcap"))
}

/// Decodes an in-memory pcap.
fn decode_bytes(bytes: Vec<u8>) -> (Vec<Activity>, DecodeStats) {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    decode_reader(Box::new(std::io::Cursor::new(bytes)), "synthetic.pcap", &mut decoder, &mut |a| {
        out.push(a)
    })
    .expect("synthetic capture is readable");
    decoder.finish(&mut |a| out.push(a));
    (out, decoder.stats())
}

fn write(linktype: i32, frames: &[RawFrame]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), linktype, 262_144).unwrap();
    for f in frames {
        w.write(f.ts_micros, &f.data).unwrap();
    }
    w.into_inner()
}

/// What matters of an activity, without frame numbers (which transformations change).
fn gist(activities: &[Activity]) -> Vec<String> {
    activities
        .iter()
        .map(|a| {
            let (kind, ex) = match &a.kind {
                ActivityKind::TgtRequested(ex) => ("AS", ex),
                ActivityKind::ServiceTicketRequested(ex) => ("TGS", ex),
                other => return format!("{} {other:?}", a.source.unwrap().port),
            };
            let result = match &ex.outcome {
                KdcOutcome::Issued(i) => format!("ticket {}", i.ticket.etype),
                KdcOutcome::Failed(f) => f.code.to_string(),
                KdcOutcome::NoReply => "no reply".into(),
            };
            format!("{kind} {} {:?} {:?} {result}", a.source.unwrap().port, ex.client(), ex.service())
        })
        .collect()
}

fn original(name: &str) -> (Vec<Activity>, Vec<RawFrame>) {
    let frames = synth::read(&lab(name));
    let (activities, stats) = decode_bytes(write(1, &frames));
    assert!(stats.protocols["kerberos"].errors.is_empty(), "{stats:?}");
    (activities, frames)
}

#[test]
fn every_lab_capture_decodes_without_kerberos_errors() {
    for entry in std::fs::read_dir(orthrus_testkit::fixture("pcap")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pcap") {
            let (_, stats) = decode_bytes(std::fs::read(&path).unwrap());
            let k = &stats.protocols["kerberos"];
            assert!(k.errors.is_empty(), "{}: {:?}", path.display(), k.errors);
        }
    }
}

/// The KDC exchanges among a capture's activities.
fn kerberos_only(activities: Vec<Activity>) -> Vec<Activity> {
    activities
        .into_iter()
        .filter(|a| matches!(a.kind, ActivityKind::TgtRequested(_) | ActivityKind::ServiceTicketRequested(_)))
        .collect()
}

#[test]
fn kerberoast_capture_decodes_to_the_exchanges_tshark_shows() {
    let (activities, _) = original("kerberoast");
    let activities = kerberos_only(activities);
    let summary = gist(&activities);
    assert_eq!(summary.len(), 5, "{summary:#?}");
    assert!(summary[0].starts_with("AS") && summary[0].ends_with("KDC_ERR_PREAUTH_REQUIRED"));
    assert!(summary[2].contains("MSSQLSvc/sql01.lab.test") && summary[2].ends_with("ticket rc4-hmac"));
    let first = &activities[0];
    assert_eq!(first.provenance.iter().filter_map(|p| p.frame_number()).collect::<Vec<_>>(), [15, 17]);
}

#[test]
fn same_activities_through_every_link_type() {
    let (expected, frames) = original("benign_password_typo");
    type Reencapsulate = fn(&[u8]) -> Vec<u8>;
    let cases: [(&str, i32, Reencapsulate); 7] = [
        ("BSD loopback", 0, synth::to_bsd_loopback),
        ("linux cooked v1", 113, synth::to_sll),
        ("linux cooked v2", 276, synth::to_sll2),
        ("raw ip", 101, synth::to_raw_ip),
        ("802.1Q", 1, synth::to_vlan),
        ("QinQ", 1, synth::to_qinq),
        ("IPv6", 1, synth::to_ipv6),
    ];
    for (name, linktype, transform) in cases {
        let converted: Vec<RawFrame> =
            frames.iter().map(|f| RawFrame { ts_micros: f.ts_micros, data: transform(&f.data) }).collect();
        let (got, _) = decode_bytes(write(linktype, &converted));
        assert_eq!(gist(&got), gist(&expected), "{name}");
    }
}

#[test]
fn frames_with_unset_ip_length_are_read_by_frame_length() {
    let (expected, frames) = original("kerberoast");
    let offloaded: Vec<RawFrame> = frames
        .iter()
        .map(|f| RawFrame { ts_micros: f.ts_micros, data: synth::to_unset_ip_length(&f.data) })
        .collect();
    let (got, stats) = decode_bytes(write(1, &offloaded));
    assert_eq!(gist(&got), gist(&expected));
    assert_eq!(stats.get("ip", "length_unset_offload"), frames.len() as u64);
}

#[test]
fn pcapng_and_gzip_read_the_same_frames() {
    let frames = synth::read(&lab("krb_user_enum"));
    let (expected, _) = decode_bytes(write(1, &frames));
    let (ng, _) = decode_bytes(synth::to_pcapng(&frames));
    assert_eq!(ng, expected, "pcapng with nanosecond timestamps");
    let (gz, _) = decode_bytes(synth::gzip(&write(1, &frames)));
    assert_eq!(gz, expected);
}

#[test]
fn fragmented_ip_is_reassembled() {
    let (expected, frames) = original("kerberoast");
    let fragmented: Vec<RawFrame> = frames.iter().flat_map(|f| synth::fragment_ipv4(f, 256)).collect();
    assert!(fragmented.len() > frames.len() + 10);
    let (got, stats) = decode_bytes(write(1, &fragmented));
    assert_eq!(gist(&got), gist(&expected));
    assert!(stats.get("ip", "reassembled") > 10);
}

#[test]
fn segments_split_and_reordered_are_reassembled() {
    let (expected, frames) = original("krb_password_spray");
    let split: Vec<RawFrame> = frames.iter().flat_map(|f| synth::split_tcp_reversed(f, 3)).collect();
    let (got, stats) = decode_bytes(write(1, &split));
    assert_eq!(gist(&got), gist(&expected));
    assert!(stats.get("tcp", "out_of_order_segments") > 50, "{stats:?}");
}

#[test]
fn retransmissions_and_overlaps_are_delivered_once() {
    let (expected, frames) = original("krb_bruteforce");
    let noisy: Vec<RawFrame> = frames.iter().flat_map(synth::retransmit_with_overlap).collect();
    let (got, stats) = decode_bytes(write(1, &noisy));
    assert_eq!(gist(&got), gist(&expected));
    assert!(stats.get("tcp", "retransmitted_segments") > 50, "{stats:?}");
    assert!(stats.get("tcp", "overlapping_segments") > 50, "{stats:?}");
}

#[test]
fn capture_starting_mid_stream_still_decodes_later_exchanges() {
    let (expected, frames) = original("kerberoast");
    // Start right after the TGS-REQ of the first service ticket (frame 36): the reply's flow
    // is picked up mid-stream, with no SYN.
    let (got, stats) = decode_bytes(write(1, &frames[36..]));
    assert!(stats.get("tcp", "flows_midstream") >= 1);
    let got = gist(&got);
    assert!(
        got.iter().any(|g| g.contains("MSSQLSvc") && g.ends_with("ticket rc4-hmac")),
        "reply without request: {got:#?}"
    );
    for later in &gist(&kerberos_only(expected))[3..] {
        assert!(got.contains(later), "{later} missing from {got:#?}");
    }
}

#[test]
fn a_lost_segment_is_a_counted_gap_and_decoding_resumes() {
    let (expected, frames) = original("krb_password_spray");
    // Split every segment in two and lose the first half of the 5th data segment: that
    // exchange is damaged, every other one must still come out.
    let mut split: Vec<RawFrame> = frames.iter().flat_map(|f| synth::split_tcp_reversed(f, 2)).collect();
    let victim = split
        .iter()
        .position({
            let mut seen = 0;
            move |f| {
                synth::tcp_payload_len(f) > 0 && {
                    seen += 1;
                    seen == 10
                }
            }
        })
        .unwrap();
    split.remove(victim);
    let (got, stats) = decode_bytes(write(1, &split));
    assert!(stats.get("tcp", "gaps") >= 1, "{stats:?}");
    let got = gist(&got);
    let expected = gist(&expected);
    let found = expected.iter().filter(|e| got.contains(e)).count();
    assert!(found >= expected.len() - 1, "only {found} of {} exchanges survived", expected.len());
}

#[test]
fn truncated_file_is_reported_not_fatal() {
    let bytes = std::fs::read(lab("kerberoast")).unwrap();
    let cut = bytes[..bytes.len() - 7].to_vec();
    let mut decoder = Decoder::new(DecoderConfig::default());
    let summary =
        decode_reader(Box::new(std::io::Cursor::new(cut)), "cut.pcap", &mut decoder, &mut |_| {}).unwrap();
    assert!(summary.truncated);
    assert_eq!(summary.frames, 64);
}

#[test]
fn garbage_is_refused_with_a_clear_error() {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let err =
        decode_reader(Box::new(&b"this is not a capture file at all"[..]), "x", &mut decoder, &mut |_| {})
            .unwrap_err();
    assert!(matches!(err, capture::CaptureError::NotACapture), "{err}");
}

fn decode_with(config: DecoderConfig, bytes: Vec<u8>) -> (Vec<Activity>, DecodeStats) {
    let mut decoder = Decoder::new(config);
    let mut out = Vec::new();
    decode_reader(Box::new(std::io::Cursor::new(bytes)), "synthetic.pcap", &mut decoder, &mut |a| {
        out.push(a)
    })
    .unwrap();
    decoder.finish(&mut |a| out.push(a));
    (out, decoder.stats())
}

#[test]
fn out_of_order_memory_cap_is_counted_and_decoding_goes_on() {
    let (expected, frames) = original("krb_password_spray");
    let split: Vec<RawFrame> = frames.iter().flat_map(|f| synth::split_tcp_reversed(f, 4)).collect();
    let mut config = DecoderConfig::default();
    // Smaller than one Kerberos message: every reversed message overflows.
    config.tcp.max_pending_bytes_per_flow = 64;
    let (got, stats) = decode_with(config, write(1, &split));
    assert!(stats.get("tcp", "pending_overflow_bytes") > 0, "{stats:?}");
    assert!(stats.get("tcp", "gaps") > 0, "{stats:?}");
    assert!(got.len() < expected.len(), "messages lost to the cap are lost, and counted");
}

#[test]
fn flow_table_cap_evicts_idle_flows_and_counts_it() {
    let (expected, frames) = original("krb_bruteforce");
    let mut config = DecoderConfig::default();
    config.tcp.max_flows = 2;
    let (got, stats) = decode_with(config, write(1, &frames));
    assert!(stats.get("tcp", "flows_evicted") > 0, "the client overlaps connections: {stats:?}");
    // Evicted flows had finished their exchange (only their closing handshake was left):
    // nothing may be lost.
    assert_eq!(gist(&got), gist(&expected));
}

mod stream_framing {
    use std::net::IpAddr;

    use orthrus_model::{Activity, KdcOutcome, TenantId};
    use orthrus_net::Tracker;
    use orthrus_net::kerberos::KerberosTracker;
    use orthrus_net::tcp::{Direction, SocketPair, StreamEvent};

    fn record(frame: u32) -> Vec<u8> {
        let body = std::fs::read(orthrus_testkit::fixture(&format!("kerberos/kerberoast-frame-{frame}.bin")))
            .unwrap();
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    fn feed(chunks: &[(Direction, Vec<u8>)]) -> Vec<Activity> {
        let client: IpAddr = "192.0.2.10".parse().unwrap();
        let kdc: IpAddr = "192.0.2.1".parse().unwrap();
        let pair = SocketPair { client: (client, 50_000), server: (kdc, 88) };
        let mut tracker = KerberosTracker::new(TenantId::default(), "test".into());
        let mut out = Vec::new();
        for (i, (dir, bytes)) in chunks.iter().enumerate() {
            let event = StreamEvent::Data { flow: 1, pair, dir: *dir, bytes, frame: i as u64 + 1 };
            tracker.stream(event, 0, &mut |a| out.push(a));
        }
        tracker.stream(StreamEvent::Closed { flow: 1, pair }, 0, &mut |a| out.push(a));
        out
    }

    fn outcomes(activities: &[Activity]) -> Vec<String> {
        activities
            .iter()
            .filter_map(|a| match &a.kind {
                orthrus_model::ActivityKind::TgtRequested(ex)
                | orthrus_model::ActivityKind::ServiceTicketRequested(ex) => Some(match &ex.outcome {
                    KdcOutcome::Issued(i) => format!("{} issued", i.ticket.sname),
                    KdcOutcome::Failed(f) => format!("{:?} {}", ex.client(), f.code),
                    KdcOutcome::NoReply => "no reply".into(),
                }),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn two_records_in_one_segment_each_way_are_both_paired() {
        let requests = [record(15), record(36)].concat();
        let replies = [record(17), record(38)].concat();
        let got = feed(&[(Direction::ToServer, requests), (Direction::ToClient, replies)]);
        assert_eq!(
            outcomes(&got),
            ["Some(\"bob\") KDC_ERR_PREAUTH_REQUIRED", "MSSQLSvc/sql01.lab.test issued"]
        );
    }

    #[test]
    fn a_record_delivered_byte_by_byte_is_decoded_once() {
        let mut chunks: Vec<(Direction, Vec<u8>)> =
            record(36).into_iter().map(|b| (Direction::ToServer, vec![b])).collect();
        chunks.push((Direction::ToClient, record(38)));
        let got = feed(&chunks);
        assert_eq!(outcomes(&got), ["MSSQLSvc/sql01.lab.test issued"]);
    }

    #[test]
    fn an_unanswered_request_is_reported_when_the_flow_closes() {
        let got = feed(&[(Direction::ToServer, record(36))]);
        assert_eq!(outcomes(&got), ["no reply"]);
    }
}
