//! LDAP and DNS on real traffic: the lab's captures and public Windows captures, checked
//! against tshark's dissection of the same files.

use std::collections::BTreeMap;

use orthrus_model::{Activity, ActivityKind, AuthOutcome, DnsQuery, LdapSearch};
use orthrus_testkit::{corpus, lab_activities, lab_manifest, tshark_fields};

use super::lab;

fn searches(activities: &[Activity]) -> Vec<(&Activity, &LdapSearch)> {
    activities
        .iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::LdapSearched(s) => Some((a, s)),
            _ => None,
        })
        .collect()
}

fn dns_queries(activities: &[Activity]) -> Vec<(&Activity, &DnsQuery)> {
    activities
        .iter()
        .filter_map(|a| match &a.kind {
            ActivityKind::DnsQueried(q) => Some((a, q)),
            _ => None,
        })
        .collect()
}

/// LDAP protocol operations per tag as tshark counts them (every PDU of every frame).
fn tshark_ldap_ops(capture: &std::path::Path) -> BTreeMap<u32, usize> {
    let mut ops = BTreeMap::new();
    for row in tshark_fields(capture, "ldap && (tcp.port == 389 || tcp.port == 3268)", &["ldap.protocolOp"]) {
        for op in &row[0] {
            *ops.entry(op.parse().unwrap()).or_default() += 1;
        }
    }
    ops
}

#[test]
fn ldap_operations_match_tshark_on_every_lab_capture() {
    let mut with_ldap = 0;
    for capture in lab_manifest() {
        let activities = lab_activities(&capture.name);
        let ops = tshark_ldap_ops(&lab(&capture.name));
        let count = |tag: u32| ops.get(&tag).copied().unwrap_or(0);
        let ours = searches(&activities);
        assert_eq!(ours.len(), count(3), "{}: searches", capture.name);
        let entries: u32 = ours.iter().map(|(_, s)| s.entries).sum();
        assert_eq!(entries as usize, count(4), "{}: entries returned", capture.name);
        // A multi-leg SASL bind is one bind: count the final answers (not saslBindInProgress).
        let binds = activities.iter().filter(|a| matches!(a.kind, ActivityKind::LdapBound(_))).count();
        let final_answers = tshark_fields(
            &lab(&capture.name),
            "ldap.protocolOp == 1 && ldap.resultCode != 14",
            &["frame.number"],
        )
        .len();
        assert_eq!(binds, final_answers, "{}: binds", capture.name);
        let changes = activities
            .iter()
            .filter(|a| matches!(&a.kind, ActivityKind::LdapChanged(c) if c.operation != "extended"))
            .count();
        assert_eq!(changes, count(6) + count(8) + count(10) + count(12), "{}: changes", capture.name);
        with_ldap += usize::from(!ours.is_empty());
    }
    assert!(with_ldap >= 2, "only {with_ldap} lab captures carry LDAP searches");
}

/// Every search of every lab and lab-extra recording carries, as structured assertions, what
/// its filter's text says (what the detections once parsed the text for), and a stored
/// activity without them reads them back from the text.
#[test]
fn search_assertions_agree_with_the_filter_text() {
    let mut paths: Vec<std::path::PathBuf> = lab_manifest().iter().map(|c| lab(&c.name)).collect();
    for entry in std::fs::read_dir(orthrus_testkit::fixture("lab-extra")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pcap") {
            paths.push(path);
        }
    }
    let mut checked = 0;
    for path in paths {
        for (activity, search) in searches(&orthrus_testkit::activities(&path)) {
            assert_eq!(
                search.assertions,
                orthrus_model::LdapAssertion::from_text(&search.filter),
                "{} at {:?}",
                path.display(),
                activity.provenance
            );
            let mut stored = serde_json::to_value(activity).unwrap();
            fn forget_assertions(value: &mut serde_json::Value) {
                if let Some(object) = value.as_object_mut() {
                    object.remove("assertions");
                    object.values_mut().for_each(forget_assertions);
                }
            }
            forget_assertions(&mut stored);
            assert!(!stored.to_string().contains("\"assertions\""));
            let read: Activity = serde_json::from_value(stored).unwrap();
            assert_eq!(&read, activity);
            checked += usize::from(!search.assertions.is_empty());
        }
    }
    assert!(checked > 50, "only {checked} searches with assertions");
}

