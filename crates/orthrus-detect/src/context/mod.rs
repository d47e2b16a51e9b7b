//! The engine's context: what every detection may know beside the activity in hand, kept
//! once and updated by the engine once per activity, after every detection has judged it: an
//! activity is judged against what was known before it, and never vouches for itself.
//!
//! - [`Directory`]: the tenant's directory snapshot (accounts, groups, computers,
//!   sensitivity, honeytokens).
//! - [`NameResolver`]: one network name resolution (address → computer) from what the
//!   traffic shows, what active lookups (reverse DNS) found, and the directory's DCs.
//! - [`KnownDcs`]: domain controllers as configured, in the directory, and learned.
//! - [`Honeytokens`]: the decoy accounts, by every name the directory knows them by.
//! - [`Tickets`]: the ticket memory (first sightings of each TGT, what the realms issue).
//!
//! A detection that needs one of these reads it here and keeps no copy: two detections
//! asking the same question get the same answer, and the alert's enrichment agrees with
//! them.

mod dcs;
mod honeytokens;
mod tickets;

use std::net::IpAddr;
use std::sync::Arc;

use orthrus_directory::{Directory, Method, NameResolver, Resolution};
use orthrus_model::{Activity, Timestamp};

pub use dcs::KnownDcs;
pub use honeytokens::Honeytokens;
pub use tickets::{MAX_TICKETS, RealmTgts, Sighting, TicketRecord, Tickets, UnexplainedTgt, local_tgt};

use crate::DetectionConfig;

pub struct Context {
    directory: Arc<Directory>,
    names: NameResolver,
    dcs: KnownDcs,
    honeytokens: Honeytokens,
    tickets: Tickets,
}

impl Context {
    pub fn new(config: &DetectionConfig) -> Self {
        let directory = config.directory.clone();
        let mut names = NameResolver::new();
        let dcs = directory.domain_controllers();
        names.know_servers(dcs.iter().map(|dc| dc.object.name()));
        names.know_servers(dcs.iter().filter_map(|dc| dc.object.dns_host_name.as_deref()));
        Self {
            dcs: KnownDcs::new(&config.domain_controllers, &directory),
            honeytokens: Honeytokens::new(&config.entity_tags(), directory.clone()),
            directory,
            names,
            tickets: Tickets::default(),
        }
    }

    /// Learns from one activity; the engine calls it once per activity, after the detectors.
    pub fn observe(&mut self, activity: &Activity) {
        self.names.observe(activity);
        self.dcs.learn(activity);
        self.tickets.observe(activity);
    }

    /// Records a name an active lookup (reverse DNS) found for an address.
    pub fn learn_name(&mut self, ip: IpAddr, name: &str, method: Method, time: Timestamp) {
        self.names.record(ip, name, method, time);
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn names(&self) -> &NameResolver {
        &self.names
    }

    /// The computer at an address, as name resolution knows it.
    pub fn resolve(&self, ip: IpAddr) -> Option<Resolution> {
        self.names.resolve(ip)
    }

    pub fn dcs(&self) -> &KnownDcs {
        &self.dcs
    }

    pub fn honeytokens(&self) -> &Honeytokens {
        &self.honeytokens
    }

    pub fn tickets(&self) -> &Tickets {
        &self.tickets
    }
}
