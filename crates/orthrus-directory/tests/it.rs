//! The directory over real data: a snapshot synced from the Samba lab DC (with a group nested
//! in Domain Admins, testdata/directory/nested-admins.ldif), real LDAP search entries from a
//! lab capture, and hostile variations of both.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use orthrus_directory::ldap::{Limits, decode_message};
use orthrus_directory::{Directory, DirectoryObject, Domain, EntityTags, ObjectKind, Snapshot};

fn testdata(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(relative)
}

fn lab() -> Snapshot {
    Snapshot::load(&testdata("directory/lab.snapshot.json")).unwrap()
}

#[test]
fn lab_snapshot_answers_every_name_form() {
    let directory = Directory::new(lab(), &EntityTags::default());
    let bob = directory.find("bob").unwrap();
    let sid = bob.object.sid.clone().unwrap();
    for name in ["LAB\\bob", "lab.test\\BOB", "bob@lab.test", "BOB@LAB.TEST", &sid, &bob.object.dn] {
        assert_eq!(directory.find(name).unwrap().object.dn, bob.object.dn, "{name}");
    }
    assert_eq!(bob.qualified_name(), "LAB\\bob");
    assert!(directory.find("LAB\\nobody").is_none());
    assert!(directory.find("OTHER\\bob").is_none());

    let sql = directory.find_spn("MSSQLSvc/sql01.lab.test:1433").unwrap();
    assert_eq!(sql.object.name(), "svc_sql");
    assert_eq!(directory.find_spn("cifs/backup01.lab.test@LAB.TEST").unwrap().object.name(), "svc_backup");
    // HOST/dc1 stands for cifs/dc1 and every other service of the computer
    assert_eq!(directory.find_spn("cifs/dc1.lab.test").unwrap().object.name(), "DC1$");
    // issue 22: a service named without its port is its registered owner's, not the
    // computer's; an SPN with a realm is an SPN, not `name@REALM`
    for name in [
        "MSSQLSvc/sql01.lab.test",
        "MSSQLSvc/sql01.lab.test:1433@LAB.TEST",
        "mssqlsvc/SQL01.lab.test@lab.test",
    ] {
        assert_eq!(directory.find_spn(name).unwrap().object.name(), "svc_sql", "{name}");
        assert_eq!(directory.find(name).unwrap().object.name(), "svc_sql", "{name}");
    }
    assert_eq!(directory.find("cifs/backup01.lab.test@LAB.TEST").unwrap().object.name(), "svc_backup");
    for name in ["DC1", "dc1.lab.test", "DC1$"] {
        assert!(directory.find_computer(name).unwrap().object.is_domain_controller(), "{name}");
    }
    assert_eq!(directory.domain_controllers().len(), 1);
    assert!(!directory.find_computer("WS01").unwrap().object.is_domain_controller());
}

#[test]
fn lab_snapshot_holds_what_detections_need() {
    let snapshot = lab();
    let [domain] = snapshot.domains.as_slice() else { panic!("one domain expected") };
    assert_eq!((domain.dns_name.as_str(), domain.netbios_name.as_deref()), ("lab.test", Some("LAB")));
    assert!(domain.sid.as_deref().unwrap().starts_with("S-1-5-21-"));
    assert!(domain.highest_usn > 0);
    assert!(domain.truncations.is_empty(), "{:?}", domain.truncations);
    let count = |kind| domain.objects.iter().filter(|o| o.kind == Some(kind)).count();
    assert!(
        count(ObjectKind::User) >= 20 && count(ObjectKind::Computer) == 5 && count(ObjectKind::Group) >= 40
    );
    let no_preauth: Vec<&str> =
        domain.objects.iter().filter(|o| o.does_not_require_preauth()).map(DirectoryObject::name).collect();
    assert!(no_preauth.contains(&"dave_np") && no_preauth.contains(&"oscar_np"), "{no_preauth:?}");
    let roastable: Vec<&str> = domain
        .objects
        .iter()
        .filter(|o| o.kind == Some(ObjectKind::User) && !o.service_principal_names.is_empty())
        .map(DirectoryObject::name)
        .collect();
    for account in ["svc_sql", "svc_web", "svc_backup"] {
        assert!(roastable.contains(&account), "{roastable:?}");
    }
    assert!(domain.objects.iter().all(|o| o.usn_changed > 0 && o.guid.is_some()));
}

