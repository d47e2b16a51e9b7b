use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{Provenance, SourceId, TenantId, Timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        })
    }
}

/// Text an alert carries: the registry's own (borrowed, for alerts a detection raises) or
/// owned (for alerts read back from a store).
pub type AlertText = Cow<'static, str>;

/// MITRE ATT&CK classification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mitre {
    pub tactic: AlertText,
    pub techniques: Vec<AlertText>,
}

/// MITRE ATT&CK's enterprise tactics in kill-chain order (ATT&CK's own matrix order): an
/// incident's stages are shown in this order.
pub const KILL_CHAIN: &[(&str, &str)] = &[
    ("TA0043", "Reconnaissance"),
    ("TA0042", "Resource Development"),
    ("TA0001", "Initial Access"),
    ("TA0002", "Execution"),
    ("TA0003", "Persistence"),
    ("TA0004", "Privilege Escalation"),
    ("TA0005", "Defense Evasion"),
    ("TA0006", "Credential Access"),
    ("TA0007", "Discovery"),
    ("TA0008", "Lateral Movement"),
    ("TA0009", "Collection"),
    ("TA0011", "Command and Control"),
    ("TA0010", "Exfiltration"),
    ("TA0040", "Impact"),
];

/// A MITRE ATT&CK tactic's name (`TA0006` → `Credential Access`); empty when unknown.
pub fn tactic_name(id: &str) -> &'static str {
    KILL_CHAIN.iter().find(|(tactic, _)| *tactic == id).map_or("", |(_, name)| name)
}

/// Where a tactic stands in the kill chain (unknown ones last).
pub fn kill_chain_position(id: &str) -> usize {
    KILL_CHAIN.iter().position(|(tactic, _)| *tactic == id).unwrap_or(KILL_CHAIN.len())
}

/// What the detection that raised an alert tells its sinks beyond the alert record: CEF's
/// `externalId` (MDI's external id when the detection matches one, else Orthrus' own in
/// 9000–9999) and `app` (the protocol or event source, in MDI's words). Carried by the alert,
/// so the sinks need no detection registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMeta {
    pub external_id: u16,
    pub app: AlertText,
}

/// Who the alert is about on the attacking side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSource {
    pub ip: Option<IpAddr>,
    /// The source computer's name, once network name resolution knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// How `computer` was learned from the address (network name resolution), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<NameResolutionNote>,
}

/// How an address was resolved to a computer, for the analyst to weigh.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameResolutionNote {
    /// `high`, `medium` or `low`.
    pub confidence: String,
    /// `kerberos_machine_account`, `ntlm_workstation`, `dns_answer`, ...
    pub methods: Vec<String>,
}

/// The side of the alert an entity is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityRole {
    Source,
    Target,
}

/// An account or computer the alert involves, as the directory knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvolvedEntity {
    pub role: EntityRole,
    /// `account` or `computer`.
    pub kind: String,
    /// The name as the alert gives it.
    pub name: String,
    /// `DOMAIN\name` when the directory knows the entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub sensitive: bool,
    /// Why it is sensitive: the group path or the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive_reason: Option<String>,
    pub honeytoken: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub domain_controller: bool,
}

impl AlertSource {
    /// A source known only by its address.
    pub fn from_ip(ip: IpAddr) -> Self {
        Self { ip: Some(ip), ..Self::default() }
    }

    /// A source known by its address, or by the computer name an event gave.
    pub fn from_id(id: &SourceId) -> Self {
        match id {
            SourceId::Ip(ip) => Self::from_ip(*ip),
            SourceId::Host(host) => Self { computer: Some(host.to_string()), ..Self::default() },
            SourceId::Unknown => Self::default(),
        }
    }
}

/// What was attacked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTargets {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub accounts: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub computers: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub services: BTreeSet<String>,
}

/// One piece of evidence: where to look, and what it shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(flatten)]
    pub at: Provenance,
    pub summary: String,
}

/// An alert record (architecture.md "Alert record"). It round-trips through JSON: what a
/// store keeps is what a reader gets back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub tenant: TenantId,
    pub detection: AlertText,
    pub title: AlertText,
    /// One readable sentence naming who did what to whom, from where.
    pub description: String,
    pub severity: Severity,
    pub status: AlertText,
    pub mitre: Mitre,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// How many activities the alert stands for.
    pub count: u64,
    pub source: AlertSource,
    pub targets: AlertTargets,
    /// Bounded list of provenance references, oldest first.
    pub evidence: Vec<Evidence>,
    /// Evidence items left out once the bound was reached.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub evidence_omitted: u64,
    pub sensor: String,
    /// Every source and target account and computer, with its sensitivity and honeytoken
    /// marks (filled by enrichment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<InvolvedEntity>,
    /// For the sinks (CEF): what the detection says of itself.
    #[serde(default)]
    pub cef: AlertMeta,
    /// The incident the alert belongs to (alerts sharing an entity within a window; set when
    /// the alert is first presented, then fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
