//! ORT-KRB-011 — Unusual Kerberos implementation on a Windows computer (overpass-the-hash
//! tooling).
//!
//! - Attack: Rubeus `asktgt`, impacket's `getTGT`, kekeo and similar tools build their own
//!   AS-REQ from a stolen NT hash or AES key instead of going through Windows' Kerberos
//!   client, which would need the password. The KDC accepts it; its shape is not Windows'.
//! - ATT&CK: T1550.002, T1550.003, T1210. MDI: Suspected overpass-the-hash attack (Kerberos)
//!   (2002), formerly "Unusual Kerberos protocol implementation".
//! - Data: NET: each AS-REQ's KDC options, offered encryption types, PA-PAC-REQUEST, `till`
//!   and addresses. What tells a source is a Windows computer: a Windows-shaped AS-REQ from
//!   it, an SPNEGO offer from it listing NEGOEX (Windows' Negotiate package offers it beside
//!   Kerberos and NTLM; Samba's, MIT's, Heimdal's and impacket's clients do not), or the
//!   directory's operating system of the computer name resolution puts at its address.
//! - Logic: Windows' client (SSPI) sends every AS-REQ with KDC options forwardable, renewable,
//!   canonicalize and renewable-ok, several encryption types, PA-PAC-REQUEST, `till`
//!   2037-09-13T02:48:05Z and its NetBIOS name as address (the [`WINDOWS_AS_REQ`]
//!   fingerprint, kept as data). An AS-REQ from a source known as a Windows computer before
//!   it that departs from it in at least `min_deviations` ways is another implementation on
//!   a Windows host. Medium. One alert per source and quiet gap `window_secs` (config
//!   `[unusual_kerberos]`). Sources not known as Windows are not judged: Unix clients (MIT,
//!   Heimdal, Java) have their own shapes by right.
//! - Thresholds: `min_deviations = 2` (a Windows client restricted by policy to one
//!   encryption type departs in one), `windows_evidence_secs = 86400` (how long a sign of
//!   Windows is trusted for an address: DHCP moves addresses), `window_secs = 3600`.
//! - Benign: applications with their own Kerberos stack on Windows (Java's, some backup and
//!   monitoring agents) — exclude the source; a Unix host given an address a Windows computer
//!   held within `windows_evidence_secs`.
//! - Gaps: a source whose Windows-ness was never seen (no Windows AS-REQ, no SPNEGO offer, no
//!   directory entry resolved) is not judged; mimikatz `sekurlsa::pth` goes through Windows'
//!   own client (ORT-KRB-014's ground).
//! - Evidence: the AS-REQ and its answer, the departures, the sign the source runs Windows.

use std::collections::HashMap;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, KdcRequest, Severity, Timestamp};
use serde::Deserialize;

use super::as_exchange;
use super::presented_tgt::kdc_answer;
use crate::names::{lists_account, name_list};
use crate::window::{Incidents, MAX_SOURCES};
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-011",
    title: "Suspected overpass-the-hash attack (Kerberos)",
    mdi: "Suspected overpass-the-hash attack (Kerberos) (2002)",
    external_id: 2002,
    cef_app: "Kerberos",
    tactic: "TA0008",
    techniques: &["T1550.002", "T1550.003", "T1210"],
    data_sources: &[
        "Kerberos AS-REQ fields; Windows signs of the source (its AS-REQs, SPNEGO offers, directory OS via name resolution)",
    ],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "unusual_kerberos",
    meaning: "A Windows computer asked for a ticket-granting ticket with a Kerberos request Windows does not build: the shape of tools (Rubeus asktgt, impacket getTGT) that turn a stolen NT hash or AES key into tickets (overpass-the-hash).",
    impact: "The attacker logs on as the account without its password, with every right the account has.",
    actions: &[
        "Check which account the ticket was for and whether that user was working on the source computer at the time.",
        "Isolate the source computer and reset the account's password (twice for accounts whose old hash may be cached elsewhere).",
        "Look for credential theft on the computers the account used recently.",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnusualKerberosConfig {
    /// Departures from Windows' AS-REQ needed to alert.
    pub min_deviations: usize,
    /// How long a sign that an address is a Windows computer is trusted.
    pub windows_evidence_secs: u64,
    pub window_secs: u64,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for UnusualKerberosConfig {
    fn default() -> Self {
        Self {
            min_deviations: 2,
            windows_evidence_secs: 86_400,
            window_secs: 3600,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for UnusualKerberosConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("min_deviations", self.min_deviations.to_string()),
            ("windows_evidence_secs", self.windows_evidence_secs.to_string()),
            ("window_secs", self.window_secs.to_string()),
        ]
    }
}

/// What Windows' Kerberos client (SSPI, Windows 2000 to 11) puts in every AS-REQ.
pub struct AsReqFingerprint {
    /// RFC 4120 KDC option bits always set.
    pub kdc_options: &'static [(u32, &'static str)],
    /// Encryption types offered, at least.
    pub min_etypes: usize,
    pub pac_request: bool,
    /// `till`, in seconds since 1970 (KERB_MAX_TIME's 2037-09-13T02:48:05Z).
    pub till_unix_secs: i64,
    /// A NetBIOS host address is sent.
    pub addresses: bool,
}

