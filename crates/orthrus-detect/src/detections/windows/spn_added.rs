//! ORT-EVT-015 — Suspicious SPN added to a sensitive user (targeted Kerberoasting).
//!
//! - Attack: whoever may write a user's `servicePrincipalName` (GenericWrite, or WriteProperty
//!   on that attribute: an ACL path BloodHound lists) gives the user an SPN, asks a service
//!   ticket for it and cracks the part encrypted with the user's password offline, as
//!   Kerberoasting does with real service accounts — then removes the SPN
//!   (targetedKerberoast.py, PowerView's `Set-DomainObject`). Aimed at an administrator, it
//!   yields an administrator's password.
//! - ATT&CK: T1558.003 (Kerberoasting), T1098 (Account Manipulation). MDI: Suspicious SPN was
//!   added to a user (preview, no external id).
//! - Data: 5136 (audit "Directory Service Changes") on `servicePrincipalName` of a user
//!   account, value added, with the writer, and Samba's audit of the same write; then service
//!   tickets requested (4769, or a TGS exchange on the wire) for the SPN added or for the
//!   user's account name (impacket asks by account name). Computers are left out: they carry
//!   SPNs of their own (4742's `ServicePrincipalNames` is theirs).
//! - Logic: the user is sensitive — privileged by the directory (its groups, adminCount) or
//!   tagged sensitive in the config — or a honeytoken. Medium on the write; High once a
//!   service ticket for the SPN or the user is asked within `window_secs` of it, which is
//!   the roast. One alert per user and quiet gap `window_secs` (config `[spn_added]`).
//! - Thresholds: `window_secs = 3600`: a roast follows its SPN within seconds; an hour leaves
//!   room for an operator working by hand.
//! - Benign: administrators registering SPNs on service accounts that are privileged
//!   themselves (a posture finding of its own); exclude those administrators
//!   (`exclude_actors`).
//! - Gaps: without the directory or a honeytoken list no user is known to be sensitive and
//!   the detection is silent. 4738 does not name the SPNs it changed.
//! - Evidence: writer, user, SPN, the ticket requests that followed.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use orthrus_directory::ObjectKind;
use orthrus_directory::ad::rdn_value;
use orthrus_model::{
    Activity, ActivityKind, AlertSource, AlertTargets, DirectoryChange, KerberosExchange, Severity, Timestamp,
};

use crate::EventRuleConfig;
use crate::names::{account_key, actor_in, bare_account, logged_on, name_list};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-015",
    title: "Suspicious SPN added to a sensitive user (targeted Kerberoasting)",
    mdi: "Suspicious SPN was added to a user (preview)",
    external_id: 9015,
    cef_app: "DirectoryChangeEvent",
    tactic: "TA0006",
    techniques: &["T1558.003", "T1098"],
    data_sources: &[
        "event 5136 on servicePrincipalName of a user",
        "service tickets asked for it (4769, Kerberos TGS exchanges)",
    ],
    base_severity: Severity::Medium,
    // Every target is sensitive by definition: the severity says whether the roast followed.
    escalates_for_sensitive: false,
    config_section: "spn_added",
    meaning: "A service principal name was added to a privileged user or a honeytoken, which makes its password crackable from a service ticket (targeted Kerberoasting).",
    impact: "Whoever asks a ticket for the SPN can crack the user's password offline; an administrator's password gives the domain.",
    actions: &[
        "Remove the SPN unless the change was planned, and reset the user's password to a long random one.",
        "Find out how the writer could write the user's servicePrincipalName (GenericWrite, WriteProperty) and remove that right.",
        "Look for service tickets asked for the user since the change.",
    ],
};

/// SPNs added and not yet roasted, remembered at most; beyond, the oldest are dropped (each
/// is one sensitive user written: a handful a year in a healthy domain).
const MAX_PENDING: usize = 1024;

/// An SPN added to a sensitive user, until its window closes.
#[derive(Clone)]
struct Added {
    /// The alert's key: the user, lower case.
    key: String,
    user: String,
    spn: String,
    writer: String,
    why: String,
    time: Timestamp,
    logged_on: String,
    /// Where the write came from (Samba's audit gives it; a 5136 does not).
    source: Option<IpAddr>,
}

impl Detection for SpnAdded {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        SpnAdded {
            incidents: Incidents::new(settings.window_secs),
            pending: HashMap::new(),
            config: settings.clone(),
        }
    }
}

