//! ORT-SAMR-001 — User and group membership reconnaissance (SAMR).
//!
//! - Attack: before moving on, an attacker maps who matters — every user, every group, the
//!   members of Domain Admins, the built-in Administrator — through the DC's SAM-R interface
//!   (`net group "Domain Admins" /domain`, `net user /domain`, BloodHound's SAMR collection,
//!   impacket samrdump and lookupsid's RID cycling, PowerView).
//! - ATT&CK: T1087.002 (Domain Account discovery), T1069.002 (Domain Groups). MDI: User and
//!   Group membership reconnaissance (SAMR) (2021).
//! - Data: NET: SAMR calls to a DC — `SamrEnumerateUsersInDomain`,
//!   `SamrQueryDisplayInformation(2/3)`, `SamrEnumerateGroupsInDomain`,
//!   `SamrEnumerateAliasesInDomain`, `SamrGetMembersInGroup/Alias`, `SamrLookupNamesInDomain`
//!   (the names), `SamrOpenUser` (the RID), `SamrGetGroupsForUser`, `SamrGetAliasMembership` —
//!   with the caller's address and account. EVT: the DC's side of the same calls — 4661 (a
//!   handle to a SAM domain, group, local group or user opened), 4799 (a local group's members
//!   enumerated), 4798 (a user's local groups enumerated). These name the account but no
//!   address, so the account stands for the source; the DC's own accounts (machine accounts,
//!   SYSTEM, LOCAL SERVICE, NETWORK SERVICE) are not judged.
//! - Logic: each call (or SAM object the DC logged) is a query kind — enumeration of all
//!   users / all groups / all local groups, group membership, groups of a user, lookup of a
//!   sensitive group or account (by well-known name, or sensitive in the directory), lookup
//!   of other names, account queries, the built-in Administrator (RID 500), and from events,
//!   domain queries (a domain's handle: its policy, its lists). The profile learns which
//!   source made which kinds: for `learning_days` from the first SAMR call each DC receives, nothing
//!   alerts and every (source, kind) is learned; a saved baseline (`orthrus analyze
//!   --baseline`) brings pairs learned before. After that, kinds a source never made alert:
//!   one alert per source, DC and quiet gap `window_secs`, listing the new kinds with their
//!   outcome; Medium. MDI learns four weeks per DC: `learning_days = 28` is the default.
//! - Thresholds: `learning_days = 28`, `window_secs = 3600` (config `[samr_recon]`); at most
//!   100 000 learned pairs and 10 000 DCs.
//! - Benign: administrators' workstations and management tools that began querying after
//!   learning; exclude their addresses (`exclude_sources`) or accounts (`exclude_actors`).
//! - Evidence: each new query (request and reply frames), kind, account, result.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, RpcCall, RpcDetail, SamObjectAccess, Severity};
use serde::Deserialize;

use crate::baseline::PairProfile;
use crate::detections::foreign_rpc::{ForeignCall, foreign_call};
use crate::detections::windows::sensitive_groups;
use crate::names::{account_key, is_own_account};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-SAMR-001",
    title: "User and group membership reconnaissance (SAMR)",
    mdi: "User and Group membership reconnaissance (SAMR) (2021)",
    external_id: 2021,
    cef_app: "Samr",
    tactic: "TA0007",
    techniques: &["T1087.002", "T1069.002"],
    data_sources: &[
        "SAMR enumeration and lookup calls",
        "DC events 4661, 4798, 4799",
        "directory snapshot (sensitive names)",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "samr_recon",
    meaning: "A computer asked a DC through SAM-R for the members of sensitive groups, or for many users and groups, more than its usual activity.",
    impact: "The attacker learns who the administrators are and targets them next.",
    actions: &[
        "Identify the user and process on the source.",
        "Restrict remote SAM queries (\"Network access: Restrict clients allowed to make remote calls to SAM\").",
        "Isolate the source if the queries are not explained.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamrReconConfig {
    pub learning_days: u64,
    pub window_secs: u64,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for SamrReconConfig {
    fn default() -> Self {
        Self { learning_days: 28, window_secs: 3600, exclude_actors: Vec::new(), exclude_sources: Vec::new() }
    }
}

impl Settings for SamrReconConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("learning_days", self.learning_days.to_string()), ("window_secs", self.window_secs.to_string())]
    }
}

