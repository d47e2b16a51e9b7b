//! Event intake on real logs: every EVTX file of the public corpus, damaged copies of them,
//! and the same real events rendered in every other form Orthrus reads (forwarded XML,
//! Winlogbeat ECS, Get-WinEvent JSON, NXLog in syslog), which must read back to the same
//! events and activities.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use orthrus_events::{Format, MapContext, ReadSummary, WindowsEvent, read_file, read_text, to_activity};

fn corpus_rows() -> Vec<Vec<String>> {
    let corpus = orthrus_testkit::corpus();
    let text = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    text.lines().skip(1).map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}

fn read_all(path: &Path) -> (Vec<WindowsEvent>, ReadSummary) {
    let mut events = Vec::new();
    let label = path.file_name().unwrap().to_string_lossy().into_owned();
    let summary = read_file(path, &label, 2, &mut |e| events.push(e)).unwrap_or_else(|e| panic!("{e}"));
    (events, summary)
}

#[test]
fn every_corpus_evtx_file_reads_completely_or_counts_its_damage() {
    let corpus = orthrus_testkit::corpus();
    let mut files = 0;
    for row in corpus_rows().iter().filter(|r| r[1] == "evtx") {
        let path = corpus.join(&row[0]);
        let (events, summary) = read_all(&path);
        files += 1;
        let expected: u64 = row[11].parse().unwrap();
        // Damaged files too: every readable record is read, and the damage is counted.
        assert_eq!(summary.events, expected, "{}: {summary:?}", row[0]);
        if row[6].contains("corrupt chunk") || row[6].contains("zero-size record") {
            assert!(summary.skipped_total() > 0, "{}: damage not counted: {summary:?}", row[0]);
        }
        assert_eq!(events.len() as u64, summary.events);
    }
    assert!(files >= 100, "only {files} EVTX files in the corpus manifest");
}

#[test]
fn damaged_evtx_is_counted_never_fatal() {
    let corpus = orthrus_testkit::corpus();
    let dir = tempfile::tempdir().unwrap();
    let original = corpus.join("evtx-rs-samples/security.evtx");
    let bytes = std::fs::read(&original).unwrap();
    let (full, _) = read_all(&original);
    // Truncated at several points, including inside the file header and mid-chunk.
    for cut in [100usize, 4096, 4096 + 65536 / 2, bytes.len() / 2, bytes.len() - 1] {
        let path = dir.path().join(format!("cut{cut}.evtx"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let mut n = 0;
        let result = read_file(&path, "cut.evtx", 2, &mut |_| n += 1);
        if let Ok(summary) = result {
            assert!(summary.events as usize <= full.len());
        }
        assert!(n <= full.len());
    }
    // Bit flips spread through the file: every copy reads without panicking.
    let mut state = 0x2545_f491_u32;
    for round in 0..24 {
        let mut damaged = bytes.clone();
        for _ in 0..16 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let at = 4096 + (state as usize % (damaged.len() - 4096));
            damaged[at] ^= 1 << (state % 8);
        }
        let path = dir.path().join(format!("flip{round}.evtx"));
        std::fs::write(&path, &damaged).unwrap();
        let _ = read_file(&path, "flip.evtx", 1, &mut |_| {});
    }
}

#[test]
fn schema_names_match_real_evtx_field_order() {
    let corpus = orthrus_testkit::corpus();
    let mut checked = std::collections::BTreeSet::new();
    for row in corpus_rows().iter().filter(|r| r[1] == "evtx" && !r[6].starts_with("Robustness")) {
        let (events, _) = read_all(&corpus.join(&row[0]));
        for event in events {
            let names = orthrus_events::schema::field_names(&event.provider, event.event_id);
            if names.is_empty() || event.data.is_empty() || event.provider.contains("Eventlog") {
                continue;
            }
            let actual: Vec<&str> = event.data.iter().map(|(n, _)| n).collect();
            let common = actual.len().min(names.len());
            assert_eq!(
                &actual[..common],
                &names[..common],
                "{} event {} in {}",
                event.provider,
                event.event_id,
                row[0]
            );
            checked.insert(event.event_id);
        }
    }
    for id in [
        4624, 4625, 4648, 4662, 4672, 4688, 4697, 4698, 4728, 4732, 4738, 4742, 4768, 4769, 4771, 4776, 5136,
        5140, 5145, 7045,
    ] {
        assert!(checked.contains(&id), "no real {id} checked: {checked:?}");
    }
}

/// Real events from corpus files covering the mapped event ids.
fn sample_events() -> Vec<WindowsEvent> {
    let corpus = orthrus_testkit::corpus();
    let files = [
        "hayabusa-sample-evtx/YamatoSecurity/CredentialAccess/T1558.003_StealOrForgeKerberosTicketsKerberoasting_Security.evtx",
        "evtx-attack-samples/Credential Access/CA_DCSync_4662.evtx",
        "evtx-to-mitre-attack/TA0006-Credential Access/T1110.xxx-Brut force/ID4771-Kerberos brutforce with valid user.evtx",
        "evtx-attack-samples/Lateral Movement/LM_ScheduledTask_ATSVC_target_host.evtx",
        "deepbluecli/evtx/new-user-security.evtx",
        "deepbluecli/evtx/metasploit-psexec-powershell-target-system.evtx",
        "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4738,5136-SPN set on user account.evtx",
    ];
    files.iter().flat_map(|f| read_all(&corpus.join(f)).0).collect()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;")
}

fn render_xml(events: &[WindowsEvent]) -> String {
    let mut out = String::from("<Events>\n");
    for e in events {
        out.push_str(&format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='{}'/><EventID>{}</EventID><TimeCreated SystemTime='{}'/><EventRecordID>{}</EventRecordID><Channel>{}</Channel><Computer>{}</Computer></System><EventData>",
            xml_escape(&e.provider), e.event_id, e.time, e.record_id.unwrap(), xml_escape(&e.channel), xml_escape(&e.computer)
        ));
        for (name, value) in e.data.iter() {
            out.push_str(&format!("<Data Name='{name}'>{}</Data>", xml_escape(value)));
        }
        out.push_str("</EventData><RenderingInfo Culture='en-US'><Message>rendered</Message></RenderingInfo></Event>\n");
    }
    out.push_str("</Events>\n");
    out
}