#[test]
fn sensitivity_is_transitive_with_the_path_as_reason() {
    let tags = EntityTags { sensitive: vec!["LAB\\svc_sql".into()], honeytokens: vec!["adm_legacy".into()] };
    let directory = Directory::new(lab(), &tags);
    let reason =
        |name: &str| directory.find(name).and_then(|f| directory.sensitivity(&f).map(|s| s.reason.clone()));
    assert_eq!(reason("da_admin").as_deref(), Some("member of Domain Admins"));
    assert_eq!(reason("nested_admin").as_deref(), Some("member of Domain Admins through tier0ops"));
    assert_eq!(reason("tier0ops").as_deref(), Some("member of Domain Admins"));
    assert_eq!(reason("svc_backup").as_deref(), Some("member of Backup Operators"));
    assert_eq!(reason("DC1$").as_deref(), Some("member of Domain Controllers"), "primary group 516");
    assert_eq!(reason("svc_sql").as_deref(), Some("tagged sensitive in the config"));
    assert_eq!(reason("Domain Admins").as_deref(), Some("the built-in sensitive group Domain Admins"));
    for benign in ["bob", "alice", "WS01$", "adm_legacy", "Domain Users"] {
        assert_eq!(reason(benign), None, "{benign}");
    }
    let honey = directory.find("adm_legacy@lab.test").unwrap();
    assert!(directory.is_honeytoken(&honey));
    assert!(!directory.is_honeytoken(&directory.find("bob").unwrap()));

    let admins = directory.find("LAB\\Domain Admins").unwrap();
    let mut members: Vec<&str> =
        directory.transitive_members(&admins).iter().map(|f| f.object.name()).collect();
    members.sort_unstable();
    assert_eq!(members, ["Administrator", "da_admin", "nested_admin", "tier0ops"]);
}

fn group(dn: &str, sid: &str, members: &[&str]) -> DirectoryObject {
    DirectoryObject {
        kind: Some(ObjectKind::Group),
        dn: dn.into(),
        sid: Some(sid.into()),
        sam_account_name: Some(dn.trim_start_matches("CN=").split(',').next().unwrap().into()),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        ..DirectoryObject::default()
    }
}

#[test]
fn nesting_loops_and_dangling_members_terminate() {
    const D: &str = "S-1-5-21-1-2-3";
    let loop_a = "CN=LoopA,DC=x";
    let loop_b = "CN=LoopB,DC=x";
    let mut objects = vec![
        group("CN=Domain Admins,DC=x", &format!("{D}-512"), &[loop_a]),
        group(loop_a, &format!("{D}-2001"), &[loop_b, "CN=gone,DC=x", "CN=Domain Admins,DC=x"]),
        group(loop_b, &format!("{D}-2002"), &[loop_a, "CN=deep,DC=x"]),
        DirectoryObject {
            kind: Some(ObjectKind::User),
            dn: "CN=deep,DC=x".into(),
            sid: Some(format!("{D}-3000")),
            sam_account_name: Some("deep".into()),
            ..DirectoryObject::default()
        },
    ];
    // a long chain as well: 5000 groups each nested in the previous
    for i in 0..5000 {
        let next = format!("CN=chain{},DC=x", i + 1);
        objects.push(group(&format!("CN=chain{i},DC=x"), &format!("{D}-{}", 10_000 + i), &[&next]));
    }
    objects[1].members.push("CN=chain0,DC=x".into());
    let domain =
        Domain { dn: "DC=x".into(), dns_name: "x".into(), sid: Some(D.into()), objects, ..Domain::default() };
    let directory = Directory::new(Snapshot::new(vec![domain]), &EntityTags::default());
    let reason = directory.sensitivity(&directory.find("deep").unwrap()).unwrap().reason.clone();
    assert_eq!(reason, "member of Domain Admins through LoopA → LoopB");
    let last = directory.find("chain4999").unwrap();
    assert!(directory.sensitivity(&last).is_some());
    let admins = directory.find("CN=Domain Admins,DC=x").unwrap();
    assert_eq!(directory.transitive_members(&admins).len(), 3 + 5000);
}

