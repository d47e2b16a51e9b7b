//! ORT-EVT-020 — Kerberos delegation granted to an account.
//!
//! - Attack: an account trusted for delegation acts for the users who reach it. With
//!   unconstrained delegation the KDC hands it each visitor's TGT: coerce a DC into
//!   authenticating to it (the printer bug, PetitPotam) and it holds the DC's TGT. With
//!   protocol transition and constrained delegation it asks tickets as any user, without
//!   their password, to the services it lists. An attacker holding domain rights sets either
//!   on an account it controls and keeps a way back to domain admin that outlives the
//!   passwords it stole (the "delegation backdoor"); listing a DC's service (`ldap/`, `cifs/`,
//!   `host/` of a DC) hands over the DC.
//! - ATT&CK: T1098 (Account Manipulation), T1558 (Steal or Forge Kerberos Tickets). MDI has
//!   no alert (its posture assessment "Unsecure Kerberos delegation" reports the standing
//!   state, not the change); Orthrus extension.
//! - Data: events 4738/4742 (user/computer account changed; audit "User Account Management",
//!   "Computer Account Management") with the account-control value before and after in SAM
//!   form (MS-SAMR 2.2.1.12) and `AllowedToDelegateTo`; 4720/4741 (account created) with its
//!   value; 5136 (audit "Directory Service Changes") on `userAccountControl` (directory form,
//!   MS-ADTS 2.2.16) and `msDS-AllowedToDelegateTo`; Samba's audit of the same writes.
//! - Logic: unconstrained delegation or protocol transition newly set — against the value
//!   before the change: the event's own, the one the 5136 before it deleted, else the
//!   directory snapshot's; with none of them (Samba logs only the new value) a value carrying
//!   the flag counts — or services added to `msDS-AllowedToDelegateTo` (from 4738/4742, the
//!   services the snapshot does not list already), on an account that is not a domain
//!   controller's (DCs are trusted for delegation by design, read-only DCs for protocol
//!   transition). Medium; High when unconstrained delegation is given to a user account (no
//!   service a user account runs needs it) or a service listed is on a known DC. One alert
//!   per actor and quiet gap `window_secs` (config `[delegation_granted]`): Windows logs one
//!   change as 4742 and as 5136.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: administrators setting up delegation for a new server (IIS, SQL Server, file
//!   servers behind a front end) — rare, planned work; exclude the accounts that do it
//!   (`exclude_actors`).
//! - Evidence: actor, account, what was granted (the flag or the services), the computer that
//!   logged it.

use std::collections::{BTreeSet, HashMap};

use orthrus_directory::ObjectKind;
use orthrus_directory::ad::{rdn_value, uac};
use orthrus_model::{AccountChange, Activity, ActivityKind, AlertTargets, DirectoryChange, Severity};

use crate::EventRuleConfig;
use crate::names::{actor_in, actor_key, host_key, logged_on, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-020",
    title: "Kerberos delegation granted to an account",
    mdi: "none (Orthrus extension)",
    external_id: 9020,
    cef_app: "AccountManagement",
    tactic: "TA0003",
    techniques: &["T1098", "T1558"],
    data_sources: &[
        "events 4738/4742 (account changed: account-control flags, AllowedToDelegateTo)",
        "event 5136 on userAccountControl and msDS-AllowedToDelegateTo",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "delegation_granted",
    meaning: "An account was trusted for Kerberos delegation: unconstrained, with protocol transition, or to more services.",
    impact: "The account can act as the users who authenticate to it (unconstrained: it receives their TGTs) or as any user to the services it lists; to a DC's services, that is the domain.",
    actions: &[
        "Check the change against planned server work.",
        "If unexplained, remove the delegation, reset the account's password and investigate the actor.",
        "Mark administrators 'sensitive and cannot be delegated' or add them to Protected Users.",
    ],
};

/// Where the delegation flags sit in an account-control value, in the form an event gives.
#[derive(Clone, Copy)]
struct ControlBits {
    unconstrained: u32,
    protocol_transition: u32,
    domain_controller: u32,
}

/// 4720/4738/4741/4742's `OldUacValue`/`NewUacValue` (MS-SAMR 2.2.1.12): USER_TRUSTED_FOR_
/// DELEGATION, USER_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION; a DC is USER_SERVER_TRUST_ACCOUNT
/// or USER_PARTIAL_SECRETS_ACCOUNT (read-only).
const SAM_FORM: ControlBits = ControlBits {
    unconstrained: 0x2000,
    protocol_transition: 0x4_0000,
    domain_controller: 0x100 | 0x10_0000,
};

/// `userAccountControl` as 5136 and the directory give it (MS-ADTS 2.2.16).
const DIRECTORY_FORM: ControlBits = ControlBits {
    unconstrained: uac::TRUSTED_FOR_DELEGATION,
    protocol_transition: uac::TRUSTED_TO_AUTH_FOR_DELEGATION,
    domain_controller: uac::SERVER_TRUST_ACCOUNT | uac::PARTIAL_SECRETS_ACCOUNT,
};

impl ControlBits {
    /// The delegation `after` grants that `before` did not; none for a DC's account.
    fn granted(self, before: u32, after: u32) -> Vec<&'static str> {
        if after & self.domain_controller != 0 {
            return Vec::new();
        }
        let new = after & !before;
        let mut granted = Vec::new();
        if new & self.unconstrained != 0 {
            granted.push(UNCONSTRAINED);
        }
        if new & self.protocol_transition != 0 {
            granted.push(PROTOCOL_TRANSITION);
        }
        granted
    }
}

