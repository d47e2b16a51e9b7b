//! Event logs through the binary: alone, and merged with captures in one run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{alerts, lab, orthrus};

fn audit(name: &str) -> String {
    orthrus_testkit::fixture(&format!("audit/{name}.audit.jsonl")).to_string_lossy().into_owned()
}

fn corpus(path: &str) -> String {
    orthrus_testkit::corpus().join(path).to_string_lossy().into_owned()
}

#[test]
fn evtx_alone_raises_its_detection_with_record_evidence() {
    let raised = alerts(&[&corpus("evtx-attack-samples/Credential Access/CA_DCSync_4662.evtx")]);
    assert_eq!(raised.len(), 1, "{raised:#?}");
    assert_eq!(raised[0]["detection"], "ORT-DRS-001");
    let evidence = raised[0]["evidence"].as_array().unwrap();
    let records: Vec<u64> = evidence.iter().map(|e| e["record"].as_u64().unwrap()).collect();
    assert_eq!(records, [1, 2, 3]);
    assert_eq!(evidence[0]["file"], "CA_DCSync_4662.evtx");
}

#[test]
fn capture_and_samba_audit_log_merge_into_one_timeline() {
    // The lab's group change: the wire shows the LDAP modify, the DC's audit log the membership
    // change it made; together one run raises what the log shows.
    let pcap = lab("group_membership_change");
    let out =
        orthrus().args(["activities"]).arg(&pcap).arg(audit("group_membership_change")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let activities: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: BTreeSet<&str> = activities.iter().map(|a| a["activity"].as_str().unwrap()).collect();
    assert!(kinds.contains("group_membership_changed"), "{kinds:?}");
    assert!(kinds.contains("ldap_changed"), "{kinds:?}");
    let from_log = activities.iter().filter(|a| a["provenance"][0]["line"].is_u64()).count();
    let from_wire = activities.iter().filter(|a| a["provenance"][0]["frame"].is_u64()).count();
    assert!(from_log > 0 && from_wire > 0);
    // One timeline: event times never go backwards by more than the decoder's reorder slack
    // (network activities complete at their reply).
    let times: Vec<&str> = activities.iter().map(|a| a["time"].as_str().unwrap()).collect();
    let sorted_log: Vec<&str> = activities
        .iter()
        .filter(|a| a["provenance"][0]["line"].is_u64())
        .map(|a| a["time"].as_str().unwrap())
        .collect();
    assert!(sorted_log.windows(2).all(|w| w[0] <= w[1]), "log activities in time order");
    assert_eq!(times.len(), activities.len());

    let raised = alerts(&[pcap.to_str().unwrap(), &audit("group_membership_change")]);
    let detections: BTreeSet<&str> = raised.iter().map(|a| a["detection"].as_str().unwrap()).collect();
    assert_eq!(detections, BTreeSet::from(["ORT-EVT-001"]));
    assert_eq!(raised[0]["source"]["ip"], "10.99.0.21");
}

#[test]
fn benign_lab_audit_logs_with_their_captures_raise_nothing() {
    for name in ["benign_logon", "benign_admin", "benign_password_typo", "benign_busy"] {
        let pcap = lab(name);
        assert_eq!(alerts(&[pcap.to_str().unwrap(), &audit(name)]), Vec::<Value>::new(), "{name}");
    }
}

#[test]
fn stats_count_skipped_records_and_unreadable_event_files_fail() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("forwarded.jsonl");
    std::fs::write(
        &log,
        "{\"EventID\": 1102, \"EventTime\": \"2024-05-01T10:00:00Z\", \"Channel\": \"Security\", \
         \"SourceName\": \"Microsoft-Windows-Eventlog\", \"Hostname\": \"DC9.corp.example\", \
         \"SubjectUserName\": \"eve\", \"SubjectDomainName\": \"CORP\"}\n{\"EventID\": 11\n",
    )
    .unwrap();
    let out = orthrus().args(["analyze", "--stats", "--format", "json"]).arg(&log).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("event JSON: 1 events (0 unused), 1 activities, skipped: malformed JSON document=1"),
        "{stderr}"
    );
    assert!(!stderr.contains("kerberos"), "no capture, no network statistics: {stderr}");
    let raised: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0]["detection"], "ORT-EVT-018");

    let truncated = dir.path().join("bad.evtx");
    std::fs::write(&truncated, b"ElfFile\0garbage").unwrap();
    let out = orthrus().arg("analyze").arg(&truncated).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.evtx"));

    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "meeting notes, not a log\n").unwrap();
    let out = orthrus().arg("analyze").arg(&notes).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither a capture (pcap, pcapng) nor an event log")
    );
}

