//! SMB2, DCE-RPC and NTLM on real traffic: the lab's captures (a Samba DC attacked with
//! impacket) and public captures of Windows networks, checked against tshark's dissection
//! of the same files.

use std::collections::BTreeMap;
use std::path::Path;

use orthrus_model::{Activity, ActivityKind, AuthOutcome, NtStatus, RpcCall, RpcDetail};
use orthrus_testkit::{corpus, lab_activities, lab_manifest, tshark_fields};

use super::lab;

fn rpc_calls(activities: &[Activity]) -> Vec<(&Activity, &RpcCall)> {
    activities
        .iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::RpcCalled(c) => Some((a, c)),
            _ => None,
        })
        .collect()
}

/// Requests per opnum as tshark counts them: first fragments of REQUEST PDUs.
fn tshark_requests_per_opnum(capture: &Path) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for row in tshark_fields(capture, "dcerpc", &["dcerpc.pkt_type", "dcerpc.cn_flags", "dcerpc.opnum"]) {
        let [types, flags, opnums] = [&row[0], &row[1], &row[2]];
        let mut opnums = opnums.iter();
        for (ptype, flags) in types.iter().zip(flags) {
            if ptype == "0" || ptype == "2" {
                let opnum: u16 = opnums.next().unwrap().parse().unwrap();
                let first = u8::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap() & 1 != 0;
                if ptype == "0" && first {
                    *counts.entry(opnum).or_default() += 1;
                }
            }
        }
    }
    counts
}

fn our_requests_per_opnum(activities: &[Activity]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for (_, call) in rpc_calls(activities) {
        *counts.entry(call.opnum).or_default() += 1;
    }
    counts
}

#[test]
fn rpc_calls_match_tshark_on_every_lab_capture() {
    let mut with_rpc = 0;
    for capture in lab_manifest() {
        let path = lab(&capture.name);
        let ours = our_requests_per_opnum(&lab_activities(&capture.name));
        let theirs = tshark_requests_per_opnum(&path);
        assert_eq!(ours, theirs, "{}: requests per opnum, ours vs tshark", capture.name);
        with_rpc += usize::from(!ours.is_empty());
    }
    assert!(with_rpc >= 6, "only {with_rpc} lab captures carry RPC");
}

#[test]
fn ntlm_authentications_match_tshark_on_every_lab_capture() {
    for capture in lab_manifest() {
        let path = lab(&capture.name);
        let mut ours: Vec<String> = lab_activities(&capture.name)
            .iter()
            .filter_map(|a| match &a.kind {
                ActivityKind::NtlmAuthenticated(n) => Some(format!("{}\\{}", n.domain, n.user)),
                _ => None,
            })
            .collect();
        let mut theirs: Vec<String> = tshark_fields(
            &path,
            "ntlmssp.messagetype == 3",
            &["ntlmssp.auth.domain", "ntlmssp.auth.username"],
        )
        .iter()
        .flat_map(|row| row[0].iter().zip(&row[1]).map(|(d, u)| format!("{d}\\{u}")).collect::<Vec<_>>())
        .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{}: NTLM authentications", capture.name);
    }
}

#[test]
fn smb_logon_failures_carry_the_servers_status() {
    let activities = lab_activities("ntlm_bruteforce");
    let outcomes: Vec<AuthOutcome> = activities
        .iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::NtlmAuthenticated(n) => Some(n.outcome),
            _ => None,
        })
        .collect();
    let failures = tshark_fields(
        &lab("ntlm_bruteforce"),
        "smb2.cmd == 1 && smb2.nt_status == 0xc000006d",
        &["frame.number"],
    )
    .len();
    assert!(failures >= 6, "the capture holds a brute force: {failures}");
    let failed = AuthOutcome::Failed { status: NtStatus::LOGON_FAILURE };
    assert_eq!(outcomes.iter().filter(|o| **o == failed).count(), failures);
    assert_eq!(outcomes.iter().filter(|o| **o == AuthOutcome::Succeeded).count(), 1);
    // The benign logon capture: NTLM or Kerberos logons that all succeed.
    for a in lab_activities("benign_admin") {
        if let ActivityKind::NtlmAuthenticated(n) = &a.kind {
            assert_eq!(n.outcome, AuthOutcome::Succeeded, "{a:?}");
        }
    }
}

