//! ORT-NTLM-004 — NTLM relay of a domain controller's or an Exchange server's machine account.
//!
//! - Attack: a DC is coerced to authenticate to the attacker's host (printer bug,
//!   PetitPotam, DFSCoerce — ORT-RPC-002/003/004) and ntlmrelayx passes the DC's NTLM
//!   authentication on — to another DC's LDAP (to grant itself rights or RBCD), to AD CS web
//!   enrolment (a certificate for the DC, then DCSync), or back to SMB. PrivExchange does the
//!   same to an Exchange server (a push subscription makes it authenticate to the attacker's
//!   HTTP server), whose machine account may write the domain's ACL. The machine account
//!   then authenticates to a DC from an address that is not its server's.
//! - ATT&CK: T1557.001, T1187. MDI: Suspected NTLM relay attack (Exchange account) (2037);
//!   the catalogue adds DCs, whose relay is the worst case.
//! - Data: NET: NTLMSSP AUTHENTICATE messages to a DC (SMB, LDAP, DCE-RPC, HTTP): the account,
//!   its workstation name, the service the client meant (MsvAvTargetName), the answer. EVT:
//!   Samba's NTLM audit (with both addresses) and 4624 network logons whose package is NTLM
//!   (the DC that logged is the server); 4776 gives no address and is not judged. The DC
//!   list (configured `domain_controllers`, the directory's DCs by name, the addresses that
//!   answer Kerberos or serve replication).
//! - Logic: the machine account of a known DC authenticates over NTLM to a known DC's
//!   address from an address that is not a known DC's; or the machine account of an Exchange
//!   server (a computer member of the directory's Exchange Servers or Exchange Trusted
//!   Subsystem group) does so from an address other than those its machine account got a
//!   Kerberos TGT from (judged once one is known). Medium; High when the server accepted it.
//!   One alert per source and quiet gap `window_secs` (config `[ntlm_relay]`).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: a DC whose address is not known as a DC's (list it in `domain_controllers`);
//!   a multi-homed DC authenticating from an address the sensor never saw it answer from.
//! - Gaps: an Exchange server whose own Kerberos logon was never seen is not judged (its
//!   address is unknown: the directory does not hold it); relays of ordinary accounts without
//!   a removed MIC look like their victims' own logons.
//! - Evidence: each AUTHENTICATE (request and answer frames), the account, the workstation
//!   it claims, the service it meant, the answer.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use orthrus_directory::Directory;
use orthrus_model::{Activity, ActivityKind, AlertTargets, AuthOutcome, Severity};

use crate::EventRuleConfig;
use crate::names::host_key;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NTLM-004",
    title: "Suspected NTLM relay attack (domain controller or Exchange account)",
    mdi: "Suspected NTLM relay attack (Exchange account) (2037)",
    external_id: 2037,
    cef_app: "Ntlm",
    tactic: "TA0008",
    techniques: &["T1557.001", "T1187"],
    data_sources: &[
        "NTLMSSP AUTHENTICATE to a DC by a DC's or an Exchange server's machine account; Samba NTLM audit, 4624 (NTLM)",
        "DC list (config, directory, learned); Exchange servers (directory groups) and their Kerberos logons",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "ntlm_relay",
    meaning: "A domain controller's or Exchange server's machine account authenticated with NTLM from an address that is not that server: its authentication was relayed (after coercion such as PetitPotam or PrinterBug).",
    impact: "A relayed DC account can get a DC certificate from AD CS, grant itself replication rights or resource-based delegation: domain takeover.",
    actions: &[
        "Isolate the source address.",
        "Require EPA and disable NTLM on AD CS web enrollment; require LDAP signing and channel binding.",
        "Look for certificates issued to the DC, changes to the domain's ACL or msDS-AllowedToActOnBehalfOfOtherIdentity right after the alert, and undo them.",
        "Patch the coercion paths (EFSRPC, the spooler on DCs, DFS).",
    ],
};

/// The groups whose computer members are Exchange servers (Exchange setup creates them).
const EXCHANGE_GROUPS: &[&str] = &["Exchange Servers", "Exchange Trusted Subsystem"];

/// Addresses remembered per Exchange server at most (multi-homed, renumbered).
const MAX_SERVER_ADDRESSES: usize = 16;

impl Detection for NtlmRelay {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        NtlmRelay { config: settings.clone(), exchange: None, episodes: Incidents::new(settings.window_secs) }
    }
}

pub struct NtlmRelay {
    config: EventRuleConfig,
    /// Exchange servers (by `host_key`, from the directory at the first activity) and the
    /// addresses their machine accounts got a Kerberos TGT from: where each server really is.
    exchange: Option<HashMap<String, BTreeSet<IpAddr>>>,
    episodes: Incidents<String>,
}

