//! What the golden-ticket checks of a presented TGT share (ORT-KRB-008's key version,
//! ORT-KRB-009's encryption type): their settings and their alert. What the realm's KDCs
//! issue, and whether a presented TGT was seen issued, is the engine context's ticket memory
//! ([`crate::context::Tickets`]). Not a detection.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, AlertTargets, KerberosExchange, Severity};
use serde::Deserialize;

use crate::names::{lists_account, name_list};
use crate::window::Incidents;
use crate::{Alerts, Finding, Settings};

/// Settings shared by the golden-ticket checks of a presented TGT against the TGTs seen
/// issued (ORT-KRB-008 and ORT-KRB-009).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresentedTgtConfig {
    /// TGTs of a realm seen issued before its presented TGTs are judged.
    pub min_issued_tgts: u64,
    pub window_secs: u64,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for PresentedTgtConfig {
    fn default() -> Self {
        Self {
            min_issued_tgts: 3,
            window_secs: 3600,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for PresentedTgtConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("min_issued_tgts", self.min_issued_tgts.to_string()),
            ("window_secs", self.window_secs.to_string()),
        ]
    }
}

impl PresentedTgtConfig {
    pub fn excludes(&self, account: &str) -> bool {
        lists_account(&self.exclude_actors, account)
    }
}

/// How a golden-ticket check words its finding: the evidence line's middle ("a TGT of key
/// version 2 never seen issued") and the sentence from (source, " for account" or "",
/// services asked for, the KDC's answer).
pub(crate) struct Wording {
    pub summary: String,
    pub sentence: Sentence,
}

/// The alert's sentence from (source, " for account" or "", services asked for, answer).
pub(crate) type Sentence = Box<dyn FnOnce(&str, &str, &str, &str) -> String>;

/// Raises the per-source alert of a presented TGT a golden-ticket check found wrong, naming
/// the account (from the KDC's answer) and the services asked for; silent for excluded
/// accounts.
pub(crate) fn raise_presented(
    episodes: &mut Incidents<String>,
    config: &PresentedTgtConfig,
    activity: &Activity,
    exchange: &KerberosExchange,
    severity: Severity,
    wording: Wording,
    alerts: &mut Alerts<'_>,
) {
    let account = exchange.issued().map(|i| format!("{}@{}", i.cname, i.crealm));
    if account.as_deref().is_some_and(|a| config.excludes(a)) {
        return;
    }
    let source = activity.source_id();
    let service = exchange.service().unwrap_or("a service").to_owned();
    let answer = kdc_answer(exchange);
    let key = source.to_string();
    let services = episodes.named(&key, activity.time, [service.clone()]);
    let for_account = account.as_ref().map(|a| format!(" for {a}")).unwrap_or_default();
    let summary = format!("TGS-REQ for {service} with {}: {answer}", wording.summary);
    let finding = Finding {
        severity,
        description: (wording.sentence)(
            &source.to_string(),
            &for_account,
            &name_list(services.iter(), 5),
            &answer,
        ),
        source: Finding::source_of(activity, account.clone()),
        targets: AlertTargets {
            accounts: account.into_iter().collect::<BTreeSet<_>>(),
            services,
            ..AlertTargets::default()
        },
    };
    let incident = episodes.record(&key, activity, summary);
    alerts.raise(activity, &key, incident, finding);
}

/// The KDC's answer to the TGS-REQ, for sentences.
pub(crate) fn kdc_answer(exchange: &KerberosExchange) -> String {
    match &exchange.outcome {
        orthrus_model::KdcOutcome::Issued(_) => "the KDC issued the ticket".to_owned(),
        orthrus_model::KdcOutcome::Failed(failure) => format!("the KDC refused it ({})", failure.code),
        orthrus_model::KdcOutcome::NoReply => "the KDC's answer was not seen".to_owned(),
    }
}
