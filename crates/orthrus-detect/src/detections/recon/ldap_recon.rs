//! ORT-LDAP-003 — Security principal reconnaissance (LDAP).
//!
//! - Attack: the first step of most domain compromises and of Kerberoasting: an attacker
//!   enumerates the directory over LDAP — every user, computer and group, the accounts with
//!   SPNs or without pre-authentication, the protected (adminCount) accounts, trusts,
//!   delegation, the members of Domain Admins — with BloodHound/SharpHound, PowerView,
//!   ldapdomaindump, impacket's GetUserSPNs/GetNPUsers/findDelegation or plain `ldapsearch`.
//! - ATT&CK: T1087.002 (Domain Account discovery), T1069.002. MDI: Security principal
//!   reconnaissance (LDAP) (2038).
//! - Data: NET: LDAP SearchRequests in the clear (simple binds or unsealed SASL): base,
//!   scope, filter.
//! - Logic: each directory-wide search (scope one-level or subtree; a base read of a
//!   sensitive group's members too) is classified into enumeration types by its filter
//!   ([`enumeration_types`]); a search naming one account or group (an equality on a naming
//!   attribute) is a lookup, not an enumeration, unless it names a sensitive group's
//!   members. Each source computer learns for `learning_days` from its first search here
//!   (MDI: 15 days per computer): the types it makes are learned, nothing alerts. After
//!   that, an episode alerts when the source makes at least `min_new_types` types it never
//!   made while learning, or any query of a sensitive group's members it never made;
//!   Medium, High when the filters match a known tool ([`TOOL_FILTERS`], kept as data). One
//!   alert per source and quiet gap `window_secs` (config `[ldap_recon]`). The learned
//!   pairs are saved and loaded with the baseline (`orthrus analyze --baseline`).
//! - Thresholds: `learning_days = 15`, `min_new_types = 2`, `window_secs = 3600`; at most
//!   100 000 learned pairs and 10 000 learning sources (sources beyond are not judged).
//! - Benign: administration and security tools, identity sync, monitoring that began after
//!   learning — exclude their hosts (`exclude_sources`) or accounts (`exclude_actors`).
//!   Windows' Group Policy client (reads under CN=Policies) and lookups of one account are
//!   not enumerations.
//! - Gaps: sealed LDAP (Windows tools sign and seal by default; SharpHound does) and LDAPS
//!   cannot be read: 1644 events are not read yet.
//! - Evidence: each new search (request and result frames), bound account, the types and
//!   sensitive groups, sample filters.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, LdapSearch, Severity, Timestamp};
use serde::Deserialize;

