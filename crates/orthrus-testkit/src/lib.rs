//! Test helpers: where fixtures live, the public corpus, and running a capture through the
//! decoder.
//!
//! ```
//! let path = orthrus_testkit::fixture("pcap/kerberoast.pcap");
//! assert!(path.exists());
//! ```

// Test support: a broken fixture should stop the test loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod rsyslog;

use std::path::{Path, PathBuf};

use orthrus_model::Activity;
use orthrus_net::{Decoder, DecoderConfig, decode_file};

/// The repository's `testdata/` folder.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A file under `testdata/`.
pub fn fixture(relative: &str) -> PathBuf {
    testdata().join(relative)
}

/// The public labelled corpus (`ORTHRUS_CORPUS`, else `../shared/corpus` beside the
/// repository). Read in place, never copied. Its absence is an error, not a skip: CI always
/// has it.
pub fn corpus() -> PathBuf {
    let path = std::env::var_os("ORTHRUS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    assert!(
        path.join("MANIFEST.tsv").is_file(),
        "public corpus not found at {} (set ORTHRUS_CORPUS)",
        path.display()
    );
    path
}

/// Every activity of a capture file, in the order the decoder produced them.
pub fn activities(path: &Path) -> Vec<Activity> {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    if let Err(e) = decode_file(path, &mut decoder, &mut |a| out.push(a)) {
        panic!("{}: {e}", path.display());
    }
    decoder.finish(&mut |a| out.push(a));
    out
}

/// Every activity of an event log (EVTX, forwarded XML/JSON, syslog, Samba audit), in event
/// time order.
pub fn log_activities(path: &Path) -> Vec<Activity> {
    let context = orthrus_events::MapContext::default();
    let mut out = Vec::new();
    let label = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let read = orthrus_events::read_file(path, &label, 1, &mut |event| {
        out.extend(orthrus_events::to_activity(&event, &context));
    });
    if let Err(e) = read {
        panic!("{}: {e:?}", path.display());
    }
    out.sort_by_key(|a| a.time);
    out
}

/// Activities of the lab capture `testdata/pcap/NAME.pcap`.
pub fn lab_activities(name: &str) -> Vec<Activity> {
    activities(&fixture(&format!("pcap/{name}.pcap")))
}

