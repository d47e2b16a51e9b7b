//! ORT-EVT-008 — Honeytoken user attributes modified.
//!
//! - Attack: a decoy account nobody should manage is changed — an SPN set on it for
//!   targeted Kerberoasting, its password reset, pre-authentication or delegation flags
//!   flipped, its owner or ACL rewritten — by an attacker who took the bait.
//! - ATT&CK: T1098 (Account Manipulation). MDI: Honeytoken user attributes modified (2427).
//! - Data: EVT: 4738 (user account changed) naming the account, and 5136 (directory object
//!   modified) on its DN; the honeytoken tags (config `[entities] honeytokens`, `[honeytoken]
//!   accounts`) and, for DNs and SIDs, the directory snapshot (without one, a DN's first
//!   `CN=` is taken for the account's name).
//! - Logic: any change of a honeytoken's attributes; High. One alert per honeytoken and
//!   quiet gap `window_secs` (config `[honeytoken_attributes]`), listing the attributes
//!   changed and who changed them.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: the honeytoken's owner maintaining it (exclude the actor with `exclude_actors`).
//! - Evidence: each change: actor, attribute (and value for 5136), DC.

use std::collections::BTreeSet;

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};

use crate::EventRuleConfig;
use crate::names::{actor_name, logged_on, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-008",
    title: "Honeytoken user attributes modified",
    mdi: "Honeytoken user attributes modified (2427)",
    external_id: 2427,
    cef_app: "Directory Services",
    tactic: "TA0003",
    techniques: &["T1098"],
    data_sources: &[
        "events 4738 (user changed), 5136 (object modified)",
        "honeytoken tags, directory snapshot",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "honeytoken_attributes",
    meaning: "An attribute of a honeytoken account was changed. Nothing legitimate should touch it.",
    impact: "Someone with rights over the honeytoken is testing or taking over accounts.",
    actions: &[
        "Identify the actor and treat their account as compromised.",
        "Review the actor's other changes.",
    ],
};

impl Detection for HoneytokenAttributes {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        HoneytokenAttributes { config: settings.clone(), episodes: Incidents::new(settings.window_secs) }
    }
}

pub struct HoneytokenAttributes {
    config: EventRuleConfig,
    episodes: Incidents<String>,
}

/// The value of a DN's first RDN (`CN=honey-pot1,OU=…` → `honey-pot1`).
fn first_rdn(dn: &str) -> Option<&str> {
    let (kind, value) = dn.split(',').next()?.split_once('=')?;
    kind.trim().eq_ignore_ascii_case("cn").then(|| value.trim())
}

impl Detector for HoneytokenAttributes {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let (subject, honeytoken, attributes) = match &activity.kind {
            ActivityKind::AccountChanged(change)
                if !change.computer && change.action == orthrus_model::AccountAction::Changed =>
            {
                let named = context.honeytokens().of_account(&change.target);
                let attributes: Vec<String> = if change.changes.is_empty() {
                    vec!["attributes".to_owned()]
                } else {
                    change.changes.keys().cloned().collect()
                };
                (&change.subject, named, attributes)
            }
            ActivityKind::DirectoryObjectChanged(change) => {
                let named = context
                    .honeytokens()
                    .named(&change.dn)
                    .or_else(|| first_rdn(&change.dn).and_then(|cn| context.honeytokens().named(cn)));
                (
                    &change.subject,
                    named,
                    vec![change.attribute.clone().unwrap_or_else(|| "attributes".to_owned())],
                )
            }
            _ => return,
        };
        let Some(honeytoken) = honeytoken else { return };
        let actor = actor_name(subject);
        if self.config.excludes_actor(subject) {
            return;
        }
        let names = self.episodes.named(
            &honeytoken,
            activity.time,
            attributes.iter().map(|a| format!("attribute:{a}")).chain([format!("actor:{actor}")]),
        );
        let of = |prefix: &str| -> BTreeSet<String> {
            names.iter().filter_map(|n| n.strip_prefix(prefix)).map(str::to_owned).collect()
        };
        let key = honeytoken.clone();
        let summary = format!(
            "{actor} changed {} of the honeytoken {honeytoken} on {}",
            attributes.join(", "),
            logged_on(activity)
        );
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "The honeytoken {honeytoken}'s {} {} changed by {}: a decoy account nobody should manage.",
                name_list(of("attribute:").iter(), 6),
                if of("attribute:").len() == 1 { "was" } else { "were" },
                name_list(of("actor:").iter(), 3),
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { accounts: BTreeSet::from([honeytoken]), ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::{assert_silent, corpus_alerts};

    const SPN_SET: &str = "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4738,5136-SPN set on user account.evtx";

    fn honeypot() -> DetectionConfig {
        let mut config = DetectionConfig::default();
        config.settings_mut::<crate::detections::kerberos::honeytoken::Honeytoken>().accounts =
            vec!["honey-pot1".into()];
        config
    }

    #[test]
    fn fires_when_an_spn_is_set_on_a_honeytoken() {
        // A servicePrincipalName written on honey-pot1 (5136, twice) with its 4738s.
        let alerts = corpus_alerts(&[SPN_SET], META.id, &honeypot());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert!(alert.targets.accounts.contains("honey-pot1"), "{:?}", alert.targets);
        assert_eq!(alert.severity, Severity::High);
        assert!(alert.description.contains("servicePrincipalName"), "{}", alert.description);
        assert_eq!(alert.count, 4, "two 4738 and two 5136");
    }

    #[test]
    fn silent_without_the_tag_or_for_an_excluded_actor() {
        assert!(corpus_alerts(&[SPN_SET], META.id, &DetectionConfig::default()).is_empty());
        let first = corpus_alerts(&[SPN_SET], META.id, &honeypot());
        let actor = first[0].source.account.clone().unwrap();
        let mut config = honeypot();
        config.settings_mut::<HoneytokenAttributes>().exclude_actors =
            vec![actor.rsplit('\\').next().unwrap().to_owned()];
        assert!(corpus_alerts(&[SPN_SET], META.id, &config).is_empty());
    }

    #[test]
    fn first_rdns() {
        assert_eq!(first_rdn("CN=honey-pot1,OU=Test-OU,DC=corp"), Some("honey-pot1"));
        assert_eq!(first_rdn("OU=Test-OU,DC=corp"), None);
        assert_eq!(first_rdn(""), None);
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
    }
}
