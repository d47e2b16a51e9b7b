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

use crate::detections::windows::{EventRuleConfig, Finding, NamedEpisodes};
use crate::{AlertUpdate, DetectionMeta};

/// One assertion of a rendered RFC 4515 filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assertion<'a> {
    pub attribute: &'a str,
    /// As rendered (escapes kept); an extensible match's rule is dropped.
    pub value: &'a str,
    /// `(attr=value)` — equality, presence or substring — rather than `>=`, `<=`, `~=` or an
    /// extensible `:rule:=`.
    pub equality: bool,
}

/// The assertions of a rendered RFC 4515 filter: `(attr=v)`, `(attr>=v)`, `(attr~=v)`, and
/// extensible matches `(attr:rule:=v)`.
pub fn filter_assertions(filter: &str) -> Vec<Assertion<'_>> {
    filter
        .split('(')
        .filter_map(|item| {
            let end = item.find(['=', '~', '<', '>', ':'])?;
            let attribute = item.get(..end)?.trim();
            let value_start = item.find('=')? + 1;
            let value = item.get(value_start..)?;
            let value = value.split(')').next().unwrap_or(value);
            let equality = end + 1 == value_start;
            (!attribute.is_empty() && !attribute.starts_with(['&', '|', '!'])).then_some(Assertion {
                attribute,
                value,
                equality,
            })
        })
        .collect()
}

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

/// RFC 4515 `\XX` escapes; bytes that do not form UTF-8 are replaced.
pub(crate) fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'\\', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

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
    meta: &'static DetectionMeta,
    episodes: &mut NamedEpisodes,
    config: &EventRuleConfig,
    activity: &Activity,
    query: DecoyQuery<'_>,
    summary: impl FnOnce(&str) -> String,
    updates: &mut Vec<AlertUpdate>,
) {
    let who = query.actor.unwrap_or("an unknown account");
    if config.excludes(who) {
        return;
    }
    let source = activity.source_id();
    let key = source.to_string();
    let queried = episodes.add(&key, activity.time, query.decoys.iter().cloned());
    let list = queried.iter().cloned().collect::<Vec<_>>().join(", ");
    let finding = Finding {
        key,
        summary: summary(who),
        description: format!(
            "{source} ({who}) queried the honeytoken account{} {list} over {}.",
            if queried.len() == 1 { "" } else { "s" },
            query.over
        ),
        severity: meta.base_severity,
        actor: query.actor.map(str::to_owned),
        targets: AlertTargets { accounts: queried, ..AlertTargets::default() },
    };
    episodes.raise(meta, activity, finding, updates);
}

#[cfg(test)]
pub(crate) mod testing {
    //! The recordings of testdata/lab-extra (made with the lab script and
    //! testdata/lab-extra/scenarios.sh) and the lab's directory snapshot.

    use std::sync::Arc;

    use orthrus_directory::{Directory, Snapshot};
    use orthrus_model::Alert;

    use crate::{DetectionConfig, Engine};

    /// `config` with the Samba lab's synced directory (testdata/directory/lab.snapshot.json).
    pub fn with_lab_directory(mut config: DetectionConfig) -> DetectionConfig {
        let snapshot = Snapshot::load(&orthrus_testkit::fixture("directory/lab.snapshot.json")).unwrap();
        config.directory = Arc::new(Directory::new(snapshot, &config.entity_tags()));
        config
    }

    /// `config` with the directory synced after recording testdata/lab-extra/NAME (its
    /// NAME.snapshot.json: the scenario changed the directory first).
    pub fn with_recording_directory(name: &str, mut config: DetectionConfig) -> DetectionConfig {
        let path = orthrus_testkit::fixture(&format!("lab-extra/{name}.snapshot.json"));
        let snapshot = Snapshot::load(&path).unwrap();
        config.directory = Arc::new(Directory::new(snapshot, &config.entity_tags()));
        config
    }

    fn alerts_over(paths: &[std::path::PathBuf], id: &str, config: &DetectionConfig) -> Vec<Alert> {
        let mut engine = Engine::new(config, "test");
        for path in paths {
            let activities = if path.extension().is_some_and(|e| e == "pcap") {
                orthrus_testkit::activities(path)
            } else {
                crate::detections::windows::testing::event_activities(path)
            };
            for activity in activities {
                engine.observe(&activity);
            }
        }
        engine.finish().into_iter().filter(|a| a.detection == id).collect()
    }

    /// Alerts of detection `id` over testdata/lab-extra/NAME.pcap.
    pub fn extra_alerts(name: &str, id: &str, config: &DetectionConfig) -> Vec<Alert> {
        alerts_over(&[orthrus_testkit::fixture(&format!("lab-extra/{name}.pcap"))], id, config)
    }

    /// Alerts of detection `id` over several testdata/lab-extra recordings read as one timeline.
    pub fn extra_alerts_together(names: &[&str], id: &str, config: &DetectionConfig) -> Vec<Alert> {
        let paths: Vec<_> =
            names.iter().map(|name| orthrus_testkit::fixture(&format!("lab-extra/{name}.pcap"))).collect();
        alerts_over(&paths, id, config)
    }

    /// Alerts of detection `id` over testdata/lab-extra/NAME.audit.jsonl (the DC's log).
    pub fn extra_audit_alerts(name: &str, id: &str, config: &DetectionConfig) -> Vec<Alert> {
        alerts_over(&[orthrus_testkit::fixture(&format!("lab-extra/{name}.audit.jsonl"))], id, config)
    }

    /// Alerts of detection `id` over each lab capture (testdata/pcap), run one by one.
    pub fn lab_alerts_with(captures: &[&str], id: &str, config: &DetectionConfig) -> Vec<Alert> {
        captures
            .iter()
            .flat_map(|c| alerts_over(&[orthrus_testkit::fixture(&format!("pcap/{c}.pcap"))], id, config))
            .collect()
    }
}