pub struct SpnAdded {
    config: EventRuleConfig,
    incidents: Incidents<String>,
    /// By lower-case SPN and by lower-case account name: what a ticket request names.
    pending: HashMap<String, Added>,
}

impl Detector for SpnAdded {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        match &activity.kind {
            ActivityKind::DirectoryObjectChanged(change) => {
                self.spn_written(activity, change, context, alerts)
            }
            ActivityKind::ServiceTicketRequested(exchange) => self.ticket_asked(activity, exchange, alerts),
            _ => {}
        }
    }
}

impl SpnAdded {
    fn spn_written(
        &mut self,
        activity: &Activity,
        change: &DirectoryChange,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        let spn_added =
            change.attribute.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("servicePrincipalName"))
                && change.value_added != Some(false);
        let spn = change.value.as_deref().map(str::trim).unwrap_or_default();
        if !spn_added
            || spn.is_empty()
            || change.class.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case("user"))
        {
            return;
        }
        let Some((user, why)) = sensitive_user(context, &change.dn) else { return };
        if self.config.excludes_actor(&change.subject) {
            return;
        }
        let writer = actor_in(&change.subject, context.directory());
        let added = Added {
            key: account_key(&user),
            user,
            spn: spn.to_owned(),
            writer,
            why,
            time: activity.time,
            logged_on: logged_on(activity).to_owned(),
            source: activity.source_ip(),
        };
        let summary = format!("{} added the SPN {} to {}", added.writer, added.spn, added.user);
        let spns = self.incidents.named(&added.key, activity.time, [added.spn.clone()]);
        let finding = finding(&added, &spns, None);
        let incident = self.incidents.record(&added.key, activity, summary);
        alerts.raise(activity, &added.key, incident, finding);
        self.remember(added);
    }

    fn remember(&mut self, added: Added) {
        if self.pending.len() >= MAX_PENDING {
            let oldest = self.pending.values().map(|a| a.time).min();
            self.pending.retain(|_, a| Some(a.time) != oldest);
        }
        self.pending.insert(added.spn.to_lowercase(), added.clone());
        self.pending.insert(added.key.clone(), added);
    }

    fn ticket_asked(&mut self, activity: &Activity, exchange: &KerberosExchange, alerts: &mut Alerts<'_>) {
        if self.pending.is_empty() {
            return;
        }
        let Some(service) = exchange.service() else { return };
        // `HTTP/x@REALM`, `LAB\da_admin` (impacket's NT-MS-PRINCIPAL form), `da_admin`.
        let service = service.split('@').next().unwrap_or(service);
        let asked =
            if service.contains('/') { service.to_lowercase() } else { account_key(bare_account(service)) };
        let Some(added) = self.pending.get(&asked).cloned() else { return };
        let window = i64::try_from(self.config.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let elapsed = activity.time.as_micros().saturating_sub(added.time.as_micros());
        if !(0..=window).contains(&elapsed) {
            self.pending.retain(|_, a| a.key != added.key);
            return;
        }
        let client = exchange.client().unwrap_or("an unnamed client").to_owned();
        let from = activity.source.map(|s| format!(" from {}", s.ip)).unwrap_or_default();
        let summary = format!("{client}{from} asked a service ticket for {service} ({})", added.user);
        let spns = self.incidents.named(&added.key, activity.time, []);
        let finding = finding(&added, &spns, Some(&client));
        let incident = self.incidents.record(&added.key, activity, summary);
        alerts.raise(activity, &added.key, incident, finding);
    }
}

/// The alert as it stands: the write, and the roast when a ticket was asked (by `client`).
fn finding(added: &Added, spns: &BTreeSet<String>, client: Option<&str>) -> Finding {
    let roast = client
        .map(|c| {
            format!(
                " {c} then asked a service ticket for it: the user's password can now be cracked offline."
            )
        })
        .unwrap_or_default();
    Finding {
        severity: if client.is_some() { Severity::High } else { META.base_severity },
        description: format!(
            "{} added the SPN{} {} to {} ({}) on {}.{roast}",
            added.writer,
            if spns.len() == 1 { "" } else { "s" },
            name_list(spns.iter(), 5),
            added.user,
            added.why,
            added.logged_on
        ),
        // The writer stays the source; who asked the ticket is in the evidence.
        source: AlertSource {
            ip: added.source,
            account: Some(added.writer.clone()),
            ..AlertSource::default()
        },
        targets: AlertTargets { accounts: [added.user.clone()].into(), ..AlertTargets::default() },
    }
}