#[test]
fn real_search_entries_decode_and_hostile_ones_are_bounded() {
    let seeds = testdata("../fuzz/seeds/directory_entry");
    let mut decoded = 0;
    for entry in std::fs::read_dir(&seeds).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if let Some((object, cut)) = decode_message(&bytes, &Limits::default()) {
            // the root DSE has an empty name; everything else lives in the lab's naming contexts
            assert!(
                object.dn.is_empty() || object.dn.to_ascii_lowercase().ends_with("dc=lab,dc=test"),
                "{}",
                object.dn
            );
            assert!(cut.is_empty());
            decoded += 1;
        }
        // every prefix of a real message: never a panic, at most an entry
        for end in (0..bytes.len()).step_by(7) {
            let _ = decode_message(&bytes[..end], &Limits::default());
        }
    }
    assert!(decoded >= 10, "only {decoded} real entries decoded");

    // a hostile entry: 300 values of 1000 bytes for one attribute
    let tight = Limits { max_values: 100, max_value_bytes: 64, ..Limits::default() };
    let values: Vec<Vec<u8>> = (0..300).map(|_| vec![b'a'; 1000]).collect();
    let message = ldap_entry("CN=huge,DC=x", "member", &values);
    let (object, cut) = decode_message(&message, &tight).unwrap();
    assert_eq!(object.members.len(), 100);
    assert!(object.members.iter().all(|m| m.len() == 64));
    assert!(cut.iter().any(|c| c.contains("300 values")), "{cut:?}");
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn message(id: u8, operation: Vec<u8>) -> Vec<u8> {
    tlv(0x30, &[tlv(0x02, &[id]), operation].concat())
}

/// SearchResultEntry { dn, { { attribute, values } ... } } in LDAPMessage `id`.
fn entry_message(id: u8, dn: &str, attributes: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
    let partials: Vec<u8> = attributes
        .iter()
        .flat_map(|(name, values)| {
            let set: Vec<u8> = values.iter().flat_map(|v| tlv(0x04, v)).collect();
            tlv(0x30, &[tlv(0x04, name.as_bytes()), tlv(0x31, &set)].concat())
        })
        .collect();
    message(id, tlv(0x64, &[tlv(0x04, dn.as_bytes()), tlv(0x30, &partials)].concat()))
}

fn ldap_entry(dn: &str, attribute: &str, values: &[Vec<u8>]) -> Vec<u8> {
    entry_message(1, dn, &[(attribute, values.to_vec())])
}

/// LDAPResult with `code` as the given response operation (0x61 bind, 0x65 search done).
fn result_message(id: u8, operation: u8, code: u8) -> Vec<u8> {
    message(id, tlv(operation, &[tlv(0x0a, &[code]), tlv(0x04, b""), tlv(0x04, b"")].concat()))
}

#[test]
fn snapshot_files_round_trip_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let snapshot = lab();
    snapshot.save(&path).unwrap();
    assert_eq!(Snapshot::load(&path).unwrap(), snapshot);
    std::fs::write(&path, b"{\"format\":\"something-else\",\"version\":1,\"domains\":[]}").unwrap();
    assert!(Snapshot::load(&path).unwrap_err().to_string().contains("not an Orthrus directory snapshot"));
    std::fs::write(&path, b"{\"format\":").unwrap();
    assert!(Snapshot::load(&path).is_err());
    assert!(Snapshot::load(&dir.path().join("missing.json")).is_err());
}

#[test]
fn incremental_changes_apply_by_guid() {
    let mut domain = lab().domains.remove(0);
    let before = domain.objects.len();
    let mut bob = domain.objects.iter().find(|o| o.name() == "bob").unwrap().clone();
    bob.description = Some("moved to finance".into());
    bob.dn = "CN=bob,OU=Finance,DC=lab,DC=test".into();
    let alice_guid = domain.objects.iter().find(|o| o.name() == "alice").unwrap().guid.clone().unwrap();
    let newcomer = DirectoryObject {
        kind: Some(ObjectKind::User),
        dn: "CN=newcomer,CN=Users,DC=lab,DC=test".into(),
        guid: Some("00000000-0000-0000-0000-000000000001".into()),
        sam_account_name: Some("newcomer".into()),
        ..DirectoryObject::default()
    };
    let unchanged = domain.objects.iter().find(|o| o.name() == "carol").unwrap().clone();
    let summary = domain.apply_changes(vec![bob, newcomer, unchanged], &[alice_guid]);
    assert_eq!(summary.added, ["CN=newcomer,CN=Users,DC=lab,DC=test"]);
    assert_eq!(summary.modified, ["CN=bob,OU=Finance,DC=lab,DC=test"], "renamed, matched by GUID");
    assert_eq!(summary.deleted.len(), 1);
    assert_eq!(domain.objects.len(), before);
}