#[test]
fn dcsync_capture_yields_get_nc_changes_from_the_attacker() {
    let manifest = lab_manifest();
    let attacker = &manifest.iter().find(|c| c.name == "dcsync").unwrap().attacker_ip;
    let activities = lab_activities("dcsync");
    let calls = rpc_calls(&activities);
    let get_changes: Vec<_> =
        calls.iter().filter(|(_, c)| c.interface == "drsuapi" && c.opnum == 3).collect();
    let tshark = tshark_requests_per_opnum(&lab("dcsync"));
    assert!(!get_changes.is_empty());
    for (a, call) in &get_changes {
        assert_eq!(a.source.unwrap().ip.to_string(), *attacker);
        assert_eq!(call.operation.as_deref(), Some("IDL_DRSGetNCChanges"));
        // impacket seals DRSUAPI: the interface and opnum are all there is.
        assert!(call.encrypted);
        assert_eq!(call.auth.as_ref().map(|x| x.level.as_str()), Some("privacy"));
        assert_eq!(call.user.as_deref(), Some("lab.test\\da_admin"));
    }
    // The dynamic port came from the endpoint mapper's answer in the same capture.
    let map = calls.iter().find(|(_, c)| c.interface == "epm").unwrap();
    assert_eq!(map.1.operation.as_deref(), Some("ept_map"));
    assert!(get_changes[0].0.destination.unwrap().port != 135);
    assert!(tshark[&3] >= get_changes.len());
}

