//! The `orthrus` binary over every lab capture, as a user runs it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use assert_cmd::prelude::*;
use serde_json::Value;

mod admin;
#[cfg(feature = "browser")]
mod browser;
mod events;
mod hostile;
mod hostile_login;
mod intake;
mod lab_directory;
#[cfg(feature = "libpcap")]
mod live;
#[cfg(feature = "postgres")]
mod postgres_server;
mod reverse_dns;
mod server;
mod watch;

fn lab(name: &str) -> PathBuf {
    orthrus_testkit::fixture(&format!("pcap/{name}.pcap"))
}

fn orthrus() -> Command {
    Command::cargo_bin("orthrus").unwrap()
}

fn alerts(args: &[&str]) -> Vec<Value> {
    let out = orthrus().arg("analyze").arg("--format").arg("json").args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Which detections each attack capture of the lab must raise (None: not covered yet).
fn expected_detections(capture: &str) -> Option<&'static [&'static str]> {
    Some(match capture {
        "kerberoast" => &["ORT-KRB-001"],
        "asrep_roast" => &["ORT-KRB-002"],
        "krb_user_enum" => &["ORT-KRB-003"],
        "krb_bruteforce" | "krb_password_spray" => &["ORT-KRB-004"],
        // An impacket-based login loop: a brute force, by a tool that is not Windows.
        "ntlm_bruteforce" => &["ORT-NTLM-002", "ORT-NTLM-005"],
        "ntlm_password_spray" => &["ORT-NTLM-002"],
        "dcsync" => &["ORT-DRS-001"],
        "remote_exec" => &["ORT-RPC-001"],
        "dns_zone_transfer" => &["ORT-DNS-001"],
        "netsession_enum" => &["ORT-SMB-001"],
        "drs_unusual_replication" => &["ORT-DRS-003"],
        "pass_the_ticket" => &["ORT-KRB-012"],
        _ => return None,
    })
}

#[test]
fn every_lab_capture_per_its_manifest() {
    let manifest = orthrus_testkit::lab_manifest();
    assert_eq!(manifest.len(), 25);
    for capture in &manifest {
        let path = lab(&capture.name);
        let raised = alerts(&[path.to_str().unwrap()]);
        let detections: BTreeSet<&str> = raised.iter().map(|a| a["detection"].as_str().unwrap()).collect();
        match (capture.label.as_str(), expected_detections(&capture.name)) {
            ("benign", _) => assert!(raised.is_empty(), "{}: benign raised {raised:#?}", capture.name),
            ("attack", Some(ids)) => {
                assert_eq!(detections, ids.iter().copied().collect::<BTreeSet<_>>(), "{}", capture.name);
                for alert in &raised {
                    assert_eq!(alert["source"]["ip"], capture.attacker_ip.as_str(), "{}", capture.name);
                    let named = alert.to_string();
                    // Kerberoasting names the requester and the SPNs; the SPNs' owner accounts
                    // (the manifest's targets) need a directory snapshot.
                    let expected: Vec<String> = if capture.name == "kerberoast" {
                        vec![
                            "bob".into(),
                            "MSSQLSvc/sql01.lab.test".into(),
                            "HTTP/intranet.lab.test".into(),
                            "cifs/backup01.lab.test".into(),
                        ]
                    } else if matches!(
                        capture.name.as_str(),
                        "dcsync" | "remote_exec" | "drs_unusual_replication"
                    ) {
                        // The manifest names what was replicated or which pipes were used;
                        // the alert names the account the calls were made as, and the DC.
                        vec!["da_admin".into(), "10.99.0.10".into()]
                    } else if capture.name == "netsession_enum" {
                        vec!["bob".into(), "10.99.0.10".into()]
                    } else {
                        capture.targets.split(", ").map(String::from).collect()
                    };
                    for target in &expected {
                        assert!(
                            named.contains(target.as_str()),
                            "{}: {target} not named in {named}",
                            capture.name
                        );
                    }
                }
            }
            // Attacks on other protocols: no Kerberos detection may claim them.
            ("attack", None) => assert!(raised.is_empty(), "{}: raised {raised:#?}", capture.name),
            (label, _) => panic!("unknown label {label}"),
        }
    }
}

