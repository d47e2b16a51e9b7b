//! ORT-EVT-017 — Possible takeover of the Entra seamless SSO account (AZUREADSSOACC).
//!
//! - Attack: Microsoft Entra seamless single sign-on puts a computer account, `AZUREADSSOACC`,
//!   in each synchronised forest; Entra ID decrypts the Kerberos service tickets users get for
//!   it with its key, and trusts what they say. Whoever holds that key forges tickets for any
//!   synchronised user and signs in to the cloud as them (silver ticket to Entra ID); whoever
//!   can write the account can get the key or tickets for it — by resetting its password,
//!   giving it resource-based constrained delegation from an account they hold, adding an SPN,
//!   a key credential (shadow credentials) or delegation, or loosening its security descriptor.
//! - ATT&CK: T1098 (Account Manipulation), T1558 (Steal or Forge Kerberos Tickets). MDI:
//!   Possible takeover of a Microsoft Entra seamless SSO account (preview; no external id).
//! - Data: 5136 on the account's object (`msDS-AllowedToActOnBehalfOfOtherIdentity`,
//!   `servicePrincipalName`, `msDS-KeyCredentialLink`, `msDS-AllowedToDelegateTo`,
//!   `userAccountControl`, `nTSecurityDescriptor`, `altSecurityIdentities`); 4742 naming it
//!   with SPNs, delegation or account-control values; 4723/4724 on it (password changed,
//!   reset); Samba's audit of the same writes and password sets.
//! - Logic: one of those attribute writes → High. A password reset or change → Medium, unless
//!   the directory says the actor is an administrator (the documented key rollover,
//!   `Update-AzureADSSOForest`, run every 30 days, is a Domain Admin resetting it). Entra
//!   Connect's own account (`MSOL_…`) is never alerted on. One alert per actor and quiet gap
//!   `window_secs` (config `[azureadssoacc]`).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: the key rollover by a Domain Admin (silent when a directory snapshot names the
//!   actor's admin rights; otherwise a Medium alert naming the rollover); turning seamless SSO
//!   off and on again recreates the account (a creation is not judged).
//! - Gaps: without a directory snapshot every password reset alerts; a rename of another
//!   computer to AZUREADSSOACC is ORT-EVT-019's (account named like another).
//! - Evidence: actor, what was written, the record.

use orthrus_directory::ad::{rdn_value, uac};
use orthrus_model::{
    AccountAction, AccountChange, AccountRef, Activity, ActivityKind, AlertTargets, DirectoryChange,
    DirectoryOperation, Severity,
};

use crate::EventRuleConfig;
use crate::names::{actor_in, bare_account, is_entra_sync_account, logged_on};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-017",
    title: "Possible takeover of the Entra seamless SSO account",
    mdi: "Possible takeover of a Microsoft Entra seamless SSO account (preview)",
    external_id: 9017,
    cef_app: "AccountManagement",
    tactic: "TA0006",
    techniques: &["T1098", "T1558"],
    data_sources: &[
        "event 5136 on AZUREADSSOACC (delegation, SPN, key credential, descriptor); 4742; 4723/4724",
        "Samba's audit of the same writes and password sets",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "azureadssoacc",
    meaning: "The computer account Entra ID's seamless single sign-on trusts (AZUREADSSOACC) was given a way for someone to obtain its key or tickets for it.",
    impact: "Its key lets an attacker forge Kerberos tickets Entra ID accepts for any synchronised user, and sign in to the cloud as them.",
    actions: &[
        "Check whether the change was the documented key rollover (Update-AzureADSSOForest) or Entra Connect setup.",
        "If not, undo the change and roll the account's key twice (Update-AzureADSSOForest), then review cloud sign-ins made with seamless SSO since.",
        "Investigate the actor's account and the computer it acted from.",
    ],
};

/// The account seamless SSO creates, without its `$`.
const ACCOUNT: &str = "AZUREADSSOACC";

/// Attributes whose write hands the account, its key or tickets for it to someone
/// (`userAccountControl` only with [`TAKEOVER_FLAGS`]: a password set also enables the
/// account, which writes it).
const TAKEOVER_ATTRIBUTES: &[&str] = &[
    "msDS-AllowedToActOnBehalfOfOtherIdentity",
    "servicePrincipalName",
    "msDS-KeyCredentialLink",
    "msDS-AllowedToDelegateTo",
    "userAccountControl",
    "nTSecurityDescriptor",
    "altSecurityIdentities",
];

