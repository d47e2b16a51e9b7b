//! Which hosts are domain controllers: configured, in the directory, and learned from what
//! only a DC does.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_directory::Directory;
use orthrus_model::{Activity, ActivityKind, KdcOutcome};

use crate::names::host_key;

/// Domain controllers, as configured (names or addresses), as the directory lists them and as
/// learned: only a KDC logs TGT and service-ticket requests (4768/4769/4771) or answers them
/// on the wire, and only a DC serves directory replication, so whoever does is a DC.
#[derive(Debug, Default, Clone)]
pub struct KnownDcs {
    names: BTreeSet<String>,
    addresses: BTreeSet<IpAddr>,
}

impl KnownDcs {
    /// The DCs the config lists (names or addresses) and those the directory snapshot holds
    /// (by name: the snapshot has no addresses).
    pub fn new(configured: &[String], directory: &Directory) -> Self {
        let mut dcs = Self::default();
        for entry in configured {
            match entry.parse::<IpAddr>() {
                Ok(ip) => {
                    dcs.addresses.insert(ip);
                }
                Err(_) => {
                    dcs.names.insert(host_key(entry));
                }
            }
        }
        for dc in directory.domain_controllers() {
            dcs.names.insert(host_key(dc.object.name()));
            if let Some(dns) = &dc.object.dns_host_name {
                dcs.names.insert(host_key(dns));
            }
        }
        dcs
    }

    /// Learns from what only a DC does: answering a KDC request on the wire, logging one, or
    /// serving DRSUAPI.
    pub fn learn(&mut self, activity: &Activity) {
        match &activity.kind {
            ActivityKind::TgtRequested(ex) | ActivityKind::ServiceTicketRequested(ex) => {
                if let Some(host) = &activity.destination_host {
                    self.names.insert(host_key(host));
                }
                let answered = !matches!(ex.outcome, KdcOutcome::NoReply);
                if let (Some(server), true) = (activity.destination, answered && !activity.from_event_log()) {
                    self.addresses.insert(server.ip);
                }
            }
            ActivityKind::RpcCalled(call) if call.interface == "drsuapi" => {
                if let Some(server) = activity.destination {
                    self.addresses.insert(server.ip);
                }
            }
            _ => {}
        }
    }

    /// Whether the computer of that name (NetBIOS, DNS or account name) is a DC.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(&host_key(name))
    }

    pub fn contains_address(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&ip)
    }

    /// Whether no DC is known by name.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_names_and_addresses_are_dcs() {
        let dcs = KnownDcs::new(&["DC1.corp.example".into(), "10.0.0.10".into()], &Directory::default());
        assert!(dcs.contains("dc1$") && dcs.contains("DC1"));
        assert!(dcs.contains_address("10.0.0.10".parse().unwrap()));
        assert!(!dcs.contains("ws01") && !dcs.contains_address("10.0.0.11".parse().unwrap()));
    }
}