#[test]
fn all_benign_captures_together_raise_nothing() {
    let benign: Vec<String> = orthrus_testkit::lab_manifest()
        .into_iter()
        .filter(|c| c.label == "benign")
        .map(|c| lab(&c.name).to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = benign.iter().map(String::as_str).collect();
    assert_eq!(alerts(&args), Vec::<Value>::new());
}

/// Every benign lab recording with its DC's log, the extra benign recordings (an admin's
/// directory and SAM-R lookups, two mistyped binds; a user's policy reads from SYSVOL; DFS
/// namespace reads; DC locator pings; a computer's DNS name corrected; a GPO edit; an expired
/// TGT presented and refused), the lab's directory snapshot and its honeytokens tagged: one
/// timeline, no alert.
#[test]
fn all_benign_lab_recordings_with_directory_and_honeytokens_raise_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orthrus.toml");
    std::fs::write(&config, "[entities]\nhoneytokens = [\"LAB\\\\adm_legacy\", \"old_sqladmin@lab.test\"]\n")
        .unwrap();
    let mut files: Vec<String> = Vec::new();
    for capture in orthrus_testkit::lab_manifest().into_iter().filter(|c| c.label == "benign") {
        files.push(lab(&capture.name).to_string_lossy().into_owned());
        let audit = orthrus_testkit::fixture(&format!("audit/{}.audit.jsonl", capture.name));
        if std::fs::metadata(&audit).is_ok_and(|m| m.len() > 0) {
            files.push(audit.to_string_lossy().into_owned());
        }
    }
    for extra in [
        "lab-extra/benign_directory_lookups.pcap",
        "lab-extra/benign_directory_lookups.audit.jsonl",
        "lab-extra/benign_sysvol_read.pcap",
        "lab-extra/benign_sysvol_read.audit.jsonl",
        "lab-extra/benign_dfs_query.pcap",
        "lab-extra/benign_dfs_query.audit.jsonl",
        "lab-extra/benign_dc_locator.pcap",
        "lab-extra/benign_computer_rename.pcap",
        "lab-extra/benign_computer_rename.audit.jsonl",
        "lab-extra/benign_gpo_edit.pcap",
        "lab-extra/benign_gpo_edit.audit.jsonl",
        "lab-extra/benign_expired_tgt.pcap",
    ] {
        files.push(orthrus_testkit::fixture(extra).to_string_lossy().into_owned());
    }
    let snapshot = orthrus_testkit::fixture("directory/lab.snapshot.json");
    let mut args = vec!["--directory", snapshot.to_str().unwrap(), "--config", config.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    assert_eq!(alerts(&args), Vec::<Value>::new());
}

/// tshark's frame numbers for a display filter.
fn tshark_frames(capture: &str, filter: &str) -> Option<BTreeSet<u64>> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(lab(capture))
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .ok()?;
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap().lines().map(|l| l.trim().parse().unwrap()).collect())
}

#[test]
fn evidence_frames_are_the_packets_tshark_shows_for_the_attack() {
    // The manifest's proof filters: the frames tshark says carry the attack must all be in
    // the alert's evidence, and every evidence frame must be a Kerberos packet to tshark.
    let cases = [
        ("kerberoast", "kerberos.msg_type==13 && kerberos.etype==23"),
        ("asrep_roast", "kerberos.msg_type==11 && kerberos.CNameString==\"dave_np\" && kerberos.etype==23"),
        ("krb_password_spray", "kerberos.error_code==24"),
        ("krb_bruteforce", "kerberos.error_code==24"),
        ("krb_user_enum", "kerberos.error_code==6"),
    ];
    for (capture, filter) in cases {
        let raised = alerts(&[lab(capture).to_str().unwrap()]);
        let evidence: BTreeSet<u64> = raised
            .iter()
            .flat_map(|a| a["evidence"].as_array().unwrap().iter().map(|e| e["frame"].as_u64().unwrap()))
            .collect();
        let Some(attack_frames) = tshark_frames(capture, filter) else {
            assert!(std::env::var_os("CI").is_none(), "tshark is required in CI (.ci/run installs it)");
            eprintln!("tshark not installed: evidence cross-check skipped");
            return;
        };
        assert!(!attack_frames.is_empty(), "{capture}: {filter} matched nothing");
        assert!(
            attack_frames.is_subset(&evidence),
            "{capture}: tshark {attack_frames:?} vs evidence {evidence:?}"
        );
        let list: Vec<String> = evidence.iter().map(|f| format!("frame.number=={f}")).collect();
        let kerberos = tshark_frames(capture, &format!("kerberos && ({})", list.join(" || "))).unwrap();
        assert_eq!(kerberos, evidence, "{capture}: evidence frames that are not Kerberos to tshark");
    }
}