/// issue 22: a DC removes a deleted member from its groups (and renames a moved one in them)
/// without touching the groups, so an incremental sync never reads them again: the snapshot
/// must follow, or a new account of the same name inherits Domain Admins.
#[test]
fn a_deleted_member_leaves_its_groups_and_a_moved_one_follows() {
    let mut domain = lab().domains.remove(0);
    let admins = |domain: &Domain| {
        domain.objects.iter().find(|o| o.name() == "Domain Admins").unwrap().members.clone()
    };
    let da_admin = domain.objects.iter().find(|o| o.name() == "da_admin").unwrap().clone();
    assert!(admins(&domain).contains(&da_admin.dn));
    let mut staff = domain.objects.iter().find(|o| o.name() == "IT Staff").unwrap().members.clone();
    assert!(staff.contains(&"CN=Bob User,CN=Users,DC=lab,DC=test".to_owned()));
    let mut bob = domain.objects.iter().find(|o| o.name() == "bob").unwrap().clone();
    bob.dn = "CN=Bob User,OU=Finance,DC=lab,DC=test".into();
    let summary = domain.apply_changes(vec![bob], &[da_admin.guid.clone().unwrap()]);
    assert_eq!(summary.deleted, std::slice::from_ref(&da_admin.dn));
    assert!(!admins(&domain).contains(&da_admin.dn), "{:?}", admins(&domain));
    staff = domain.objects.iter().find(|o| o.name() == "IT Staff").unwrap().members.clone();
    assert!(staff.contains(&"CN=Bob User,OU=Finance,DC=lab,DC=test".to_owned()), "{staff:?}");
    assert!(!staff.contains(&"CN=Bob User,CN=Users,DC=lab,DC=test".to_owned()));
    // a newcomer of the deleted one's name and place is no Domain Admin
    let newcomer = DirectoryObject {
        kind: Some(ObjectKind::User),
        dn: da_admin.dn.clone(),
        guid: Some("00000000-0000-0000-0000-000000000002".into()),
        sam_account_name: Some("da_admin".into()),
        ..DirectoryObject::default()
    };
    domain.apply_changes(vec![newcomer], &[]);
    let directory = Directory::new(Snapshot::new(vec![domain]), &EntityTags::default());
    assert!(directory.sensitivity(&directory.find("LAB\\da_admin").unwrap()).is_none());
}

/// issue 22: a service registered with its port only is found by the name without it, and an
/// SPN with a realm is an SPN, not `name@REALM`.
#[test]
fn a_service_without_its_port_is_its_registered_owners() {
    let mut domain = lab().domains.remove(0);
    let svc = domain.objects.iter_mut().find(|o| o.name() == "svc_sql").unwrap();
    svc.service_principal_names = vec!["MSSQLSvc/sql01.lab.test:1433".into()];
    let directory = Directory::new(Snapshot::new(vec![domain]), &EntityTags::default());
    for name in [
        "MSSQLSvc/sql01.lab.test",
        "MSSQLSvc/sql01.lab.test:1433",
        "MSSQLSvc/sql01.lab.test:1433@LAB.TEST",
        "mssqlsvc/SQL01.lab.test@lab.test",
    ] {
        assert_eq!(directory.find_spn(name).unwrap().object.name(), "svc_sql", "{name}");
        assert_eq!(directory.find(name).unwrap().object.name(), "svc_sql", "{name}");
    }
    // a service nobody registered still falls back to the computer's HOST/ SPN
    assert_eq!(directory.find("cifs/sql01.lab.test").unwrap().object.name(), "SQL01$");
}