const UNCONSTRAINED: &str = "unconstrained delegation";
const PROTOCOL_TRANSITION: &str = "protocol transition (any user, no ticket needed)";

/// `userAccountControl` values 5136 deleted, remembered at most: Windows logs the deletion of
/// the old value just before the addition of the new one, so one is enough per change.
const MAX_DELETED_VALUES: usize = 4096;

/// Actors whose reasons for High are remembered at most; beyond, they are forgotten at once
/// (an open incident then stays at the severity it was raised with until it grants again).
const MAX_ACTORS: usize = 4096;

/// Between an account and what it was granted in an incident's names.
const GRANTED: &str = ": ";

/// An incident's grants by account: `A$: unconstrained delegation, constrained delegation to
/// cifs/X, cifs/x.corp; b: protocol transition (…)`, at most eight services per account.
fn grouped<'a>(lines: impl Iterator<Item = &'a String>) -> String {
    let mut by_account: std::collections::BTreeMap<&str, (Vec<&str>, Vec<String>)> = Default::default();
    for line in lines {
        let (account, what) = line.split_once(GRANTED).unwrap_or((line, ""));
        let (flags, services) = by_account.entry(account).or_default();
        if [UNCONSTRAINED, PROTOCOL_TRANSITION].contains(&what) {
            flags.push(what);
        } else {
            services.push(what.to_owned());
        }
    }
    let accounts = by_account.iter().map(|(account, (flags, services))| {
        let mut parts: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
        if !services.is_empty() {
            parts.push(format!("constrained delegation to {}", name_list(services.iter(), 8)));
        }
        format!("{account}{GRANTED}{}", parts.join(", "))
    });
    accounts.collect::<Vec<_>>().join("; ")
}

/// The account a change is about, as this detection names and judges it.
struct Account {
    /// `SQL01$`, `svc_web`.
    name: String,
    /// `Some(true)` a computer, `Some(false)` a user, `None` not known (Samba names no class).
    computer: Option<bool>,
}

/// What one change granted.
struct Grant {
    account: Account,
    what: Vec<String>,
}

impl Detection for DelegationGranted {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        DelegationGranted {
            incidents: Incidents::new(settings.window_secs),
            high_reasons: HashMap::new(),
            deleted_control: HashMap::new(),
            config: settings.clone(),
        }
    }
}

pub struct DelegationGranted {
    config: EventRuleConfig,
    incidents: Incidents<String>,
    /// Why each actor's incident is High, with the incident's number.
    high_reasons: HashMap<String, (u32, BTreeSet<String>)>,
    /// The `userAccountControl` value the last 5136 deleted, by object DN (lower case).
    deleted_control: HashMap<String, u32>,
}