/// The user at `dn` and why it is sensitive, if it is a sensitive user or a honeytoken.
fn sensitive_user(context: &Context, dn: &str) -> Option<(String, String)> {
    let directory = context.directory();
    match directory.find(dn) {
        Some(found) => {
            if found.object.kind != Some(ObjectKind::User) {
                return None;
            }
            let name = found.object.sam_account_name.clone().unwrap_or_else(|| rdn_value(dn).to_owned());
            if let Some(sensitivity) = directory.sensitivity(&found) {
                return Some((name, sensitivity.reason.clone()));
            }
            (directory.is_honeytoken(&found) || context.honeytokens().named(&name).is_some())
                .then(|| (name, "a honeytoken".to_owned()))
        }
        None => {
            let name = rdn_value(dn).to_owned();
            context.honeytokens().named(&name).map(|_| (name, "a honeytoken".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_audit_alerts, extra_recording_alerts, with_lab_directory};
    use crate::testing::logs::{assert_silent, corpus_alerts};

    const SPN_ON_USER: &str = "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4738,5136-SPN set on user account.evtx";

    #[test]
    fn fires_when_the_user_is_a_honeytoken_and_not_otherwise() {
        // lambda-user adds an HTTP/ and an MSSQLSvc/ SPN to honey-pot1.
        assert!(corpus_alerts(&[SPN_ON_USER], META.id, &DetectionConfig::default()).is_empty());
        let config = DetectionConfig {
            entities: orthrus_directory::EntityTags {
                honeytokens: vec!["honey-pot1".into()],
                ..Default::default()
            },
            ..DetectionConfig::default()
        };
        let alerts = corpus_alerts(&[SPN_ON_USER], META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let first = &alerts[0];
        assert_eq!(first.severity, Severity::Medium, "no ticket was asked");
        assert!(first.targets.accounts.contains("honey-pot1"));
        assert!(
            first.description.starts_with(
                "OFFSEC\\lambda-user added the SPNs HTTP/HACK-ME-PC.offsec.lan, MSSQLSvc/HACK-ME-PC.offsec.lan to \
                 honey-pot1 (a honeytoken) on rootdc1.offsec.lan."
            ),
            "{}",
            first.description
        );
        let mut excluded = config.clone();
        excluded.settings_mut::<SpnAdded>().exclude_actors = vec!["lambda-user".into()];
        assert!(corpus_alerts(&[SPN_ON_USER], META.id, &excluded).is_empty());
    }

    #[test]
    fn fires_high_on_the_lab_targeted_kerberoast() {
        // bob (GenericWrite on da_admin) adds HTTP/stage.lab.test to da_admin, asks its ticket
        // with impacket GetUserSPNs -request-user, and removes the SPN.
        let config = with_lab_directory(DetectionConfig::default());
        let alerts = extra_recording_alerts("targeted_kerberoast", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::High, "{}", alert.description);
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("LAB\\bob"));
        assert!(alert.targets.accounts.contains("da_admin"));
        assert!(
            alert.description.starts_with(
                "LAB\\bob added the SPN HTTP/stage.lab.test to da_admin (member of Domain Admins"
            ),
            "{}",
            alert.description
        );
        assert!(alert.description.contains("then asked a service ticket for it"), "{}", alert.description);
        assert!(
            alert
                .evidence
                .iter()
                .any(|e| e.summary.contains("asked a service ticket for HTTP/stage.lab.test"))
        );
        // The write alone (Samba's log without the capture) is Medium.
        let write = extra_audit_alerts("targeted_kerberoast", META.id, &config);
        assert_eq!(write.len(), 1);
        assert_eq!(write[0].severity, Severity::Medium);
        // Without the directory nothing says da_admin is sensitive.
        assert!(
            extra_recording_alerts("targeted_kerberoast", META.id, &DetectionConfig::default()).is_empty()
        );
    }

    #[test]
    fn an_spn_published_on_an_ordinary_service_account_is_silent() {
        // da_admin adds HTTP/reports.lab.test to svc_web; alice asks its ticket.
        let config = with_lab_directory(DetectionConfig::default());
        assert!(extra_recording_alerts("benign_service_spn", META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_computer_spns_and_benign_logs() {
        let file = "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4742-SPN set on computer account (DCshadow).evtx";
        assert!(corpus_alerts(&[file], META.id, &DetectionConfig::default()).is_empty());
        assert_silent(META.id);
    }
}