impl Detection for SamrRecon {
    type Settings = SamrReconConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        SamrRecon {
            excluded: c.exclude_actors.iter().map(|a| account_key(a)).collect(),
            learning_secs: i64::try_from(c.learning_days.saturating_mul(86_400)).unwrap_or(i64::MAX),
            episodes: Incidents::new(c.window_secs),
            profile: PairProfile::default(),
        }
    }
}

pub struct SamrRecon {
    excluded: Vec<String>,
    learning_secs: i64,
    episodes: Incidents<String>,
    /// Which source made which query kind while learning: (address, kind).
    profile: PairProfile,
}

impl SamrRecon {
    /// The query kind of a SAMR call, or None for calls that only open, close or connect.
    fn kind(&self, context: &Context, call: &RpcCall) -> Option<String> {
        let operation = call.operation.as_deref()?;
        Some(match operation {
            "SamrEnumerateUsersInDomain"
            | "SamrQueryDisplayInformation"
            | "SamrQueryDisplayInformation2"
            | "SamrQueryDisplayInformation3" => "enumeration of all users".to_owned(),
            "SamrEnumerateGroupsInDomain" => "enumeration of all groups".to_owned(),
            "SamrEnumerateAliasesInDomain" => "enumeration of all local groups".to_owned(),
            "SamrGetMembersInGroup" | "SamrGetMembersInAlias" => "group membership".to_owned(),
            "SamrGetGroupsForUser" | "SamrGetAliasMembership" => "groups of an account".to_owned(),
            "SamrLookupNamesInDomain" => {
                let names = match &call.detail {
                    Some(RpcDetail::LookupNames { names }) => names.as_slice(),
                    _ => &[],
                };
                match names.iter().find(|name| is_sensitive(context, name)) {
                    Some(name) => format!("lookup of {name}"),
                    None => "name lookups".to_owned(),
                }
            }
            "SamrOpenUser" => match &call.detail {
                Some(RpcDetail::OpenUser { rid: 500 }) => "the built-in Administrator".to_owned(),
                _ => "account queries".to_owned(),
            },
            _ => return None,
        })
    }

    fn query(&mut self, activity: &Activity, call: &RpcCall, context: &Context, alerts: &mut Alerts<'_>) {
        if call.interface != "samr" {
            return;
        }
        let Some(kind) = self.kind(context, call) else { return };
        let Some(ForeignCall { source, server, who, result, .. }) = foreign_call(context, activity, call)
        else {
            return;
        };
        let bare = |u: &str| account_key(u.rsplit('\\').next().unwrap_or(u));
        if call.user.as_deref().is_some_and(|u| self.excluded.contains(&bare(u))) {
            return;
        }
        self.judge(
            activity,
            Query {
                source: source.to_string(),
                server: server.to_string(),
                kind,
                summary_prefix: format!("{result} "),
                actor: format!("{source} made SAMR reconnaissance queries against {server} as {who}"),
                who,
                alert_source: Finding::source_of(activity, call.user.clone()),
            },
            alerts,
        );
    }

    /// A SAM object the DC logged (4661, 4798, 4799): the account stands for the source.
    fn logged_query(
        &mut self,
        activity: &Activity,
        access: &SamObjectAccess,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        let subject = &access.subject;
        if is_own_account(subject) || self.excluded.contains(&account_key(&subject.name)) {
            return;
        }
        let Some(kind) = logged_kind(context, access) else { return };
        let server = match (&activity.destination_host, activity.destination) {
            (Some(host), _) => host.to_string(),
            (None, Some(destination)) => destination.ip.to_string(),
            (None, None) => "a DC".to_owned(),
        };
        let who = subject.qualified();
        let source = match activity.source_ip() {
            Some(ip) => ip.to_string(),
            None => format!("account {}", account_key(&who)),
        };
        self.judge(
            activity,
            Query {
                source,
                actor: format!("{who} made SAMR reconnaissance queries against {server} (its own event log)"),
                server,
                kind,
                summary_prefix: String::new(),
                alert_source: Finding::source_of(activity, Some(who.clone())),
                who,
            },
            alerts,
        );
    }

