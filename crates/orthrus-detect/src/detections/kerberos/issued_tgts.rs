//! What the KDCs in view issue as TGTs, for judging a TGT presented that no issuance explains
//! (ORT-KRB-008's key version, ORT-KRB-009's encryption type). Not a detection.
//!
//! Every writable DC of a domain encrypts its TGTs with the same krbtgt keys, so the TGTs
//! seen issued tell the realm's current key version and encryption type even when the sensor
//! watches one DC of several. A TGT forged offline (golden ticket) was never issued: its
//! fingerprint is unknown, and its key version and encryption type are whatever the forger
//! chose — the krbtgt NT hash makes RC4 tickets, tools write key version 2.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use orthrus_model::{Activity, EncryptionType, KerberosExchange, TicketInfo};

use super::{as_exchange, tgs_exchange};

/// TGT fingerprints remembered at most (the oldest forgotten first).
const MAX_TICKETS: usize = 200_000;

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
    ids: HashSet<String>,
    order: VecDeque<String>,
    realms: HashMap<String, RealmTgts>,
}

/// A ticket for the realm's own ticket-granting service (`krbtgt/REALM` in REALM): not a
/// referral to another realm.
fn local_tgt(ticket: &TicketInfo) -> bool {
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
        self.ids.insert(ticket.id.clone());
        self.order.push_back(ticket.id.clone());
        while self.order.len() > MAX_TICKETS {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }
}

/// The KDC's answer to the TGS-REQ, for sentences.
pub(crate) fn kdc_answer(exchange: &KerberosExchange) -> String {
    match &exchange.outcome {
        orthrus_model::KdcOutcome::Issued(_) => "the KDC issued the ticket".to_owned(),
        orthrus_model::KdcOutcome::Failed(failure) => format!("the KDC refused it ({})", failure.code),
        orthrus_model::KdcOutcome::NoReply => "the KDC's answer was not seen".to_owned(),
    }
}