mod hostile_server {
    //! A directory server on loopback that answers like a broken or hostile DC: values far too
    //! large, group nesting loops, a member range that never ends, a malformed entry; and one
    //! that accepts the bind and then never answers.

    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use ldap3::asn1::{PL, StructureTag, parse_tag};
    use orthrus_directory::ldap::{Bind, Limits, SyncOptions, sync};

    use super::*;

    fn text(tag: &StructureTag) -> String {
        match &tag.payload {
            PL::P(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            PL::C(_) => String::new(),
        }
    }

    /// (message id, operation tag, search base, requested attributes)
    type Request = (u8, u64, String, Vec<String>);

    /// The requests that arrived complete.
    fn requests(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<Request>> {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        while let Ok((rest, tag)) = parse_tag(buffer) {
            let consumed = buffer.len() - rest.len();
            if let PL::C(parts) = tag.payload {
                let id = match &parts[0].payload {
                    PL::P(bytes) => *bytes.last().unwrap_or(&0),
                    PL::C(_) => 0,
                };
                let operation = &parts[1];
                let (base, attributes) = match &operation.payload {
                    PL::C(fields) if operation.id == 3 => {
                        let attributes = match &fields.last().unwrap().payload {
                            PL::C(list) => list.iter().map(text).collect(),
                            PL::P(_) => Vec::new(),
                        };
                        (text(&fields[0]), attributes)
                    }
                    _ => (String::new(), Vec::new()),
                };
                out.push((id, operation.id, base, attributes));
            }
            buffer.drain(..consumed);
        }
        Some(out)
    }

    fn sid_bytes(subs: &[u32]) -> Vec<u8> {
        let mut bytes = vec![1u8, subs.len() as u8, 0, 0, 0, 0, 0, 5];
        for sub in subs {
            bytes.extend_from_slice(&sub.to_le_bytes());
        }
        bytes
    }

    fn hostile_answers(id: u8, base: &str, attributes: &[String]) -> Vec<u8> {
        let v = |s: &str| vec![s.as_bytes().to_vec()];
        let mut out = Vec::new();
        if attributes == ["objectGUID"] {
            // the tombstone search of an incremental sync: this account may not see them
            return result_message(id, 0x65, 50);
        }
        if base.is_empty() {
            out.extend(entry_message(
                id,
                "",
                &[
                    ("defaultNamingContext", v("DC=evil,DC=test")),
                    ("dnsHostName", v("dc.evil.test")),
                    ("highestCommittedUSN", v("42")),
                ],
            ));
        } else if base == "DC=evil,DC=test" && !attributes.iter().any(|a| a == "uSNChanged") {
            out.extend(entry_message(id, base, &[("objectSid", vec![sid_bytes(&[21, 1, 2, 3])])]));
        } else if base == "DC=evil,DC=test" {
            let group = |dn: &str, rid: u32, members: Vec<Vec<u8>>| {
                entry_message(
                    id,
                    dn,
                    &[
                        ("objectClass", vec![b"top".to_vec(), b"group".to_vec()]),
                        ("objectSid", vec![sid_bytes(&[21, 1, 2, 3, rid])]),
                        ("sAMAccountName", v(dn.trim_start_matches("CN=").split(',').next().unwrap())),
                        ("member", members),
                        ("uSNChanged", v("7")),
                    ],
                )
            };
            out.extend(group("CN=Domain Admins,DC=evil,DC=test", 512, v("CN=Loop1,DC=evil,DC=test")));
            out.extend(group("CN=Loop1,DC=evil,DC=test", 1001, v("CN=Loop2,DC=evil,DC=test")));
            out.extend(group("CN=Loop2,DC=evil,DC=test", 1002, v("CN=Loop1,DC=evil,DC=test")));
            out.extend(entry_message(
                id,
                "CN=huge,DC=evil,DC=test",
                &[
                    ("objectClass", vec![b"user".to_vec()]),
                    ("sAMAccountName", v("huge")),
                    ("description", vec![vec![b'x'; 1 << 20]]),
                    ("servicePrincipalName", (0..5000).map(|i| format!("svc/h{i}").into_bytes()).collect()),
                ],
            ));
            out.extend(entry_message(
                id,
                "CN=Endless,DC=evil,DC=test",
                &[
                    ("objectClass", vec![b"group".to_vec()]),
                    ("member;range=0-1", vec![b"CN=a".to_vec(), b"CN=b".to_vec()]),
                ],
            ));
            // malformed: the attribute list is a primitive
            out.extend(message(
                id,
                tlv(0x64, &[tlv(0x04, b"CN=broken,DC=evil,DC=test"), tlv(0x04, b"junk")].concat()),
            ));
        } else if base == "CN=Endless,DC=evil,DC=test" {
            // every range read answers with the next two members and promises more
            let start: u64 = attributes
                .first()
                .and_then(|a| a.strip_prefix("member;range="))
                .and_then(|r| r.split('-').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let name = format!("member;range={start}-{}", start + 1);
            let values = vec![format!("CN=m{start}").into_bytes(), format!("CN=m{}", start + 1).into_bytes()];
            out.extend(entry_message(id, base, &[(name.as_str(), values)]));
        }
        out.extend(result_message(id, 0x65, 0));
        out
    }

    /// Serves one connection: binds succeed; searches get `answer`'s bytes (None: silence).
    fn serve(answer: fn(u8, &str, &[String]) -> Option<Vec<u8>>) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ldap://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else { return };
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut buffer = Vec::new();
            while let Some(batch) = requests(&mut stream, &mut buffer) {
                for (id, operation, base, attributes) in batch {
                    let reply = match operation {
                        0 => Some(result_message(id, 0x61, 0)),
                        3 => answer(id, &base, &attributes),
                        _ => None,
                    };
                    if let Some(reply) = reply
                        && stream.write_all(&reply).is_err()
                    {
                        return;
                    }
                }
            }
        });
        (url, handle)
    }