/// tshark's view of a capture: one row per frame matching `filter`, one column per field,
/// each column holding every occurrence of the field in the frame. tshark is a test
/// dependency (`.ci/run` installs it); its absence fails the test with that message.
pub fn tshark_fields(capture: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<Vec<String>>> {
    let mut cmd = std::process::Command::new("tshark");
    cmd.arg("-r").arg(capture).args([
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=;",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("tshark is needed for this test (apt-get install tshark): {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A capture whose last record is cut short is still read to that point, as Orthrus does.
    assert!(out.status.success() || stderr.contains("cut short"), "tshark: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            line.split('\t')
                .map(
                    |col| {
                        if col.is_empty() { Vec::new() } else { col.split(';').map(str::to_owned).collect() }
                    },
                )
                .collect()
        })
        .collect()
}

/// One row of `testdata/pcap/manifest.tsv` (copied from the lab's manifest).
#[derive(Debug, Clone)]
pub struct LabCapture {
    pub name: String,
    pub label: String,
    pub mitre: String,
    pub attacker_ip: String,
    pub targets: String,
}

/// The lab captures' manifest. Panics when it is missing or lists nothing: a test over it then
/// fails rather than checks nothing.
pub fn lab_manifest() -> Vec<LabCapture> {
    // A missing or empty manifest would turn every loop over it into a test that checks
    // nothing: it fails here instead.
    let path = fixture("pcap/manifest.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("the lab manifest {}: {error}", path.display()));
    let captures: Vec<LabCapture> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Some(LabCapture {
                name: cols.first()?.to_string(),
                label: cols.get(1)?.to_string(),
                mitre: cols.get(2)?.to_string(),
                attacker_ip: cols.get(3)?.to_string(),
                targets: cols.get(4)?.to_string(),
            })
        })
        .collect();
    assert!(!captures.is_empty(), "the lab manifest {} lists no capture", path.display());
    captures
}

/// Fuzz entry points: each takes arbitrary bytes and must never panic, hang or grow memory
/// without bound. The cargo-fuzz targets in `fuzz/` call these; `tests/fuzz_seeds.rs`
/// replays the committed seeds and crash reproducers through them on stable Rust.
pub mod fuzz {
    use std::net::{IpAddr, Ipv4Addr};

    use orthrus_model::{Endpoint, TenantId, Transport};
    use orthrus_net::Seen;
    use orthrus_net::tcp::{Flags, Segment, StreamEvent, TcpLimits, TcpReassembler};
    use orthrus_net::{Decoder, DecoderConfig, decode_reader};
    use orthrus_proto::kerberos;

    /// Runs a text event-log reader over arbitrary bytes, then maps every event it yields.
    fn event_reader(format: orthrus_events::Format, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let file: std::sync::Arc<str> = std::sync::Arc::from("fuzz");
        let context = orthrus_events::MapContext::default();
        let mut mapped = 0usize;
        let summary = orthrus_events::read_text(format, &text, &file, &mut |event| {
            mapped += usize::from(orthrus_events::to_activity(&event, &context).is_some());
        });
        assert!(summary.events as usize >= mapped);
        let _ = orthrus_events::sniff(data);
    }

    /// Windows events as JSON: Winlogbeat/ECS, Get-WinEvent, NXLog flat; lines or a stream.
    pub fn event_json(data: &[u8]) {
        event_reader(orthrus_events::Format::Json, data);
    }

    /// Windows events as rendered XML (Event Forwarding, wevtutil).
    pub fn event_xml(data: &[u8]) {
        event_reader(orthrus_events::Format::Xml, data);
    }

    /// Syslog-wrapped Windows events (NXLog JSON, Snare).
    pub fn event_syslog(data: &[u8]) {
        event_reader(orthrus_events::Format::Syslog, data);
    }

    /// One EVTX chunk (64 KiB: its record walk, template field maps, substitution values,
    /// and the `evtx` crate's reading where the walk gives up), read for every event and for
    /// the mapped ones only. Whatever the bytes, the mapped reading hands on only events
    /// `is_mapped` accepts, with only the fields `uses_field` keeps, and counts every record it
    /// read. (The two readings of one damaged record may differ: the mapped one reads less of
    /// it, so it can judge by a header the full reading, giving up on the record's data and
    /// rendering it whole, sees otherwise.)
    pub fn evtx_chunk(data: &[u8]) {
        use orthrus_events::map::{MAPPED, is_mapped, uses_field};
        let context = orthrus_events::MapContext::default();
        let mut all = 0u64;
        let full =
            orthrus_events::evtx::read_chunk_bytes(data, orthrus_events::Wanted::EVERYTHING, &mut |event| {
                all += 1;
                let _ = orthrus_events::to_activity(&event, &context);
            });
        assert_eq!(full.events, all);
        let mut kept = 0u64;
        let mapped = orthrus_events::evtx::read_chunk_bytes(data, MAPPED, &mut |event| {
            kept += 1;
            assert!(is_mapped(&event.provider, &event.channel, event.event_id));
            assert!(event.data.iter().all(|(name, _)| uses_field(name)));
            let _ = orthrus_events::to_activity(&event, &context);
        });
        assert_eq!(mapped.events, kept + mapped.passed_over);
    }

    /// Samba's JSON audit log.
    pub fn samba_audit(data: &[u8]) {
        event_reader(orthrus_events::Format::SambaAudit, data);
    }

    /// One LDAP message as a DC answers a directory sync: a search entry becomes a directory
    /// object, within the sync's bounds.
    pub fn directory_entry(data: &[u8]) {
        let limits =
            orthrus_directory::ldap::Limits { max_values: 64, max_value_bytes: 256, ..Default::default() };
        if let Some((object, _cut)) = orthrus_directory::ldap::decode_message(data, &limits) {
            assert!(object.members.len() <= 64 && object.members.iter().all(|m| m.len() <= 256 * 4));
        }
    }

    /// A text event log read a few bytes at a time, as files are read: slices cut records,
    /// lines and characters anywhere; every event handed on is counted, none twice.
    pub fn text_log(data: &[u8]) {
        use orthrus_events::Format;
        let Some((&slice, log)) = data.split_first() else { return };
        let mut sliced = Vec::new();
        let read = orthrus_events::read_sliced(log, usize::from(slice) * 16 + 1, &mut |e| sliced.push(e));
        let Some(summary) = read else { return };
        assert_eq!(sliced.len() as u64, summary.events - summary.passed_over, "{summary:?}");
        // Line forms are cut at line ends and each line read on its own (Samba's state
        // carried): the same events, lines and all, as the whole text gives (in time order
        // when the log runs newest first).
        let Ok(text) = std::str::from_utf8(log) else { return };
        let Some(format) = orthrus_events::sniff(log.get(..4096).unwrap_or(log)) else { return };
        let lines = matches!(format, Format::Syslog | Format::SambaAudit)
            || (format == Format::Json && orthrus_events::json::is_json_lines(text));
        if lines && !text.starts_with('\u{feff}') {
            let mut whole = Vec::new();
            orthrus_events::read_text(format, text, &std::sync::Arc::from("memory"), &mut |e| whole.push(e));
            let key = |e: &orthrus_events::WindowsEvent| format!("{e:?}");
            let (mut a, mut b): (Vec<String>, Vec<String>) =
                (sliced.iter().map(key).collect(), whole.iter().map(key).collect());
            a.sort();
            b.sort();
            assert_eq!(a, b);
        }
    }

    /// A directory object's security descriptor, as SDDL text and as the binary form (raw and
    /// base64, as Samba's audit logs it): every ACE read is whole and bounded.
    pub fn security_descriptor(data: &[u8]) {
        use orthrus_directory::security;
        let text = String::from_utf8_lossy(data);
        let whole = |aces: &[security::Ace]| {
            aces.len() <= 4096
                && aces.iter().all(|ace| {
                    !ace.trustee.is_empty()
                        && [&ace.object_type, &ace.inherited_object_type]
                            .iter()
                            .all(|g| g.as_ref().is_none_or(|g| !g.is_empty()))
                })
        };
        if let Some(aces) = security::dacl_from_binary(data) {
            assert!(whole(&aces) && aces.iter().all(|ace| ace.trustee.starts_with("S-1-")), "{aces:?}");
        }
        for aces in [security::dacl_from_sddl(&text), security::dacl_from_value(&text)].into_iter().flatten()
        {
            assert!(whole(&aces), "{aces:?}");
        }
    }

    /// A directory snapshot file: loaded, indexed (sensitivity walks every nesting), asked.
    pub fn directory_snapshot(data: &[u8]) {
        let Ok(snapshot) = serde_json::from_slice::<orthrus_directory::Snapshot>(data) else { return };
        let tags =
            orthrus_directory::EntityTags { sensitive: vec!["a".into()], honeytokens: vec!["b".into()] };
        let directory = orthrus_directory::Directory::new(snapshot, &tags);
        for name in
            ["a", "LAB\\a", "a@lab.test", "S-1-5-21-1-2-3-512", "cifs/a.lab.test", "CN=a,DC=lab,DC=test"]
        {
            if let Some(found) = directory.find(name) {
                let _ = directory.transitive_members(&found);
                let _ = directory.sensitivity(&found);
            }
            let _ = directory.find_computer(name);
        }
    }

    /// A whole capture file: pcap/pcapng/gzip framing, link layers, IP, TCP, Kerberos.
    pub fn capture(data: &[u8]) {
        let mut decoder = Decoder::new(DecoderConfig::default());
        let mut count = 0usize;
        let bytes = data.to_vec();
        let _ =
            decode_reader(Box::new(std::io::Cursor::new(bytes)), "fuzz", &mut decoder, &mut |_| count += 1);
        decoder.finish(&mut |_| count += 1);
        let _ = decoder.stats();
    }

    /// Where a fuzzed datagram was seen: 192.0.2.1:`client_port` → 192.0.2.2:`server_port`.
    fn datagram_seen(client_port: u16, server_port: u16) -> Seen {
        Seen {
            client: Endpoint { ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port: client_port },
            server: Endpoint { ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), port: server_port },
            transport: Transport::Udp,
            ts_micros: 0,
            frame: 1,
        }
    }

    /// One Kerberos message, as a datagram and as a TCP record stream.
    pub fn kerberos_message(data: &[u8]) {
        let _ = kerberos::parse_message(data);
        if let Some((patched, _)) = kerberos::patch_signed_nonce(data) {
            let _ = kerberos::parse_message(&patched);
        }
        let _ = kerberos::split_record(data);
        protocol("kerberos", data);
    }

    /// One NTLMSSP message, alone or inside a larger blob, with every lazy accessor exercised.
    pub fn ntlmssp_message(data: &[u8]) {
        use orthrus_proto::ntlmssp::{self, NtlmMessage};
        for candidate in [Some(data), ntlmssp::find(data)].into_iter().flatten() {
            match ntlmssp::parse(candidate) {
                Ok(NtlmMessage::Authenticate(a)) => {
                    let _ = (
                        a.user.to_string_lossy(),
                        a.domain.to_string_lossy(),
                        a.workstation.to_string_lossy(),
                    );
                    let _ = (a.ntlm_version(), a.client_timestamp(), a.mic_present());
                    if let Some(pairs) = a.client_av_pairs() {
                        let names: usize = pairs.iter().map(|p| p.text().len()).sum();
                        let _ = (names, pairs.flags(), pairs.timestamp());
                    }
                }
                Ok(NtlmMessage::Challenge(c)) => {
                    let _ = (c.target_name.to_string_lossy(), c.target_info.iter().count());
                }
                Ok(NtlmMessage::Negotiate(n)) => {
                    let _ = (n.domain.to_string_lossy(), n.workstation.to_string_lossy());
                }
                Err(e) => {
                    let _ = e.reason();
                }
            }
        }
    }

    /// A security blob (SPNEGO, GSS-API, raw NTLMSSP), and whatever token it carries.
    pub fn spnego_blob(data: &[u8]) {
        if let Ok(blob) = orthrus_proto::spnego::parse_blob(data) {
            if let orthrus_proto::spnego::SecurityBlob::Init(init) = &blob {
                // Offered mechanisms are named, unknown OIDs in dotted form.
                let _: Vec<String> = init.mech_types.iter().map(|m| m.name()).collect();
            }
            match blob.token() {
                Some(orthrus_proto::spnego::InnerToken::Ntlmssp(msg)) => ntlmssp_message(msg),
                Some(
                    orthrus_proto::spnego::InnerToken::KerberosApReq(msg)
                    | orthrus_proto::spnego::InnerToken::KerberosApRep(msg)
                    | orthrus_proto::spnego::InnerToken::KerberosError(msg),
                ) => {
                    let _ = kerberos::parse_message(msg);
                }
                _ => {}
            }
        }
    }

    /// The bytes a connection carries, as (direction, chunk) pairs: the client's bytes are
    /// the input cut into 97-byte pieces, the server's the same input again, interleaved.
    fn both_directions(data: &[u8]) -> impl Iterator<Item = (orthrus_net::tcp::Direction, &[u8])> {
        use orthrus_net::tcp::Direction;
        data.chunks(97).flat_map(|c| [(Direction::ToServer, c), (Direction::ToClient, c)])
    }

    fn stream_pair(server_port: u16) -> orthrus_net::tcp::SocketPair {
        orthrus_net::tcp::SocketPair {
            client: (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 50000),
            server: (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), server_port),
        }
    }

    /// Feeds `data` through a stream tracker as one connection to `server_port` (both
    /// directions, see `both_directions`), then closes it.
    fn connection(
        server_port: u16,
        data: &[u8],
        mut stream: impl FnMut(StreamEvent<'_>, &mut dyn FnMut(orthrus_model::Activity)),
    ) {
        let pair = stream_pair(server_port);
        let mut out = Vec::new();
        for (frame, (dir, bytes)) in both_directions(data).enumerate() {
            stream(StreamEvent::Data { flow: 1, pair, dir, bytes, frame: frame as u64 }, &mut |a| {
                out.push(a)
            });
        }
        stream(StreamEvent::Closed { flow: 1, pair }, &mut |a| out.push(a));
    }

    /// Feeds `data` to a fresh tracker of the decoder's protocol `name` (`orthrus_net::PROTOCOLS`)
    /// as the decoder would: as one connection to its first TCP port (both directions, see
    /// `both_directions`) closed at the end, as datagrams both ways on its first UDP port,
    /// then end of input. Every protocol's fuzz target starts here.
    pub fn protocol(name: &str, data: &[u8]) {
        let Some(protocol) = orthrus_net::protocol(name) else {
            unreachable!("{name} is not in orthrus_net::PROTOCOLS")
        };
        let mut tracker = (protocol.tracker)(TenantId::default(), "fuzz".into());
        let mut out = Vec::new();
        if let Some(port) = protocol.tcp_ports.first() {
            connection(*port, data, |event, out| tracker.stream(event, 0, out));
        }
        if let Some(port) = protocol.udp_ports.first() {
            let seen = datagram_seen(50000, *port);
            tracker.datagram(data, &seen, true, &mut |a| out.push(a));
            tracker.datagram(data, &seen, false, &mut |a| out.push(a));
        }
        tracker.finish(&mut |a| out.push(a));
        let mut stats = orthrus_net::DecodeStats::default();
        tracker.stats(&mut stats);
    }

    /// A reassembled SMB connection (NBSS, SMB2, pipes, DCE-RPC on pipes, NDR stubs).
    /// SMB bytes as a TCP stream, the same bytes as a Group Policy registry file (the tracker
    /// parses the Registry.pol files it sees written) and as the head of a READ response too
    /// large to keep (read for its length alone).
    pub fn smb_stream(data: &[u8]) {
        protocol("smb", data);
        let _ = orthrus_proto::preg::parse(data);
        let _ = orthrus_proto::smb2::read_response_head(data);
    }

    /// A reassembled DCE-RPC connection over TCP, and every stub decoder on the raw bytes.
    pub fn dcerpc_stream(data: &[u8]) {
        use orthrus_proto::msrpc::{self, interfaces};
        protocol("dcerpc", data);
        let stubs = [
            (interfaces::DRSUAPI, 3),
            (interfaces::SVCCTL, 12),
            (interfaces::SAMR, 17),
            (interfaces::NETLOGON, 4),
            (interfaces::NETLOGON, 26),
            (interfaces::NETLOGON, 30),
            (interfaces::TSCH, 1),
            (interfaces::LSARPC, 28),
            (interfaces::LSARPC, 43),
            (interfaces::SAMR, 34),
            (interfaces::BKRP, 0),
            (interfaces::NETLOGON, 42),
            (interfaces::NETLOGON, 46),
            (interfaces::ATSVC, 0),
            (interfaces::RPRN, 65),
            (interfaces::RPRN, 89),
            (interfaces::PAR, 39),
            (interfaces::EFSRPC, 0),
            (interfaces::DFSNM, 13),
        ];
        for (interface, opnum) in stubs {
            for ndr64 in [false, true] {
                let _ = msrpc::decode_request(interface, opnum, data, ndr64);
            }
        }
        for ndr64 in [false, true] {
            let _ = msrpc::decode_response(interfaces::SRVSVC, 12, data, ndr64);
        }
    }

    /// LDAP bytes as a reassembled TCP connection (BER and SASL framing, ldap-parser, filters,
    /// binds), then as CLDAP datagrams both ways (a ping, its answer).
    pub fn ldap_stream(data: &[u8]) {
        protocol("ldap", data);
    }

    /// One DNS message as a UDP datagram, then the same bytes as a TCP stream.
    pub fn dns_message(data: &[u8]) {
        protocol("dns", data);
    }

    /// A NetBIOS name service datagram and an RDP connection request, through their
    /// tracker.
    pub fn name_messages(data: &[u8]) {
        protocol("netbios_rdp", data);
    }

    /// A TLS connection on a directory port (record framing, tls-parser handshakes).
    pub fn tls_stream(data: &[u8]) {
        protocol("tls", data);
    }

    /// An HTTP connection (heads, bodies passed over, Authorization tokens).
    pub fn http_stream(data: &[u8]) {
        protocol("http", data);
    }

    /// A sequence of TCP segments between two endpoints, each encoded as
    /// `flags u8 | seq delta u16 | len u8 | payload[len]`; checks that reassembly never
    /// delivers more bytes than it was given.
    pub fn tcp_segments(data: &[u8]) {
        let limits = TcpLimits {
            max_pending_bytes_per_flow: 4096,
            max_pending_segments_per_flow: 8,
            max_pending_bytes_total: 16_384,
            max_flows: 4,
            idle_timeout_secs: 5,
        };
        let mut reassembler = TcpReassembler::new(limits);
        let client = (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 50000);
        let server = (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 88);
        let mut given = [0u64; 2];
        let mut delivered = [0u64; 2];
        let mut seq = [1000u32, 9000u32];
        let mut rest = data;
        let mut frame = 0u64;
        while let Some((&[flags, hi, lo, len], tail)) = rest.split_first_chunk::<4>() {
            let take = usize::from(len).min(tail.len());
            let (payload, tail) = tail.split_at(take);
            rest = tail;
            frame += 1;
            let dir = usize::from(flags & 0x80 != 0);
            seq[dir] = seq[dir].wrapping_add(u32::from(u16::from_be_bytes([hi, lo]))).wrapping_sub(300);
            let (src, dst) = if dir == 0 { (client, server) } else { (server, client) };
            given[dir] += payload.len() as u64;
            let segment = Segment {
                src,
                dst,
                seq: seq[dir],
                flags: Flags {
                    syn: flags & 1 != 0,
                    ack: flags & 2 != 0,
                    fin: flags & 4 != 0,
                    rst: flags & 8 != 0,
                },
                payload,
                ts_micros: i64::from(flags & 0x70) * 1_000_000 * i64::try_from(frame).unwrap_or(0),
                frame,
            };
            reassembler.segment(&segment, |p| p == 88, &mut |event| {
                if let StreamEvent::Data { dir, bytes, .. } = event {
                    let d = usize::from(matches!(dir, orthrus_net::tcp::Direction::ToClient));
                    delivered[d] += bytes.len() as u64;
                }
            });
        }
        reassembler.finish(&mut |event| {
            if let StreamEvent::Data { dir, bytes, .. } = event {
                let d = usize::from(matches!(dir, orthrus_net::tcp::Direction::ToClient));
                delivered[d] += bytes.len() as u64;
            }
        });
        assert!(delivered[0] <= given[0] && delivered[1] <= given[1], "delivered {delivered:?} of {given:?}");
    }
}

/// Runs a fuzz entry point over a target's seeds (real inputs where the target has them, then
/// `fuzz/seeds/TARGET`) and crash reproducers (`testdata/crashes/TARGET`), each whole and cut
/// short three ways (truncation is the commonest hostile case); how many inputs it found.
/// Every EVTX file of the public corpus, read in place, in path order.
pub fn corpus_evtx_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "evtx") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&corpus(), &mut files);
    files.sort();
    files
}