impl Detector for DelegationGranted {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let (subject, grant) = match &activity.kind {
            ActivityKind::AccountChanged(change) => (&change.subject, account_grant(change, context)),
            ActivityKind::DirectoryObjectChanged(change) => {
                (&change.subject, self.directory_grant(change, context))
            }
            _ => return,
        };
        let Some(grant) = grant else { return };
        if self.config.excludes_actor(subject) {
            return;
        }
        let actor = actor_in(subject, context.directory());
        let key = actor_key(subject);
        let mut high = BTreeSet::new();
        if grant.account.computer == Some(false) && grant.what.iter().any(|w| w == UNCONSTRAINED) {
            high.insert(format!("unconstrained delegation on the user account {}", grant.account.name));
        }
        for service in &grant.what {
            let host = service.split('/').nth(1).map(|h| h.split(':').next().unwrap_or(h));
            if let Some(host) = host.filter(|h| context.dcs().contains(h)) {
                high.insert(format!(
                    "delegation to {service} on the domain controller {}",
                    host_key(host).to_uppercase()
                ));
            }
        }
        let granted: Vec<String> =
            grant.what.iter().map(|what| format!("{}{GRANTED}{what}", grant.account.name)).collect();
        let all = self.incidents.named(&key, activity.time, granted.iter().cloned());
        let summary = format!("{actor} granted {}", grouped(granted.iter()));
        let incident = self.incidents.record(&key, activity, summary);
        if self.high_reasons.len() >= MAX_ACTORS && !self.high_reasons.contains_key(&key) {
            self.high_reasons.clear();
        }
        let reasons = self.high_reasons.entry(key.clone()).or_default();
        if reasons.0 != incident.number {
            *reasons = (incident.number, BTreeSet::new());
        }
        reasons.1.extend(high);
        let mut targets = AlertTargets::default();
        for line in &all {
            let account = line.split(GRANTED).next().unwrap_or(line);
            match account.strip_suffix('$') {
                Some(computer) => targets.computers.insert(computer.to_owned()),
                None => targets.accounts.insert(account.to_owned()),
            };
        }
        let one = targets.accounts.len() + targets.computers.len() == 1;
        let finding = Finding {
            severity: if reasons.1.is_empty() { META.base_severity } else { Severity::High },
            description: format!(
                "{actor} granted Kerberos delegation on {}: {}. {} can act as the users who authenticate to {}{}.",
                logged_on(activity),
                grouped(all.iter()),
                if one { "The account" } else { "The accounts" },
                if one { "it" } else { "them" },
                if reasons.1.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", name_list(reasons.1.iter(), 4))
                },
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets,
        };
        alerts.raise(activity, &key, incident, finding);
    }
}

impl DelegationGranted {
    /// A 5136 (or Samba's audit of it) on `userAccountControl` or `msDS-AllowedToDelegateTo`.
    fn directory_grant(&mut self, change: &DirectoryChange, context: &Context) -> Option<Grant> {
        let attribute = change.attribute.as_deref()?;
        let value = change.value.as_deref().map(str::trim).unwrap_or_default();
        let dn = change.dn.to_lowercase();
        // The value written, when it is an account-control value.
        let mut written = None;
        let what = if attribute.eq_ignore_ascii_case("userAccountControl") {
            let control: u32 = value.parse().ok()?;
            written = Some(control);
            if change.value_added == Some(false) {
                if self.deleted_control.len() >= MAX_DELETED_VALUES {
                    self.deleted_control.clear();
                }
                self.deleted_control.insert(dn, control);
                return None;
            }
            let before = self.deleted_control.remove(&dn).or_else(|| {
                let directory = context.directory();
                directory.find(&change.dn).map(|found| found.object.uac())
            });
            DIRECTORY_FORM.granted(before.unwrap_or(0), control).into_iter().map(str::to_owned).collect()
        } else if attribute.eq_ignore_ascii_case("msDS-AllowedToDelegateTo")
            && change.value_added != Some(false)
        {
            vec![value.to_owned()]
        } else {
            return None;
        };
        if what.is_empty() || what.iter().any(String::is_empty) {
            return None;
        }
        let directory = context.directory();
        let found = directory.find(&change.dn);
        let class_computer = change.class.as_deref().map(|c| c.eq_ignore_ascii_case("computer"));
        let computer = found
            .as_ref()
            .and_then(|f| f.object.kind)
            .map(|k| k == ObjectKind::Computer)
            .or(class_computer)
            .or_else(|| written.and_then(account_type));
        let mut name = found
            .as_ref()
            .and_then(|f| f.object.sam_account_name.clone())
            .unwrap_or_else(|| rdn_value(&change.dn).to_owned());
        if computer == Some(true) && !name.ends_with('$') {
            name.push('$');
        }
        Some(Grant { account: Account { name, computer }, what })
    }
}

