//! ORT-NRPC-002 — NetSync: a host that is not a DC pulls an account's secret over Netlogon.
//!
//! - Attack: with one DC's machine-account hash (from a dump or a backup), mimikatz
//!   `lsadump::netsync` opens a Netlogon secure channel *as that DC* (ServerSecureChannel)
//!   and asks for another account's password hashes, as a DC replicating secrets would:
//!   `NetrServerTrustPasswordsGet` or `NetrServerGetTrustInfo` for a computer account — whose
//!   NT hash then forges silver tickets, or a DC's, which DCSyncs.
//! - ATT&CK: T1003.006-like credential dumping (tactic Credential access). MDI: Possible
//!   NetSync attack (preview, no external id).
//! - Data: NET: Netlogon `NetrServerTrustPasswordsGet` (opnum 42) and
//!   `NetrServerGetTrustInfo` (46) — their interface and operation show even under a sealed
//!   secure channel; unsealed, the account asked for and the secure channel's type; and the
//!   preceding `NetrServerAuthenticate3` from the same address, which names the machine
//!   account the channel claims (the DC impersonated).
//! - Logic: any such call from an address that is not a known DC's (the configured
//!   `domain_controllers`, those that answer Kerberos, those the directory knows as DCs,
//!   those that serve replication). High, whatever the answer: a refused call is still an
//!   attempt with a DC's credentials. One alert per source, DC and quiet gap `window_secs`
//!   (config `[netsync]`), listing the accounts asked for.
//! - Thresholds: `window_secs = 3600`.
//! - Benign: none expected from non-DCs — members use their own secure channel for logons,
//!   never for other accounts' secrets; a DC not known as one (list it in
//!   `domain_controllers`); exclude a source with `exclude_sources`.
//! - Evidence: each call (request and reply frames), the channel's machine account, the
//!   accounts asked for, the DC's answer.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, RpcCall, RpcDetail, Severity};

use crate::EventRuleConfig;
use crate::detections::foreign_rpc::{ForeignCall, foreign_call};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-NRPC-002",
    title: "Possible NetSync attack",
    mdi: "Possible NetSync attack (preview)",
    external_id: 9001,
    cef_app: "Netlogon",
    tactic: "TA0006",
    techniques: &["T1003.006"],
    data_sources: &["Netlogon NetrServerTrustPasswordsGet / NetrServerGetTrustInfo by a non-DC"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "netsync",
    meaning: "A host that is not a DC opened a Netlogon secure channel as a DC and asked for another account's secrets (NetSync).",
    impact: "The attacker gets machine account hashes to forge tickets or DCSync.",
    actions: &[
        "Isolate the source computer.",
        "Reset the passwords of the DC account used and the accounts whose secrets were returned.",
        "Find how the DC's machine hash was stolen.",
    ],
};

impl Detection for NetSync {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        NetSync {
            config: settings.clone(),
            episodes: Incidents::new(settings.window_secs),
            channel_accounts: HashMap::new(),
        }
    }
}

pub struct NetSync {
    config: EventRuleConfig,
    episodes: Incidents<String>,
    /// The machine account each address last opened a secure channel as (at most
    /// `MAX_SOURCES` addresses).
    channel_accounts: HashMap<IpAddr, String>,
}

impl NetSync {
    fn secret_request(
        &mut self,
        activity: &Activity,
        call: &RpcCall,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        let operation = call.operation.as_deref().unwrap_or_default();
        if !matches!(operation, "NetrServerTrustPasswordsGet" | "NetrServerGetTrustInfo") {
            return;
        }
        let Some(ForeignCall { source, server, result, .. }) = foreign_call(context, activity, call) else {
            return;
        };
        let channel = self.channel_accounts.get(&source).cloned();
        if channel.as_deref().is_some_and(|a| self.config.excludes(a)) {
            return;
        }
        let asked_for = match &call.detail {
            Some(RpcDetail::NetlogonAccountSecret { account_name, .. }) => Some(account_name.clone()),
            _ => None,
        };
        let key = format!("{source} {server}");
        let accounts = self.episodes.named(&key, activity.time, asked_for.clone());
        let secrets = match accounts.len() {
            0 => "an account's password hashes".to_owned(),
            _ => {
                format!("the password hashes of {}", accounts.iter().cloned().collect::<Vec<_>>().join(", "))
            }
        };
        let posing =
            channel.as_ref().map(|a| format!(" over a secure channel opened as {a}")).unwrap_or_default();
        let summary = format!(
            "{result} {operation}{}",
            asked_for.as_ref().map(|a| format!(" for {a}")).unwrap_or_default()
        );
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{source}, which is not a known domain controller, asked {server} for {secrets}{posing} \
                 ({operation}): a NetSync attack replicates secrets as if it were a DC."
            ),
            source: Finding::source_of(activity, channel),
            targets: AlertTargets {
                accounts: accounts.clone(),
                computers: BTreeSet::from([server.to_string()]),
                ..AlertTargets::default()
            },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

impl Detector for NetSync {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::RpcCalled(call) = &activity.kind else { return };
        if let (Some(RpcDetail::NetlogonAuthenticate { account_name, .. }), Some(source)) =
            (&call.detail, activity.source_ip())
        {
            // Every member opens a secure channel: the map is as big as the network, bounded.
            if self.channel_accounts.contains_key(&source)
                || self.channel_accounts.len() < crate::window::MAX_SOURCES
            {
                self.channel_accounts.insert(source, account_name.clone());
            }
        }
        if call.interface == "netlogon" {
            self.secret_request(activity, call, context, alerts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    #[test]
    fn fires_on_a_secure_channel_as_the_dc_asking_for_a_computers_secret() {
        // The lab's attacker opens a secure channel as DC1$ with its hash and asks for WS01$'s
        // secret twice; Samba refuses both (it wants the calls sealed), Windows answers.
        let alerts = extra_alerts("netsync", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("DC1$"));
        assert_eq!(alert.targets.accounts, BTreeSet::from(["WS01$".to_owned()]));
        assert!(alert.targets.computers.contains("10.99.0.10"));
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.count, 2, "both NetrServerTrustPasswordsGet and NetrServerGetTrustInfo");
        assert!(
            alert.description.contains("password hashes of WS01$ over a secure channel opened as DC1$"),
            "{}",
            alert.description
        );
    }

    #[test]
    fn silent_from_a_known_dc_or_an_excluded_source() {
        let as_dc =
            DetectionConfig { domain_controllers: vec!["10.99.0.21".into()], ..DetectionConfig::default() };
        assert!(extra_alerts("netsync", META.id, &as_dc).is_empty());
        let mut config = DetectionConfig::default();
        config.settings_mut::<NetSync>().exclude_sources = vec!["10.99.0.21".parse().unwrap()];
        assert!(extra_alerts("netsync", META.id, &config).is_empty());
    }

    #[test]
    fn silent_on_zerologon_and_benign_logs_and_captures() {
        // Zerologon's secure channel sets a password (ORT-NRPC-001's); it asks for none.
        let path = orthrus_testkit::corpus().join(
            "pcap-attack/Lateral Movement/CVE-2020-1472_Zerologon_RPC_NetLogon_NullChallenge_SecChan_6_from_nonDC_to_DC.pcapng",
        );
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in orthrus_testkit::activities(&path) {
            engine.observe(&activity);
        }
        assert!(engine.finish().iter().all(|a| a.detection != META.id));
        assert_silent_on_logs_and_captures(META.id);
    }
}
