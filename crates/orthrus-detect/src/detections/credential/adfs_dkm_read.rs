//! ORT-EVT-012 — AD FS DKM key read.
//!
//! - Attack: AD FS keeps the master key of its Distributed Key Manager (DKM) in the directory,
//!   in the `thumbnailPhoto` of a contact under `CN=ADFS,CN=Microsoft,CN=Program
//!   Data,<domain>`; with it, the token-signing certificate exported from the AD FS
//!   configuration database decrypts, and the attacker mints SAML tokens for any user (Golden
//!   SAML: ADFSDump, AADInternals `Export-AADIntADFSCertificates`).
//! - ATT&CK: T1552.004. MDI: Suspected AD FS DKM key read (2413).
//! - Data: NET: LDAP SearchRequests in the clear — the base, filter and attributes — with the
//!   entries returned and the bound account. EVT: 4662 with Read Property (0x10) of
//!   `thumbnailPhoto` ({8d3bca50-1d7e-11d0-a081-00aa006c33ed}) on a `contact`
//!   ({5cb41ed0-0e4c-11d0-a286-00aa003049e2}) — what the DC logs once auditing is set on the
//!   AD FS container, as MDI's setup asks (the event names the object by GUID only).
//! - Logic: a search under the AD FS container asking for `thumbnailPhoto` (by name, or all
//!   attributes), or filtering on it there, by an account that is not the AD FS service
//!   account (name it in `exclude_actors`) from a host that is not a known DC. High when
//!   entries came back (the key was read), Medium when none did; or such a 4662 by an account
//!   other than the service account: High (the read was granted). One alert per source (per
//!   account for 4662, which gives no address) and quiet gap `window_secs` (config
//!   `[adfs_dkm_read]`).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: the AD FS service account reading its key at start-up and rollover — list it
//!   in `exclude_actors`; AD FS servers by address in `exclude_sources`.
//! - Evidence: each search (request and result frames), bound account, base, filter,
//!   entries returned.

use std::collections::BTreeSet;

use orthrus_model::{Activity, ActivityKind, AlertTargets, DirectoryAccess, LdapSearch, Severity};

use crate::EventRuleConfig;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-012",
    title: "Suspected AD FS DKM key read",
    mdi: "Suspected AD FS DKM key read (2413)",
    external_id: 2413,
    cef_app: "LdapSearch",
    tactic: "TA0006",
    techniques: &["T1552.004"],
    data_sources: &[
        "LDAP SearchRequest (clear) for thumbnailPhoto under the AD FS container",
        "event 4662 Read Property of a contact's thumbnailPhoto (auditing on the AD FS container)",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "adfs_dkm_read",
    meaning: "The AD FS Distributed Key Manager (DKM) container's keys were read, as ADFSDump does to decrypt the token-signing certificate.",
    impact: "Forged SAML tokens (Golden SAML) for every application trusting AD FS, Microsoft 365 included.",
    actions: &[
        "Identify the reading account and the source computer.",
        "Rotate the AD FS token-signing and decryption certificates twice.",
        "Restrict who can read the DKM container.",
    ],
};

/// The container AD FS keeps its DKM key under, as it appears in a DN (lower case).
const ADFS_CONTAINER: &str = "cn=adfs,cn=microsoft,cn=program data,";

/// Whether a search reads the DKM key: under the AD FS container, asking for
/// `thumbnailPhoto` (by name or as all attributes) or filtering on it.
pub fn reads_dkm_key(search: &LdapSearch) -> bool {
    let base = search.base.to_ascii_lowercase();
    if !base.contains(ADFS_CONTAINER) && !base.starts_with(ADFS_CONTAINER.trim_end_matches(',')) {
        return false;
    }
    let all = search.attributes.is_empty() || search.attributes.iter().any(|a| a == "*");
    let asked = search.attributes.iter().any(|a| a.eq_ignore_ascii_case("thumbnailPhoto"));
    let filtered = search.assertions.iter().any(|a| a.attribute.eq_ignore_ascii_case("thumbnailPhoto"));
    all || asked || filtered
}

/// `thumbnailPhoto`'s schemaIDGUID, where AD FS keeps the DKM key.
const THUMBNAIL_PHOTO: &str = "8d3bca50-1d7e-11d0-a081-00aa006c33ed";
/// The `contact` class's schemaIDGUID: the DKM key's object.
const CONTACT_CLASS: &str = "5cb41ed0-0e4c-11d0-a286-00aa003049e2";
/// ADS_RIGHT_DS_READ_PROP.
const READ_PROPERTY: u32 = 0x10;

/// Whether a 4662 is a read of a contact's `thumbnailPhoto`: the DKM key, where its container
/// is audited.
pub fn audited_dkm_read(access: &DirectoryAccess) -> bool {
    access.access_mask & READ_PROPERTY != 0
        && access.properties.iter().any(|p| p.eq_ignore_ascii_case(THUMBNAIL_PHOTO))
        && (access.object_type.eq_ignore_ascii_case(CONTACT_CLASS)
            || access.object_type.eq_ignore_ascii_case("contact"))
}

impl Detection for AdfsDkmRead {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        AdfsDkmRead { config: settings.clone(), episodes: Incidents::new(settings.window_secs) }
    }
}

