//! Enrichment: what the directory and network name resolution add to alerts.
//!
//! The engine's [`Context`] holds the directory and the one name resolution every activity
//! feeds; as each alert leaves the engine it is annotated from them: the source computer named
//! from its address (with method and confidence), every source and target account and
//! computer marked sensitive (and why), honeytoken or domain controller, and the severity
//! raised one level for detections that escalate on sensitive targets.

use std::net::IpAddr;

use orthrus_directory::{Directory, Found, NameResolver, Resolution};
use orthrus_model::{Alert, EntityRole, InvolvedEntity, NameResolutionNote, Severity};

use crate::DetectionMeta;
use crate::context::Context;

/// Annotates alerts from what the context knows.
pub struct Enricher<'a> {
    directory: &'a Directory,
    resolver: &'a NameResolver,
}

impl<'a> Enricher<'a> {
    pub fn new(context: &'a Context) -> Self {
        Self { directory: context.directory(), resolver: context.names() }
    }

    pub fn annotate(&self, alert: &mut Alert, meta: &DetectionMeta) {
        let mut entities = Vec::new();
        if let Some(account) = alert.source.account.clone() {
            entities.push(self.account(EntityRole::Source, &account));
        }
        if let Some(ip) = alert.source.ip {
            self.name_source(alert, ip);
        }
        if let Some(computer) = alert.source.computer.clone() {
            let mut entity = self.computer(EntityRole::Source, &computer);
            entity.domain_controller |= alert.source.ip.is_some_and(|ip| self.resolver.answered_as_kdc(ip));
            if let Some(ip) = alert.source.ip {
                alert.description = name_address(&alert.description, ip, &computer);
            }
            entities.push(entity);
        }
        for account in &alert.targets.accounts {
            entities.push(self.account(EntityRole::Target, account));
        }
        for computer in alert.targets.computers.clone() {
            let entity = match computer.parse::<IpAddr>() {
                Ok(ip) => {
                    let mut entity = match self.computer_at(ip) {
                        Some(name) => {
                            alert.description = name_address(&alert.description, ip, &name);
                            self.computer(EntityRole::Target, &name)
                        }
                        None => self.computer(EntityRole::Target, &computer),
                    };
                    entity.domain_controller |= self.resolver.answered_as_kdc(ip);
                    entity
                }
                Err(_) => self.computer(EntityRole::Target, &computer),
            };
            entities.push(entity);
        }
        for service in &alert.targets.services {
            if let Some(found) = self.directory.find_spn(service) {
                let mut entity = self.entity(EntityRole::Target, "account", service, Some(found));
                entity.name = found.object.name().to_owned();
                if !entities.contains(&entity) {
                    entities.push(entity);
                }
            }
        }
        let escalate = meta.escalates_for_sensitive
            && entities.iter().any(|e| e.role == EntityRole::Target && (e.sensitive || e.honeytoken));
        if escalate {
            alert.severity = match alert.severity {
                Severity::Low => Severity::Medium,
                Severity::Medium | Severity::High => Severity::High,
            };
        }
        alert.entities = entities;
    }

    /// The computer name at an address, as the directory spells it when it knows it.
    fn computer_at(&self, ip: IpAddr) -> Option<String> {
        self.resolver.resolve(ip).map(|r| self.computer_name(r))
    }

    fn computer_name(&self, resolution: Resolution) -> String {
        let found = resolution
            .dns_name
            .as_deref()
            .and_then(|dns| self.directory.find_computer(dns))
            .or_else(|| self.directory.find_computer(&resolution.computer));
        found.map_or(resolution.computer, |f| f.object.name().trim_end_matches('$').to_owned())
    }

    /// Names the source computer from its address (unless an event already named it) and notes
    /// how.
    fn name_source(&self, alert: &mut Alert, ip: IpAddr) {
        let Some(resolution) = self.resolver.resolve(ip) else { return };
        alert.source.resolution = Some(NameResolutionNote {
            confidence: resolution.confidence.name().to_owned(),
            methods: resolution.methods.iter().map(|m| m.name().to_owned()).collect(),
        });
        if alert.source.computer.is_none() {
            alert.source.computer = Some(self.computer_name(resolution));
        }
    }