    #[test]
    fn hostile_answers_are_bounded_and_recorded() {
        let (url, server) = serve(|id, base, attributes| Some(hostile_answers(id, base, attributes)));
        let mut options = SyncOptions::new(&url, Bind::Anonymous);
        options.limits = Limits { max_values: 100, max_value_bytes: 4096, ..Limits::default() };
        // The hostile server gives no time: this machine's (fixed here) judges the schedule.
        options.local_time = Some(orthrus_model::Timestamp::from_micros(1_800_000_000_000_000));
        let started = Instant::now();
        let outcome = sync(&options, &Snapshot::default()).unwrap();
        assert!(started.elapsed() < Duration::from_secs(30));
        let domain = &outcome.domain;
        let cuts = domain.truncations.join("\n");
        assert!(
            cuts.contains("CN=huge,DC=evil,DC=test: serviceprincipalname has 5000 values, kept 100"),
            "{cuts}"
        );
        assert!(cuts.contains("a description value of 1048576 bytes cut"), "{cuts}");
        let endless = domain.objects.iter().find(|o| o.dn.starts_with("CN=Endless"));
        assert!(cuts.contains("CN=Endless,DC=evil,DC=test: member ranges beyond"), "{cuts} {endless:?}");
        assert!(cuts.contains("a malformed search entry skipped"), "{cuts}");
        let huge = domain.objects.iter().find(|o| o.name() == "huge").unwrap();
        assert_eq!(huge.description.as_ref().unwrap().len(), 4096);
        let endless = domain.objects.iter().find(|o| o.dn.starts_with("CN=Endless")).unwrap();
        assert!(endless.members.len() >= 100 && endless.members.len() <= 102, "{}", endless.members.len());
        // the nesting loop under Domain Admins: indexed and walked without hanging
        let directory = Directory::new(Snapshot::new(vec![domain.clone()]), &EntityTags::default());
        let loop2 = directory.find("Loop2").unwrap();
        assert_eq!(directory.sensitivity(&loop2).unwrap().reason, "member of Domain Admins through Loop1");
        drop(server);

        // again, incrementally: the tombstone search is refused (insufficientAccessRights), the
        // sync still completes and says deletions were not seen
        let (url, _server) = serve(|id, base, attributes| Some(hostile_answers(id, base, attributes)));
        let again =
            sync(&SyncOptions { url, ..options.clone() }, &Snapshot::new(vec![outcome.domain.clone()]))
                .unwrap();
        assert!(again.incremental);
        assert!(
            again.domain.truncations.iter().any(|c| c.contains("deletions not seen")),
            "{:?}",
            again.domain.truncations
        );
        assert_eq!(again.domain.objects.len(), outcome.domain.objects.len());
        assert_eq!(
            again.domain.full_synced_at, outcome.domain.full_synced_at,
            "an incremental read keeps the date"
        );

        // a week after the last full read the domain is read whole again; without the
        // schedule it stays incremental
        let mut stale = outcome.domain.clone();
        stale.full_synced_at = Some(orthrus_model::Timestamp::from_micros(0));
        let (url, _server) = serve(|id, base, attributes| Some(hostile_answers(id, base, attributes)));
        let reconciled =
            sync(&SyncOptions { url: url.clone(), ..options.clone() }, &Snapshot::new(vec![stale.clone()]))
                .unwrap();
        assert!(!reconciled.incremental);
        assert!(reconciled.domain.full_synced_at > stale.full_synced_at);
        let (url, _server) = serve(|id, base, attributes| Some(hostile_answers(id, base, attributes)));
        let unscheduled =
            sync(&SyncOptions { url, full_every: None, ..options }, &Snapshot::new(vec![stale])).unwrap();
        assert!(unscheduled.incremental);
    }