#[test]
fn samr_recon_yields_the_membership_and_name_queries() {
    let activities = lab_activities("samr_recon");
    let ops: Vec<&str> = rpc_calls(&activities).iter().filter_map(|(_, c)| c.operation.as_deref()).collect();
    for op in
        ["SamrLookupNamesInDomain", "SamrOpenGroup", "SamrGetMembersInGroup", "SamrEnumerateUsersInDomain"]
    {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    let names: Vec<&RpcDetail> =
        rpc_calls(&activities).into_iter().filter_map(|(_, c)| c.detail.as_ref()).collect();
    let lookups: Vec<&&RpcDetail> =
        names.iter().filter(|d| matches!(d, RpcDetail::LookupNames { .. })).collect();
    assert_eq!(lookups, [&&RpcDetail::LookupNames { names: vec!["Domain Admins".into()] }]);
    // samrdump opens every account the enumeration returned: SamrOpenUser by RID
    let opened: Vec<u32> = names
        .iter()
        .filter_map(|d| match d {
            RpcDetail::OpenUser { rid } => Some(*rid),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 21, "{opened:?}");
    assert!(opened.contains(&500) && opened.contains(&1113), "Administrator and adm_legacy among them");
    // The SMB3-encrypted run of the same attack is recorded as an encrypted session of the
    // account that logged on, its calls unreadable; the plain run has no encrypted session.
    let encrypted = lab_activities("samr_recon_smb3_encrypted");
    assert!(rpc_calls(&encrypted).is_empty());
    assert!(encrypted.iter().any(|a| matches!(&a.kind,
        ActivityKind::SmbSessionEncrypted(s) if s.user.as_deref() == Some("lab.test\\bob"))));
    assert!(!activities.iter().any(|a| matches!(a.kind, ActivityKind::SmbSessionEncrypted(_))));
}

#[test]
fn remote_service_creation_names_the_binary() {
    let activities = lab_activities("remote_exec");
    let created: Vec<&RpcDetail> = rpc_calls(&activities)
        .into_iter()
        .filter_map(|(_, c)| c.detail.as_ref())
        .filter(|d| matches!(d, RpcDetail::CreateService { .. }))
        .collect();
    let theirs =
        tshark_fields(&lab("remote_exec"), "svcctl.opnum == 12 && dcerpc.pkt_type == 0", &["frame.number"]);
    assert_eq!(created.len(), theirs.len());
    assert!(created.iter().any(
        |d| matches!(d, RpcDetail::CreateService { binary_path, .. } if binary_path.contains("%COMSPEC%"))
    ));
    // Shares and pipes the attack opened are activities too.
    assert!(
        activities
            .iter()
            .any(|a| matches!(&a.kind, ActivityKind::FileOpened(f) if f.pipe && f.name == "svcctl"))
    );
    assert!(
        activities
            .iter()
            .any(|a| matches!(&a.kind, ActivityKind::ShareOpened(s) if s.path.ends_with("IPC$")))
    );
}

#[test]
fn zerologon_capture_shows_zero_credentials_and_benign_traffic_does_not() {
    let path = corpus().join(
        "pcap-attack/Lateral Movement/CVE-2020-1472_Zerologon_RPC_NetLogon_NullChallenge_SecChan_6_from_nonDC_to_DC.pcapng",
    );
    let activities = orthrus_testkit::activities(&path);
    let zero_auths = rpc_calls(&activities)
        .iter()
        .filter(|(_, c)| {
            matches!(c.detail, Some(RpcDetail::NetlogonAuthenticate { credential_zero: true, .. }))
        })
        .count();
    let theirs =
        tshark_fields(&path, "netlogon.opnum == 26 && dcerpc.pkt_type == 0", &["frame.number"]).len();
    assert!(theirs > 100, "{theirs}");
    assert_eq!(zero_auths, theirs);
    for capture in lab_manifest().iter().filter(|c| c.label == "benign") {
        for (_, c) in rpc_calls(&lab_activities(&capture.name)) {
            assert!(
                !matches!(c.detail, Some(RpcDetail::NetlogonAuthenticate { credential_zero: true, .. })),
                "{}: {c:?}",
                capture.name
            );
        }
    }
}

#[test]
fn ndr64_and_mid_stream_pipes_are_decoded() {
    // A Windows client that bound SAMR with NDR64, on a pipe opened before the capture.
    let path =
        corpus().join("pcap-attack/Discovery/Discovery_privgroups_domain_admins_samr_lookupnames_req.pcapng");
    let activities = orthrus_testkit::activities(&path);
    let details: Vec<&RpcDetail> =
        rpc_calls(&activities).into_iter().filter_map(|(_, c)| c.detail.as_ref()).collect();
    let lookups = tshark_requests_per_opnum(&path)[&17];
    assert_eq!(details, vec![&RpcDetail::LookupNames { names: vec!["Domain Admins".into()] }; lookups]);
    assert_eq!(our_requests_per_opnum(&activities), tshark_requests_per_opnum(&path));
}

#[test]
fn smb_negotiations_match_tshark_on_every_lab_capture() {
    for capture in lab_manifest() {
        let path = lab(&capture.name);
        let ours: Vec<(bool, String)> = lab_activities(&capture.name)
            .iter()
            .filter_map(|a| match &a.kind {
                ActivityKind::SmbNegotiated(n) => {
                    Some((n.smb1_offered, n.dialect.clone().unwrap_or_default()))
                }
                _ => None,
            })
            .collect();
        let smb2_offers =
            tshark_fields(&path, "smb2.cmd == 0 && smb2.flags.response == 0", &["frame.number"]).len();
        let smb1_offers =
            tshark_fields(&path, "smb.cmd == 0x72 && smb.flags.response == 0", &["frame.number"]).len();
        assert_eq!(ours.iter().filter(|(smb1, _)| !smb1).count(), smb2_offers, "{}", capture.name);
        assert_eq!(ours.iter().filter(|(smb1, _)| *smb1).count(), smb1_offers, "{}", capture.name);
        // Every SMB2 negotiation that completed chose the dialect tshark reads in the answer.
        let chosen: Vec<String> =
            tshark_fields(&path, "smb2.cmd == 0 && smb2.flags.response == 1", &["smb2.dialect"])
                .into_iter()
                .filter_map(|row| row[0].first().cloned())
                .collect();
        for (_, dialect) in ours.iter().filter(|(smb1, _)| !smb1) {
            let hex = chosen.iter().any(|c| {
                u16::from_str_radix(c.trim_start_matches("0x"), 16)
                    .is_ok_and(|d| orthrus_proto::smb2::dialect_name(d) == dialect)
            });
            assert!(hex, "{}: {dialect} not among {chosen:?}", capture.name);
        }
    }
}

#[test]
fn rdp_cookies_and_netbios_names_match_tshark() {
    let rdp = corpus().join("pcap-attack/Lateral Movement/LM_rdp_sharprdp.pcapng");
    let cookies: Vec<String> = orthrus_testkit::activities(&rdp)
        .iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::RdpConnectionRequested(r) => r.cookie.clone(),
            _ => None,
        })
        .collect();
    let theirs: Vec<String> = tshark_fields(&rdp, "rdp.rt_cookie", &["rdp.rt_cookie"])
        .into_iter()
        .filter_map(|row| row[0].first().map(|c| c.trim_start_matches("Cookie: mstshash=").to_owned()))
        .collect();
    assert!(!theirs.is_empty());
    assert_eq!(cookies, theirs);

    let nbns = corpus().join("pcap-attack/Lateral Movement/LM_WMI_ProcessCallCreate.pcapng");
    let names: Vec<String> = orthrus_testkit::activities(&nbns)
        .iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::NetbiosNameSeen(n) => Some(n.name.clone()),
            _ => None,
        })
        .collect();
    let theirs = tshark_fields(&nbns, "nbns", &["nbns.name"]);
    assert!(!theirs.is_empty());
    assert_eq!(names.len(), theirs.len());
    for (ours, row) in names.iter().zip(&theirs) {
        // tshark writes `NAME<1c>`: the name part must agree.
        let theirs = row[0].first().map(|n| n.split('<').next().unwrap_or_default().trim().to_owned());
        assert_eq!(Some(ours.trim()), theirs.as_deref(), "{names:?} vs {theirs:?}");
    }
}