#[test]
fn ldap_recon_yields_the_search_filters_from_the_attacker() {
    let manifest = lab_manifest();
    let attacker = &manifest.iter().find(|c| c.name == "ldap_recon").unwrap().attacker_ip;
    let activities = lab_activities("ldap_recon");
    let found = searches(&activities);
    let filters: Vec<&str> = found.iter().map(|(_, s)| s.filter.as_str()).collect();
    for wanted in [
        "(&(objectClass=user)(servicePrincipalName=*))",
        "(adminCount=1)",
        "(userAccountControl:1.2.840.113556.1.4.803:=4194304)",
        "(memberOf:1.2.840.113556.1.4.1941:=CN=Domain Admins,CN=Users,DC=lab,DC=test)",
    ] {
        assert!(filters.contains(&wanted), "{wanted} missing from {filters:#?}");
    }
    for (a, s) in &found {
        assert_eq!(a.source.unwrap().ip.to_string(), *attacker);
        assert!(s.result.as_ref().is_some_and(|r| r.is_success()));
    }
    // The lab's tools bind simply over plain LDAP: the password crossed in the clear.
    let cleartext = activities
        .iter()
        .filter(|a| matches!(&a.kind, ActivityKind::LdapBound(b) if b.cleartext_password && b.outcome == AuthOutcome::Succeeded))
        .count();
    assert!(cleartext > 0);
}

#[test]
fn group_membership_change_is_an_ldap_modify_of_member() {
    let activities = lab_activities("group_membership_change");
    let change = activities
        .iter()
        .find_map(|a| match &a.kind {
            ActivityKind::LdapChanged(c) if c.operation == "modify" => Some(c),
            _ => None,
        })
        .unwrap();
    assert_eq!(change.dn, "CN=Domain Admins,CN=Users,DC=lab,DC=test");
    assert_eq!(change.attributes, ["member"]);
    assert_eq!(change.user.as_deref(), Some("da_admin@lab.test"));
    assert!(change.result.as_ref().is_some_and(|r| r.is_success()));
}

#[test]
fn sealed_ldap_from_windows_is_counted_and_its_kerberos_bind_recorded() {
    let path = corpus().join(
        "security-datasets/atomic/windows/discovery/network/covenant_ldap_searchrequest_domainuser.cap",
    );
    let mut decoder = orthrus_net::Decoder::new(orthrus_net::DecoderConfig::default());
    let mut activities = Vec::new();
    let _ = orthrus_net::decode_file(&path, &mut decoder, &mut |a| activities.push(a));
    decoder.finish(&mut |a| activities.push(a));
    assert!(decoder.stats().get("ldap", "sasl_wrapped_messages") > 0);
    assert!(activities.iter().any(|a| matches!(&a.kind,
        ActivityKind::ServiceAccessed(s) if s.service.starts_with("ldap/") && s.outcome == AuthOutcome::Succeeded)));
}

#[test]
fn dns_queries_match_tshark_on_every_lab_capture() {
    for capture in lab_manifest() {
        let mut ours: Vec<String> =
            dns_queries(&lab_activities(&capture.name)).iter().map(|(_, q)| q.name.clone()).collect();
        let mut theirs: Vec<String> = tshark_fields(
            &lab(&capture.name),
            "dns.flags.response == 0 && udp.port == 53 || dns.flags.response == 0 && tcp.port == 53",
            &["dns.qry.name"],
        )
        .into_iter()
        .flat_map(|row| row[0].first().cloned())
        .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{}: DNS queries", capture.name);
    }
}