    #[test]
    fn a_server_that_stops_answering_times_out() {
        let (url, _server) = serve(|_, _, _| None);
        let mut options = SyncOptions::new(&url, Bind::Anonymous);
        options.limits.operation_timeout = Duration::from_secs(2);
        let started = Instant::now();
        let error = sync(&options, &Snapshot::default()).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
        assert!(
            error.to_string().to_lowercase().contains("timeout") || error.to_string().contains("timed out"),
            "{error}"
        );
    }
}

#[test]
fn several_domains_keep_their_names_apart() {
    let mut snapshot = lab();
    let corp = Domain {
        dn: "DC=corp,DC=example".into(),
        dns_name: "corp.example".into(),
        netbios_name: Some("CORP".into()),
        sid: Some("S-1-5-21-9-9-9".into()),
        objects: vec![
            DirectoryObject {
                kind: Some(ObjectKind::User),
                dn: "CN=bob,CN=Users,DC=corp,DC=example".into(),
                sid: Some("S-1-5-21-9-9-9-1104".into()),
                sam_account_name: Some("bob".into()),
                ..DirectoryObject::default()
            },
            group(
                "CN=Domain Admins,CN=Users,DC=corp,DC=example",
                "S-1-5-21-9-9-9-512",
                &["CN=bob,CN=Users,DC=corp,DC=example"],
            ),
        ],
        ..Domain::default()
    };
    snapshot.upsert(corp.clone());
    snapshot.upsert(corp); // the same domain synced again replaces, never duplicates
    assert_eq!(snapshot.domains.len(), 2);
    let directory = Directory::new(snapshot, &EntityTags::default());
    assert!(directory.find("bob").is_none(), "a bare name two domains share is ambiguous");
    let lab_bob = directory.find("LAB\\bob").unwrap();
    let corp_bob = directory.find("CORP\\bob").unwrap();
    assert_ne!(lab_bob.object.sid, corp_bob.object.sid);
    assert_eq!(directory.find("bob@corp.example").unwrap().object.dn, corp_bob.object.dn);
    // each domain's Domain Admins by its own domain SID: CORP\bob is sensitive, LAB\bob is not
    assert!(directory.sensitivity(&corp_bob).is_some());
    assert!(directory.sensitivity(&lab_bob).is_none());
}

#[test]
fn well_known_sensitive_groups_are_named_by_sid_in_any_domain() {
    use orthrus_directory::well_known_sensitive_group as named;
    assert_eq!(named("S-1-5-32-544"), Some("Administrators"));
    assert_eq!(named("S-1-5-21-4230534742-2542757381-3142984815-512"), Some("Domain Admins"));
    assert_eq!(named("S-1-5-21-1-2-3-519"), Some("Enterprise Admins"));
    // Domain Users, a user's RID 500 and a RID outside a domain SID are no sensitive group.
    assert_eq!(named("S-1-5-21-1-2-3-513"), None);
    assert_eq!(named("S-1-5-21-1-2-3-500"), None);
    assert_eq!(named("S-1-5-32-512"), None);
}