#[test]
fn kerberos_over_winrm_http_matches_tshark() {
    let path = corpus().join(
        "security-datasets/atomic/windows/lateral_movement/network/covenant_psremoting_command/covenant_psremoting_command_2020-08-06115603.cap",
    );
    let mut decoder = orthrus_net::Decoder::new(orthrus_net::DecoderConfig::default());
    let mut activities = Vec::new();
    // The capture's last record is cut short: reported, the rest decoded.
    let _ = orthrus_net::decode_file(&path, &mut decoder, &mut |a| activities.push(a));
    decoder.finish(&mut |a| activities.push(a));
    let over_http: Vec<_> = activities
        .iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::ServiceAccessed(s) if s.via == orthrus_model::Carrier::Http => Some(s),
            _ => None,
        })
        .collect();
    let theirs = tshark_fields(
        &path,
        "http.authorization && (kerberos.msg_type == 14 || ntlmssp.messagetype == 3)",
        &["frame.number"],
    );
    assert_eq!(over_http.len(), theirs.len());
    assert!(over_http.iter().all(|s| s.service.starts_with("HTTP/")));
    assert!(over_http.iter().any(|s| s.outcome == AuthOutcome::Succeeded));

    // The requests that authenticated, with their request line and the answer's status,
    // frame for frame as tshark reads them.
    let mut requests: Vec<(u64, &orthrus_model::HttpRequest)> = activities
        .iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::HttpRequested(r) => Some((a.provenance[0].frame_number().unwrap(), r)),
            _ => None,
        })
        .collect();
    requests.sort_by_key(|(frame, _)| *frame);
    assert_eq!(requests.len(), theirs.len());
    let lines = tshark_fields(
        &path,
        "http.authorization && kerberos.msg_type == 14",
        &["frame.number", "http.request.method", "http.request.uri"],
    );
    for ((frame, request), line) in requests.iter().zip(&lines) {
        assert_eq!(frame.to_string(), line[0][0]);
        assert_eq!(
            (request.method.as_str(), request.target.as_str()),
            (line[1][0].as_str(), line[2][0].as_str())
        );
        assert_eq!(request.auth, "kerberos");
        assert_eq!(request.path(), "/wsman");
    }
    assert_eq!(requests.iter().filter(|(_, r)| r.status == Some(200)).count(), 4);
}

