//! Reconnaissance detections fed by the wire: DNS zone transfers, SMB session enumeration,
//! honeytokens looked up over LDAP and SAM-R, membership and attribute sweeps.

pub mod cldap_enumeration;
pub mod honeytoken_ldap_query;
pub mod honeytoken_samr_query;
pub mod ldap_attributes;
pub mod ldap_recon;
pub mod samr_membership;
pub mod session_enumeration;
pub mod zone_transfer;

use orthrus_model::{Activity, AlertTargets};

use crate::window::Incidents;
use crate::{Alerts, EventRuleConfig, Finding};

/// Attributes whose equality value names one object: an account, a group, a computer (the
/// CLDAP ping's `User` too).
pub(crate) const NAMING_ATTRIBUTES: &[&str] = &[
    "samaccountname",
    "userprincipalname",
    "cn",
    "name",
    "displayname",
    "distinguishedname",
    "objectsid",
    "objectguid",
    "anr",
    "mail",
    "dnshostname",
    "user",
];

/// One lookup that named honeytokens, as ORT-LDAP-002 and ORT-SAMR-002 see it.
pub(crate) struct DecoyQuery<'a> {
    /// The account that asked, when known.
    pub actor: Option<&'a str>,
    /// The honeytokens this lookup named (non-empty).
    pub decoys: Vec<String>,
    /// The protocol, for the sentence: `LDAP`, `SAM-R`.
    pub over: &'static str,
}

/// Raises the per-source alert of a honeytoken lookup, naming every decoy the source asked
/// about in the episode; `summary` words the evidence line from the asking account's name.
pub(crate) fn raise_decoy_query(
    episodes: &mut Incidents<String>,
    config: &EventRuleConfig,
    activity: &Activity,
    query: DecoyQuery<'_>,
    summary: impl FnOnce(&str) -> String,
    alerts: &mut Alerts<'_>,
) {
    let who = query.actor.unwrap_or("an unknown account");
    if config.excludes(who) {
        return;
    }
    let source = activity.source_id();
    let key = source.to_string();
    let queried = episodes.named(&key, activity.time, query.decoys.iter().cloned());
    let list = queried.iter().cloned().collect::<Vec<_>>().join(", ");
    let finding = Finding {
        severity: alerts.meta().base_severity,
        description: format!(
            "{source} ({who}) queried the honeytoken account{} {list} over {}.",
            if queried.len() == 1 { "" } else { "s" },
            query.over
        ),
        source: Finding::source_of(activity, query.actor.map(str::to_owned)),
        targets: AlertTargets { accounts: queried, ..AlertTargets::default() },
    };
    let incident = episodes.record(&key, activity, summary(who));
    alerts.raise(activity, &key, incident, finding);
}
