//! ORT-KRB-001 — Kerberoasting.
//!
//! - Attack: with any domain account, the attacker asks the KDC for service tickets for
//!   SPNs of user accounts, asking for RC4, and cracks the tickets offline (the ticket is
//!   encrypted with the service account's password hash). Tools: impacket GetUserSPNs,
//!   Rubeus kerberoast, PowerView Invoke-Kerberoast.
//! - ATT&CK: T1558.003. MDI: Suspected Kerberos SPN exposure (2410).
//! - Data: `ServiceTicketRequested` activities (TGS-REQ/TGS-REP from the wire).
//! - Logic: per source IP, in event time:
//!   (a) *RC4 on request*: within `window_secs`, TGS-REQs that offer no AES etype at all get
//!   tickets encrypted with RC4 or DES for at least `min_rc4_only_services` distinct
//!   services. Every Windows, MIT and Heimdal client of this century offers AES first;
//!   roasting tools (impacket, Rubeus /tgtdeleg) ask for RC4 because RC4 cracks fastest.
//!   (b) *SPN sweep*: within `window_secs`, tickets for at least `min_services` distinct
//!   services come back RC4/DES-encrypted (the service account has no AES keys: a user
//!   account with an old password, exactly what roasting looks for), whatever was offered.
//!   (c) *user account in the KDC's log*: event 4769 names the service's *account*, not its
//!   SPN; an RC4/DES ticket for an account that is not a computer (`name$`) nor `krbtgt`
//!   counts for at least `min_user_account_services` distinct accounts. That is the
//!   roastable case itself (a user account's password hash encrypts the ticket), and the
//!   only view of a single-SPN roast that event logs give.
//!   Any of them raises the alert; (a) and (b) together raise it to high. TGT renewals and referrals
//!   (`krbtgt/…`) and `kadmin/…` are ignored.
//! - Thresholds: `window_secs = 600`, `min_rc4_only_services = 2`, `min_services = 5`,
//!   `min_user_account_services = 1` (config `[kerberoasting]`).
//! - Benign: legacy clients that only speak RC4 (old Java, old Samba), and SPN inventory or
//!   monitoring tools that walk every SPN: exclude their source (`exclude_sources`). For (c),
//!   service accounts whose password predates AES keys (every client gets RC4 tickets for
//!   them): reset their password, which also ends their exposure, or raise the threshold.
//! - Gaps: without a directory snapshot the SPN's owner (user or computer account) and its
//!   `msDS-SupportedEncryptionTypes` are unknown, so an AES-only roast that stays below
//!   `min_services` is not seen, nor is a roast of a single SPN (one RC4-only request looks
//!   like one legacy client), and targets are named by SPN, not by owner account.
//! - Evidence: every counted TGS-REQ and its TGS-REP, with etypes offered vs issued.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, AlertSource, AlertTargets, EncryptionType, Severity};
use serde::Deserialize;

