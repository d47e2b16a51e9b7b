//! ORT-SAMR-002 — Honeytoken queried via SAM-R.
//!
//! - Attack: the decoy account looked up over SAM-R — its name resolved to a RID, then the
//!   account opened to read its details (`net user adm_legacy /domain`, rpcclient
//!   `queryuser`, impacket tools).
//! - ATT&CK: T1087.002. MDI: Honeytoken was queried via SAM-R (2439).
//! - Data: SAMR over SMB named pipes in the clear: SamrLookupNamesInDomain (the names asked
//!   for) and SamrOpenUser (the RID opened); RIDs map to accounts through the directory
//!   snapshot. SMB3-encrypted sessions cannot be read.
//! - Logic: any lookup naming a honeytoken, or any opening of a honeytoken's RID, from any
//!   source. Enumerations that list every user (SamrEnumerateUsersInDomain,
//!   SamrQueryDisplayInformation) name no account and do not count, and neither do the
//!   openings that follow one from the same source within the window: tools such as
//!   samrdump open every account the enumeration returned, the decoy among them. One alert per source and
//!   quiet gap `window_secs` (config `[honeytoken_samr_query]`).
//! - Thresholds: `window_secs = 3600`; without honeytokens named, no alert; RIDs match only
//!   with a directory snapshot (and not when two domains' honeytokens share the RID).
//! - Benign: legacy systems that resolve every account by name now and then (MDI disabled
//!   this alert for that reason by default); exclude their source.
//! - Evidence: each call (request and reply frames), account, call, honeytoken.

use orthrus_model::{Activity, ActivityKind, RpcDetail, Severity};

use crate::EventRuleConfig;
use crate::detections::recon::{DecoyQuery, raise_decoy_query};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-SAMR-002",
    title: "Honeytoken was queried via SAM-R",
    mdi: "Honeytoken was queried via SAM-R (2439)",
    external_id: 2439,
    cef_app: "Samr",
    tactic: "TA0007",
    techniques: &["T1087.002"],
    data_sources: &["SAMR SamrLookupNamesInDomain / SamrOpenUser", "directory snapshot or honeytoken tags"],
    base_severity: Severity::Low,
    escalates_for_sensitive: false,
    config_section: "honeytoken_samr_query",
    meaning: "A SAM-R query asked about a honeytoken account. Nothing legitimate should look for it.",
    impact: "Someone is enumerating accounts from the source computer.",
    actions: &[
        "Treat the source as compromised and identify the user and process behind the query.",
        "Review the incident's other alerts.",
    ],
};

impl Detection for HoneytokenSamrQuery {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        HoneytokenSamrQuery {
            episodes: Incidents::new(settings.window_secs),
            config: settings.clone(),
            enumerated: Default::default(),
        }
    }
}

pub struct HoneytokenSamrQuery {
    episodes: Incidents<String>,
    config: EventRuleConfig,
    /// When each source last enumerated all users.
    enumerated: std::collections::HashMap<orthrus_model::SourceId, orthrus_model::Timestamp>,
}

/// SAMR calls that list every account.
const ENUMERATIONS: &[&str] = &[
    "SamrEnumerateUsersInDomain",
    "SamrQueryDisplayInformation",
    "SamrQueryDisplayInformation2",
    "SamrQueryDisplayInformation3",
];

impl Detector for HoneytokenSamrQuery {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        if context.honeytokens().is_empty() {
            return;
        }
        let ActivityKind::RpcCalled(call) = &activity.kind else { return };
        if call.interface != "samr" {
            return;
        }
        let source = activity.source_id();
        if call.operation.as_deref().is_some_and(|op| ENUMERATIONS.contains(&op)) {
            if self.enumerated.len() >= crate::window::MAX_SOURCES {
                self.enumerated.clear();
            }
            self.enumerated.insert(source, activity.time);
            return;
        }
        let walking = self.enumerated.get(&source).is_some_and(|t| {
            activity.time.as_micros().saturating_sub(t.as_micros())
                <= i64::try_from(self.config.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
        });
        let (how, decoys): (&str, Vec<String>) = match &call.detail {
            Some(RpcDetail::LookupNames { names }) => {
                ("looked up by name", names.iter().filter_map(|n| context.honeytokens().named(n)).collect())
            }
            Some(RpcDetail::OpenUser { rid }) if !walking => {
                ("opened by RID", context.honeytokens().with_rid(*rid).into_iter().collect())
            }
            _ => return,
        };
        if decoys.is_empty() {
            return;
        }
        let operation = call.operation.as_deref().unwrap_or("SAMR call");
        let summary = |who: &str| format!("{who}: {operation}: {} {how}", decoys.join(", "));
        let query = DecoyQuery { actor: call.user.as_deref(), decoys: decoys.clone(), over: "SAM-R" };
        raise_decoy_query(&mut self.episodes, &self.config, activity, query, summary, alerts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_alerts, lab_alerts_with, with_lab_directory};
    use crate::testing::lab::BENIGN;

    fn config() -> DetectionConfig {
        let mut config = DetectionConfig::default();
        config.entities.honeytokens = vec!["adm_legacy".into()];
        config
    }

    #[test]
    fn fires_on_lookup_by_name_and_by_rid() {
        let by_name = extra_alerts("honeytoken_samr_query", META.id, &config());
        assert_eq!(by_name.len(), 1, "{by_name:#?}");
        assert_eq!(by_name[0].count, 2, "two SamrLookupNamesInDomain; the RID needs the directory");
        assert_eq!(by_name[0].source.account.as_deref(), Some("LAB\\bob"));
        let with_directory = extra_alerts("honeytoken_samr_query", META.id, &with_lab_directory(config()));
        assert_eq!(with_directory[0].count, 3, "and SamrOpenUser on its RID");
        assert!(with_directory[0].evidence.iter().any(|e| e.summary.contains("opened by RID")));
        assert!(extra_alerts("honeytoken_samr_query", META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn silent_on_enumerations_and_an_admins_ordinary_samr_use() {
        let config = with_lab_directory(config());
        // samrdump and lookupsid enumerate every account, the decoy among them
        assert!(lab_alerts_with(&["samr_recon"], META.id, &config).is_empty());
        assert!(extra_alerts("benign_directory_lookups", META.id, &config).is_empty());
        assert!(lab_alerts_with(BENIGN, META.id, &config).is_empty());
    }
}
