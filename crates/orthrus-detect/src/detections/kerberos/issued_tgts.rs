//! What the KDCs in view issue as TGTs, for judging a TGT presented that no issuance explains
//! (ORT-KRB-008's key version, ORT-KRB-009's encryption type). Not a detection.
//!
//! Every writable DC of a domain encrypts its TGTs with the same krbtgt keys, so the TGTs
//! seen issued tell the realm's current key version and encryption type even when the sensor
//! watches one DC of several. A TGT forged offline (golden ticket) was never issued: its
//! fingerprint is unknown, and its key version and encryption type are whatever the forger
//! chose — the krbtgt NT hash makes RC4 tickets, tools write key version 2.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;

use orthrus_model::{Activity, AlertTargets, EncryptionType, KerberosExchange, Severity, TicketInfo};
use serde::Deserialize;

use super::{as_exchange, name_list, tgs_exchange};
use crate::detections::windows::{Finding, NamedEpisodes, lists_account};
use crate::{AlertUpdate, DetectionMeta};

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

impl PresentedTgtConfig {
    pub fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("min_issued_tgts", self.min_issued_tgts.to_string()),
            ("window_secs", self.window_secs.to_string()),
        ]
    }

    pub fn excludes(&self, account: &str) -> bool {
        lists_account(&self.exclude_actors, account)
    }
}

/// Tickets remembered at most (the oldest forgotten first).
const MAX_TICKETS: usize = 200_000;

/// What a detection remembers of each ticket, by fingerprint: the first record kept, at most
/// [`MAX_TICKETS`] tickets, the oldest forgotten first.
pub(crate) struct TicketMemory<V> {
    tickets: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V> Default for TicketMemory<V> {
    fn default() -> Self {
        Self { tickets: HashMap::new(), order: VecDeque::new() }
    }
}

impl<V> TicketMemory<V> {
    pub fn get(&self, id: &str) -> Option<&V> {
        self.tickets.get(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.tickets.contains_key(id)
    }

    /// Keeps `value` for a ticket not remembered yet (a known ticket keeps its first record).
    pub fn remember(&mut self, id: &str, value: V) {
        if self.tickets.contains_key(id) {
            return;
        }
        self.tickets.insert(id.to_owned(), value);
        self.order.push_back(id.to_owned());
        while self.order.len() > MAX_TICKETS {
            if let Some(oldest) = self.order.pop_front() {
                self.tickets.remove(&oldest);
            }
        }
    }
}

/// The TGTs seen issued for one realm.
#[derive(Debug, Default, Clone)]
pub(crate) struct RealmTgts {
    pub issued: u64,
    pub etypes: BTreeSet<EncryptionType>,
    /// Key versions of writable DCs' krbtgt (RODCs' carry their number in the high half and
    /// are not kept).
    pub kvnos: BTreeSet<u32>,
}

/// A TGS-REQ presenting a TGT of its own realm that no issuance in view explains.
pub(crate) struct UnexplainedTgt<'a> {
    pub exchange: &'a KerberosExchange,
    pub ticket: &'a TicketInfo,
    /// What the realm's KDCs were seen issuing before it.
    pub realm: &'a RealmTgts,
}

#[derive(Default)]
pub(crate) struct IssuedTgts {
    ids: TicketMemory<()>,
    realms: HashMap<String, RealmTgts>,
}

/// A ticket for the realm's own ticket-granting service (`krbtgt/REALM` in REALM): not a
/// referral to another realm.
pub(crate) fn local_tgt(ticket: &TicketInfo) -> bool {
    ticket.sname.split_once('/').is_some_and(|(service, realm)| {
        service.eq_ignore_ascii_case("krbtgt") && realm.eq_ignore_ascii_case(&ticket.realm)
    })
}

impl IssuedTgts {
    /// Learns from a KDC reply issuing a TGT (AS-REP, or TGS-REP of a renewal); returns the
    /// TGT a TGS-REQ presents when it is local and was never seen issued.
    pub fn observe<'a>(&'a mut self, activity: &'a Activity) -> Option<UnexplainedTgt<'a>> {
        let exchange = match (as_exchange(activity), tgs_exchange(activity)) {
            (Some(exchange), _) => {
                self.learn(exchange);
                return None;
            }
            (None, Some(exchange)) => exchange,
            (None, None) => return None,
        };
        self.learn(exchange);
        let ticket = exchange.request.as_ref()?.presented_ticket.as_ref()?;
        if !local_tgt(ticket) || self.ids.contains(&ticket.id) {
            return None;
        }
        let realm = self.realms.get(&ticket.realm.to_ascii_uppercase())?;
        Some(UnexplainedTgt { exchange, ticket, realm })
    }

    fn learn(&mut self, exchange: &KerberosExchange) {
        let Some(issued) = exchange.issued() else { return };
        let ticket = &issued.ticket;
        if !local_tgt(ticket) || self.ids.contains(&ticket.id) {
            return;
        }
        let realm = self.realms.entry(ticket.realm.to_ascii_uppercase()).or_default();
        realm.issued += 1;
        realm.etypes.insert(ticket.etype);
        if let Some(kvno) = ticket.kvno.filter(|k| *k <= 0xFFFF) {
            realm.kvnos.insert(kvno);
        }
        self.ids.remember(&ticket.id, ());
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
#[allow(clippy::too_many_arguments)]
pub(crate) fn raise_presented(
    meta: &'static DetectionMeta,
    episodes: &mut NamedEpisodes,
    config: &PresentedTgtConfig,
    activity: &Activity,
    exchange: &KerberosExchange,
    severity: Severity,
    wording: Wording,
    updates: &mut Vec<AlertUpdate>,
) {
    let account = exchange.issued().map(|i| format!("{}@{}", i.cname, i.crealm));
    if account.as_deref().is_some_and(|a| config.excludes(a)) {
        return;
    }
    let source = activity.source_id();
    let service = exchange.service().unwrap_or("a service").to_owned();
    let answer = kdc_answer(exchange);
    let key = source.to_string();
    let services = episodes.add(&key, activity.time, [service.clone()]);
    let for_account = account.as_ref().map(|a| format!(" for {a}")).unwrap_or_default();
    let finding = Finding {
        key,
        summary: format!("TGS-REQ for {service} with {}: {answer}", wording.summary),
        description: (wording.sentence)(
            &source.to_string(),
            &for_account,
            &name_list(services.iter(), 5),
            &answer,
        ),
        severity,
        actor: account.clone(),
        targets: AlertTargets {
            accounts: account.into_iter().collect::<BTreeSet<_>>(),
            services,
            ..AlertTargets::default()
        },
    };
    episodes.raise(meta, activity, finding, updates);
}

/// The KDC's answer to the TGS-REQ, for sentences.
pub(crate) fn kdc_answer(exchange: &KerberosExchange) -> String {
    match &exchange.outcome {
        orthrus_model::KdcOutcome::Issued(_) => "the KDC issued the ticket".to_owned(),
        orthrus_model::KdcOutcome::Failed(failure) => format!("the KDC refused it ({})", failure.code),
        orthrus_model::KdcOutcome::NoReply => "the KDC's answer was not seen".to_owned(),
    }
}