impl NtlmRelay {
    /// An Exchange server's machine account logging on with Kerberos shows the server's own
    /// address (it knew the machine key).
    fn learn_exchange_address(&mut self, context: &Context, activity: &Activity) {
        let servers = self.exchange.get_or_insert_with(|| exchange_servers(context.directory()));
        let ActivityKind::TgtRequested(exchange) = &activity.kind else { return };
        let (Some(issued), Some(source)) = (exchange.issued(), activity.source_ip()) else { return };
        if let Some(addresses) = servers.get_mut(&host_key(&issued.cname))
            && addresses.len() < MAX_SERVER_ADDRESSES
        {
            addresses.insert(source);
        }
    }

    /// Whose relayed account this is — the server's role, and why the source is not that
    /// server — if `user` is a DC's or an Exchange server's machine account authenticating
    /// from an address that is not that server's.
    fn relayed_role(&self, context: &Context, user: &str, source: IpAddr) -> Option<(&'static str, String)> {
        if !user.ends_with('$') {
            return None;
        }
        if context.dcs().contains(user) {
            return (!context.dcs().contains_address(source))
                .then(|| ("domain controller", "which is not a domain controller".to_owned()));
        }
        // An Exchange server is judged once its own address is known: before that the source
        // may be the server itself.
        let addresses = self.exchange.as_ref()?.get(&host_key(user))?;
        if addresses.is_empty() || addresses.contains(&source) || context.dcs().contains_address(source) {
            return None;
        }
        let known: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        Some(("Exchange server", format!("while that Exchange server logs on from {}", known.join(", "))))
    }
}

/// The directory's Exchange servers, by `host_key`, with no address known yet.
fn exchange_servers(directory: &Directory) -> HashMap<String, BTreeSet<IpAddr>> {
    EXCHANGE_GROUPS
        .iter()
        .filter_map(|group| directory.find(group))
        .flat_map(|group| directory.transitive_members(&group))
        .filter_map(|member| member.object.sam_account_name.clone())
        .filter(|name| name.ends_with('$'))
        .map(|name| (host_key(&name), BTreeSet::new()))
        .collect()
}

/// An NTLM logon, from the wire (NTLMSSP AUTHENTICATE), Samba's audit or a 4624 network logon
/// whose package is NTLM: borrowed, as most are judged on the account name alone.
struct NtlmLogon<'a> {
    user: &'a str,
    domain: &'a str,
    workstation: &'a str,
    target_name: Option<&'a str>,
    outcome: AuthOutcome,
}

impl<'a> NtlmLogon<'a> {
    fn of(activity: &'a Activity) -> Option<Self> {
        match &activity.kind {
            ActivityKind::NtlmAuthenticated(auth) => Some(Self {
                user: &auth.user,
                domain: &auth.domain,
                workstation: &auth.workstation,
                target_name: auth.target_name.as_deref(),
                outcome: auth.outcome,
            }),
            ActivityKind::LoggedOn(logon)
                if logon.package.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("NTLM")) =>
            {
                Some(Self {
                    user: &logon.account.name,
                    domain: logon.account.domain.as_deref().unwrap_or_default(),
                    workstation: activity.source_host.as_deref().unwrap_or_default(),
                    target_name: None,
                    outcome: logon.outcome,
                })
            }
            _ => None,
        }
    }

    /// `DOMAIN\name` as the logon gives it.
    fn account(&self) -> String {
        if self.domain.is_empty() { self.user.to_owned() } else { format!("{}\\{}", self.domain, self.user) }
    }
}