/// Refused binds as tshark shows them: a BIND_ACK result other than acceptance (0) or the
/// acknowledgement of negotiated features (3), or a BIND_NAK — on the lab's PetitPotam
/// recording (Samba refuses MS-EFSR on \pipe\lsarpc) and nowhere in the lab's main set,
/// where every bind that negotiates a transfer syntax also gets one accepted.
#[test]
fn refused_binds_match_tshark() {
    let capture = orthrus_testkit::fixture("lab-extra/efs_coerce.pcap");
    let refused: Vec<_> = orthrus_testkit::activities(&capture)
        .into_iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::RpcBindRefused(r) => Some((a.source_ip(), r.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    let (source, bind) = &refused[0];
    assert_eq!(*source, Some("10.99.0.21".parse().unwrap()));
    assert_eq!((bind.interface.as_str(), bind.pipe.as_deref()), ("efsrpc", Some("lsarpc")));
    assert_eq!(bind.user.as_deref(), Some("LAB\\bob"));
    let rows =
        tshark_fields(&capture, "dcerpc.pkt_type==12", &["dcerpc.cn_ack_result", "dcerpc.cn_ack_reason"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], ["2"], "provider rejection");
    assert_eq!(bind.reason.to_string(), rows[0][1][0]);
    for capture in lab_manifest() {
        let activities = lab_activities(&capture.name);
        assert!(
            !activities.iter().any(|a| matches!(a.kind, ActivityKind::RpcBindRefused(_))),
            "{}",
            capture.name
        );
    }
}

/// A Registry.pol written over SMB: its bytes as tshark counts the WRITEs, its settings as the
/// PReg file the lab wrote them.
#[test]
fn policy_files_written_over_smb_are_read_whole() {
    let capture = orthrus_testkit::fixture("lab-extra/gpo_defender_disabled.pcap");
    let writes: Vec<_> = orthrus_testkit::activities(&capture)
        .into_iter()
        .filter_map(|a| match a.kind {
            ActivityKind::PolicyFileWritten(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let expected: u64 =
        tshark_fields(&capture, "smb2.cmd==9 && smb2.flags.response==0", &["smb2.write_length"])
            .iter()
            .map(|row| row[0][0].parse::<u64>().unwrap())
            .sum();
    assert_eq!(writes[0].bytes, expected);
    assert_eq!(writes[0].user.as_deref(), Some("LAB\\da_admin"));
    assert_eq!(
        writes[0].settings,
        [
            "Software\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware = 1",
            "Software\\Policies\\Microsoft\\Windows Defender\\Real-Time Protection\\DisableRealtimeMonitoring = 1",
        ]
    );
}

/// The SPNEGO mechanisms a client offered beside its Kerberos AP-REQ, in its order, as tshark
/// lists `spnego.MechType` in the same frame: Windows' Negotiate (NEGOEX among them) in a
/// public capture, and the lab's Samba and impacket clients.
#[test]
fn spnego_offers_match_tshark() {
    const OIDS: &[(&str, &str)] = &[
        ("krb5", "1.2.840.113554.1.2.2"),
        ("ms-krb5", "1.2.840.48018.1.2.2"),
        ("krb5-u2u", "1.2.840.113554.1.2.2.3"),
        ("ntlmssp", "1.3.6.1.4.1.311.2.2.10"),
        ("negoex", "1.3.6.1.4.1.311.2.2.30"),
    ];
    let rubeus = corpus().join(
        "security-datasets/atomic/windows/credential_access/network/empire_shell_rubeus_asktgt_ptt/empire_shell_rubeus_asktgt_ptt_2020-09-21223848.cap",
    );
    let mut captures = vec![rubeus];
    captures.extend(lab_manifest().iter().map(|c| lab(&c.name)));
    let (mut compared, mut negoex) = (0, 0);
    for capture in &captures {
        let offers: BTreeMap<u64, Vec<String>> =
            tshark_fields(capture, "spnego.MechType", &["frame.number", "spnego.MechType"])
                .into_iter()
                .map(|row| (row[0][0].parse().unwrap(), row[1].clone()))
                .collect();
        for activity in orthrus_testkit::activities(capture) {
            let ActivityKind::ServiceAccessed(access) = &activity.kind else { continue };
            let Some(frame) = activity.provenance.first().and_then(|p| p.frame_number()) else { continue };
            let theirs = offers.get(&frame).cloned().unwrap_or_default();
            let ours: Vec<String> = access
                .offered_mechanisms
                .iter()
                .map(|m| {
                    OIDS.iter().find(|(name, _)| name == m).map_or(m.as_str(), |(_, oid)| oid).to_owned()
                })
                .collect();
            assert_eq!(ours, theirs, "{} frame {frame}", capture.display());
            compared += usize::from(!ours.is_empty());
            negoex += usize::from(access.offered_mechanisms.iter().any(|m| m == "negoex"));
        }
    }
    assert!(compared >= 5, "only {compared} SPNEGO offers beside an AP-REQ");
    assert_eq!(negoex, 1, "Windows' offer in the Rubeus capture, and no lab client's");
}

/// Each file's `file_read`: its name, bytes and READs.
fn file_reads(capture: &Path) -> Vec<(String, u64, u64)> {
    orthrus_testkit::activities(capture)
        .into_iter()
        .filter_map(|a| match a.kind {
            ActivityKind::FileRead(r) => Some((r.name, r.bytes, r.reads)),
            _ => None,
        })
        .collect()
}

/// The lengths tshark's SMB2 READ requests asked for.
fn read_requests(capture: &Path) -> Vec<u64> {
    tshark_fields(capture, "smb2.cmd==8 && smb2.flags.response==0", &["smb2.read_length"])
        .into_iter()
        .map(|row| row[0][0].parse().unwrap())
        .collect()
}

/// Bytes read per file, reported at CLOSE: the lab's copy of a staged ntds.dit and two saved
/// hives reads each in one READ; tshark does not dissect responses this large (NBSS beyond
/// 128 KiB), so ours are checked against its READ requests' lengths, which the server filled.
#[test]
fn file_reads_are_counted_per_file() {
    let capture = orthrus_testkit::fixture("lab-extra/smb_ntds_exfil.pcap");
    let asked = read_requests(&capture);
    assert_eq!(asked, [524_288, 262_144, 65_536]);
    let expected: Vec<(String, u64, u64)> =
        ["lab.test\\temp\\ntds.dit", "lab.test\\temp\\SYSTEM.save", "lab.test\\temp\\SAM.save"]
            .iter()
            .zip(&asked)
            .map(|(name, bytes)| ((*name).to_owned(), *bytes, 1))
            .collect();
    assert_eq!(file_reads(&capture), expected);
    // A user's policy reads at logon: small files, each counted.
    let sysvol = file_reads(&orthrus_testkit::fixture("lab-extra/benign_sysvol_read.pcap"));
    assert!(!sysvol.is_empty() && sysvol.iter().all(|(_, b, _)| *b > 0 && *b < 65_536), "{sysvol:?}");
    // A READ answered with more than the decoder keeps (1.5 MB, after an interim
    // STATUS_PENDING) is counted from its header: what tshark's READ requests asked, and the
    // files' sizes on the share.
    let capture = orthrus_testkit::fixture("lab-extra/smb_admin_share_copy.pcap");
    assert_eq!(read_requests(&capture), [1_500_000, 200_000]);
    assert_eq!(
        file_reads(&capture),
        [
            ("Windows\\Temp\\backup.vhd".to_owned(), 1_500_000, 1),
            ("Windows\\Temp\\report.txt".to_owned(), 200_000, 1)
        ]
    );
}