#[test]
fn zone_transfer_is_recorded_and_ordinary_lookups_are_not_transfers() {
    let manifest = lab_manifest();
    let attacker = &manifest.iter().find(|c| c.name == "dns_zone_transfer").unwrap().attacker_ip;
    let activities = lab_activities("dns_zone_transfer");
    let transfers: Vec<_> = dns_queries(&activities).into_iter().filter(|(_, q)| q.zone_transfer).collect();
    assert!(!transfers.is_empty());
    for (a, q) in transfers {
        assert_eq!(a.source.unwrap().ip.to_string(), *attacker);
        assert_eq!(q.qtype, "AXFR");
        assert!(q.name.ends_with("lab.test"), "{}", q.name);
        assert!(q.rcode.is_some());
    }
    let benign = lab_activities("benign_dns");
    let lookups = dns_queries(&benign);
    assert!(lookups.len() > 5);
    assert!(lookups.iter().all(|(_, q)| !q.zone_transfer && q.rcode.is_some()));
    assert!(lookups.iter().any(|(_, q)| q.qtype == "SRV" && q.answers.iter().any(|r| r.contains(" SRV "))));
}

#[test]
fn tls_sessions_on_directory_ports_match_tshark() {
    let path = orthrus_testkit::fixture("tls/ldaps_openssl.pcapng");
    let sessions: Vec<(u16, orthrus_model::TlsSession)> = orthrus_testkit::activities(&path)
        .into_iter()
        .filter_map(|a| match a.kind {
            ActivityKind::TlsSessionStarted(t) => Some((a.destination.unwrap().port, t)),
            _ => None,
        })
        .collect();
    let hellos = tshark_fields(
        &path,
        "tls.handshake.type == 1",
        &["tcp.dstport", "tls.handshake.extensions_server_name"],
    );
    assert_eq!(sessions.len(), hellos.len());
    for ((port, session), row) in sessions.iter().zip(&hellos) {
        assert_eq!(port.to_string(), row[0][0]);
        assert_eq!(session.server_name.as_deref(), row[1].first().map(String::as_str));
        assert!(session.cipher.is_some() && session.version.is_some(), "{session:?}");
    }
    // 636 negotiated TLS 1.3, 3269 was held to TLS 1.2 by the server.
    let versions: Vec<(u16, Option<&str>)> =
        sessions.iter().map(|(p, s)| (*p, s.version.as_deref())).collect();
    assert_eq!(versions, [(636, Some("TLS 1.3")), (3269, Some("TLS 1.2"))]);
}

/// CLDAP pings (UDP 389) as tshark dissects them: one search per ping with the name asked
/// about, paired with its answer's Netlogon opcode (tshark's `mscldap.netlogon.opcode`).
#[test]
fn cldap_pings_match_tshark() {
    let capture = orthrus_testkit::fixture("lab-extra/cldap_user_enum.pcap");
    let activities = orthrus_testkit::activities(&capture);
    let ours: Vec<(String, Option<u16>)> = searches(&activities)
        .into_iter()
        .map(|(a, s)| {
            assert_eq!(a.transport, Some(orthrus_model::Transport::Udp));
            let user = s.filter.split("(User=").nth(1).and_then(|rest| rest.split(')').next()).unwrap();
            (user.to_owned(), s.netlogon_opcode)
        })
        .collect();
    let theirs: Vec<(String, Option<u16>)> =
        tshark_fields(&capture, "cldap && ldap.protocolOp==4", &["mscldap.netlogon.opcode"])
            .into_iter()
            .map(|row| (String::new(), row[0].first().and_then(|o| o.parse().ok())))
            .collect();
    assert_eq!(ours.len(), 26);
    assert_eq!(ours.len(), theirs.len());
    for ((user, opcode), (_, expected)) in ours.iter().zip(&theirs) {
        assert_eq!(opcode, expected, "{user}");
    }
    let found: Vec<&str> = ours.iter().filter(|(_, o)| *o == Some(23)).map(|(u, _)| u.as_str()).collect();
    assert_eq!(found, ["alice", "bob", "da_admin", "svc_sql"]);
}