/// Account-control flags that hand out tickets for the account or its key: delegation
/// (unconstrained, protocol transition) and no pre-authentication (AS-REP roasting).
const TAKEOVER_FLAGS: u32 =
    uac::TRUSTED_FOR_DELEGATION | uac::TRUSTED_TO_AUTH_FOR_DELEGATION | uac::DONT_REQUIRE_PREAUTH;

/// What 4742 reports changed on a computer that matters here (`NewUacValue` only with
/// [`TAKEOVER_FLAGS`]).
const TAKEOVER_CHANGES: &[&str] = &["ServicePrincipalNames", "AllowedToDelegateTo", "NewUacValue"];

impl Detection for SeamlessSsoTakeover {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        SeamlessSsoTakeover { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct SeamlessSsoTakeover {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

/// What was done to the account.
enum Change {
    /// An attribute that hands it over written.
    Takeover(String),
    PasswordSet(&'static str),
}

impl Detector for SeamlessSsoTakeover {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let (subject, change) = match &activity.kind {
            ActivityKind::AccountChanged(change) => match from_account_event(change) {
                Some(found) => (&change.subject, found),
                None => return,
            },
            ActivityKind::DirectoryObjectChanged(change) => match from_directory_change(change) {
                Some(found) => (&change.subject, found),
                None => return,
            },
            _ => return,
        };
        if is_entra_sync_account(&subject.name) || self.config.excludes_actor(subject) {
            return;
        }
        let directory = context.directory();
        let actor = actor_in(subject, directory);
        let (severity, what) = match change {
            Change::Takeover(what) => (Severity::High, what),
            // The documented key rollover is a Domain Admin's reset.
            Change::PasswordSet(_) if is_administrator(subject, context) => return,
            Change::PasswordSet(what) => (
                Severity::Medium,
                format!("{what} (the documented key rollover, Update-AzureADSSOForest, is a Domain Admin's)"),
            ),
        };
        let finding = Finding {
            severity,
            description: format!(
                "{actor} {what} of {ACCOUNT}$, the account Entra ID's seamless single sign-on trusts, on {}.",
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some(actor.clone())),
            targets: AlertTargets { computers: [format!("{ACCOUNT}$")].into(), ..AlertTargets::default() },
        };
        let key = actor.to_lowercase();
        let incident = self.incidents.record(&key, activity, format!("{actor} {what}"));
        alerts.raise(activity, &key, incident, finding);
    }
}

fn is_seamless_sso_account(name: &str) -> bool {
    bare_account(name).trim_end_matches('$').eq_ignore_ascii_case(ACCOUNT)
}

/// 4742 with what hands the account over; 4723/4724 on it.
fn from_account_event(change: &AccountChange) -> Option<Change> {
    if !is_seamless_sso_account(&change.target.name) {
        return None;
    }
    match change.action {
        AccountAction::PasswordReset => Some(Change::PasswordSet("reset the password")),
        AccountAction::PasswordChanged => Some(Change::PasswordSet("changed the password")),
        AccountAction::Changed => {
            let written: Vec<String> = TAKEOVER_CHANGES
                .iter()
                .filter_map(|field| change.changes.get(*field).map(|value| (*field, value)))
                .filter(|(field, value)| *field != "NewUacValue" || has_takeover_flags(value))
                .map(|(field, value)| format!("{field} {value}"))
                .collect();
            (!written.is_empty()).then(|| Change::Takeover(format!("set {}", written.join(", "))))
        }
        _ => None,
    }
}

/// 5136 of one of [`TAKEOVER_ATTRIBUTES`] (a value added) on the account's object.
fn from_directory_change(change: &DirectoryChange) -> Option<Change> {
    let attribute = change.attribute.as_deref()?;
    let takeover = TAKEOVER_ATTRIBUTES.iter().find(|a| a.eq_ignore_ascii_case(attribute))?;
    let written = change.operation == DirectoryOperation::Modified && change.value_added != Some(false);
    let flags = !takeover.eq_ignore_ascii_case("userAccountControl")
        || change.value.as_deref().is_some_and(has_takeover_flags);
    (written && flags && is_seamless_sso_account(rdn_value(&change.dn)))
        .then(|| Change::Takeover(format!("wrote {takeover}")))
}

/// An account-control value (decimal, or `0x` hex as 4742 writes it) with [`TAKEOVER_FLAGS`].
fn has_takeover_flags(value: &str) -> bool {
    let value = value.trim();
    let parsed = match value.strip_prefix("0x").or_else(|| value.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => value.parse::<u32>().ok(),
    };
    parsed.is_some_and(|flags| flags & TAKEOVER_FLAGS != 0)
}

/// Whether the directory makes the actor an administrator (sensitive: Domain Admins and the
/// like); `false` without a snapshot naming it.
fn is_administrator(subject: &AccountRef, context: &Context) -> bool {
    let directory = context.directory();
    match subject.sid.as_deref().filter(|sid| directory.find(sid).is_some()) {
        Some(sid) => directory.is_sensitive(sid),
        None => directory.is_sensitive(&subject.name),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{alerts_of, extra_audit_alerts, with_recording_directory};
    use crate::testing::logs::{assert_silent, event_activities};

    fn audit(name: &str) -> Vec<Activity> {
        event_activities(&orthrus_testkit::fixture(&format!("lab-extra/{name}.audit.jsonl")))
    }

    #[test]
    fn fires_on_full_control_granted_on_the_account() {
        // da_admin's password used from 10.99.0.21: bob gets full control of AZUREADSSOACC$.
        let alerts = extra_audit_alerts("azureadssoacc_full_control", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(
            alert.description.starts_with("LAB\\da_admin wrote nTSecurityDescriptor of AZUREADSSOACC$"),
            "{}",
            alert.description
        );
        assert!(alert.targets.computers.contains("AZUREADSSOACC$"), "{:?}", alert.targets);
        // The same writes by Entra Connect's own account are its work.
        let mut by_sync = audit("azureadssoacc_full_control");
        for activity in &mut by_sync {
            if let ActivityKind::DirectoryObjectChanged(change) = &mut activity.kind {
                change.subject =
                    AccountRef { name: "MSOL_0a1b2c3d4e5f".into(), domain: Some("LAB".into()), sid: None };
            }
        }
        assert!(alerts_of(by_sync, META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn a_password_reset_by_a_non_administrator_is_medium() {
        let config = with_recording_directory("azureadssoacc_password_reset", DetectionConfig::default());
        let alerts = extra_audit_alerts("azureadssoacc_password_reset", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert!(
            alerts[0].description.starts_with("LAB\\bob reset the password"),
            "{}",
            alerts[0].description
        );
    }

    #[test]
    fn the_key_rollover_by_a_domain_admin_is_silent_when_the_directory_says_so() {
        let config = with_recording_directory("benign_azureadssoacc_rollover", DetectionConfig::default());
        assert!(extra_audit_alerts("benign_azureadssoacc_rollover", META.id, &config).is_empty());
        // Without a directory, who reset it cannot be told from an administrator: Medium.
        let blind = extra_audit_alerts("benign_azureadssoacc_rollover", META.id, &DetectionConfig::default());
        assert_eq!(blind.len(), 1, "{blind:#?}");
        assert_eq!(blind[0].severity, Severity::Medium);
        assert!(blind[0].description.contains("Update-AzureADSSOForest"), "{}", blind[0].description);
    }

    #[test]
    fn only_delegation_and_preauth_flags_hand_the_account_over() {
        // Trusted for delegation (with WORKSTATION_TRUST_ACCOUNT), decimal as 5136 writes it.
        assert!(has_takeover_flags("528384"));
        // Protocol transition, hex as 4742's NewUacValue writes it.
        assert!(has_takeover_flags("0x1001000"));
        // An ordinary computer account, enabled or disabled (a password set writes these).
        assert!(!has_takeover_flags("4096"));
        assert!(!has_takeover_flags("0x1002"));
        assert!(!has_takeover_flags("-"));
    }

    #[test]
    fn silent_on_other_accounts_changes_and_benign_logs() {
        for name in
            ["delegation_backdoor", "benign_delegation_toggle", "esx_admins_group", "benign_computer_rename"]
        {
            assert!(extra_audit_alerts(name, META.id, &DetectionConfig::default()).is_empty(), "{name}");
        }
        assert_silent(META.id);
    }
}