    /// Learns the query while its DC learns; after, alerts on a kind its source never made.
    fn judge(&mut self, activity: &Activity, query: Query, alerts: &mut Alerts<'_>) {
        let pair = (query.source.clone(), query.kind.clone());
        if self.profile.learning(self.learning_secs, &query.server, activity.time) {
            self.profile.learn(pair);
            return;
        }
        if self.profile.knows(&pair) {
            return;
        }
        let key = format!("{} {}", query.source, query.server);
        let kinds = self.episodes.named(&key, activity.time, [query.kind.clone()]);
        let summary = format!("{}{} by {}", query.summary_prefix, query.kind, query.who);
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{} that it never made while learning: {}.",
                query.actor,
                kinds.iter().cloned().collect::<Vec<_>>().join(", "),
            ),
            source: query.alert_source,
            targets: AlertTargets { computers: BTreeSet::from([query.server]), ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

/// One query, seen on the wire or in the DC's log, ready to be judged.
struct Query {
    /// What a kind is learned against: the caller's address, or `account DOMAIN\name` when
    /// only the DC's log saw the query.
    source: String,
    /// The DC: its address, or the name of the computer that logged the event.
    server: String,
    kind: String,
    /// How the query ended, with a space (`successful `), where the data says.
    summary_prefix: String,
    /// The description's opening: who queried whom, as whom.
    actor: String,
    who: String,
    alert_source: orthrus_model::AlertSource,
}

/// The query kind of a SAM object the DC logged, or None for the server handle every
/// connection opens.
fn logged_kind(context: &Context, access: &SamObjectAccess) -> Option<String> {
    Some(match access.object_type.as_str() {
        "SAM_DOMAIN" => "domain queries".to_owned(),
        "SAM_GROUP" | "SAM_ALIAS" => {
            let name = access
                .object_name
                .clone()
                .or_else(|| orthrus_directory::well_known_sensitive_group(&access.object).map(str::to_owned));
            match name.filter(|name| is_sensitive(context, name)) {
                Some(name) => format!("lookup of {name}"),
                None => "group membership".to_owned(),
            }
        }
        "SAM_USER" if access.operation == "groups enumerated" => "groups of an account".to_owned(),
        "SAM_USER" if access.object.starts_with("S-1-5-21-") && access.object.ends_with("-500") => {
            "the built-in Administrator".to_owned()
        }
        "SAM_USER" => "account queries".to_owned(),
        _ => return None,
    })
}

impl Detector for SamrRecon {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        match &activity.kind {
            ActivityKind::RpcCalled(call) => self.query(activity, call, context, alerts),
            ActivityKind::SamObjectOpened(access) => self.logged_query(activity, access, context, alerts),
            _ => {}
        }
    }

    fn learned(&self) -> Option<serde_json::Value> {
        self.profile.state()
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        self.profile = PairProfile::from_state(state)?;
        Ok(())
    }
}

/// A well-known sensitive group, or an account or group the directory marks sensitive.
fn is_sensitive(context: &Context, name: &str) -> bool {
    sensitive_groups::is_sensitive_name(name) || context.directory().is_sensitive(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    fn run(captures: &[&str], config: &DetectionConfig, baseline: Option<&crate::Baseline>) -> crate::Engine {
        let mut engine = crate::Engine::new(config, "test");
        if let Some(baseline) = baseline {
            assert!(engine.restore(baseline).unwrap().is_empty());
        }
        for capture in captures {
            let path = if capture.starts_with("lab-extra/") {
                orthrus_testkit::fixture(&format!("{capture}.pcap"))
            } else {
                orthrus_testkit::fixture(&format!("pcap/{capture}.pcap"))
            };
            for activity in orthrus_testkit::activities(&path) {
                engine.observe(&activity);
            }
        }
        engine
    }

    fn raised(engine: crate::Engine) -> Vec<orthrus_model::Alert> {
        engine.finish().into_iter().filter(|a| a.detection == META.id).collect()
    }

    const ADMIN: &str = "lab-extra/benign_directory_lookups";

    fn after_learning() -> DetectionConfig {
        DetectionConfig::default()
            .with::<SamrRecon>(SamrReconConfig { learning_days: 0, ..Default::default() })
    }

    #[test]
    fn silent_while_learning() {
        // The default: 28 days from the DC's first SAMR call; the lab's recon comes the same day.
        assert!(raised(run(&[ADMIN, "samr_recon"], &DetectionConfig::default(), None)).is_empty());
    }

    #[test]
    fn a_learned_admin_is_silent_and_the_recon_host_is_not() {
        // Learning over an administrator's lookups (10.99.0.20: Domain Admins' members, bob).
        let engine = run(&[ADMIN], &DetectionConfig::default(), None);
        let baseline = engine.baseline();
        assert!(raised(engine).is_empty());
        let state = baseline.detections[META.id].to_string();
        assert!(state.contains("lookup of Domain Admins") && state.contains("10.99.0.20"), "{state}");

        // Saved and loaded, then past learning: the admin's queries again, and RID cycling from
        // 10.99.0.21.
        let file = std::env::temp_dir().join(format!("orthrus-samr-baseline-{}.json", std::process::id()));
        baseline.save(&file).unwrap();
        let loaded = crate::Baseline::load(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        let alerts = raised(run(&[ADMIN, "samr_recon"], &after_learning(), Some(&loaded)));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(alert.targets.computers.contains("10.99.0.10"));
        for kind in [
            "enumeration of all users",
            "group membership",
            "lookup of Domain Admins",
            "the built-in Administrator",
            "account queries",
        ] {
            assert!(alert.description.contains(kind), "{kind}: {}", alert.description);
        }
        // Without the baseline, the admin is new too.
        let unlearned = raised(run(&[ADMIN, "samr_recon"], &after_learning(), None));
        assert_eq!(unlearned.len(), 2, "{unlearned:#?}");
    }

    #[test]
    fn fires_on_windows_net_group_domain_admins_against_a_dc() {
        // pcap-attack: `net group "Domain Admins" /domain` from a Windows client.
        let path = orthrus_testkit::corpus()
            .join("pcap-attack/Discovery/Discovery_privgroups_domain_admins_samr_lookupnames_req.pcapng");
        let mut engine = crate::Engine::new(&after_learning(), "test");
        for activity in orthrus_testkit::activities(&path) {
            engine.observe(&activity);
        }
        let alerts = raised(engine);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].description.contains("lookup of Domain Admins"), "{}", alerts[0].description);
    }

    #[test]
    fn excluded_and_benign_are_silent() {
        let mut config = after_learning();
        config.settings_mut::<SamrRecon>().exclude_actors =
            vec!["da_admin".into(), "bob".into(), "administrator".into()];
        config.settings_mut::<SamrRecon>().exclude_sources =
            vec!["10.99.0.20".parse().unwrap(), "10.99.0.21".parse().unwrap()];
        assert!(raised(run(&[ADMIN, "samr_recon"], &config, None)).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }

    /// Real DC logs of SAMR reconnaissance (the DC's side: 4661 handles, 4799 enumerations).
    const SENSITIVE_LOOKUPS: &str = "evtx-to-mitre-attack/TA0007-Discovery/T1069-Permission Groups Discovery/ID4661-SAM sensitive domain users & groups discovery.evtx";
    const NET_GROUP_DOMAIN_ADMINS: &str =
        "evtx-attack-samples/Discovery/dicovery_4661_net_group_domain_admins_target.evtx";
    const REMOTE_LOCAL_GROUPS: &str =
        "evtx-attack-samples/Discovery/4799_remote_local_groups_enumeration.evtx";

    #[test]
    fn the_dcs_own_log_shows_samr_reconnaissance_after_learning() {
        use crate::testing::logs::corpus_alerts;
        let alerts = corpus_alerts(&[SENSITIVE_LOOKUPS], META.id, &after_learning());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let description = &alerts[0].description;
        assert!(description.starts_with("OFFSEC\\admmig made SAMR reconnaissance queries"), "{description}");
        for kind in ["lookup of Domain Admins", "group membership", "domain queries", "account queries"] {
            assert!(description.contains(kind), "{kind}: {description}");
        }
        assert_eq!(alerts[0].source.account.as_deref(), Some("OFFSEC\\admmig"));

        // `net group "Domain Admins" /domain` by user01; the built-in Administrator's own
        // logon queries (RID 500) from another account.
        let alerts = corpus_alerts(&[NET_GROUP_DOMAIN_ADMINS], META.id, &after_learning());
        let of =
            |who: &str| alerts.iter().find(|a| a.source.account.as_deref().is_some_and(|s| s.ends_with(who)));
        assert!(of("user01").unwrap().description.contains("lookup of Domain Admins"), "{alerts:#?}");
        assert!(
            of("administrator").unwrap().description.contains("the built-in Administrator"),
            "{alerts:#?}"
        );

        // 4799: Administrators' members enumerated remotely.
        let alerts = corpus_alerts(&[REMOTE_LOCAL_GROUPS], META.id, &after_learning());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].description.contains("lookup of Administrators"), "{}", alerts[0].description);
    }