use super::tgs_exchange;
use crate::names::name_list;
use crate::window::{PerSource, Recent, Window};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-001",
    title: "Suspected Kerberoasting (Kerberos SPN exposure)",
    mdi: "Suspected Kerberos SPN exposure (2410)",
    external_id: 2410,
    cef_app: "Kerberos",
    tactic: "TA0006",
    techniques: &["T1558.003"],
    data_sources: &["Kerberos TGS-REQ/TGS-REP"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: true,
    config_section: "kerberoasting",
    meaning: "Someone asked the KDC for service tickets to accounts with service principal names in a pattern tools such as Rubeus and impacket's GetUserSPNs use: many services at once, or RC4 tickets where the service supports AES. Each ticket is encrypted with the service account's password hash and can be cracked offline, out of sight.",
    impact: "A service account whose password falls to cracking gives the attacker its rights, which are often administrative on servers or the domain.",
    actions: &[
        "Confirm the source: is the computer or account one that legitimately scans SPNs (a vulnerability scanner, an audit tool)? If not, treat the source as compromised.",
        "Reset the passwords of the service accounts whose tickets were requested, to long random values; prefer group managed service accounts (gMSA).",
        "Turn off RC4 for service accounts (msDS-SupportedEncryptionTypes = AES only) so the tickets cost far more to crack.",
        "Isolate the source computer and review the account's other activity in this incident.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KerberoastingConfig {
    /// Sliding window, event time, for counting distinct RC4-issued services per source.
    pub window_secs: u64,
    /// Distinct services asked for without AES (and issued RC4/DES tickets) in the window.
    pub min_rc4_only_services: usize,
    /// Distinct services with RC4/DES tickets in the window that make an SPN sweep.
    pub min_services: usize,
    /// Distinct user (non-computer) service accounts, named by the KDC's event log, whose
    /// tickets came back RC4/DES in the window.
    pub min_user_account_services: usize,
    /// Source addresses never alerted on (SPN inventory tools, legacy RC4-only clients).
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for KerberoastingConfig {
    fn default() -> Self {
        Self {
            window_secs: 600,
            min_rc4_only_services: 2,
            min_services: 5,
            min_user_account_services: 1,
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for KerberoastingConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("window_secs", self.window_secs.to_string()),
            ("min_rc4_only_services", self.min_rc4_only_services.to_string()),
            ("min_services", self.min_services.to_string()),
            ("min_user_account_services", self.min_user_account_services.to_string()),
        ]
    }
}

impl Detection for Kerberoasting {
    type Settings = KerberoastingConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        Kerberoasting::new(settings.clone())
    }
}

/// What one source has done lately.
struct SourceState {
    weak_services: Window<String>,
    weak_accounts: Window<String>,
    asked_rc4: Window<String>,
    asked_rc4_accounts: Window<String>,
    user_services: Window<String>,
    user_service_clients: Window<String>,
    /// Evidence of every RC4/DES ticket, and of those asked for without AES.
    recent_weak: Recent,
    recent_rc4_only: Recent,
    recent_user_services: Recent,
    /// Services counted in the current incident, and whether each was asked for without AES.
    services: BTreeSet<String>,
    requested_rc4: BTreeSet<String>,
    accounts: BTreeSet<String>,
}

pub struct Kerberoasting {
    config: KerberoastingConfig,
    sources: PerSource<SourceState>,
}

impl Kerberoasting {
    pub fn new(config: KerberoastingConfig) -> Self {
        Self { sources: PerSource::new(config.window_secs), config }
    }
}

impl Detector for Kerberoasting {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let Some(exchange) = tgs_exchange(activity) else {
            return;
        };
        let Some(issued) = exchange.issued() else {
            return;
        };
        let service = issued.ticket.sname.clone();
        let service_class = service.split('/').next().unwrap_or_default().to_ascii_lowercase();
        if matches!(service_class.as_str(), "krbtgt" | "kadmin") {
            return;
        }
        let ticket_etype = issued.ticket.etype;
        if !ticket_etype.is_weak() {
            return;
        }
        let asked_without_aes = exchange.request.as_ref().is_some_and(|r| r.offers_no_aes());
        let source = activity.source_id();
        let window = self.config.window_secs;
        let (state, incident) = self.sources.at(&source, activity.time, || SourceState {
            weak_services: Window::new(window, 10_000),
            weak_accounts: Window::new(window, 10_000),
            asked_rc4: Window::new(window, 10_000),
            asked_rc4_accounts: Window::new(window, 10_000),
            user_services: Window::new(window, 10_000),
            user_service_clients: Window::new(window, 10_000),
            recent_weak: Recent::new(window),
            recent_rc4_only: Recent::new(window),
            recent_user_services: Recent::new(window),
            services: BTreeSet::new(),
            requested_rc4: BTreeSet::new(),
            accounts: BTreeSet::new(),
        });
        state.weak_services.insert(activity.time, service.clone());
        state.weak_accounts.insert(activity.time, issued.cname.clone());
        let offered = exchange
            .request
            .as_ref()
            .map(|r| r.etypes.iter().map(EncryptionType::to_string).collect::<Vec<_>>().join(","))
            .unwrap_or_else(|| "unknown".into());
        let summary =
            format!("{} got a {ticket_etype} ticket for {service} (offered: {offered})", issued.cname);
        state.recent_weak.push(activity, summary.clone());
        if asked_without_aes {
            state.asked_rc4.insert(activity.time, service.clone());
            state.asked_rc4_accounts.insert(activity.time, issued.cname.clone());
            state.recent_rc4_only.push(activity, summary.clone());
        }
        // Only the KDC's log names the service by account; on the wire it is an SPN.
        let user_account_service =
            activity.from_event_log() && !service.contains('/') && !service.ends_with('$');
        if user_account_service {
            state.user_services.insert(activity.time, service.clone());
            state.user_service_clients.insert(activity.time, issued.cname.clone());
            state.recent_user_services.push(activity, summary.clone());
        }
        let sweep = state.weak_services.distinct() >= self.config.min_services;
        let rc4_only = state.asked_rc4.distinct() >= self.config.min_rc4_only_services;
        let user_accounts = state.user_services.distinct() >= self.config.min_user_account_services.max(1);
        if !incident.alerted {
            if !sweep && !rc4_only && !user_accounts {
                return;
            }
            // A new alert: the tickets that crossed the threshold are part of it.
            incident.restart(activity.time);
            let (services, accounts, evidence) = if sweep {
                (&state.weak_services, &state.weak_accounts, &mut state.recent_weak)
            } else if rc4_only {
                (&state.asked_rc4, &state.asked_rc4_accounts, &mut state.recent_rc4_only)
            } else {
                (&state.user_services, &state.user_service_clients, &mut state.recent_user_services)
            };
            state.services = services.items().map(|(s, _)| s.clone()).collect();
            state.accounts = accounts.items().map(|(a, _)| a.clone()).collect();
            evidence.drain_into(incident);
            state.requested_rc4 = state.asked_rc4.items().map(|(s, _)| s.clone()).collect();
        } else {
            state.services.insert(service.clone());
            state.accounts.insert(issued.cname.clone());
            if asked_without_aes {
                state.requested_rc4.insert(service.clone());
            }
            incident.record(activity.time, &activity.provenance, summary);
        }
        state.recent_weak.clear();
        state.recent_rc4_only.clear();
        state.recent_user_services.clear();
        incident.alerted = true;

        let severity = if rc4_only && sweep { Severity::High } else { META.base_severity };
        let who = name_list(state.accounts.iter(), 3);
        let how = if !state.requested_rc4.is_empty() {
            "asking for RC4 only, as Kerberoasting tools do".to_string()
        } else if user_accounts && !sweep {
            "and got RC4-encrypted tickets for user accounts, crackable offline".to_string()
        } else {
            "whose tickets all came back RC4-encrypted".to_string()
        };
        let description = format!(
            "{source} ({who}) requested service tickets for {} service{} ({}) {how}.",
            state.services.len(),
            if state.services.len() == 1 { "" } else { "s" },
            name_list(state.services.iter(), 5),
        );
        let targets = AlertTargets { services: state.services.clone(), ..AlertTargets::default() };
        let source_entity = AlertSource {
            ip: source.ip(),
            computer: None,
            account: (state.accounts.len() == 1).then(|| who.clone()),
            resolution: None,
        };
        alerts.raise(
            activity,
            &activity.source_id().to_string(),
            incident,
            Finding { severity, description, source: source_entity, targets },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    #[test]
    fn fires_on_lab_kerberoast() {
        let alerts = alerts_for("kerberoast", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("bob"));
        let services: Vec<&str> = alert.targets.services.iter().map(String::as_str).collect();
        assert_eq!(services, ["HTTP/intranet.lab.test", "MSSQLSvc/sql01.lab.test", "cifs/backup01.lab.test"]);
        assert_eq!(alert.count, 3);
        // Evidence: each TGS-REQ and its TGS-REP, as tshark numbers them.
        let frames: Vec<u64> = alert.evidence.iter().filter_map(|e| e.at.frame_number()).collect();
        assert_eq!(frames, [36, 38, 46, 48, 56, 58]);
    }

    #[test]
    fn silent_on_benign_baseline() {
        assert_silent(BENIGN, META.id);
    }

    #[test]
    fn silent_on_other_attacks_that_request_aes_tickets() {
        // Overpass-the-hash asks for its TGT with RC4 but its service tickets with AES.
        assert_silent(&["overpass_the_hash", "golden_ticket", "pass_the_ticket", "honeytoken_auth"], META.id);
    }

    #[test]
    fn sweep_threshold_applies_when_the_client_offered_aes() {
        // benign_busy: alice's ticket for HTTP/intranet comes back RC4 although she offered
        // AES (svc_web has no AES keys). One such service is no sweep; with the threshold at
        // one it is.
        let mut config = DetectionConfig::default();
        config.settings_mut::<Kerberoasting>().min_services = 1;
        let alerts = alerts_for("benign_busy", META.id, &config);
        assert!(!alerts.is_empty());
        assert!(alerts.iter().all(|a| a.severity == Severity::Medium));
        assert!(alerts[0].targets.services.contains("HTTP/intranet.lab.test"));
    }

    #[test]
    fn excluded_source_raises_nothing() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<Kerberoasting>().exclude_sources = vec!["10.99.0.21".parse().unwrap()];
        assert!(alerts_for("kerberoast", META.id, &config).is_empty());
    }
}