pub struct AdfsDkmRead {
    config: EventRuleConfig,
    episodes: Incidents<String>,
}

impl AdfsDkmRead {
    /// The DC's own record of a DKM key read (4662).
    fn audited_read(&mut self, activity: &Activity, access: &DirectoryAccess, alerts: &mut Alerts<'_>) {
        if !audited_dkm_read(access) {
            return;
        }
        let who = access.subject.qualified();
        if self.config.excludes(&who) {
            return;
        }
        let key = format!("account {}", who.to_lowercase());
        let dc = activity.destination_host.as_deref().unwrap_or("the domain controller");
        let summary = format!("4662: {who} read thumbnailPhoto of contact {}", access.object_name);
        let finding = Finding {
            severity: Severity::High,
            description: format!(
                "{who} read the AD FS DKM key (thumbnailPhoto of the contact {} under the audited AD FS \
                 container, logged by {dc}): with it the AD FS token-signing certificate decrypts (Golden SAML).",
                access.object_name,
            ),
            source: Finding::source_of(activity, Some(who)),
            targets: AlertTargets {
                computers: activity.destination_host.iter().map(ToString::to_string).collect(),
                ..AlertTargets::default()
            },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

impl Detector for AdfsDkmRead {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        if let ActivityKind::DirectoryObjectAccessed(access) = &activity.kind {
            self.audited_read(activity, access, alerts);
            return;
        }
        let ActivityKind::LdapSearched(search) = &activity.kind else { return };
        if !reads_dkm_key(search) {
            return;
        }
        let Some(source) = activity.source_ip() else { return };
        let who = search.user.as_deref().unwrap_or("an unknown account");
        if context.dcs().contains_address(source) || self.config.excludes(who) {
            return;
        }
        let read = search.entries > 0;
        let key = source.to_string();
        let outcomes =
            self.episodes.named(&key, activity.time, [if read { "read" } else { "asked" }.to_owned()]);
        let any_read = outcomes.contains("read");
        let server = activity.destination.map(|d| d.ip.to_string());
        let summary =
            format!("{who} searched {} ({}): {} entries", search.base, search.filter, search.entries);
        let finding = Finding {
            severity: if any_read { Severity::High } else { Severity::Medium },
            description: format!(
                "{source} ({who}) {} the AD FS DKM key (thumbnailPhoto under the AD FS container) over LDAP{}: \
                 with it the AD FS token-signing certificate decrypts (Golden SAML).",
                if any_read { "read" } else { "asked for" },
                server.as_ref().map(|s| format!(" from {s}")).unwrap_or_default(),
            ),
            source: Finding::source_of(activity, search.user.clone()),
            targets: AlertTargets {
                computers: server.into_iter().collect::<BTreeSet<_>>(),
                ..AlertTargets::default()
            },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    #[test]
    fn fires_on_the_dcs_audit_of_a_dkm_key_read() {
        // Hand-written 4662s (no public sample; Samba does not audit reads): the AD FS
        // service account and bob read the DKM contact's thumbnailPhoto, bob its description.
        let path = orthrus_testkit::fixture("events/adfs_dkm_read_4662.jsonl");
        let activities = crate::testing::logs::event_activities(&path);
        assert_eq!(activities.len(), 3);
        let mut config = DetectionConfig::default();
        config.settings_mut::<AdfsDkmRead>().exclude_actors = vec!["svc_adfs".into()];
        let mut engine = crate::Engine::new(&config, "test");
        for activity in &activities {
            engine.observe(activity);
        }
        let alerts: Vec<_> = engine.finish().into_iter().filter(|a| a.detection == META.id).collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\bob"));
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.count, 1, "the description read is not the key");
        assert!(
            alert.description.starts_with("LAB\\bob read the AD FS DKM key (thumbnailPhoto of the contact")
                && alert.description.contains("logged by DC1.lab.test"),
            "{}",
            alert.description
        );
    }

    #[test]
    fn fires_when_a_user_reads_the_dkm_key() {
        // bob runs ADFSDump's query under CN=ADFS,CN=Microsoft,CN=Program Data and gets the
        // contact's thumbnailPhoto back.
        let alerts = extra_alerts("adfs_dkm_read", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("bob@lab.test"));
        assert_eq!(alert.severity, Severity::High);
        assert!(
            alert.description.starts_with("10.99.0.21 (bob@lab.test) read the AD FS DKM key"),
            "{}",
            alert.description
        );
    }

    #[test]
    fn silent_for_the_adfs_service_account_and_other_searches() {
        // The service account's own read alerts until it is named as such.
        assert_eq!(extra_alerts("benign_adfs_service_read", META.id, &DetectionConfig::default()).len(), 1);
        let mut config = DetectionConfig::default();
        config.settings_mut::<AdfsDkmRead>().exclude_actors = vec!["svc_web".into()];
        assert!(extra_alerts("benign_adfs_service_read", META.id, &config).is_empty());
        // Directory-wide sweeps that never touch the AD FS container.
        for capture in ["ldap_attribute_recon", "benign_directory_lookups"] {
            assert!(extra_alerts(capture, META.id, &DetectionConfig::default()).is_empty(), "{capture}");
        }
        assert_silent_on_logs_and_captures(META.id);
    }
}