/// Whether a `userAccountControl` value is a computer's (WORKSTATION_TRUST_ACCOUNT) or a
/// user's (NORMAL_ACCOUNT): every account's value carries its type.
fn account_type(control: u32) -> Option<bool> {
    match (control & uac::WORKSTATION_TRUST_ACCOUNT != 0, control & uac::NORMAL_ACCOUNT != 0) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// A 4720/4738/4741/4742: the flags it newly sets and the services it lists.
fn account_grant(change: &AccountChange, context: &Context) -> Option<Grant> {
    let control = |field: &str| {
        change
            .changes
            .get(field)
            .and_then(|v| u32::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
    };
    let mut what: Vec<String> = match control("NewUacValue") {
        Some(after) => SAM_FORM
            .granted(control("OldUacValue").unwrap_or(0), after)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    if let Some(services) = change.changes.get("AllowedToDelegateTo").filter(|v| v.trim() != "-") {
        let directory = context.directory();
        let known: BTreeSet<String> = [change.target.sid.as_deref(), Some(change.target.name.as_str())]
            .into_iter()
            .flatten()
            .find_map(|name| directory.find(name))
            .map(|found| found.object.allowed_to_delegate_to.iter().map(|s| s.to_lowercase()).collect())
            .unwrap_or_default();
        what.extend(
            services.split_whitespace().filter(|s| !known.contains(&s.to_lowercase())).map(str::to_owned),
        );
    }
    if what.is_empty() {
        return None;
    }
    let account = Account { name: change.target.name.clone(), computer: Some(change.computer) };
    Some(Grant { account, what })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_audit_alerts, with_lab_directory, with_recording_directory};
    use crate::testing::logs::{assert_silent, corpus_alerts};

    const MANIPULATION: &str = "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation";

    fn unconstrained() -> String {
        format!(
            "{MANIPULATION}/ID4742,5136-Enable Trust this computer for delegation (to any service, Kerberos only).evtx"
        )
    }

    fn constrained() -> String {
        format!(
            "{MANIPULATION}/ID4742,5136-Enable Trust this computer for delegation (to specified service, Kerberos only).evtx"
        )
    }

    #[test]
    fn fires_on_unconstrained_delegation_given_to_a_computer() {
        // One change, logged as a 4742 (SAM flags 0x84 → 0x2084) and a 5136 pair (4128 → 528416).
        let alerts = corpus_alerts(&[&unconstrained()], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::Medium, "a computer account");
        assert_eq!(alert.targets.computers, BTreeSet::from(["MYTARGET-PC".to_owned()]));
        assert!(
            alert.description.starts_with(
                "OFFSEC\\admmig granted Kerberos delegation on rootdc1.offsec.lan: MYTARGET-PC$: unconstrained delegation."
            ),
            "{}",
            alert.description
        );
        assert_eq!(alert.count, 2, "the 4742 and the 5136 that added the value");
    }

    #[test]
    fn fires_on_services_added_for_constrained_delegation_and_is_high_for_a_dcs() {
        let alerts = corpus_alerts(&[&constrained()], META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert!(
            alerts[0].description.contains(
                "MYTARGET-PC$: constrained delegation to cifs/ATACORE01, cifs/atacore01.offsec.lan, cisvc/ATACORE01,"
            ),
            "{}",
            alerts[0].description
        );
        // The same services, on a computer the deployment says is a DC.
        let config =
            DetectionConfig { domain_controllers: vec!["ATACORE01".into()], ..DetectionConfig::default() };
        let alerts = corpus_alerts(&[&constrained()], META.id, &config);
        assert_eq!(alerts[0].severity, Severity::High);
        assert!(
            alerts[0].description.contains("delegation to cifs/ATACORE01 on the domain controller ATACORE01"),
            "{}",
            alerts[0].description
        );
    }

    #[test]
    fn silent_on_other_account_changes_dcs_and_the_excluded() {
        for file in [
            // SPNs on a computer, RBCD (ORT-EVT-005's), and account flags that are not delegation.
            format!("{MANIPULATION}/ID4742-SPN set on computer account (DCshadow).evtx"),
            format!("{MANIPULATION}/ID5136-Computer account set for RBCD delegation.evtx"),
            format!("{MANIPULATION}/ID4738-Account with password not required.evtx"),
            format!("{MANIPULATION}/ID4738-Do not require Kerberos preauthentication.evtx"),
            format!("{MANIPULATION}/ID4738-Password never expires.evtx"),
            format!("{MANIPULATION}/ID4738-User set with reversible psw encryption.evtx"),
            format!("{MANIPULATION}/ID4738,5136-SPN set on user account.evtx"),
        ] {
            assert!(corpus_alerts(&[&file], META.id, &DetectionConfig::default()).is_empty(), "{file}");
        }
        let mut config = DetectionConfig::default();
        config.settings_mut::<DelegationGranted>().exclude_actors = vec!["admmig".into()];
        assert!(corpus_alerts(&[&unconstrained(), &constrained()], META.id, &config).is_empty());
        assert_silent(META.id);
    }

    #[test]
    fn fires_on_the_lab_delegation_backdoor_from_sambas_log() {
        // da_admin's stolen password at 10.99.0.21: SQL01 trusted for unconstrained delegation,
        // svc_web given protocol transition and ldap/ on the DC (samba-tool delegation). The
        // directory says which computer is the DC.
        let alerts = extra_audit_alerts(
            "delegation_backdoor",
            META.id,
            &with_lab_directory(DetectionConfig::default()),
        );
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.targets.computers, BTreeSet::from(["SQL01".to_owned()]));
        assert_eq!(alert.targets.accounts, BTreeSet::from(["svc_web".to_owned()]));
        assert_eq!(alert.severity, Severity::High, "{}", alert.description);
        assert_eq!(
            alert.description,
            "LAB\\da_admin granted Kerberos delegation on DC1: SQL01$: unconstrained delegation; svc_web: protocol \
             transition (any user, no ticket needed), constrained delegation to ldap/dc1.lab.test. The accounts can act \
             as the users who authenticate to them — delegation to ldap/dc1.lab.test on the domain controller DC1."
        );
        // Without it, the same grants, Medium; the names still right from the values' account types.
        let alerts = extra_audit_alerts("delegation_backdoor", META.id, &DetectionConfig::default());
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert_eq!(alerts[0].targets.computers, BTreeSet::from(["SQL01".to_owned()]));
        assert_eq!(alerts[0].targets.accounts, BTreeSet::from(["svc_web".to_owned()]));
    }

    #[test]
    fn an_account_trusted_all_along_is_silent_when_the_directory_says_so() {
        // WEB01 was trusted for delegation before the recording; da_admin enables and disables
        // its account. Samba logs only the new value: the directory tells the flag is not new.
        let config = with_recording_directory("benign_delegation_toggle", DetectionConfig::default());
        assert!(extra_audit_alerts("benign_delegation_toggle", META.id, &config).is_empty());
        let without = extra_audit_alerts("benign_delegation_toggle", META.id, &DetectionConfig::default());
        assert_eq!(without.len(), 1, "with no value before the change, the flag counts: {without:#?}");
        assert_eq!(without[0].targets.computers, BTreeSet::from(["WEB01".to_owned()]));
        // Nor do other directory writes in the lab's recordings.
        for name in
            ["targeted_kerberoast", "benign_service_spn", "dnshostname_spoofing", "benign_computer_rename"]
        {
            assert!(extra_audit_alerts(name, META.id, &DetectionConfig::default()).is_empty(), "{name}");
        }
    }

    #[test]
    fn only_flags_newly_set_on_accounts_that_are_not_dcs_count() {
        assert_eq!(SAM_FORM.granted(0x84, 0x2084), [UNCONSTRAINED]);
        assert!(SAM_FORM.granted(0x2084, 0x2085).is_empty(), "already trusted; the account was disabled");
        assert!(SAM_FORM.granted(0x80, 0x2100).is_empty(), "a DC being promoted");
        assert_eq!(DIRECTORY_FORM.granted(0x1000, 0x0100_1000), [PROTOCOL_TRANSITION]);
        assert!(DIRECTORY_FORM.granted(0x1000, 0x0508_1000).is_empty(), "a read-only DC");
        assert!(DIRECTORY_FORM.granted(0, 0x8_2000).is_empty(), "a writable DC");
    }
}