#[test]
fn table_output_and_exit_codes() {
    let out = orthrus().arg("analyze").arg(lab("krb_bruteforce")).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("HIGH    ORT-KRB-004"), "{text}");
    assert!(text.contains("guessed the password of frank"), "{text}");
    assert!(text.contains("1 alert (1 high, 0 medium, 0 low) in 1 incident."), "{text}");

    let out = orthrus().args(["analyze", "--fail-on-alert"]).arg(lab("krb_bruteforce")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = orthrus().args(["analyze", "--fail-on-alert"]).arg(lab("benign_logon")).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "No alerts.\n");
}

#[test]
fn unreadable_input_is_reported_and_the_rest_analyzed() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"definitely not a capture").unwrap();
    let out =
        orthrus().args(["analyze", "--format", "json"]).arg(&junk).arg(lab("kerberoast")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("junk.pcap: neither a capture (pcap, pcapng) nor an event log")
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1, "kerberoast still analyzed");
}

#[test]
fn output_file_stats_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.jsonl");
    let config = dir.path().join("orthrus.toml");
    std::fs::write(&config, "[account_enumeration]\nmin_unknown_accounts = 11\n").unwrap();
    let out = orthrus()
        .args(["analyze", "--format", "json", "--stats", "--output"])
        .arg(&file)
        .arg("--config")
        .arg(&config)
        .arg(lab("krb_user_enum"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "", "10 unknown names are below 11");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("kerberos  as_req=14 exchanges=14 krb_error=14"), "{stderr}");

    std::fs::write(&config, "[account_enumeration]\nmin_unknown = 3\n").unwrap();
    let out =
        orthrus().arg("analyze").arg("--config").arg(&config).arg(lab("krb_user_enum")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a typo in the config is fatal, never silently ignored");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
}

#[test]
fn activities_prints_one_json_object_per_exchange() {
    let out = orthrus().arg("activities").arg(lab("kerberoast")).output().unwrap();
    assert!(out.status.success());
    let all: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // impacket's GetUserSPNs finds the SPNs over sealed LDAP first (its NTLM bind is all
    // that can be read), then asks the KDC.
    assert!(all.iter().any(|a| a["activity"] == "ntlm_authenticated"
        && a["via"] == "ldap"
        && a["user"] == "bob"
        && a["result"] == "succeeded"));
    assert!(all.iter().any(|a| a["activity"] == "ldap_bound" && a["name"] == "lab.test\\bob"));
    let lines: Vec<&Value> = all
        .iter()
        .filter(|a| a["activity"] == "tgt_requested" || a["activity"] == "service_ticket_requested")
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[2]["activity"], "service_ticket_requested");
    assert_eq!(lines[2]["ticket"]["sname"], "MSSQLSvc/sql01.lab.test");
    assert_eq!(lines[2]["provenance"][0]["frame"], 36);
}