    #[test]
    fn queries_the_dcs_log_showed_while_learning_are_silent_after() {
        let corpus = orthrus_testkit::corpus();
        let replay = |engine: &mut crate::Engine| {
            for file in [SENSITIVE_LOOKUPS, NET_GROUP_DOMAIN_ADMINS, REMOTE_LOCAL_GROUPS] {
                for activity in crate::testing::logs::event_activities(&corpus.join(file)) {
                    engine.observe(&activity);
                }
            }
        };
        let mut learning = crate::Engine::new(&DetectionConfig::default(), "test");
        replay(&mut learning);
        let baseline = learning.baseline();
        assert!(raised(learning).is_empty(), "silent while learning");
        let state = baseline.detections[META.id].to_string();
        assert!(state.contains("account offsec\\\\admmig"), "{state}");
        let mut after = crate::Engine::new(&after_learning(), "test");
        assert!(after.restore(&baseline).unwrap().is_empty());
        replay(&mut after);
        assert!(raised(after).is_empty(), "the same queries again");
    }

    #[test]
    fn the_dcs_own_accounts_are_not_judged() {
        use crate::testing::logs::{BENIGN, corpus_alerts};
        assert!(corpus_alerts(BENIGN, META.id, &after_learning()).is_empty());
        // The sample's own records as the DC's machine account and as SYSTEM made them (what a
        // DC logs all day): not judged, whatever they open.
        let activities =
            crate::testing::logs::event_activities(&orthrus_testkit::corpus().join(SENSITIVE_LOOKUPS));
        for (name, sid) in [("DC01$", "S-1-5-21-1-2-3-1000"), ("SYSTEM", "S-1-5-18")] {
            let mut engine = crate::Engine::new(&after_learning(), "test");
            for mut activity in activities.clone() {
                if let ActivityKind::SamObjectOpened(access) = &mut activity.kind {
                    access.subject.name = name.into();
                    access.subject.sid = Some(sid.into());
                }
                engine.observe(&activity);
            }
            assert!(raised(engine).is_empty(), "{name}");
        }
        let mut config = after_learning();
        config.settings_mut::<SamrRecon>().exclude_actors = vec!["admmig".into()];
        assert!(corpus_alerts(&[SENSITIVE_LOOKUPS], META.id, &config).is_empty(), "excluded actor");
    }
}
