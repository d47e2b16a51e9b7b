//! ORT-EVT-021 — Domain trust created or changed.
//!
//! - Attack: a trust makes a domain accept the other domain's accounts and, unless SID
//!   filtering strips them, the group SIDs their tickets carry. An attacker with domain
//!   rights adds a trust to a domain it runs (or loosens an existing one: SID filtering off,
//!   SID history allowed across a forest trust, TGT delegation across it) and comes back as
//!   any account of its own domain carrying this domain's Enterprise or Domain Admins SID.
//! - ATT&CK: T1484.002 (Domain Trust Modification). MDI has no such alert; SigmaHQ's "A New
//!   Trust Was Created To A Domain" (4706, medium: "addition of domains is seldom and should
//!   be verified") is the community's equivalent. Orthrus extension.
//! - Data: events 4706 (trust created), 4716 (trust modified), 4865/4866/4867 (forest trust
//!   record added, removed, modified; audit "Authentication Policy Change", DCs only); 5136
//!   on a trusted domain object's `trustAttributes` or `trustDirection`; Samba's audit of a
//!   trusted domain object added (read as 4706) or modified.
//! - Logic: any such event → one alert per trusted domain and quiet gap `window_secs`
//!   (config `[trust_changed]`). Medium; High when the trust lets the other domain's accounts
//!   in (direction outbound or both) with their SIDs unfiltered — an external trust without
//!   `TRUST_ATTRIBUTE_QUARANTINED_DOMAIN`, or a forest trust with
//!   `TRUST_ATTRIBUTE_TREAT_AS_EXTERNAL` (SID history allowed) — or when it enables TGT
//!   delegation across the forest (`CROSS_ORGANIZATION_ENABLE_TGT_DELEGATION`). Trusts
//!   within the forest (a child domain added) are never High: SID filtering does not apply
//!   inside a forest by design. Removals (4707) are not judged.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: mergers, migrations and new child domains — planned, rare work; exclude the
//!   accounts that do it (`exclude_actors`).
//! - Gaps: the LSA calls that create trusts (`LsarCreateTrustedDomainEx2`, sealed) are not
//!   judged on the wire. No public sample of 4706/4716/4865–4867 exists: their mapping follows
//!   Microsoft's documented templates; the lab's Samba DC records a trust object created over
//!   LSARPC.
//! - Evidence: actor, trusted domain, direction, type, attributes, the record changed.

use orthrus_directory::ad::rdn_value;
use orthrus_model::{
    Activity, ActivityKind, AlertTargets, DirectoryChange, DirectoryOperation, Severity, TrustChange,
    TrustOperation,
};

use crate::EventRuleConfig;
use crate::names::{actor_in, logged_on};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-021",
    title: "Domain trust created or changed",
    mdi: "none (Orthrus extension)",
    external_id: 9021,
    cef_app: "TrustManagement",
    tactic: "TA0004",
    techniques: &["T1484.002"],
    data_sources: &[
        "events 4706/4716 (trust created, modified), 4865-4867 (forest trust records)",
        "event 5136 on trustAttributes/trustDirection; Samba's audit of a trusted domain object",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "trust_changed",
    meaning: "A trust to another domain or forest was created or changed, or a forest trust's name records were changed.",
    impact: "Accounts of the other domain can authenticate here; without SID filtering they can carry this domain's administrator SIDs.",
    actions: &[
        "Check the change against planned work (merger, migration, new child domain).",
        "If unexplained, remove the trust or re-enable SID filtering (netdom trust /quarantine:yes), then investigate the actor.",
        "Review the other domain's administrators: they now reach this domain.",
    ],
};

/// `trustDirection` bit (MS-ADTS 6.1.6.7.12): this domain trusts the other, so accepts its
/// accounts.
const DIRECTION_OUTBOUND: u32 = 0x2;