pub const WINDOWS_AS_REQ: AsReqFingerprint = AsReqFingerprint {
    kdc_options: &[(1, "forwardable"), (8, "renewable"), (15, "canonicalize"), (27, "renewable-ok")],
    min_etypes: 2,
    pac_request: true,
    till_unix_secs: 2_136_422_885,
    addresses: true,
};

impl AsReqFingerprint {
    /// How `request` departs from this fingerprint, one phrase each.
    pub fn deviations(&self, request: &KdcRequest) -> Vec<String> {
        let mut out = Vec::new();
        let missing: Vec<&str> = self
            .kdc_options
            .iter()
            .filter(|(bit, _)| !request.kdc_options.has(*bit))
            .map(|(_, n)| *n)
            .collect();
        if !missing.is_empty() {
            out.push(format!("KDC options without {}", missing.join(", ")));
        }
        if request.etypes.len() < self.min_etypes {
            let offered: Vec<String> = request.etypes.iter().map(ToString::to_string).collect();
            out.push(format!(
                "only {} offered",
                if offered.is_empty() { "nothing".into() } else { offered.join(", ") }
            ));
        }
        if self.pac_request && request.pac_request.is_none() {
            out.push("no PA-PAC-REQUEST".to_owned());
        }
        let till = Timestamp::from_micros(self.till_unix_secs.saturating_mul(1_000_000));
        match request.till {
            Some(t) if t == till => {}
            Some(t) => out.push(format!("till {t}")),
            None => out.push("no till".to_owned()),
        }
        if self.addresses && request.addresses.is_empty() {
            out.push("no host address".to_owned());
        }
        out
    }
}

/// Why an address is taken for a Windows computer.
#[derive(Clone)]
struct WindowsSign {
    time: Timestamp,
    reason: String,
}

impl Detection for UnusualKerberos {
    type Settings = UnusualKerberosConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        let c = settings;
        UnusualKerberos {
            config: c.clone(),
            evidence_secs: i64::try_from(c.windows_evidence_secs).unwrap_or(i64::MAX),
            signs: HashMap::new(),
            episodes: Incidents::new(c.window_secs),
        }
    }
}

pub struct UnusualKerberos {
    config: UnusualKerberosConfig,
    evidence_secs: i64,
    /// Addresses whose traffic showed Windows' own Kerberos or Negotiate client.
    signs: HashMap<IpAddr, WindowsSign>,
    episodes: Incidents<String>,
}

impl UnusualKerberos {
    /// Why `ip` is a Windows computer as of `time`, if it is known to be one.
    fn windows_sign(&self, context: &Context, ip: IpAddr, time: Timestamp) -> Option<String> {
        let fresh = |t: Timestamp| t.saturating_add_secs(self.evidence_secs) >= time;
        if let Some(sign) = self.signs.get(&ip).filter(|s| fresh(s.time)) {
            return Some(sign.reason.clone());
        }
        let resolution = context.resolve(ip)?;
        let found = context.directory().find_computer(&resolution.computer)?;
        let os = found
            .object
            .operating_system
            .as_deref()
            .filter(|os| os.to_ascii_lowercase().contains("windows"))?;
        Some(format!("the directory says {} runs {os}", resolution.computer))
    }