pub fn replay_fuzz_seeds(target: &str, run: impl Fn(&[u8])) -> usize {
    let root = testdata().join("..");
    let mut inputs = 0;
    // Real inputs double as seeds: lab captures for `capture`, real messages for `kerberos_message`.
    let real = match target {
        "capture" => root.join("testdata/pcap"),
        "kerberos_message" => root.join("testdata/kerberos"),
        "ntlmssp_message" => root.join("testdata/ntlmssp"),
        "spnego_blob" => root.join("testdata/spnego"),
        "samba_audit" => root.join("testdata/audit"),
        "directory_snapshot" => root.join("testdata/directory"),
        _ => root.join("fuzz/seeds").join(target),
    };
    if target == "evtx_chunk" {
        // The first two chunks of every real log of the public corpus, read in place (never
        // copied into the tree).
        for path in corpus_evtx_files() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            for chunk in bytes.get(4096..).unwrap_or_default().chunks(65536).take(2) {
                run(chunk);
                inputs += 1;
            }
        }
    }
    let seeds = root.join("fuzz/seeds").join(target);
    let folders = if real == seeds { vec![real] } else { vec![real, seeds] };
    for dir in folders.into_iter().chain([root.join("testdata/crashes").join(target)]) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let readme = path.file_name().is_some_and(|n| n == "README.md");
            if path.is_file() && !readme && path.extension().is_none_or(|e| e != "tsv") {
                let bytes = std::fs::read(&path).unwrap_or_default();
                run(&bytes);
                for cut in [1, 7, bytes.len() / 2] {
                    if let Some(shorter) = bytes.get(..bytes.len().saturating_sub(cut)) {
                        run(shorter);
                    }
                }
                inputs += 1;
            }
        }
    }
    inputs
}