/// `trustAttributes` bits (MS-ADTS 6.1.6.7.9).
mod attribute {
    pub const QUARANTINED_DOMAIN: u32 = 0x4;
    pub const FOREST_TRANSITIVE: u32 = 0x8;
    pub const WITHIN_FOREST: u32 = 0x20;
    pub const TREAT_AS_EXTERNAL: u32 = 0x40;
    pub const ENABLE_TGT_DELEGATION: u32 = 0x800;
}

impl Detection for TrustChanged {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        TrustChanged { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct TrustChanged {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for TrustChanged {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let trust = match &activity.kind {
            ActivityKind::TrustChanged(trust) => trust.clone(),
            ActivityKind::DirectoryObjectChanged(change) => match trust_object_change(change) {
                Some(trust) => trust,
                None => return,
            },
            _ => return,
        };
        if trust.domain.is_empty() || self.config.excludes_actor(&trust.subject) {
            return;
        }
        let actor = actor_in(&trust.subject, context.directory());
        let key = trust.domain.to_lowercase();
        let what = describe(&trust);
        let risk = risk(&trust);
        let summary = format!("{actor} {what}");
        let finding = Finding {
            severity: if risk.is_some() { Severity::High } else { META.base_severity },
            description: format!(
                "{actor} {what} on {}.{}",
                logged_on(activity),
                risk.map(|r| format!(" {r}")).unwrap_or_default()
            ),
            source: Finding::source_of(activity, Some(actor)),
            // The other domain is no account or computer of this one: the description names it.
            targets: AlertTargets::default(),
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

/// A 5136 on a trusted domain object's attributes that say who is trusted and how.
fn trust_object_change(change: &DirectoryChange) -> Option<TrustChange> {
    let attribute = change.attribute.as_deref()?;
    let direction = attribute.eq_ignore_ascii_case("trustDirection");
    if change.operation != DirectoryOperation::Modified
        || change.value_added == Some(false)
        || !(direction || attribute.eq_ignore_ascii_case("trustAttributes"))
    {
        return None;
    }
    let value = change.value.as_deref().and_then(|v| v.trim().parse::<u32>().ok());
    Some(TrustChange {
        subject: change.subject.clone(),
        operation: TrustOperation::Modified,
        domain: rdn_value(&change.dn).to_owned(),
        domain_sid: None,
        direction: value.filter(|_| direction),
        trust_type: None,
        attributes: value.filter(|_| !direction),
        record: None,
    })
}

/// `created a trust to partner.example (outbound, Active Directory, attributes 0x4)`.
fn describe(trust: &TrustChange) -> String {
    let verb = match trust.operation {
        TrustOperation::Created => "created a trust to",
        TrustOperation::Modified => "changed the trust to",
        TrustOperation::ForestRecordAdded => "added a name record to the forest trust with",
        TrustOperation::ForestRecordRemoved => "removed a name record from the forest trust with",
        TrustOperation::ForestRecordModified => "changed a name record of the forest trust with",
    };
    let mut details = Vec::new();
    if let Some(record) = &trust.record {
        details.push(record.clone());
    }
    match trust.direction {
        Some(1) => details.push("inbound: the other domain trusts this one".to_owned()),
        Some(2) => details.push("outbound: this domain trusts the other".to_owned()),
        Some(3) => details.push("both ways".to_owned()),
        Some(0) => details.push("disabled".to_owned()),
        _ => {}
    }
    match trust.trust_type {
        Some(1) => details.push("Windows NT domain".to_owned()),
        Some(2) => details.push("Active Directory".to_owned()),
        Some(3) => details.push("MIT Kerberos realm".to_owned()),
        _ => {}
    }
    if let Some(attributes) = trust.attributes {
        details.push(format!("attributes 0x{attributes:x}"));
    }
    if details.is_empty() {
        format!("{verb} {}", trust.domain)
    } else {
        format!("{verb} {} ({})", trust.domain, details.join(", "))
    }
}

/// Why the trust as it now stands lets the other domain in further than a trust should.
fn risk(trust: &TrustChange) -> Option<String> {
    let attributes = trust.attributes?;
    if attributes & attribute::WITHIN_FOREST != 0 {
        return None;
    }
    if attributes & attribute::ENABLE_TGT_DELEGATION != 0 {
        return Some(format!(
            "TGT delegation across the trust is enabled: servers of {} with unconstrained delegation receive this domain's users' TGTs.",
            trust.domain
        ));
    }
    let accepts = trust.direction.is_none_or(|d| d & DIRECTION_OUTBOUND != 0);
    let forest = attributes & attribute::FOREST_TRANSITIVE != 0;
    let unfiltered = if forest {
        attributes & attribute::TREAT_AS_EXTERNAL != 0
    } else {
        attributes & attribute::QUARANTINED_DOMAIN == 0
    };
    (accepts && unfiltered).then(|| {
        format!(
            "SID filtering is off for it: accounts of {} can carry any SID of this domain, its administrators' included.",
            trust.domain
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_audit_alerts;
    use crate::testing::logs::assert_silent;

    fn trust(direction: u32, attributes: u32) -> TrustChange {
        TrustChange {
            subject: orthrus_model::AccountRef {
                name: "dadmin".into(),
                domain: Some("CONTOSO".into()),
                sid: None,
            },
            operation: TrustOperation::Created,
            domain: "partner.example".into(),
            domain_sid: None,
            direction: Some(direction),
            trust_type: Some(2),
            attributes: Some(attributes),
            record: None,
        }
    }

    #[test]
    fn unfiltered_sids_from_outside_the_forest_are_the_risk() {
        // External trusts: quarantine (SID filtering) on or off.
        assert!(risk(&trust(3, 0)).is_some_and(|r| r.starts_with("SID filtering is off")));
        assert!(risk(&trust(3, attribute::QUARANTINED_DOMAIN)).is_none());
        // Only trusts that accept the other domain's accounts.
        assert!(risk(&trust(1, 0)).is_none());
        // Forest trusts filter by default; SID history allowed (treat as external) does not.
        assert!(risk(&trust(3, attribute::FOREST_TRANSITIVE)).is_none());
        assert!(risk(&trust(2, attribute::FOREST_TRANSITIVE | attribute::TREAT_AS_EXTERNAL)).is_some());
        assert!(risk(&trust(1, attribute::FOREST_TRANSITIVE | attribute::ENABLE_TGT_DELEGATION)).is_some());
        // Microsoft's 4706 example: a child domain, within the forest.
        assert!(risk(&trust(3, attribute::WITHIN_FOREST)).is_none());
        assert_eq!(
            describe(&trust(3, 32)),
            "created a trust to partner.example (both ways, Active Directory, attributes 0x20)"
        );
    }

    #[test]
    fn fires_on_a_trust_created_on_the_lab_dc() {
        // da_admin at 10.99.0.21 creates a trust to PARTNER over LSARPC (rpcclient
        // createtrustdom: an outbound downlevel trust, no quarantine), then deletes it.
        let alerts = extra_audit_alerts("trust_created", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(
            alert.description.starts_with(
                "LAB\\da_admin created a trust to PARTNER (outbound: this domain trusts the other, Windows NT domain, \
                 attributes 0x0) on DC1. SID filtering is off"
            ),
            "{}",
            alert.description
        );
        let mut config = DetectionConfig::default();
        config.settings_mut::<TrustChanged>().exclude_actors = vec!["da_admin".into()];
        assert!(extra_audit_alerts("trust_created", META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_other_directory_changes_and_benign_logs() {
        for name in
            ["delegation_backdoor", "dnshostname_spoofing", "dcshadow_registration", "benign_computer_rename"]
        {
            assert!(extra_audit_alerts(name, META.id, &DetectionConfig::default()).is_empty(), "{name}");
        }
        assert_silent(META.id);
    }
}
