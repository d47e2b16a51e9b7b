//! Detections fed by Kerberos exchanges, from the wire or from the KDC's events
//! 4768/4769/4771 (the same activities).

pub mod account_enumeration;
pub mod asrep_roasting;
pub mod brute_force;
pub mod forged_pac;
pub mod golden_ticket_downgrade;
pub mod golden_ticket_kvno;
pub mod golden_ticket_lifetime;
pub mod golden_ticket_nonexistent;
pub mod honeytoken;
pub mod kerberoasting;
pub mod pass_the_ticket;
pub mod presented_tgt;
pub mod unusual_implementation;

use orthrus_model::{Activity, ActivityKind, KerberosExchange};

/// The AS exchange of a TGT request.
pub(crate) fn as_exchange(activity: &Activity) -> Option<&KerberosExchange> {
    match &activity.kind {
        ActivityKind::TgtRequested(ex) => Some(ex),
        _ => None,
    }
}

/// The TGS exchange of a service-ticket request.
pub(crate) fn tgs_exchange(activity: &Activity) -> Option<&KerberosExchange> {
    match &activity.kind {
        ActivityKind::ServiceTicketRequested(ex) => Some(ex),
        _ => None,
    }
}
