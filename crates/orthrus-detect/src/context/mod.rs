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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::extra::with_lab_directory;

    /// The lab DC's address (../shared/lab/README.md).
    const DC: &str = "10.99.0.10";

    /// Every lab recording, its capture and its DC's audit log read as one timeline.
    fn recordings() -> Vec<(String, Vec<Activity>)> {
        orthrus_testkit::lab_manifest()
            .into_iter()
            .map(|row| {
                let name = row.name.clone();
                let mut activities = orthrus_testkit::lab_activities(&name);
                let audit = orthrus_testkit::fixture(&format!("audit/{name}.audit.jsonl"));
                if std::fs::metadata(&audit).is_ok_and(|m| m.len() > 0) {
                    activities.extend(orthrus_testkit::log_activities(&audit));
                }
                activities.sort_by_key(|a| a.time);
                (name, activities)
            })
            .collect()
    }

    /// Name resolution against the lab's truth, recording by recording: the DC's address is
    /// DC1 or unresolved; no other address takes a name the directory gives a computer (the
    /// attacker is joined to nothing, and what its tools claim, `VM`, is no directory
    /// computer's name; the workstation names itself nowhere in these recordings).
    #[test]
    fn lab_addresses_resolve_to_their_own_names_or_to_nothing() {
        let with_directory = with_lab_directory(DetectionConfig::default());
        let directory = with_directory.directory.clone();
        let dc: IpAddr = DC.parse().unwrap();
        let mut named_dc = Vec::new();
        // With the directory, and without: resolution knows the DCs' names only from it.
        let configs = [with_directory.clone(), DetectionConfig::default()];
        for ((name, activities), config) in
            recordings().iter().flat_map(|r| configs.iter().map(move |c| (r, c)))
        {
            let mut context = Context::new(config);
            for activity in activities {
                context.observe(activity);
            }
            for (ip, resolution) in context.names().resolved() {
                if ip == dc {
                    assert_eq!(resolution.computer, "DC1", "{name}: {resolution:?}");
                    named_dc.push(name.clone());
                } else {
                    assert!(
                        directory.find_computer(&resolution.computer).is_none(),
                        "{name}: {ip} named as the directory's {resolution:?}"
                    );
                }
            }
        }
        // The DC named where only its own log names it: DRSUAPI over NTLM (dcsync), an LDAP
        // simple bind (group_membership_change).
        for recording in ["dcsync", "group_membership_change", "benign_logon"] {
            assert!(named_dc.iter().any(|n| n == recording), "{recording}: DC1 unnamed; {named_dc:?}");
        }
        // From the wire alone: secretsdump asked for `cifs/dc1.lab.test`, and the DC's NTLM
        // challenge gave its name as DC1.
        let mut context = Context::new(&DetectionConfig::default());
        for activity in orthrus_testkit::lab_activities("dcsync") {
            context.observe(&activity);
        }
        let resolution = context.resolve(dc).expect("the DC named by the capture alone");
        assert_eq!(resolution.computer, "DC1");
        assert!(resolution.methods.contains(&Method::NtlmServerName), "{resolution:?}");
    }
}