fn data_object(e: &WindowsEvent) -> serde_json::Map<String, serde_json::Value> {
    e.data.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned()))).collect()
}

fn render_ecs(events: &[WindowsEvent]) -> String {
    events
        .iter()
        .map(|e| {
            serde_json::json!({
                "@timestamp": e.time.to_string(),
                "event": {"code": e.event_id.to_string(), "provider": e.provider},
                "host": {"name": e.computer.to_lowercase()},
                "winlog": {
                    "event_id": e.event_id.to_string(), "channel": e.channel, "computer_name": e.computer,
                    "record_id": e.record_id, "provider_name": e.provider, "event_data": data_object(e),
                },
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_get_winevent(events: &[WindowsEvent]) -> String {
    let items: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let properties: Vec<serde_json::Value> =
                e.data.iter().map(|(_, v)| serde_json::json!({"Value": v})).collect();
            serde_json::json!({
                "Id": e.event_id, "RecordId": e.record_id, "ProviderName": e.provider, "LogName": e.channel,
                "MachineName": e.computer, "TimeCreated": format!("/Date({})/", e.time.as_micros() / 1000),
                "Message": "rendered", "Properties": properties,
            })
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap()
}

fn render_nxlog_syslog(events: &[WindowsEvent]) -> String {
    events
        .iter()
        .map(|e| {
            let mut flat = data_object(e);
            flat.insert("EventID".into(), e.event_id.into());
            flat.insert("EventTime".into(), e.time.to_string().into());
            flat.insert("Channel".into(), e.channel.clone().into());
            flat.insert("SourceName".into(), e.provider.clone().into());
            flat.insert("Hostname".into(), e.computer.clone().into());
            flat.insert("RecordNumber".into(), e.record_id.into());
            format!("<14>1 {} {} nxlog - - - {}", e.time, e.computer, serde_json::Value::Object(flat))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn kinds(events: &[WindowsEvent]) -> Vec<String> {
    let context = MapContext::default();
    events
        .iter()
        .filter_map(|e| to_activity(e, &context))
        .map(|a| {
            let mut value = serde_json::to_value(&a).unwrap();
            // Provenance names the rendered file, not the EVTX one; time precision differs
            // for Get-WinEvent (milliseconds).
            value.as_object_mut().unwrap().remove("provenance");
            value.as_object_mut().unwrap().remove("time");
            value.to_string()
        })
        .collect()
}

fn read_rendered(format: Format, text: &str) -> (Vec<WindowsEvent>, ReadSummary) {
    let mut events = Vec::new();
    let file: Arc<str> = Arc::from("rendered");
    let summary = read_text(format, text, &file, &mut |e| events.push(e));
    (events, summary)
}

#[test]
fn real_events_read_back_the_same_from_every_text_form() {
    let originals = sample_events();
    assert!(originals.len() > 50);
    let want = kinds(&originals);
    let forms = [
        ("forwarded XML", Format::Xml, render_xml(&originals)),
        ("Winlogbeat ECS", Format::Json, render_ecs(&originals)),
        ("NXLog in syslog", Format::Syslog, render_nxlog_syslog(&originals)),
    ];
    for (name, format, text) in forms {
        assert_eq!(orthrus_events::sniff(text.as_bytes()), Some(format), "{name}");
        let (events, summary) = read_rendered(format, &text);
        assert_eq!(summary.skipped_total(), 0, "{name}: {summary:?}");
        assert_eq!(events.len(), originals.len(), "{name}");
        for (got, original) in events.iter().zip(&originals) {
            assert_eq!(
                (got.event_id, &got.computer, got.time),
                (original.event_id, &original.computer, original.time),
                "{name}"
            );
            assert_eq!(got.record_id, original.record_id, "{name}");
        }
        assert_eq!(kinds(&events), want, "{name}: activities differ");
    }
}

#[test]
fn get_winevent_json_names_positional_properties() {
    let originals: Vec<WindowsEvent> = sample_events()
        .into_iter()
        .filter(|e| !orthrus_events::schema::field_names(&e.provider, e.event_id).is_empty())
        .collect();
    let text = render_get_winevent(&originals);
    assert_eq!(orthrus_events::sniff(text.as_bytes()), Some(Format::Json));
    let (events, summary) = read_rendered(Format::Json, &text);
    assert_eq!(summary.skipped_total(), 0, "{summary:?}");
    assert_eq!(events.len(), originals.len());
    for (got, original) in events.iter().zip(&originals) {
        for (name, value) in original.data.iter() {
            assert_eq!(got.data.get(name), original.data.get(name), "{} {name}={value}", original.event_id);
        }
    }
    // UTF-16 with a BOM, as PowerShell 5.1 writes `> file.json`.
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("events.json");
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&path, utf16).unwrap();
    let (again, summary) = read_all(&path);
    assert_eq!(summary.format, Some(Format::Json));
    assert_eq!(again.len(), originals.len());
}

#[test]
fn samba_audit_logs_of_the_lab_become_windows_events() {
    let path = orthrus_testkit::fixture("audit/group_membership_change.audit.jsonl");
    let (events, summary) = read_all(&path);
    assert_eq!(summary.format, Some(Format::SambaAudit));
    let added = events.iter().find(|e| e.event_id == 4728).expect("4728 from groupChange Added");
    assert_eq!(added.data.get("TargetUserName"), Some("Domain Admins"));
    assert_eq!(added.data.get("MemberName"), Some("CN=Bob User,CN=Users,DC=lab,DC=test"));
    assert_eq!(added.data.get("IpAddress"), Some("10.99.0.21"));
    assert!(
        summary.skipped.contains_key("Samba authorization record (session detail, read for names)"),
        "{summary:?}"
    );
    // Samba gives the change's actor by SID; the session's authorization names the account.
    assert_eq!(added.data.get("SubjectUserSid"), Some("S-1-5-21-1246678650-3139473170-4258655604-1109"));
    assert_eq!(
        (added.data.get("SubjectDomainName"), added.data.get("SubjectUserName")),
        (Some("LAB"), Some("da_admin"))
    );
    // The simple bind's `workstation` is the DC's own name: it names the logging computer,
    // never the client at 10.99.0.21.
    let bind = events.iter().find(|e| e.event_id == 4624).expect("4624 from the simple bind");
    assert_eq!(bind.data.get("IpAddress"), Some("10.99.0.21"));
    assert_eq!(bind.data.get("WorkstationName").unwrap_or_default(), "");
    assert!(events.iter().all(|e| e.computer == "DC1"), "{events:#?}");

    // The lab's AS-REP roast: no pre-authentication, RC4 (Samba's "Unknown Pre-authentication").
    let (events, _) = read_all(&orthrus_testkit::fixture("audit/asrep_roast.audit.jsonl"));
    let roasted: Vec<&WindowsEvent> =
        events.iter().filter(|e| e.event_id == 4768 && e.data.get("PreAuthType") == Some("0")).collect();
    assert!(!roasted.is_empty());
    // Kerberos user enumeration: unknown names are 4768 with status 0x6.
    let (events, _) = read_all(&orthrus_testkit::fixture("audit/krb_user_enum.audit.jsonl"));
    assert!(events.iter().filter(|e| e.event_id == 4768 && e.data.number("Status") == Some(6)).count() >= 5);
}

/// A Samba audit line: `type` and its body (a JSON object's members, without braces).
fn samba_line(time: &str, kind: &str, body: &str) -> String {
    format!(
        "{{\"timestamp\": \"2026-11-25T07:18:{time}.000000+0000\", \"type\": \"{kind}\", \"{kind}\": {{{body}}}}}\n"
    )
}

#[test]
fn samba_names_only_what_its_records_vouch_for() {
    let group_change = |time: &str, session: &str, sid: &str| {
        samba_line(
            time,
            "groupChange",
            &format!(
                "\"eventId\": 4728, \"statusCode\": 0, \"action\": \"Added\", \"remoteAddress\": \"ipv4:10.1.2.3:5000\", \
                 \"userSid\": \"{sid}\", \"group\": \"CN=Domain Admins,CN=Users,DC=corp\", \"sessionId\": \"{session}\", \
                 \"user\": \"CN=Eve,CN=Users,DC=corp\""
            ),
        )
    };
    let authorization = |time: &str, session: &str, auth: &str, server: &str, local: &str| {
        samba_line(
            time,
            "Authorization",
            &format!(
                "\"localAddress\": \"ipv4:{local}:389\", \"remoteAddress\": \"ipv4:10.1.2.3:5000\", \"authType\": \"{auth}\", \
                 \"domain\": \"CORP\", \"account\": \"admin\", \"sid\": \"S-1-5-21-1-2-3-500\", \"sessionId\": \"{session}\", \
                 \"logonServer\": \"{server}\""
            ),
        )
    };
    let kdc = samba_line(
        "09",
        "Authentication",
        "\"status\": \"NT_STATUS_OK\", \"remoteAddress\": \"ipv4:10.1.2.3:5000\", \"serviceDescription\": \"Kerberos KDC\", \
         \"authDescription\": \"ENC-TS Pre-authentication\", \"clientAccount\": \"admin@CORP\"",
    );
    let log = [
        // A Kerberos session: its logonServer is the PAC's, written by whichever KDC issued the
        // ticket, so it names no one here; the session's account still names the actor.
        authorization("01", "s1", "krb5", "DC9", "10.0.0.1"),
        group_change("02", "s1", "S-1-5-21-1-2-3-500"),
        kdc.clone(),
        // A session whose SID is not the change's names nobody.
        group_change("03", "s1", "S-1-5-21-1-2-3-1106"),
        // An NTLM session names the DC itself at its local address.
        authorization("04", "s2", "NTLMSSP", "DC1", "10.0.0.1"),
        group_change("05", "s2", "S-1-5-21-1-2-3-500"),
        kdc.clone(),
        // The same log also holds a second DC's records: records without a local address are
        // no longer any one DC's.
        authorization("06", "s3", "simple bind", "DC2", "10.0.0.2"),
        kdc,
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dc.audit.jsonl");
    std::fs::write(&path, log).unwrap();
    let (events, _) = read_all(&path);
    let seen: Vec<(u32, &str, Option<&str>)> =
        events.iter().map(|e| (e.event_id, e.computer.as_str(), e.data.get("SubjectUserName"))).collect();
    assert_eq!(
        seen,
        [
            (4728, "", Some("admin")),
            (4768, "", None),
            (4728, "", None),
            (4728, "DC1", Some("admin")),
            (4768, "DC1", None),
            (4768, "", None),
        ]
    );
}

const SNARE_SEED: &str = "<13>Mar  2 10:00:00 DC01 MSWinEventLog\t1\tSecurity\t9\tTue Mar 02 10:00:00 2021\t4625\tMicrosoft-Windows-Security-Auditing\tN/A\tN/A\tFailure Audit\tDC01.corp.example\tLogon\t\tAn account failed to log on.    Subject:   Security ID:  S-1-0-0   Account Name:  -   Account Domain:  -   Logon ID:  0x0    Logon Type:   3    Account For Which Logon Failed:   Security ID:  S-1-0-0   Account Name:  bob   Account Domain:  CORP    Failure Information:   Failure Reason:  Unknown user name or bad password.   Status:   0xC000006D   Sub Status:  0xC000006A    Network Information:   Workstation Name: WS7   Source Network Address: 10.0.0.5   Source Port:  51234\t9\n";

/// The fuzz seeds of the text readers are real corpus events rendered in each form; this
/// test writes them (`ORTHRUS_BLESS=1`) and keeps them current.
#[test]
fn fuzz_seeds_are_real_events_in_every_text_form() {
    let events: Vec<WindowsEvent> = sample_events().into_iter().take(24).collect();
    let seeds_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let seeds = [
        ("event_json/ecs.jsonl", render_ecs(&events)),
        ("event_json/get-winevent.json", render_get_winevent(&events)),
        ("event_xml/forwarded.xml", render_xml(&events)),
        ("event_syslog/nxlog.log", render_nxlog_syslog(&events)),
        ("event_syslog/snare.log", SNARE_SEED.to_owned()),
    ];
    for (name, text) in seeds {
        let path = seeds_dir.join(name);
        if std::env::var_os("ORTHRUS_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_default(),
            text,
            "{name} is stale: ORTHRUS_BLESS=1"
        );
    }
}

/// An event as the detections see it (`EventData::get` trims values and treats empty ones as
/// absent): values trimmed, empty fields dropped, since rendering leaves out an empty
/// optional element a template still names and XML reading trims text.
fn comparable(event: &WindowsEvent) -> String {
    let data: Vec<(&str, &str)> =
        event.data.iter().map(|(n, v)| (n, v.trim())).filter(|(_, v)| !v.is_empty()).collect();
    format!(
        "{:?} {} {} {} {:?} {} {data:?}",
        event.time, event.channel, event.provider, event.event_id, event.record_id, event.computer
    )
}

#[test]
fn events_read_through_templates_equal_events_rendered_whole() {
    let corpus = orthrus_testkit::corpus();
    let (mut records, mut through_values, mut differ) = (0u64, 0u64, Vec::new());
    let (mut every, mut passed_over) = (0u64, 0u64);
    for row in corpus_rows().iter().filter(|r| r[1] == "evtx") {
        let path = corpus.join(&row[0]);
        let (fast, summary) = read_all(&path);
        let mut slow = Vec::new();
        let file: Arc<str> = Arc::from(path.file_name().unwrap().to_string_lossy().as_ref());
        orthrus_events::evtx::read_rendered(&path, &file, 1, &mut |e| slow.push(e)).unwrap();
        assert_eq!(fast.len(), slow.len(), "{}", row[0]);
        every += summary.events;
        // Counted as the timeline reads (string arrays, which only rendering expands right,
        // are common in Application logs, whose events no mapping uses).
        let mapped =
            orthrus_events::read_file_where(&path, "m", 1, orthrus_events::map::MAPPED, &mut |_| {}).unwrap();
        assert_eq!(mapped.events, summary.events);
        records += mapped.events;
        through_values += mapped.events - mapped.rendered_whole;
        passed_over += mapped.passed_over;
        for (a, b) in fast.iter().zip(&slow) {
            if comparable(a) != comparable(b) && differ.len() < 5 {
                differ.push(format!("{}: {:?}\n  vs rendered {:?}", row[0], comparable(a), comparable(b)));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // The point of the field map: nearly every real record is read without rendering.
    assert!(
        records == every && passed_over > 0 && passed_over < every,
        "{passed_over} passed over of {every}"
    );
    eprintln!("{through_values} of {records} records read through templates, {passed_over} passed over");
    assert!(through_values * 100 >= records * 95, "{through_values} of {records} read through templates");
}

/// Some tools write records without templates (each record's elements inline); those are read
/// by the same walker, not rendered, and read the same as rendering them.
#[test]
fn records_written_without_templates_are_read_without_rendering() {
    let path = orthrus_testkit::corpus().join(
        "evtx-to-mitre-attack/TA0007-Discovery/T1135.xxx-Network Share Discovery/ID5140-5145-Bloodhound-SharpHound enumeration via SMB.evtx",
    );
    let mapped =
        orthrus_events::read_file_where(&path, "m", 1, orthrus_events::map::MAPPED, &mut |_| {}).unwrap();
    assert_eq!((mapped.events, mapped.rendered_whole), (91, 0), "{mapped:?}");
    assert!(mapped.skipped.is_empty(), "{mapped:?}");
    let (fast, _) = read_all(&path);
    let mut slow = Vec::new();
    orthrus_events::evtx::read_rendered(&path, &Arc::from("m"), 1, &mut |e| slow.push(e)).unwrap();
    assert_eq!(fast.len(), 91);
    let share_events: Vec<_> = fast.iter().filter(|e| matches!(e.event_id, 5140 | 5145)).collect();
    assert!(share_events.len() > 80, "{}", share_events.len());
    assert!(
        share_events.iter().all(|e| e.data.get("ShareName").is_some_and(|s| s.starts_with("\\\\"))),
        "every share access names its share"
    );
    for (a, b) in fast.iter().zip(&slow) {
        assert_eq!(comparable(a), comparable(b));
    }
}

#[test]
fn records_no_mapping_uses_are_passed_over_and_the_activities_stay_the_same() {
    let corpus = orthrus_testkit::corpus();
    let context = MapContext::default();
    let (mut all_events, mut kept_events, mut activities) = (0usize, 0usize, 0usize);
    for row in corpus_rows().iter().filter(|r| r[1] == "evtx") {
        let path = corpus.join(&row[0]);
        let (all, _) = read_all(&path);
        let mut kept = Vec::new();
        let label = path.file_name().unwrap().to_string_lossy().into_owned();
        let summary =
            orthrus_events::read_file_where(&path, &label, 1, orthrus_events::map::MAPPED, &mut |e| {
                kept.push(e)
            })
            .unwrap();
        let mapped: Vec<&WindowsEvent> = all
            .iter()
            .filter(|e| orthrus_events::map::is_mapped(&e.provider, &e.channel, e.event_id))
            .collect();
        assert_eq!(kept.len(), mapped.len(), "{}", row[0]);
        assert_eq!(summary.events, all.len() as u64);
        assert_eq!(summary.passed_over, (all.len() - mapped.len()) as u64);
        // Only the fields a mapping reads are read, and the activities are those of the
        // events read whole.
        for (kept, whole) in kept.iter().zip(&mapped) {
            assert!(kept.data.iter().all(|(name, _)| orthrus_events::map::uses_field(name)), "{}", row[0]);
            let (a, b) = (to_activity(kept, &context), to_activity(whole, &context));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{} record {:?}", row[0], whole.record_id);
            activities += usize::from(a.is_some());
        }
        all_events += all.len();
        kept_events += kept.len();
    }
    assert!(kept_events > 1000 && kept_events < all_events, "{kept_events} of {all_events}");
    assert!(activities > 1000, "{activities} activities");
}

/// Every field name `to_activity` looks up (`get("…")`, `number("…")`, `status(d, "…")`) is
/// one `uses_field` keeps: a reader would otherwise never read it.
#[test]
fn every_field_the_mapping_reads_is_one_readers_keep() {
    let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/map.rs")).unwrap();
    let mut names = 0;
    for pattern in ["get(\"", "number(\"", "status(d, \""] {
        for (at, _) in source.match_indices(pattern) {
            let rest = &source[at + pattern.len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                orthrus_events::map::uses_field(name),
                "map.rs reads {name} but uses_field leaves it out"
            );
            names += 1;
        }
    }
    assert!(names > 50, "{names} look-ups found");
}

/// Events pulled through `open_file_where`, as the merge pulls them, with how many events the
/// reader had read when it gave the first.
fn pull(path: &Path) -> (Vec<WindowsEvent>, u64, ReadSummary) {
    let mut reader =
        orthrus_events::open_file_where(path, "big", 1, orthrus_events::Wanted::EVERYTHING).unwrap();
    let first = reader.next().expect("a first event");
    let read_at_first = reader.summary().events;
    let mut events = vec![first];
    events.extend(reader.by_ref());
    (events, read_at_first, reader.summary().clone())
}

/// Real events rendered in a text form and written out `copies` times (beyond one read slice).
fn big_log(dir: &Path, name: &str, text: &str, copies: usize, utf16: bool) -> PathBuf {
    let path = dir.join(name);
    let whole = text.repeat(copies);
    let bytes = if utf16 {
        [0xff, 0xfe].into_iter().chain(whole.encode_utf16().flat_map(u16::to_le_bytes)).collect()
    } else {
        whole.into_bytes()
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn text_logs_larger_than_a_slice_are_read_a_slice_at_a_time_as_if_whole() {
    let originals = sample_events();
    let dir = tempfile::tempdir().unwrap();
    let xml = render_xml(&originals);
    let ecs = render_ecs(&originals) + "\n";
    let nxlog = render_nxlog_syslog(&originals) + "\n";
    // A real Samba DC's log: its records name actors from sessions earlier lines opened.
    let samba = std::fs::read_to_string(orthrus_testkit::fixture("audit/benign_busy.audit.jsonl")).unwrap();
    for (name, format, text, utf16) in [
        ("big.xml", Format::Xml, &xml, false),
        ("big-utf16.xml", Format::Xml, &xml, true),
        ("big.ndjson", Format::Json, &ecs, false),
        ("big.syslog", Format::Syslog, &nxlog, false),
        ("big.audit.jsonl", Format::SambaAudit, &samba, false),
    ] {
        // At least three 1 MiB slices; in UTF-16, slices cut characters anywhere.
        let copies = (3 << 20) / text.len() + 1;
        let path = big_log(dir.path(), name, text, copies, utf16);
        let (events, read_at_first, summary) = pull(&path);
        assert!(
            read_at_first < summary.events / 2,
            "{name}: the first event came after {read_at_first} were read"
        );
        // The same events, in file order, with the same lines and names, as the whole text gives.
        let whole = text.repeat(copies);
        let (expected, expected_summary) = read_rendered(format, &whole);
        assert_eq!(summary.events, expected_summary.events, "{name}");
        assert_eq!(summary.skipped, expected_summary.skipped, "{name}");
        assert_eq!(events.len(), expected.len(), "{name}");
        assert!(events.len() >= copies * 50, "{name}");
        for (i, (got, want)) in events.iter().zip(&expected).enumerate() {
            assert_eq!(
                (comparable(got), &got.position),
                (comparable(want), &want.position),
                "{name}: event {i}"
            );
        }
        assert_eq!(kinds(&events), kinds(&expected), "{name}");
    }
}

#[test]
fn a_log_written_newest_first_comes_out_oldest_first() {
    // wevtutil qe /rd:true writes the newest record first.
    let mut originals = sample_events();
    originals.sort_by_key(|e| std::cmp::Reverse(e.time));
    let dir = tempfile::tempdir().unwrap();
    let path = big_log(dir.path(), "newest-first.xml", &render_xml(&originals), 1, false);
    let (events, _, summary) = pull(&path);
    assert_eq!(events.len(), originals.len(), "{summary:?}");
    assert!(events.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(events.first().unwrap().time < events.last().unwrap().time);
}
