//! Exclusions: sources a detection (or every detection) never alerts on — addresses and
//! subnets, accounts, computers — with the reason an administrator gave.
//!
//! ```toml
//! [exclusions.global]                  # every detection
//! addresses = ["10.0.5.0/24"]          # the vulnerability scanners' subnet
//! reason = "scanners"
//!
//! [exclusions.ORT-DRS-001]             # one detection, by id
//! accounts = ["CORP\\svc-aadsync"]     # Entra Connect replicates on purpose
//! computers = ["AADSYNC01"]
//! ```
//!
//! Addresses and subnets apply to activities before the detection sees them (an excluded
//! scanner never fills a counter); accounts and computers apply to the alert's source once the
//! alert is complete, because a source's account or computer is often known only then (from
//! the directory or name resolution).

use std::net::IpAddr;

use ipnet::IpNet;
use orthrus_model::{Activity, Alert};
use serde::Deserialize;

use crate::names::host_key;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Exclusion {
    /// Addresses (`10.0.0.5`) and subnets (`10.0.5.0/24`, `fd00::/8`).
    pub addresses: Vec<Address>,
    /// Accounts in any form (`CORP\svc`, `svc@corp.example`, `svc`), compared by bare name,
    /// case-insensitively.
    pub accounts: Vec<String>,
    /// Computers by NetBIOS or DNS name, case-insensitively.
    pub computers: Vec<String>,
    /// Why: shown nowhere yet, kept so a config explains itself.
    pub reason: Option<String>,
}

/// An address or a subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address(pub IpNet);

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map(Address)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an address or a subnet")))
    }
}

/// The exclusions that apply to one detection: its own and the global ones.
#[derive(Debug, Clone, Default)]
pub struct Applicable {
    addresses: Vec<IpNet>,
    accounts: Vec<String>,
    computers: Vec<String>,
}

impl Applicable {
    pub fn new<'a>(exclusions: impl IntoIterator<Item = &'a Exclusion>, sources: &[IpAddr]) -> Self {
        let mut applicable = Applicable {
            addresses: sources.iter().map(|ip| IpNet::from(*ip)).collect(),
            ..Applicable::default()
        };
        for exclusion in exclusions {
            applicable.addresses.extend(exclusion.addresses.iter().map(|a| a.0));
            applicable
                .accounts
                .extend(exclusion.accounts.iter().map(|a| orthrus_directory::bare_account_name(a)));
            applicable.computers.extend(exclusion.computers.iter().map(|c| host_key(c)));
        }
        applicable
    }

    fn address(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|net| net.contains(&ip))
    }

    /// Whether the detection must not see this activity.
    pub fn skips(&self, activity: &Activity) -> bool {
        activity.source_ip().is_some_and(|ip| self.address(ip))
            || activity.source_host.as_deref().is_some_and(|h| self.computers.contains(&host_key(h)))
    }

    /// Whether the finished alert's source is excluded.
    pub fn suppresses(&self, alert: &Alert) -> bool {
        alert.source.ip.is_some_and(|ip| self.address(ip))
            || alert
                .source
                .account
                .as_deref()
                .is_some_and(|a| self.accounts.contains(&orthrus_directory::bare_account_name(a)))
            || alert.source.computer.as_deref().is_some_and(|c| self.computers.contains(&host_key(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lab::alerts_for;
    use crate::{DetectionConfig, Engine};

    fn run(capture: &str, toml: &str) -> Vec<Alert> {
        let config = DetectionConfig::from_toml(toml).unwrap();
        let mut engine = Engine::new(&config, "test");
        for activity in orthrus_testkit::lab_activities(capture) {
            engine.observe(&activity);
        }
        engine.finish()
    }

    #[test]
    fn an_excluded_replication_account_is_silent_and_others_still_alert() {
        assert_eq!(run("dcsync", "").len(), 1);
        let by_account =
            "[exclusions.ORT-DRS-001]\naccounts = [\"LAB\\\\da_admin\"]\nreason = \"directory sync\"\n";
        assert!(run("dcsync", by_account).is_empty());
        // the same exclusion for another detection leaves DCSync alone
        assert_eq!(run("dcsync", "[exclusions.ORT-KRB-001]\naccounts = [\"da_admin\"]\n").len(), 1);
    }

    #[test]
    fn subnets_and_computers_apply_globally() {
        assert!(run("kerberoast", "[exclusions.global]\naddresses = [\"10.99.0.0/24\"]\n").is_empty());
        assert_eq!(
            run("kerberoast", "[exclusions.global]\naddresses = [\"10.98.0.0/16\", \"10.99.0.20\"]\n").len(),
            1
        );
        // the honeytoken user's source is named VM from its NTLM messages: excluded by name
        let honey = "[honeytoken]\naccounts = [\"adm_legacy\"]\n";
        assert_eq!(run("honeytoken_auth", honey).len(), 1);
        let excluded = format!("{honey}[exclusions.ORT-KRB-010]\ncomputers = [\"vm.lab.test\"]\n");
        assert!(run("honeytoken_auth", &excluded).is_empty());
        assert!(
            alerts_for("honeytoken_auth", "ORT-KRB-010", &DetectionConfig::from_toml(honey).unwrap()).len()
                == 1
        );
    }

    #[test]
    fn mistakes_in_exclusions_are_errors() {
        for bad in [
            "[exclusions.ORT-XYZ-999]\naccounts = [\"a\"]\n",
            "[exclusions.global]\naddresses = [\"10.0.0.0/33\"]\n",
            "[exclusions.global]\nusers = [\"a\"]\n",
        ] {
            assert!(DetectionConfig::from_toml(bad).is_err(), "{bad}");
        }
    }
}