#[test]
fn detections_list_names_every_detection() {
    let out = orthrus().args(["detections", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for id in ["ORT-KRB-001", "ORT-KRB-002", "ORT-KRB-003", "ORT-KRB-004"] {
        assert!(text.contains(id), "{text}");
    }
    assert!(text.contains("kerberoasting.min_services = 5"), "{text}");
}

#[test]
fn detections_show_says_what_an_alert_means_and_what_to_do() {
    let out = orthrus().args(["detections", "show", "ort-drs-001"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("ORT-DRS-001  Suspected DCSync attack"), "{text}");
    assert!(text.contains("What it means\n  A computer that is not a domain controller"), "{text}");
    assert!(text.contains("Recommended actions\n  1. Check who holds replication rights"), "{text}");
    assert!(text.contains("krbtgt password twice"), "{text}");

    let out = orthrus().args(["detections", "show", "ORT-NOPE-001"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no detection \"ORT-NOPE-001\""));
}

/// Corpus captures (pcap/pcapng rows of ../shared/corpus/MANIFEST.tsv), read in place.
fn corpus_captures() -> Vec<(PathBuf, String)> {
    let root = orthrus_testkit::corpus();
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap();
    manifest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            matches!(cols.get(1), Some(&"pcap" | &"pcapng"))
                .then(|| (root.join(cols[0]), cols.get(6).copied().unwrap_or_default().to_string()))
        })
        .collect()
}

/// Corpus captures the MANIFEST calls benign that hold an attack, with what they show and the
/// detection that must (and alone may) raise on them.
const MISLABELLED: &[(&str, &str, &str)] = &[(
    "suricata-verify/tests/smb-dce_iface/input.pcap",
    "PrintNightmare (cube0x0's PoC: RpcAddPrinterDriverEx of driver \"1234\" loading mimilib.dll from \\\\ws02\\security)",
    "ORT-RPC-002",
)];

#[test]
fn public_corpus_benign_captures_raise_nothing_and_every_capture_reads() {
    let captures = corpus_captures();
    assert!(captures.len() > 100, "{} captures", captures.len());
    let root = orthrus_testkit::corpus();
    let benign: Vec<&PathBuf> = captures
        .iter()
        .filter(|(_, label)| label.starts_with("Benign") || label.starts_with("Robustness"))
        .filter(|(p, _)| !MISLABELLED.iter().any(|(file, _, _)| root.join(file) == *p))
        .map(|(p, _)| p)
        .collect();
    for (file, shows, detection) in MISLABELLED {
        let raised = alerts(&[root.join(file).to_str().unwrap()]);
        let detections: BTreeSet<&str> = raised.iter().map(|a| a["detection"].as_str().unwrap()).collect();
        assert_eq!(detections, BTreeSet::from([*detection]), "{file}: {shows}");
    }
    assert!(benign.len() > 50);
    // All benign and robustness captures in one run: exit 0, no alert.
    let args: Vec<&str> = benign.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(alerts(&args), Vec::<Value>::new());
    // Every capture, attacks included, reads without an input error.
    let all: Vec<&str> = captures.iter().map(|(p, _)| p.to_str().unwrap()).collect();
    let out = orthrus().args(["analyze", "--format", "json"]).args(&all).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn public_corpus_kerbrute_spray_on_windows() {
    let path = orthrus_testkit::corpus()
        .join("pcap-attack/CredAccess/CA_kerbrute_passwordspray_kerberos_AS-REQ.pcapng");
    let raised = alerts(&[path.to_str().unwrap()]);
    let spray = raised.iter().find(|a| a["detection"] == "ORT-KRB-004").expect("spray detected");
    assert_eq!(spray["source"]["ip"], "172.16.66.1");
    assert_eq!(spray["severity"], "high");
    let description = spray["description"].as_str().unwrap();
    assert!(description.contains("password spray"), "{description}");
    assert!(description.contains("guessed the password of normal"), "{description}");
    // kerbrute probes names first: the 7 that do not exist are enumeration too.
    let enumeration = raised.iter().find(|a| a["detection"] == "ORT-KRB-003").expect("enumeration");
    assert!(enumeration["description"].as_str().unwrap().contains("7 unknown names"));
}

#[test]
fn public_corpus_rubeus_asktgt_on_windows() {
    // Empire runs Rubeus `asktgt /rc4` on a Windows workstation whose own SMB logon to the DC
    // offered Windows' Negotiate (NEGOEX) half a minute before: overpass-the-hash, and nothing
    // else in the capture.
    let path = orthrus_testkit::corpus().join(
        "security-datasets/atomic/windows/credential_access/network/empire_shell_rubeus_asktgt_ptt/empire_shell_rubeus_asktgt_ptt_2020-09-21223848.cap",
    );
    let raised = alerts(&[path.to_str().unwrap()]);
    assert_eq!(raised.len(), 1, "{raised:#?}");
    let alert = &raised[0];
    assert_eq!(alert["detection"], "ORT-KRB-011");
    assert_eq!(alert["source"]["ip"], "172.18.39.6");
    assert_eq!(alert["source"]["account"], "pgustavo@THESHIRE.LOCAL");
    let description = alert["description"].as_str().unwrap();
    assert!(description.contains("only rc4-hmac offered"), "{description}");
}

#[test]
fn public_corpus_purplesharp_kerberoasting_on_windows() {
    // A Windows client (AES offered) roasting five SPN accounts without AES keys; the capture
    // was taken on the client, so its IPv4 length fields are unset (segmentation offload).
    let path = orthrus_testkit::corpus().join(
        "security-datasets/atomic/windows/lateral_movement/network/purplesharp_ad_playbook_I/purplesharp_ad_playbook_I_2020-10-22042947.cap",
    );
    let raised = alerts(&[path.to_str().unwrap()]);
    // The playbook also opens PowerShell remoting sessions to the DC and two workstations
    // (ORT-RPC-001, one alert per target).
    let remoting: Vec<&Value> = raised.iter().filter(|a| a["detection"] == "ORT-RPC-001").collect();
    assert_eq!(remoting.len(), 3, "{raised:#?}");
    let roasting: Vec<&Value> = raised.iter().filter(|a| a["detection"] == "ORT-KRB-001").collect();
    assert_eq!((roasting.len(), raised.len()), (1, 4), "{raised:#?}");
    let alert = roasting[0];
    assert_eq!(alert["source"]["ip"], "172.18.39.5");
    assert_eq!(alert["source"]["account"], "pgustavo");
    assert_eq!(alert["targets"]["services"].as_array().unwrap().len(), 5);
    assert_eq!(alert["evidence"].as_array().unwrap().len(), 10, "five requests and five replies");
}

#[test]
fn rotated_captures_are_one_timeline_in_any_order() {
    // kerberoast.pcap cut after frame 36 (a TGS-REQ) as a rotating capture would: its reply
    // (frame 38) is frame 2 of the second file. Given newest first, the exchange must still
    // pair up and the alert must point into both files.
    use orthrus_net::capture::{self, PcapWriter};
    let mut frames = Vec::new();
    capture::read_frames(capture::open(&lab("kerberoast")).unwrap(), |f| {
        frames.push((f.ts_micros, f.data.to_vec()))
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, part: &[(i64, Vec<u8>)]| {
        let path = dir.path().join(name);
        let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap(), 1, 262_144).unwrap();
        for (ts, data) in part {
            w.write(*ts, data).unwrap();
        }
        path
    };
    let first = write("dc.pcap0", &frames[..36]);
    let second = write("dc.pcap1", &frames[36..]);
    let raised = alerts(&[second.to_str().unwrap(), first.to_str().unwrap()]);
    assert_eq!(raised.len(), 1, "{raised:#?}");
    assert_eq!(raised[0]["count"], 3);
    let evidence: Vec<String> = raised[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}#{}", e["file"].as_str().unwrap(), e["frame"]))
        .collect();
    assert_eq!(evidence[..2], ["dc.pcap0#36".to_string(), "dc.pcap1#2".to_string()]);
}

/// The extra lab recordings (testdata/lab-extra, made with the lab script and
/// testdata/lab-extra/scenarios.sh): each attack raises exactly its detection from its capture
/// and the DC's log read together, with the lab's directory and honeytokens; the benign one
/// raises nothing.
#[test]
fn extra_lab_recordings_per_their_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orthrus.toml");
    // The DC by address, as a deployment lists it (some recordings hold no Kerberos it
    // answers), the AD FS service account, whose own DKM key reads are expected, and the KDC's
    // user-ticket lifetime while golden_ticket_lifetime was recorded (1 hour; every other
    // recording is shorter), and a bulk-copy threshold the 1.5 MB of smb_admin_share_copy meets
    // (no other recording reads an administrative share).
    std::fs::write(
        &config,
        "domain_controllers = [\"10.99.0.10\"]\n[adfs_dkm_read]\nexclude_actors = [\"svc_web\"]\n\
         [golden_ticket_lifetime]\nmax_ticket_lifetime_secs = 3600\n\
         [smb_exfiltration]\nmin_admin_share_bytes = 1000000\n\
         [entities]\nhoneytokens = [\"LAB\\\\adm_legacy\", \"old_sqladmin\"]\n",
    )
    .unwrap();
    let snapshot = orthrus_testkit::fixture("directory/lab.snapshot.json");
    let manifest = std::fs::read_to_string(orthrus_testkit::fixture("lab-extra/manifest.tsv")).unwrap();
    let mut seen = 0;
    for line in manifest.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (name, label, attacker) = (fields[0], fields[1], fields[3]);
        let expected: BTreeSet<&str> = match name {
            "honeytoken_ldap_query" => ["ORT-LDAP-002"].into(),
            "honeytoken_samr_query" => ["ORT-SAMR-002"].into(),
            "ldap_bind_bruteforce" => ["ORT-LDAP-001"].into(),
            "ntlm_user_enum" => ["ORT-NTLM-001"].into(),
            "golden_ticket_ghost" => ["ORT-KRB-005"].into(),
            "forged_pac" => ["ORT-KRB-006"].into(),
            "dpapi_backupkey_bkrp" => ["ORT-LSA-001"].into(),
            "netsync" => ["ORT-NRPC-002"].into(),
            "smb_ntds_exfil" => ["ORT-SMB-002"].into(),
            "ldap_attribute_recon" => ["ORT-LDAP-004"].into(),
            "golden_ticket_rc4" => ["ORT-KRB-009"].into(),
            "golden_ticket_kvno" => ["ORT-KRB-008"].into(),
            "dfs_coerce" => ["ORT-RPC-004"].into(),
            "efs_coerce" => ["ORT-RPC-003"].into(),
            "cldap_user_enum" => ["ORT-LDAP-005"].into(),
            "ntlm_relay_drop_mic" => ["ORT-NTLM-003"].into(),
            "ntlm_relay_dc_account" => ["ORT-NTLM-004"].into(),
            "dnshostname_spoofing" => ["ORT-EVT-007"].into(),
            "adfs_dkm_read" => ["ORT-EVT-012"].into(),
            "shadow_credentials" => ["ORT-EVT-006"].into(),
            "dcshadow_registration" => ["ORT-DRS-002"].into(),
            "printnightmare" => ["ORT-RPC-002"].into(),
            "gpo_defender_disabled" => ["ORT-EVT-011"].into(),
            "golden_ticket_lifetime" => ["ORT-KRB-007"].into(),
            "overpass_windows_workstation" => ["ORT-KRB-011"].into(),
            "ntlm_relay_exchange_account" => ["ORT-NTLM-004"].into(),
            "smb_admin_share_copy" => ["ORT-SMB-002"].into(),
            "targeted_kerberoast" => ["ORT-EVT-015"].into(),
            "delegation_backdoor" => ["ORT-EVT-020"].into(),
            "trust_created" => ["ORT-EVT-021"].into(),
            "gpo_edit_rights_granted" | "dcsync_rights_granted" => ["ORT-EVT-022"].into(),
            "esx_admins_group" | "esx_admins_renamed" => ["ORT-EVT-016"].into(),
            "azureadssoacc_full_control" | "azureadssoacc_password_reset" => ["ORT-EVT-017"].into(),
            "mass_account_deletion" => ["ORT-EVT-014"].into(),
            _ => BTreeSet::new(),
        };
        assert_eq!(label == "benign", expected.is_empty(), "{name}");
        let pcap = orthrus_testkit::fixture(&format!("lab-extra/{name}.pcap"));
        let audit = orthrus_testkit::fixture(&format!("lab-extra/{name}.audit.jsonl"));
        // A recording made after changing the directory comes with its own sync.
        let own = orthrus_testkit::fixture(&format!("lab-extra/{name}.snapshot.json"));
        let snapshot = if own.exists() { own } else { snapshot.clone() };
        let mut args = vec!["--directory", snapshot.to_str().unwrap(), "--config", config.to_str().unwrap()];
        args.push(pcap.to_str().unwrap());
        // a TGS exchange leaves nothing in Samba's log: the golden ticket's is empty
        if std::fs::metadata(&audit).is_ok_and(|m| m.len() > 0) {
            args.push(audit.to_str().unwrap());
        }
        let raised = alerts(&args);
        let detections: BTreeSet<&str> = raised.iter().map(|a| a["detection"].as_str().unwrap()).collect();
        assert_eq!(detections, expected, "{name}: {raised:#?}");
        for alert in &raised {
            assert_eq!(alert["source"]["ip"], attacker, "{name}");
        }
        seen += 1;
    }
    assert_eq!(seen, 53);
}

/// `--syslog` sends each alert of the run as CEF to a receiver (here a UDP socket on
/// loopback); a bad URL is refused before anything is read.
#[test]
fn analyze_forwards_alerts_as_cef_over_syslog() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let url = format!("udp://{}", receiver.local_addr().unwrap());
    let capture = orthrus_testkit::fixture("pcap/dcsync.pcap");
    let out = orthrus()
        .args(["analyze", "--format", "json", "--syslog", &url, capture.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let raised: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("sent {} alert(s) as CEF", raised.len())));
    let mut buffer = [0u8; 4096];
    for alert in &raised {
        let n = receiver.recv(&mut buffer).unwrap();
        let message = std::str::from_utf8(&buffer[..n]).unwrap();
        let detection = alert["detection"].as_str().unwrap();
        assert!(message.starts_with("<35>1 ") || message.starts_with("<36>1 "), "{message}");
        assert!(message.contains(&format!(" {detection} - CEF:0|Orthrus|Orthrus|")), "{message}");
        assert!(message.contains("externalId=2006"), "{message}");
    }

    let bad =
        orthrus().args(["analyze", "--syslog", "http://x", capture.to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use udp://HOST[:PORT] or tcp://HOST[:PORT]"));
}