#[test]
fn windows_dcsync_capture_and_its_domain_controller_log_line_up_in_time() {
    // OTRF's Covenant DCSync: the DC's traffic and its Security log (NXLog JSON, whose
    // EventTime is the DC's local time; the shipper's UTC @timestamp is used instead).
    let dir = "security-datasets/atomic/windows/credential_access";
    let pcap = corpus(&format!(
        "{dir}/network/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges_2020-08-05020926.cap"
    ));
    let log = corpus(&format!(
        "{dir}/host/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges_2020-08-05020926.json"
    ));
    let out = orthrus().arg("activities").arg(&pcap).arg(&log).output().unwrap();
    let activities: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let micros = |a: &Value| -> i64 {
        let t: jiff::Timestamp = a["time"].as_str().unwrap().parse().unwrap();
        t.as_microsecond()
    };
    let wire = activities
        .iter()
        .find(|a| a["activity"] == "rpc_called" && a["operation"] == "IDL_DRSGetNCChanges")
        .expect("GetNCChanges on the wire");
    let event = activities.iter().find(|a| a["activity"] == "directory_object_accessed").expect("4662");
    assert!((micros(wire) - micros(event)).abs() < 5_000_000, "{wire}\n{event}");
    let raised = alerts(&[&pcap, &log]);
    assert!(
        raised
            .iter()
            .any(|a| a["detection"] == "ORT-DRS-001" && a["source"]["account"] == "THESHIRE\\pgustavo")
    );
}

/// A baseline learned in one run silences what it learned in the next, and says so in the
/// file; a baseline that is not one stops the run with a clear error.
#[test]
fn a_saved_baseline_carries_learning_into_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("learn.toml");
    std::fs::write(&config, "[sensitive_groups]\nlearning_days = 28\n").unwrap();
    let baseline = dir.path().join("baseline.json");
    let log = orthrus_testkit::fixture("audit/group_membership_change.audit.jsonl");
    let log = log.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = orthrus().arg("analyze").args(["--format", "json"]).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let learning =
        run(&["--config", config.to_str().unwrap(), "--save-baseline", baseline.to_str().unwrap(), log]);
    assert_eq!((learning.0, learning.1.as_str()), (Some(0), ""), "{}", learning.2);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(saved["format"], 1);
    assert!(saved["detections"]["ORT-EVT-001"]["pairs"].to_string().contains("domain admins"), "{saved}");
    // A file of the first format, which called the pairs `changes`, reads the same.
    let renamed = std::fs::read_to_string(&baseline).unwrap().replace("\"pairs\"", "\"changes\"");
    let earlier = dir.path().join("earlier.json");
    std::fs::write(&earlier, renamed).unwrap();
    let with_earlier = run(&["--baseline", earlier.to_str().unwrap(), log]);
    assert_eq!((with_earlier.0, with_earlier.1.as_str()), (Some(0), ""), "{}", with_earlier.2);

    let without = run(&[log]);
    assert!(without.1.contains("ORT-EVT-001"), "{}", without.1);
    let with = run(&["--baseline", baseline.to_str().unwrap(), log]);
    assert_eq!((with.0, with.1.as_str()), (Some(0), ""), "{}", with.2);

    std::fs::write(&baseline, "{\"format\": 1, \"detections\": {\"ORT-EVT-001\": {\"changes\": 3}}}")
        .unwrap();
    let bad = run(&["--baseline", baseline.to_str().unwrap(), log]);
    assert_eq!(bad.0, Some(2));
    assert!(bad.2.contains("baseline state of ORT-EVT-001 does not fit it"), "{}", bad.2);
}

