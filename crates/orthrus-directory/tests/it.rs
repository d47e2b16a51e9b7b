//! The directory over real data: a snapshot synced from the Samba lab DC (with a group nested
//! in Domain Admins, testdata/directory/nested-admins.ldif), real LDAP search entries from a
//! lab capture, and hostile variations of both.

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

/// BER for LDAPMessage { 1, SearchResultEntry { dn, { { attribute, values } } } }.
fn ldap_entry(dn: &str, attribute: &str, values: &[Vec<u8>]) -> Vec<u8> {
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
    let set: Vec<u8> = values.iter().flat_map(|v| tlv(0x04, v)).collect();
    let partial = tlv(0x30, &[tlv(0x04, attribute.as_bytes()), tlv(0x31, &set)].concat());
    let entry = tlv(0x64, &[tlv(0x04, dn.as_bytes()), tlv(0x30, &partial)].concat());
    tlv(0x30, &[tlv(0x02, &[1]), entry].concat())
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