impl Detector for NtlmRelay {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        self.learn_exchange_address(context, activity);
        let Some(logon) = NtlmLogon::of(activity) else { return };
        let Some(source) = activity.source_ip() else { return };
        let Some((role, not_the_server)) = self.relayed_role(context, logon.user, source) else { return };
        // The server: its address on the wire (and in Samba's audit), else the DC that logged.
        let server = match (activity.destination, &activity.destination_host) {
            (Some(server), _) if context.dcs().contains_address(server.ip) => server.ip.to_string(),
            (None, Some(host)) if activity.from_event_log() && context.dcs().contains(host) => {
                host.to_string()
            }
            _ => return,
        };
        let account = logon.account();
        if source.is_loopback() || self.config.excludes(&account) {
            return;
        }
        let accepted = matches!(logon.outcome, AuthOutcome::Succeeded);
        let answer = match logon.outcome {
            AuthOutcome::Succeeded => "accepted".to_owned(),
            AuthOutcome::Failed { status } => format!("refused ({status})"),
            AuthOutcome::Unknown => "unanswered".to_owned(),
        };
        let key = source.to_string();
        let accounts = self.episodes.named(&key, activity.time, [account.clone()]);
        let summary = format!(
            "NTLM logon as {account} (workstation {}{}) to {server}: {answer}",
            logon.workstation,
            logon.target_name.map(|t| format!(", meant for {t}")).unwrap_or_default(),
        );
        let finding = Finding {
            severity: if accepted { Severity::High } else { META.base_severity },
            description: format!(
                "{source}, {not_the_server}, authenticated to {server} over NTLM as the {role} account{} {}: \
                 the {role}'s authentication was relayed (NTLM relay after coercion){}.",
                if accounts.len() == 1 { "" } else { "s" },
                accounts.iter().cloned().collect::<Vec<_>>().join(", "),
                if accepted { ", and the server accepted it" } else { "" },
            ),
            source: Finding::source_of(activity, Some(account)),
            targets: AlertTargets {
                accounts: accounts.clone(),
                computers: BTreeSet::from([server]),
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
    use crate::testing::extra::{
        extra_alerts, extra_audit_alerts, with_lab_directory, with_recording_directory,
    };
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    /// The lab DC by address (as a deployment lists its DCs) and the lab directory (DC1 by name).
    fn lab_dcs() -> DetectionConfig {
        with_lab_directory(DetectionConfig {
            domain_controllers: vec!["10.99.0.10".into()],
            ..DetectionConfig::default()
        })
    }

    #[test]
    fn fires_when_the_dcs_account_comes_back_from_another_host() {
        // DC1 authenticates to 10.99.0.21 (its machine account over SMB); ntlmrelayx passes
        // DC1$'s authentication back to the DC, which accepts it.
        let alerts = extra_alerts("ntlm_relay_dc_account", META.id, &lab_dcs());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.targets.accounts, BTreeSet::from(["LAB\\DC1$".to_owned()]));
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.count, 1, "the DC's own outbound logon to 10.99.0.21 is not counted");
        // The relayed message claims the DC's workstation name: the relay is not named after it.
        assert!(
            alert
                .description
                .starts_with("10.99.0.21, which is not a domain controller, authenticated to 10.99.0.10"),
            "{}",
            alert.description
        );
        assert!(alert.evidence[0].summary.contains("meant for cifs/10.99.0.21"), "{:#?}", alert.evidence);
    }

    #[test]
    fn fires_when_an_exchange_servers_account_comes_from_another_host() {
        // EXCH01 (in Exchange Servers) logs on with Kerberos and over NTLM from 10.99.0.20;
        // its NTLM authentication to 10.99.0.21 is relayed to the DC from there.
        let config = with_recording_directory(
            "ntlm_relay_exchange_account",
            DetectionConfig { domain_controllers: vec!["10.99.0.10".into()], ..DetectionConfig::default() },
        );
        let alerts = extra_alerts("ntlm_relay_exchange_account", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.targets.accounts, BTreeSet::from(["LAB\\EXCH01$".to_owned()]));
        assert!(
            alert.description.contains(
                "10.99.0.21), while that Exchange server logs on from 10.99.0.20, authenticated to 10.99.0.10"
            ) && alert.description.contains("as the Exchange server account LAB\\EXCH01$"),
            "{}",
            alert.description
        );
        // The audit log alone says the same.
        assert_eq!(extra_audit_alerts("ntlm_relay_exchange_account", META.id, &config).len(), 1);
        // Without the directory's Exchange Servers group EXCH01$ is an ordinary computer.
        assert!(extra_alerts("ntlm_relay_exchange_account", META.id, &lab_dcs()).is_empty());
    }

    #[test]
    fn fires_from_the_dcs_audit_log_too() {
        // Samba's audit of the same relayed logon: DC1$ from 10.99.0.21 over SMB, accepted.
        let alerts = extra_audit_alerts("ntlm_relay_dc_account", META.id, &lab_dcs());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alerts[0].severity, Severity::High);
        assert!(
            alerts[0].evidence[0].summary.contains("to 10.99.0.10: accepted"),
            "{:#?}",
            alerts[0].evidence
        );
        // The DC's own logons in the benign recordings' logs stay silent.
        for benign in ["benign_directory_lookups", "benign_computer_rename", "benign_gpo_edit"] {
            assert!(extra_audit_alerts(benign, META.id, &lab_dcs()).is_empty(), "{benign}");
        }
    }

    #[test]
    fn silent_without_knowing_the_dc_or_for_an_excluded_account() {
        // Without the directory nothing says DC1$ is a DC's account.
        let by_address =
            DetectionConfig { domain_controllers: vec!["10.99.0.10".into()], ..DetectionConfig::default() };
        assert!(extra_alerts("ntlm_relay_dc_account", META.id, &by_address).is_empty());
        let mut config = lab_dcs();
        config.settings_mut::<NtlmRelay>().exclude_actors = vec!["DC1$".into()];
        assert!(extra_alerts("ntlm_relay_dc_account", META.id, &config).is_empty());
        // An ordinary user's relayed logon is ORT-NTLM-003's when its MIC was removed.
        assert!(extra_alerts("ntlm_relay_drop_mic", META.id, &lab_dcs()).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }
}