/// Peak memory of `analyze` (measured by the kernel through `bench-measure`) over two real
/// EVTX logs re-packed to 8 MiB each and to four times that: flat, and far under the 256 MiB
/// ceiling the event path promises whatever the input's size (logs stream chunk by chunk and
/// merge through bounded windows; nothing is read whole or sorted globally). Reading every
/// log's activities before sorting them, as Orthrus once did, grows by 20 MiB and more here;
/// what still grows is the detections' own state.
#[test]
fn analyze_memory_stays_flat_whatever_the_size_of_the_event_logs() {
    let dir = tempfile::tempdir().unwrap();
    let sources = orthrus_testkit::corpus_evtx_files();
    assert!(sources.len() > 100);
    let repack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/repack-evtx.py");
    let peak = |mib: usize| -> u64 {
        let out = dir.path().join(format!("set{mib}"));
        let made = Command::new("python3")
            .arg(&repack)
            .args(["--out"])
            .arg(&out)
            .args(["--files", "2", "--mib", &mib.to_string()])
            .args(&sources)
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let logs: Vec<PathBuf> = (0..2).map(|n| out.join(format!("repacked-{n:02}.evtx"))).collect();
        let measured = orthrus()
            .args(["bench-measure", "--"])
            .arg(env!("CARGO_BIN_EXE_orthrus"))
            .args(["analyze", "--no-progress", "--threads", "2", "--format", "json"])
            .args(&logs)
            .output()
            .unwrap();
        assert!(measured.status.success(), "{}", String::from_utf8_lossy(&measured.stderr));
        let usage: Value = serde_json::from_slice(&measured.stdout).unwrap();
        let peak = usage["peak_rss_kib"].as_u64().unwrap();
        assert!(peak > 0);
        peak
    };
    let (small, large) = (peak(8), peak(32));
    assert!(large < 256 * 1024, "{large} KiB over 64 MiB of logs");
    assert!(large < small + 12 * 1024, "peak grew from {small} to {large} KiB with the input");
}

/// The same for text logs, which are read a slice at a time: a real Samba DC's audit log
/// (the lab's busy day) repeated to 8 MiB and to four times that. Read whole, as text logs
/// were until c5fef3a, the peak grew from 52 to 119 MiB here (debug build); sliced, by 2 MiB.
#[test]
fn analyze_memory_stays_flat_whatever_the_size_of_a_text_log() {
    let dir = tempfile::tempdir().unwrap();
    let day = std::fs::read_to_string(orthrus_testkit::fixture("audit/benign_busy.audit.jsonl")).unwrap();
    let peak = |mib: usize| -> u64 {
        let log = dir.path().join(format!("dc-{mib}.audit.jsonl"));
        std::fs::write(&log, day.repeat((mib << 20) / day.len() + 1)).unwrap();
        let measured = orthrus()
            .args(["bench-measure", "--"])
            .arg(env!("CARGO_BIN_EXE_orthrus"))
            .args(["analyze", "--no-progress", "--format", "json"])
            .arg(&log)
            .output()
            .unwrap();
        assert!(measured.status.success(), "{}", String::from_utf8_lossy(&measured.stderr));
        let usage: Value = serde_json::from_slice(&measured.stdout).unwrap();
        usage["peak_rss_kib"].as_u64().unwrap()
    };
    let (small, large) = (peak(8), peak(32));
    assert!(large < 256 * 1024, "{large} KiB over a 32 MiB log");
    assert!(large < small + 12 * 1024, "peak grew from {small} to {large} KiB with the input");
}

/// What `bench-measure` reports: the lines a program wrote when its output is counted, none
/// when it is sent to /dev/null (as bench-events does for evtx_dump, a pipe costing the
/// writer CPU time of its own), and the kernel's CPU time and peak memory either way.
#[test]
fn bench_measure_counts_lines_or_discards_them() {
    let run = |discard: bool| -> Value {
        let mut command = orthrus();
        command.arg("bench-measure");
        if discard {
            command.arg("--discard");
        }
        let out = command.args(["--", "seq", "1", "5000"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (counted, discarded) = (run(false), run(true));
    assert_eq!(counted["lines"], 5000);
    assert_eq!(discarded["lines"], 0);
    for usage in [&counted, &discarded] {
        assert!(usage["peak_rss_kib"].as_u64().unwrap() > 0, "{usage}");
        assert!(usage["cpu_seconds"].as_f64().unwrap() >= 0.0, "{usage}");
    }
}