use super::NAMING_ATTRIBUTES;
use crate::baseline::PairProfile;
use crate::detections::windows::sensitive_groups;
use crate::names::lists_account;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-LDAP-003",
    title: "Security principal reconnaissance (LDAP)",
    mdi: "Security principal reconnaissance (LDAP) (2038)",
    external_id: 2038,
    cef_app: "LdapSearch",
    tactic: "TA0007",
    techniques: &["T1087.002", "T1069.002"],
    data_sources: &["LDAP SearchRequest (clear): base, scope, filter", "learned per source computer"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "ldap_recon",
    meaning: "A computer sent the LDAP queries enumeration tools (BloodHound, PowerView, ADRecon) make: every user, group, trust or privileged account, in volume a normal client does not.",
    impact: "The attacker learns the domain's structure and the shortest paths to privileged accounts.",
    actions: &[
        "Check whether the source runs a known inventory or audit tool.",
        "If not, identify the user and process on the source and isolate it.",
        "Review who can reach sensitive accounts from the computers involved (lateral movement paths).",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapReconConfig {
    pub learning_days: u64,
    /// New enumeration types (besides sensitive groups' members) that make an alert.
    pub min_new_types: usize,
    pub window_secs: u64,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for LdapReconConfig {
    fn default() -> Self {
        Self {
            learning_days: 15,
            min_new_types: 2,
            window_secs: 3600,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for LdapReconConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("learning_days", self.learning_days.to_string()),
            ("min_new_types", self.min_new_types.to_string()),
            ("window_secs", self.window_secs.to_string()),
        ]
    }
}

/// Filters known tools send, as their sources write them (compared ignoring case and
/// spaces): impacket's examples and ldapdomaindump (the versions the lab runs).
pub const TOOL_FILTERS: &[(&str, &str)] = &[
    ("ldapdomaindump", "(&(objectClass=computer)(objectClass=user))"),
    ("ldapdomaindump", "(groupType:1.2.840.113556.1.4.803:=2147483648)"),
    ("impacket GetUserSPNs", "(&(objectCategory=person)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"),
    (
        "impacket GetNPUsers",
        "(&(UserAccountControl:1.2.840.113556.1.4.803:=4194304)(!(UserAccountControl:1.2.840.113556.1.4.803:=2))(!(objectCategory=computer)))",
    ),
    (
        "impacket findDelegation",
        "(&(|(UserAccountControl:1.2.840.113556.1.4.803:=16777216)(UserAccountControl:1.2.840.113556.1.4.803:=524288)(msDS-AllowedToDelegateTo=*)(msDS-AllowedToActOnBehalfOfOtherIdentity=*))(!(UserAccountControl:1.2.840.113556.1.4.803:=2)))",
    ),
];

/// Sources whose new queries are gathered at once (beyond, new sources are not judged).
const MAX_PENDING: usize = 100_000;
/// How a recognised tool is marked among a source's new types.
const TOOL: &str = "tool:";

fn normalized(filter: &str) -> String {
    filter.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

/// The tool a filter is the signature of.
pub fn tool_of(filter: &str) -> Option<&'static str> {
    let filter = normalized(filter);
    TOOL_FILTERS.iter().find(|(_, f)| normalized(f) == filter).map(|(tool, _)| *tool)
}

/// The sensitive group a DN's first RDN names (`CN=Domain Admins,CN=Users,…`).
fn sensitive_group_of(dn: &str) -> Option<String> {
    let first = dn.split(',').next()?;
    let (kind, name) = first.split_once('=')?;
    (kind.trim().eq_ignore_ascii_case("cn") && sensitive_groups::is_sensitive_name(name.trim()))
        .then(|| name.trim().to_owned())
}

/// The enumeration types a search performs (empty for lookups and reads of one object).
pub fn enumeration_types(search: &LdapSearch) -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    let assertions: Vec<(String, &str)> =
        search.assertions.iter().map(|a| (a.attribute.to_ascii_lowercase(), a.value.as_str())).collect();
    let has =
        |attr: &str, value: &str| assertions.iter().any(|(a, v)| a == attr && v.eq_ignore_ascii_case(value));
    // Members of a sensitive group: by memberOf, by the group's name, or a base read of it.
    for (attribute, value) in &assertions {
        let group = match attribute.as_str() {
            "memberof" => sensitive_group_of(value),
            "cn" | "samaccountname" | "name"
                if has("objectclass", "group") || has("objectcategory", "group") =>
            {
                sensitive_groups::is_sensitive_name(value).then(|| (*value).to_owned())
            }
            _ => None,
        };
        if let Some(group) = group {
            types.insert(format!("members of {group}"));
        }
    }
    if search.scope == "base" {
        if let Some(group) = sensitive_group_of(&search.base)
            && search.attributes.iter().any(|a| a.eq_ignore_ascii_case("member"))
        {
            types.insert(format!("members of {group}"));
        }
        return types;
    }
    let lookup = assertions.iter().any(|(a, v)| NAMING_ATTRIBUTES.contains(&a.as_str()) && !v.contains('*'));
    if lookup {
        return types;
    }
    let base = search.base.to_ascii_lowercase();
    if base.contains("cn=policies,cn=system,") {
        return types;
    }
    let bit = |value: &str| assertions.iter().any(|(a, v)| a == "useraccountcontrol" && *v == value);
    let computer = has("objectclass", "computer")
        || has("objectcategory", "computer")
        || has("samaccounttype", "805306369");
    if computer {
        types.insert("all computers".to_owned());
    } else if has("objectcategory", "person")
        || has("objectclass", "user")
        || has("objectclass", "person")
        || has("samaccounttype", "805306368")
    {
        types.insert("all users".to_owned());
    }
    if has("objectclass", "group")
        || has("objectcategory", "group")
        || ["268435456", "268435457", "536870912", "536870913"].iter().any(|t| has("samaccounttype", t))
        || assertions.iter().any(|(a, _)| a == "grouptype")
    {
        types.insert("all groups".to_owned());
    }
    if has("serviceprincipalname", "*") {
        types.insert("accounts with SPNs (Kerberoasting)".to_owned());
    }
    if bit("4194304") {
        types.insert("accounts without Kerberos pre-authentication (AS-REP roasting)".to_owned());
    }
    if has("admincount", "1") {
        types.insert("protected accounts (adminCount)".to_owned());
    }
    if has("objectclass", "trusteddomain") {
        types.insert("domain trusts".to_owned());
    }
    if bit("524288") || bit("16777216") || has("msds-allowedtodelegateto", "*") {
        types.insert("delegation".to_owned());
    }
    if assertions.len() == 1 && has("objectclass", "*") && base.starts_with("dc=") {
        types.insert("every object".to_owned());
    }
    types
}

impl Detection for LdapRecon {
    type Settings = LdapReconConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        LdapRecon {
            config: c.clone(),
            learning_secs: i64::try_from(c.learning_days.saturating_mul(86_400)).unwrap_or(i64::MAX),
            episodes: Incidents::new(c.window_secs),
            pending: HashMap::new(),
            profile: PairProfile::default(),
        }
    }
}

pub struct LdapRecon {
    config: LdapReconConfig,
    learning_secs: i64,
    episodes: Incidents<String>,
    /// Per source, what it did that was new (types, and `tool:` the tools recognised) and
    /// when it last did: gathered until the episode is worth an alert, forgotten after a
    /// quiet `window_secs`.
    pending: HashMap<String, (Timestamp, BTreeSet<String>)>,
    /// (source, enumeration type) learned; learning runs per source from its first search.
    profile: PairProfile,
}

impl LdapRecon {
    fn searched(
        &mut self,
        activity: &Activity,
        search: &LdapSearch,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        let types = enumeration_types(search);
        if types.is_empty() {
            return;
        }
        let Some(source) = activity.source_ip() else { return };
        let who = search.user.as_deref().unwrap_or("an unknown account");
        if context.dcs().contains_address(source) || lists_account(&self.config.exclude_actors, who) {
            return;
        }
        let key = source.to_string();
        if !self.profile.started.contains_key(&key) && self.profile.started.len() >= PairProfile::MAX_DCS {
            return;
        }
        if self.profile.learning(self.learning_secs, &key, activity.time) {
            for kind in types {
                self.profile.learn((key.clone(), kind));
            }
            return;
        }
        let new: Vec<String> =
            types.into_iter().filter(|t| !self.profile.knows(&(key.clone(), t.clone()))).collect();
        if new.is_empty() {
            return;
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING {
            return;
        }
        let window = i64::try_from(self.config.window_secs).unwrap_or(i64::MAX);
        let (last, seen) =
            self.pending.entry(key.clone()).or_insert_with(|| (activity.time, BTreeSet::new()));
        if last.saturating_add_secs(window) < activity.time {
            seen.clear();
        }
        *last = activity.time;
        seen.extend(new.iter().cloned());
        seen.extend(tool_of(&search.filter).map(|tool| format!("{TOOL}{tool}")));
        let (tools, kinds): (Vec<&String>, Vec<&String>) = seen.iter().partition(|n| n.starts_with(TOOL));
        let sensitive = kinds.iter().any(|t| t.starts_with("members of "));
        if kinds.len() < self.config.min_new_types && !sensitive && tools.is_empty() {
            return;
        }
        let kinds = kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        let tools: Vec<&str> = tools.iter().map(|t| t.trim_start_matches(TOOL)).collect();
        self.episodes.named(&key, activity.time, []);
        let server = activity.destination.map(|d| d.ip.to_string());
        let summary = format!("{who} searched {} ({}): {}", search.base, search.filter, new.join(", "));
        let finding = Finding {
            severity: if tools.is_empty() { META.base_severity } else { Severity::High },
            description: format!(
                "{source} ({who}) sent LDAP enumeration queries{} it never sent while learning, for {}{}.",
                server.as_ref().map(|s| format!(" to {s}")).unwrap_or_default(),
                kinds,
                match tools.len() {
                    0 => String::new(),
                    _ => format!(", with {}'s queries", tools.join(" and ")),
                },
            ),
            source: Finding::source_of(activity, search.user.clone()),
            targets: AlertTargets { computers: server.into_iter().collect(), ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

impl Detector for LdapRecon {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        if let ActivityKind::LdapSearched(search) = &activity.kind {
            self.searched(activity, search, context, alerts);
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
            let path = orthrus_testkit::fixture(&format!("{capture}.pcap"));
            for activity in orthrus_testkit::activities(&path) {
                engine.observe(&activity);
            }
        }
        engine
    }

    fn raised(engine: crate::Engine) -> Vec<orthrus_model::Alert> {
        engine.finish().into_iter().filter(|a| a.detection == META.id).collect()
    }

    fn after_learning() -> DetectionConfig {
        DetectionConfig::default()
            .with::<LdapRecon>(LdapReconConfig { learning_days: 0, ..Default::default() })
    }

    fn search(base: &str, scope: &str, filter: &str, attributes: &[&str]) -> LdapSearch {
        LdapSearch {
            base: base.into(),
            scope: scope.into(),
            filter: filter.into(),
            assertions: orthrus_model::LdapAssertion::from_text(filter),
            attributes: attributes.iter().map(|a| (*a).to_owned()).collect(),
            entries: 0,
            result: None,
            user: None,
            netlogon_opcode: None,
        }
    }

    #[test]
    fn classifies_enumerations_and_leaves_lookups_alone() {
        let root = "DC=corp,DC=example";
        let types = |base: &str, scope: &str, filter: &str, attributes: &[&str]| -> Vec<String> {
            enumeration_types(&search(base, scope, filter, attributes)).into_iter().collect()
        };
        assert_eq!(types(root, "sub", "(&(objectCategory=person)(objectClass=user))", &[]), ["all users"]);
        assert_eq!(types(root, "sub", "(&(objectClass=computer)(objectClass=user))", &[]), ["all computers"]);
        assert_eq!(
            types(root, "sub", "(&(samAccountType=805306368)(servicePrincipalName=*))", &[]),
            ["accounts with SPNs (Kerberoasting)", "all users"]
        );
        assert_eq!(
            types(
                root,
                "sub",
                "(memberOf:1.2.840.113556.1.4.1941:=CN=Domain Admins,CN=Users,DC=corp,DC=example)",
                &[]
            ),
            ["members of Domain Admins"]
        );
        assert_eq!(
            types(root, "sub", "(&(objectClass=group)(cn=Enterprise Admins))", &["member"]),
            ["members of Enterprise Admins"]
        );
        assert_eq!(
            types("CN=Domain Admins,CN=Users,DC=corp,DC=example", "base", "(objectClass=*)", &["member"]),
            ["members of Domain Admins"]
        );
        assert_eq!(types(root, "sub", "(objectClass=*)", &[]), ["every object"]);
        // Lookups and Group Policy reads.
        assert!(types(root, "sub", "(sAMAccountName=bob)", &["memberOf"]).is_empty());
        assert!(types(root, "sub", "(&(objectClass=group)(cn=IT Staff))", &["member"]).is_empty());
        assert!(types(root, "base", "(objectClass=*)", &["nTSecurityDescriptor"]).is_empty());
        assert!(types("CN=Policies,CN=System,DC=corp,DC=example", "sub", "(objectClass=*)", &[]).is_empty());
        assert!(
            types(root, "sub", "(servicePrincipalName=MSSQLSvc/sql01.corp.example:1433)", &[]).is_empty()
        );
    }

    #[test]
    fn names_tools_by_their_filters() {
        assert_eq!(tool_of("(&(objectClass=computer)(objectClass=user))"), Some("ldapdomaindump"));
        assert_eq!(
            tool_of(
                "(&(userAccountControl:1.2.840.113556.1.4.803:=4194304)(!(userAccountControl:1.2.840.113556.1.4.803:=2))(!(objectCategory=computer)))"
            ),
            Some("impacket GetNPUsers")
        );
        assert_eq!(tool_of("(objectClass=user)"), None);
    }

    #[test]
    fn silent_while_learning() {
        // The default: 15 days from the source's first search; the lab's recon is one session.
        assert!(raised(run(&["pcap/ldap_recon"], &DetectionConfig::default(), None)).is_empty());
    }

    #[test]
    fn fires_past_learning_on_the_labs_ldap_recon_and_not_on_learned_admin_lookups() {
        // Learning over the admin's lookups (10.99.0.20) and a first session of the attacker's
        // host (10.99.0.21) that only looked one account up.
        let engine = run(
            &["lab-extra/benign_directory_lookups", "lab-extra/honeytoken_ldap_query"],
            &DetectionConfig::default(),
            None,
        );
        let baseline = engine.baseline();
        assert!(raised(engine).is_empty());
        let file = std::env::temp_dir().join(format!("orthrus-ldap-baseline-{}.json", std::process::id()));
        baseline.save(&file).unwrap();
        let loaded = crate::Baseline::load(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        // Past learning: the admin again (silent), then bob's enumeration from 10.99.0.21.
        let alerts = raised(run(
            &["lab-extra/benign_directory_lookups", "pcap/ldap_recon"],
            &after_learning(),
            Some(&loaded),
        ));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\bob"));
        assert_eq!(alert.severity, Severity::High, "ldapdomaindump's filters");
        for kind in [
            "all users",
            "all groups",
            "all computers",
            "accounts with SPNs (Kerberoasting)",
            "accounts without Kerberos pre-authentication (AS-REP roasting)",
            "protected accounts (adminCount)",
            "members of Domain Admins",
            "domain trusts",
            "with ldapdomaindump's queries",
        ] {
            assert!(alert.description.contains(kind), "{kind}: {}", alert.description);
        }
    }

    #[test]
    fn learned_types_stay_silent_and_only_new_ones_are_named() {
        // 10.99.0.21's enumeration learned (a first session while learning), saved, loaded.
        let engine = run(&["pcap/ldap_recon"], &DetectionConfig::default(), None);
        let baseline = engine.baseline();
        assert!(raised(engine).is_empty());
        let state = baseline.detections[META.id].to_string();
        assert!(state.contains("members of Domain Admins") && state.contains("10.99.0.21"), "{state}");
        // Past learning the same enumeration is known; the attribute sweep adds two new types.
        assert!(raised(run(&["pcap/ldap_recon"], &after_learning(), Some(&baseline))).is_empty());
        let alerts = raised(run(&["lab-extra/ldap_attribute_recon"], &after_learning(), Some(&baseline)));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let description = &alerts[0].description;
        assert!(description.ends_with("for delegation, every object."), "{description}");
        assert_eq!(alerts[0].severity, Severity::Medium, "no tool's filter: {description}");
    }

    #[test]
    fn one_new_type_is_not_enough_unless_it_is_a_sensitive_group() {
        let mut config = after_learning();
        config.settings_mut::<LdapRecon>().min_new_types = 20;
        let alerts = raised(run(&["pcap/ldap_recon"], &config, None));
        assert_eq!(alerts.len(), 1, "Domain Admins' members (and ldapdomaindump) still alert: {alerts:#?}");
        assert!(alerts[0].description.contains("members of Domain Admins"), "{}", alerts[0].description);
    }

    #[test]
    fn excluded_and_benign_are_silent() {
        let mut config = after_learning();
        config.settings_mut::<LdapRecon>().exclude_actors = vec!["bob".into()];
        assert!(raised(run(&["pcap/ldap_recon"], &config, None)).is_empty());
        let mut config = after_learning();
        config.settings_mut::<LdapRecon>().exclude_sources = vec!["10.99.0.21".parse().unwrap()];
        assert!(raised(run(&["pcap/ldap_recon"], &config, None)).is_empty());
        // An admin's lookups of a colleague and a group, with no learning at all.
        assert!(raised(run(&["lab-extra/benign_directory_lookups"], &after_learning(), None)).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
