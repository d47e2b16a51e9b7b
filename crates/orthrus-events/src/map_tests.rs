//! Tests of [`super`]: events to activities.

use orthrus_model::Timestamp;

use super::*;

fn event(provider: &str, event_id: u32, fields: &[(&str, &str)]) -> WindowsEvent {
    let mut data = EventData::default();
    for (k, v) in fields {
        data.push(*k, *v);
    }
    WindowsEvent {
        time: Timestamp::from_micros(0),
        channel: "Security".into(),
        provider: provider.into(),
        event_id,
        record_id: Some(7),
        computer: "DC1.corp.example".into(),
        data,
        file: Arc::from("t.evtx"),
        position: orthrus_model::Position::Record(7),
    }
}

const AUDIT: &str = "Microsoft-Windows-Security-Auditing";

#[test]
fn mapped_ipv4_addresses_and_generic_failure_status() {
    let failed = event(
        AUDIT,
        4625,
        &[
            ("TargetUserName", "bob"),
            ("Status", "0xc000006d"),
            ("SubStatus", "0xc000006a"),
            ("IpAddress", "::ffff:10.1.2.3"),
            ("IpPort", "50123"),
            ("WorkstationName", "ws7"),
        ],
    );
    let activity = to_activity(&failed, &MapContext::default()).expect("4625");
    assert_eq!(activity.source_ip(), Some("10.1.2.3".parse().unwrap()));
    assert_eq!(activity.source_host.as_deref(), Some("WS7"));
    assert_eq!(activity.destination_host.as_deref(), Some("DC1.corp.example"));
    let ActivityKind::LoggedOn(logon) = activity.kind else { panic!("logon") };
    assert_eq!(logon.outcome, AuthOutcome::Failed { status: NtStatus::WRONG_PASSWORD });
}

#[test]
fn reused_event_numbers_from_other_providers_are_not_misread() {
    let mut app = event("Microsoft-Windows-EventSystem", 4625, &[("TargetUserName", "x")]);
    app.channel = "Application".into();
    assert!(to_activity(&app, &MapContext::default()).is_none());
    let mut other_channel = event("SomeApp", 1102, &[]);
    other_channel.channel = "Application".into();
    assert!(to_activity(&other_channel, &MapContext::default()).is_none());
}

#[test]
fn ntlm_audit_8004_names_user_and_workstation_without_an_outcome() {
    let audit = event(
        "Microsoft-Windows-NTLM",
        8004,
        &[("SChannelName", "DC1"), ("UserName", "eve"), ("DomainName", "CORP"), ("WorkstationName", "KALI")],
    );
    let activity = to_activity(&audit, &MapContext::default()).expect("8004");
    assert_eq!(activity.source_host.as_deref(), Some("KALI"));
    let ActivityKind::NtlmAuthenticated(ntlm) = activity.kind else { panic!("ntlm") };
    assert_eq!((ntlm.user.as_str(), ntlm.outcome), ("eve", AuthOutcome::Unknown));
}

#[test]
fn task_command_is_read_from_the_task_xml() {
    let xml = "<Task><Actions><Exec><Command>cmd.exe</Command><Arguments>/C whoami &gt; %windir%\\Temp\\x.tmp</Arguments></Exec></Actions></Task>";
    let command = orthrus_proto::msrpc::task_command(xml);
    assert_eq!(command.as_deref(), Some("cmd.exe /C whoami > %windir%\\Temp\\x.tmp"));
    assert_eq!(guids("%{1131F6AD-9C07-11D1-F79F-00C04FC2DCD2} x"), ["1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"]);
}

/// Microsoft's documented 4706 (a child domain's trust, created by CONTOSO\dadmin), as a
/// forwarded event arrives: no public EVTX of 4706 exists.
const TRUST_CREATED_XML: &str = r#"<Events><Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
<System><Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-A5BA-3E3B0328C30D}" />
<EventID>4706</EventID><Version>0</Version><Level>0</Level><Task>13569</Task><Opcode>0</Opcode>
<Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime="2015-10-01T20:41:13.189445500Z" />
<EventRecordID>1049759</EventRecordID><Correlation /><Execution ProcessID="500" ThreadID="4900" />
<Channel>Security</Channel><Computer>DC01.contoso.local</Computer><Security /></System>
<EventData><Data Name="DomainName">corp.contoso.local</Data>
<Data Name="DomainSid">S-1-5-21-2226861337-2836268956-2433141405</Data>
<Data Name="SubjectUserSid">S-1-5-21-3457937927-2839227994-823803824-1104</Data>
<Data Name="SubjectUserName">dadmin</Data><Data Name="SubjectDomainName">CONTOSO</Data>
<Data Name="SubjectLogonId">0x3e99d6</Data><Data Name="TdoType">2</Data><Data Name="TdoDirection">3</Data>
<Data Name="TdoAttributes">32</Data><Data Name="SidFilteringEnabled">%%1796</Data></EventData></Event></Events>"#;

#[test]
fn trusts_created_changed_and_forest_records_are_trust_changes() {
    let mut events = Vec::new();
    let summary =
        crate::read_text(crate::Format::Xml, TRUST_CREATED_XML, &Arc::from("t.xml"), &mut |e| events.push(e));
    assert_eq!((summary.events, events.len()), (1, 1), "{summary:?}");
    let activity = to_activity(&events[0], &MapContext::default()).expect("4706");
    let ActivityKind::TrustChanged(trust) = activity.kind else { panic!("trust") };
    assert_eq!(trust.operation, TrustOperation::Created);
    assert_eq!(trust.subject.qualified(), "CONTOSO\\dadmin");
    assert_eq!(trust.domain, "corp.contoso.local");
    assert_eq!(trust.domain_sid.as_deref(), Some("S-1-5-21-2226861337-2836268956-2433141405"));
    assert_eq!((trust.direction, trust.trust_type, trust.attributes), (Some(3), Some(2), Some(32)));
    // 4716 with its values, and a forest trust's top-level name added (4865).
    let changed = event(
        AUDIT,
        4716,
        &[("DomainName", "partner.example"), ("TdoAttributes", "0x8"), ("TdoDirection", "-")],
    );
    let ActivityKind::TrustChanged(trust) = to_activity(&changed, &MapContext::default()).unwrap().kind
    else {
        panic!("4716")
    };
    assert_eq!(
        (trust.operation, trust.attributes, trust.direction),
        (TrustOperation::Modified, Some(8), None)
    );
    let record = event(
        AUDIT,
        4865,
        &[
            ("ForestRoot", "partner.example"),
            ("TopLevelName", "*.evil.example"),
            ("SubjectUserName", "dadmin"),
        ],
    );
    let ActivityKind::TrustChanged(trust) = to_activity(&record, &MapContext::default()).unwrap().kind else {
        panic!("4865")
    };
    assert_eq!(trust.operation, TrustOperation::ForestRecordAdded);
    assert_eq!((trust.domain.as_str(), trust.record.as_deref()), ("partner.example", Some("*.evil.example")));
    // Another provider's 4706 in another log is not a trust.
    let mut app = event("SomeApp", 4706, &[("DomainName", "x")]);
    app.channel = "Application".into();
    assert!(to_activity(&app, &MapContext::default()).is_none());
}