    fn account(&self, role: EntityRole, name: &str) -> InvolvedEntity {
        let found = self.directory.find(name);
        let mut entity = self.entity(role, "account", name, found);
        entity.honeytoken |= self.directory.is_honeytoken_name(name);
        entity
    }

    fn computer(&self, role: EntityRole, name: &str) -> InvolvedEntity {
        self.entity(role, "computer", name, self.directory.find_computer(name))
    }

    fn entity(&self, role: EntityRole, kind: &str, name: &str, found: Option<Found<'_>>) -> InvolvedEntity {
        let sensitivity = found.as_ref().and_then(|f| self.directory.sensitivity(f));
        InvolvedEntity {
            role,
            kind: kind.to_owned(),
            name: name.to_owned(),
            directory_name: found.as_ref().map(Found::qualified_name),
            sid: found.as_ref().and_then(|f| f.object.sid.clone()),
            sensitive: sensitivity.is_some(),
            sensitive_reason: sensitivity.map(|s| s.reason.clone()),
            honeytoken: found.as_ref().is_some_and(|f| self.directory.is_honeytoken(f)),
            domain_controller: found.as_ref().is_some_and(|f| f.object.is_domain_controller()),
        }
    }
}

/// `… from 10.0.0.21 …` → `… from WS01 (10.0.0.21) …`, whole addresses only (10.0.0.2 is not
/// touched inside 10.0.0.21).
fn name_address(sentence: &str, ip: IpAddr, name: &str) -> String {
    let needle = ip.to_string();
    let mut out = String::with_capacity(sentence.len() + name.len() + 3);
    let mut rest = sentence;
    while let Some(at) = rest.find(&needle) {
        let (before, after) = rest.split_at(at);
        let after = after.get(needle.len()..).unwrap_or_default();
        let boundary_before = !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '.' || c == ':');
        // A longer address goes on with a digit (or, for IPv6, a hex digit or colon); a port
        // after an IPv4 address (`:445`) or a full stop ends it.
        let next_is = |f: fn(char) -> bool| after.get(1..).is_some_and(|a| a.starts_with(f));
        let continues_address = after.starts_with(|c: char| c.is_ascii_alphanumeric())
            || (after.starts_with('.') && next_is(|c| c.is_ascii_digit()))
            || (ip.is_ipv6() && after.starts_with(':') && next_is(|c| c.is_ascii_hexdigit() || c == ':'));
        let boundary_after = !continues_address;
        out.push_str(before);
        if boundary_before && boundary_after {
            out.push_str(&format!("{name} ({needle})"));
        } else {
            out.push_str(&needle);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lab::BENIGN;
    use crate::{DetectionConfig, Engine};
    use orthrus_directory::{EntityTags, Snapshot};
    use std::sync::Arc;

    /// The Samba lab's directory, synced with `orthrus directory sync` (testdata/directory).
    fn with_lab_directory(tags: EntityTags) -> DetectionConfig {
        let snapshot = Snapshot::load(&orthrus_testkit::fixture("directory/lab.snapshot.json")).unwrap();
        let mut config = DetectionConfig { entities: tags, ..DetectionConfig::default() };
        config.directory = Arc::new(Directory::new(snapshot, &config.entity_tags()));
        config
    }

    /// Every alert over the lab captures given, read as one sensor's timeline.
    fn run(captures: &[&str], config: &DetectionConfig) -> Vec<Alert> {
        let mut engine = Engine::new(config, "test");
        for capture in captures {
            for activity in orthrus_testkit::lab_activities(capture) {
                engine.observe(&activity);
            }
        }
        engine.finish()
    }

    fn entity<'a>(alert: &'a Alert, name: &str) -> &'a InvolvedEntity {
        alert.entities.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("{name} in {alert:#?}"))
    }

    #[test]
    fn a_sensitive_roasted_account_is_marked_and_raises_severity() {
        let plain = run(&["kerberoast"], &DetectionConfig::default());
        let [plain] = plain.as_slice() else { panic!("{plain:#?}") };
        assert_eq!((plain.detection.as_ref(), plain.severity), ("ORT-KRB-001", Severity::Medium));
        assert!(plain.entities.iter().all(|e| e.directory_name.is_none() && !e.sensitive));

        let enriched = run(&["kerberoast"], &with_lab_directory(EntityTags::default()));
        let [alert] = enriched.as_slice() else { panic!("{enriched:#?}") };
        assert_eq!(alert.severity, Severity::High, "svc_backup is in Backup Operators");
        let backup = entity(alert, "svc_backup");
        assert_eq!((backup.role, backup.sensitive), (EntityRole::Target, true));
        assert_eq!(backup.sensitive_reason.as_deref(), Some("member of Backup Operators"));
        assert_eq!(backup.directory_name.as_deref(), Some("LAB\\svc_backup"));
        let sql = entity(alert, "svc_sql");
        assert!(
            !sql.sensitive
                && !sql.honeytoken
                && sql.sid.as_deref().is_some_and(|s| s.starts_with("S-1-5-21-"))
        );
        assert_eq!(entity(alert, "bob").role, EntityRole::Source);
    }

    #[test]
    fn the_dc_a_sensor_watches_is_named_and_marked() {
        // The benign logon shows the DC accepting tickets for cifs/dc1.lab.test at its address,
        // as any sensor watching a DC sees all day; the attack that follows names it.
        let alerts = run(&["benign_logon", "remote_exec"], &with_lab_directory(EntityTags::default()));
        let alert = alerts.iter().find(|a| a.detection == "ORT-RPC-001").unwrap();
        assert!(alert.description.contains("DC1 (10.99.0.10)"), "{}", alert.description);
        let dc = entity(alert, "DC1");
        assert!(dc.domain_controller && dc.sensitive && dc.role == EntityRole::Target);
        assert_eq!(alert.severity, Severity::High, "a sensitive target raises it");
        let admin = entity(alert, "lab.test\\da_admin");
        assert_eq!(admin.sensitive_reason.as_deref(), Some("member of Domain Admins"));
    }

    #[test]
    fn the_attacker_is_named_from_its_own_ntlm_messages() {
        let config = with_lab_directory(EntityTags {
            honeytokens: vec!["LAB\\adm_legacy".into()],
            ..Default::default()
        });
        let alerts = run(&["honeytoken_auth"], &config);
        let alert = alerts.iter().find(|a| a.detection == "ORT-KRB-010").unwrap();
        assert_eq!(alert.source.computer.as_deref(), Some("VM"));
        let resolution = alert.source.resolution.as_ref().unwrap();
        assert_eq!(resolution.confidence, "medium");
        assert_eq!(resolution.methods, ["ntlm_workstation"]);
        assert!(alert.description.contains("from VM (10.99.0.21)"), "{}", alert.description);
        assert!(entity(alert, "adm_legacy").honeytoken);
    }

    #[test]
    fn a_decoy_service_account_fires_when_roasted() {
        // The classic decoy: a service account with an SPN nobody uses (the lab's SQL service
        // account; its SQL server does not exist). Tagged by its UPN-style name.
        let config = with_lab_directory(EntityTags {
            honeytokens: vec!["svc_sql@lab.test".into()],
            ..Default::default()
        });
        let alerts = run(&["kerberoast"], &config);
        let honey = alerts.iter().find(|a| a.detection == "ORT-KRB-010").unwrap();
        assert!(
            honey.description.contains("svc_sql") && honey.description.contains("service ticket for its SPN")
        );
        assert!(entity(honey, "svc_sql").honeytoken);
        // the benign captures never touch it, nor any other decoy; svc_web, whose intranet
        // site the workstation uses, would not be a decoy
        let quiet = with_lab_directory(EntityTags {
            honeytokens: vec!["svc_sql@lab.test".into(), "LAB\\adm_legacy".into(), "old_sqladmin".into()],
            sensitive: vec!["IT Staff".into()],
        });
        for capture in BENIGN {
            let alerts = run(&[capture], &quiet);
            assert!(alerts.is_empty(), "{capture}: {alerts:#?}");
        }
    }

    #[test]
    fn names_whole_addresses_only() {
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            name_address("Seen from 10.0.0.2 and 10.0.0.21, then 10.0.0.2.", ip, "WS01"),
            "Seen from WS01 (10.0.0.2) and 10.0.0.21, then WS01 (10.0.0.2)."
        );
        assert_eq!(name_address("used from 10.0.0.2: x", ip, "WS01"), "used from WS01 (10.0.0.2): x");
        assert_eq!(name_address("10.0.0.2.5 10.0.0.20", ip, "WS01"), "10.0.0.2.5 10.0.0.20");
    }
}