    fn learn(&mut self, ip: IpAddr, time: Timestamp, reason: String) {
        if self.signs.len() >= MAX_SOURCES && !self.signs.contains_key(&ip) {
            let evidence_secs = self.evidence_secs;
            self.signs.retain(|_, s| s.time.saturating_add_secs(evidence_secs) >= time);
            if self.signs.len() >= MAX_SOURCES {
                return;
            }
        }
        self.signs.insert(ip, WindowsSign { time, reason });
    }
}

impl Detector for UnusualKerberos {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let Some(ip) = activity.source_ip() else { return };
        if let ActivityKind::ServiceAccessed(access) = &activity.kind
            && access.offered_mechanisms.iter().any(|m| m == "negoex")
        {
            let reason =
                format!("its SPNEGO offer listed NEGOEX, as Windows' Negotiate does, at {}", activity.time);
            self.learn(ip, activity.time, reason);
        }
        // Judged against the Windows signs known before it; what it shows is learned after.
        if let Some(exchange) = as_exchange(activity)
            && let Some(request) = &exchange.request
        {
            let deviations = WINDOWS_AS_REQ.deviations(request);
            if deviations.is_empty() {
                let reason = format!("it sent Windows-shaped AS-REQs (last at {})", activity.time);
                self.learn(ip, activity.time, reason);
            } else if deviations.len() >= self.config.min_deviations
                && let Some(sign) = self.windows_sign(context, ip, activity.time)
            {
                let account = exchange
                    .client()
                    .map(|c| format!("{c}@{}", exchange.client_realm().unwrap_or(&request.realm)));
                if !account.as_deref().is_some_and(|a| lists_account(&self.config.exclude_actors, a)) {
                    let key = ip.to_string();
                    let accounts = self.episodes.named(&key, activity.time, account.clone());
                    let summary = format!("AS-REQ unlike Windows' ({})", deviations.join("; "));
                    let finding = Finding {
                        severity: META.base_severity,
                        description: format!(
                            "{ip}, a Windows computer ({sign}), asked for a TGT for {} with an AS-REQ Windows' \
                             Kerberos client never sends ({}); {}: a tool with its own Kerberos implementation \
                             (Rubeus, impacket, kekeo), typically with a stolen key (overpass-the-hash).",
                            if accounts.is_empty() {
                                "an account it did not name".to_owned()
                            } else {
                                name_list(accounts.iter(), 5)
                            },
                            deviations.join("; "),
                            kdc_answer(exchange),
                        ),
                        source: Finding::source_of(activity, account),
                        targets: AlertTargets { accounts, ..AlertTargets::default() },
                    };
                    let incident = self.episodes.record(&key, activity, summary);
                    alerts.raise(activity, &key, incident, finding);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use std::collections::BTreeSet;

    use crate::testing::extra::{extra_alerts, with_lab_directory, with_recording_directory};
    use crate::testing::lab::{BENIGN, assert_silent};

    fn corpus_alerts(path: &str, config: &DetectionConfig) -> Vec<orthrus_model::Alert> {
        let mut engine = crate::Engine::new(config, "test");
        for activity in orthrus_testkit::activities(&orthrus_testkit::corpus().join(path)) {
            engine.observe(&activity);
        }
        engine.finish().into_iter().filter(|a| a.detection == META.id).collect()
    }

    const RUBEUS: &str = "security-datasets/atomic/windows/credential_access/network/empire_shell_rubeus_asktgt_ptt/empire_shell_rubeus_asktgt_ptt_2020-09-21223848.cap";
    const WINDOWS_LOGON: &str = "suricata-verify/tests/krb5-krb5_msg_type/input.pcap";

    #[test]
    fn fires_on_rubeus_asktgt_from_a_windows_workstation() {
        // The workstation's own SMB logon offers NEGOEX (Windows' Negotiate); 30 s
        // later Rubeus asks for pgustavo's TGT with RC4 alone and without canonicalize.
        let alerts = corpus_alerts(RUBEUS, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("172.18.39.6".parse().unwrap()));
        assert_eq!(alert.severity, Severity::Medium);
        assert!(alert.targets.accounts.iter().any(|a| a.starts_with("pgustavo@")), "{:?}", alert.targets);
        for departure in
            ["without canonicalize", "only rc4-hmac offered", "till 2037-09-12T22:48:05Z", "NEGOEX"]
        {
            assert!(alert.description.contains(departure), "{departure}: {}", alert.description);
        }
        // Rubeus departs from Windows' AS-REQ in four ways: five asked for is silence.
        let mut config = DetectionConfig::default();
        config.settings_mut::<UnusualKerberos>().min_deviations = 5;
        assert!(corpus_alerts(RUBEUS, &config).is_empty());
        config.settings_mut::<UnusualKerberos>().min_deviations = 4;
        assert_eq!(corpus_alerts(RUBEUS, &config).len(), 1);
    }

    #[test]
    fn fires_on_impacket_from_a_computer_the_directory_calls_windows() {
        // WS02 (Windows 10 in the directory) logs its machine account on from 10.99.0.21;
        // impacket's getTGT then asks for alice's TGT there with her NT hash. The same tool at
        // 10.99.0.20, which nothing calls Windows, is not judged.
        let config = with_recording_directory("overpass_windows_workstation", DetectionConfig::default());
        let alerts = extra_alerts("overpass_windows_workstation", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.targets.accounts, BTreeSet::from(["alice@LAB.TEST".to_owned()]));
        for part in
            ["the directory says WS02 runs Windows 10 Enterprise", "only rc4-hmac offered", "no host address"]
        {
            assert!(alert.description.contains(part), "{part}: {}", alert.description);
        }
        // The lab's own directory does not call WS02 Windows: nothing to judge.
        assert!(
            extra_alerts(
                "overpass_windows_workstation",
                META.id,
                &with_lab_directory(DetectionConfig::default())
            )
            .is_empty()
        );
        let mut excluded = config.clone();
        excluded.settings_mut::<UnusualKerberos>().exclude_actors = vec!["alice".into()];
        assert!(extra_alerts("overpass_windows_workstation", META.id, &excluded).is_empty());
    }

    #[test]
    fn windows_own_as_req_matches_the_fingerprint() {
        // robin's logon at WS01: the real Windows client, pre-authentication and all.
        let activities = orthrus_testkit::activities(&orthrus_testkit::corpus().join(WINDOWS_LOGON));
        let requests: Vec<&KdcRequest> =
            activities.iter().filter_map(as_exchange).filter_map(|e| e.request.as_ref()).collect();
        assert_eq!(requests.len(), 2);
        for request in requests {
            assert_eq!(WINDOWS_AS_REQ.deviations(request), Vec::<String>::new());
        }
        assert!(corpus_alerts(WINDOWS_LOGON, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn silent_where_the_source_is_not_known_as_windows_or_is_excluded() {
        // The lab's tools (impacket getTGT with an NT hash, MIT kinit) run on Linux hosts.
        assert_silent(&["overpass_the_hash", "golden_ticket", "pass_the_ticket", "asrep_roast"], META.id);
        assert_silent(BENIGN, META.id);
        crate::testing::logs::assert_silent(META.id);
        let mut config = DetectionConfig::default();
        config.settings_mut::<UnusualKerberos>().exclude_actors = vec!["pgustavo".into()];
        assert!(corpus_alerts(RUBEUS, &config).is_empty());
        // A sign of Windows older than `windows_evidence_secs` is not trusted.
        let mut config = DetectionConfig::default();
        config.settings_mut::<UnusualKerberos>().windows_evidence_secs = 10;
        assert!(corpus_alerts(RUBEUS, &config).is_empty());
    }
}
