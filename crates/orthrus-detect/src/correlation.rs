//! Incidents: alerts that share an entity within a window, tied together so that an analyst
//! reads one attack once (mdi-model.md section 8: "incidents = alerts sharing an entity within
//! 24 h").
//!
//! The rule, applied to each alert when it is first presented (then fixed, so that an
//! incident id a SIEM received never changes):
//!
//! - An alert's **links** are its source (address, computer, account) and its targets
//!   (accounts and computers), each as the enrichment named it.
//! - Domain controllers never link: nearly every attack targets one, and a DC as the common
//!   entity would tie every attacker's alerts into one incident. The anonymous logon and
//!   empty names never link either.
//! - An alert naming more than [`MAX_LINKING_TARGETS`] targets is a sweep (a spray, an
//!   enumeration): its targets say who was swept, not who attacked, and link nothing; its
//!   source still does.
//! - The alert joins the oldest open incident of its tenant that shares a link and whose last
//!   alert was seen at most `window_secs` before this alert's first activity; else it opens a
//!   new incident. Its links join the incident's (later alerts may link through them).
//!   Incidents never merge afterwards: an alert that links two open incidents joins the older.
//!
//! An incident's id is derived from its first alert's id (`inc-…`): the same input gives the
//! same incidents, run after run.

use std::collections::{BTreeSet, HashMap};

use orthrus_model::{Alert, EntityRole, TenantId, Timestamp};
use serde::Deserialize;

use crate::names::{account_key, bare_account, host_key};

/// Targets past which an alert is a sweep whose targets link nothing. A targeted attack names
/// a handful (a roasted account or three, one replicated DC, a group and its new member); a
/// spray or enumeration names every account it tried, and those accounts are victims the
/// attacker has in common with no one.
pub const MAX_LINKING_TARGETS: usize = 3;

/// Open incidents kept per engine; past it the one quiet longest is forgotten (its alerts keep
/// their incident id; a later alert opens a new one).
const MAX_OPEN_INCIDENTS: usize = 100_000;

/// Alerts remembered with their incident (an update of a known alert stays in its incident).
const MAX_ALERTS_REMEMBERED: usize = 1_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentSettings {
    /// How long after an incident's last alert a new alert sharing an entity still joins it.
    /// MDI correlates within 24 hours; an attack paused overnight stays one incident.
    pub window_secs: u64,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        Self { window_secs: 86_400 }
    }
}

struct OpenIncident {
    id: String,
    tenant: TenantId,
    links: BTreeSet<String>,
    last_seen: Timestamp,
}

/// Assigns alerts to incidents (see the module's documentation).
pub struct Correlator {
    window_micros: i64,
    /// The latest first activity of any alert assigned: the clock incidents expire by.
    latest_start: i64,
    open: Vec<OpenIncident>,
    assigned: HashMap<String, String>,
}

impl Correlator {
    pub fn new(settings: &IncidentSettings) -> Self {
        Self {
            window_micros: i64::try_from(settings.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            latest_start: i64::MIN,
            open: Vec::new(),
            assigned: HashMap::new(),
        }
    }

    /// Remembers the incident an alert was given before (by a center before its restart): the
    /// alert keeps it when presented again, and the incident is open again for alerts that
    /// link to it, whatever order the replay presents them in.
    pub fn remember(&mut self, alert_id: String, incident_id: String) {
        if self.assigned.len() < MAX_ALERTS_REMEMBERED {
            self.assigned.insert(alert_id, incident_id);
        }
    }

    /// Sets `alert.incident`: the incident it was given before, or the one it joins now.
    pub fn assign(&mut self, alert: &mut Alert) {
        let links = links_of(alert);
        if let Some(id) = self.assigned.get(&alert.id) {
            alert.incident = Some(id.clone());
            match self.open.iter_mut().find(|i| &i.id == id) {
                Some(incident) => {
                    incident.links.extend(links);
                    incident.last_seen = incident.last_seen.max(alert.last_seen);
                }
                // Remembered from before a restart: open again with this alert's links.
                None => self.open.push(OpenIncident {
                    id: id.clone(),
                    tenant: alert.tenant.clone(),
                    links,
                    last_seen: alert.last_seen,
                }),
            }
            return;
        }
        let start = alert.first_seen.as_micros();
        // Incidents quiet for two windows before the latest alert's start are over: no alert
        // arriving in order can join them, and the scan below stays over live incidents. (The
        // second window leaves room for alerts presented a little out of order.)
        self.latest_start = self.latest_start.max(start);
        let horizon = self.latest_start.saturating_sub(self.window_micros.saturating_mul(2));
        self.open.retain(|i| i.last_seen.as_micros() >= horizon);
        let joined = self.open.iter_mut().find(|i| {
            i.tenant == alert.tenant
                && start.saturating_sub(i.last_seen.as_micros()) <= self.window_micros
                && !i.links.is_disjoint(&links)
        });
        let id = match joined {
            Some(incident) => {
                incident.links.extend(links);
                incident.last_seen = incident.last_seen.max(alert.last_seen);
                incident.id.clone()
            }
            None => {
                let id = format!("inc-{}", alert.id.rsplit('-').next().unwrap_or(&alert.id));
                if self.open.len() >= MAX_OPEN_INCIDENTS
                    && let Some(quietest) =
                        self.open.iter().enumerate().min_by_key(|(_, i)| i.last_seen).map(|(n, _)| n)
                {
                    self.open.remove(quietest);
                }
                self.open.push(OpenIncident {
                    id: id.clone(),
                    tenant: alert.tenant.clone(),
                    links,
                    last_seen: alert.last_seen,
                });
                id
            }
        };
        if self.assigned.len() < MAX_ALERTS_REMEMBERED {
            self.assigned.insert(alert.id.clone(), id.clone());
        }
        alert.incident = Some(id);
    }
}

/// The entities through which an alert joins an incident (see the module's documentation).
fn links_of(alert: &Alert) -> BTreeSet<String> {
    let mut links = BTreeSet::new();
    let is_dc = |kind: &str, name: &str| {
        alert
            .entities
            .iter()
            .any(|e| e.domain_controller && e.kind == kind && e.name.eq_ignore_ascii_case(name))
    };
    let source_is_dc = alert.entities.iter().any(|e| e.role == EntityRole::Source && e.domain_controller);
    if !source_is_dc {
        if let Some(ip) = alert.source.ip {
            links.insert(format!("ip:{ip}"));
        }
        if let Some(computer) = alert.source.computer.as_deref() {
            add_computer(&mut links, computer);
        }
    }
    if let Some(account) = alert.source.account.as_deref() {
        add_account(&mut links, account);
    }
    let targets: Vec<_> = alert.entities.iter().filter(|e| e.role == EntityRole::Target).collect();
    if targets.len() <= MAX_LINKING_TARGETS {
        for target in targets.into_iter().filter(|t| !is_dc(&t.kind, &t.name)) {
            match target.kind.as_str() {
                "account" => {
                    add_account(&mut links, target.directory_name.as_deref().unwrap_or(&target.name))
                }
                "computer" => add_computer(&mut links, &target.name),
                _ => {}
            }
        }
    }
    links
}

fn add_account(links: &mut BTreeSet<String>, account: &str) {
    let key = account_key(bare_account(account.trim()));
    // The anonymous logon, by name or by its SID, is everyone's and no one's.
    if !key.is_empty() && key != "anonymous logon" && key != "s-1-5-7" {
        links.insert(format!("account:{key}"));
    }
}

fn add_computer(links: &mut BTreeSet<String>, computer: &str) {
    if let Ok(ip) = computer.trim().parse::<std::net::IpAddr>() {
        links.insert(format!("ip:{ip}"));
        return;
    }
    let key = host_key(computer);
    if !key.is_empty() {
        links.insert(format!("computer:{key}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// An alert first seen `at` seconds into the day, from `ip` as `account`, naming `targets`
    /// (`(kind, name, domain controller)`).
    fn alert(id: &str, at: i64, ip: &str, account: &str, targets: &[(&str, &str, bool)]) -> Alert {
        let time = |secs: i64| Timestamp::from_micros((1_764_547_200 + secs) * 1_000_000);
        let mut entities: Vec<Value> = vec![
            json!({"role": "source", "kind": "account", "name": account, "sensitive": false, "honeytoken": false}),
        ];
        for (kind, name, dc) in targets {
            entities.push(json!({"role": "target", "kind": kind, "name": name, "sensitive": false,
                "honeytoken": false, "domain_controller": dc}));
        }
        let mut alert: Alert = serde_json::from_value(json!({
            "id": format!("ort-test-{id}"), "tenant": "acme", "detection": "ORT-TEST", "title": "t",
            "description": "d", "severity": "medium", "status": "open",
            "mitre": {"tactic": "TA0006", "techniques": []},
            "first_seen": time(at), "last_seen": time(at + 60), "count": 1,
            "source": {"ip": ip, "account": account}, "targets": {}, "evidence": [], "sensor": "s",
            "entities": entities,
        }))
        .unwrap();
        alert.first_seen = time(at);
        alert.last_seen = time(at + 60);
        alert
    }

    fn incidents(alerts: &mut [Alert]) -> Vec<String> {
        let mut correlator = Correlator::new(&IncidentSettings::default());
        alerts
            .iter_mut()
            .map(|a| {
                correlator.assign(a);
                a.incident.clone().unwrap()
            })
            .collect()
    }

    #[test]
    fn alerts_sharing_an_attacker_are_one_incident() {
        let dc = ("computer", "DC1", true);
        let mut alerts = [
            // Kerberoasting from .21 as bob; DCSync from .21 as da_admin; then da_admin adds
            // bob to Domain Admins from another address: joined through da_admin.
            alert("a", 0, "10.0.0.21", "bob", &[("account", "svc_sql", false)]),
            alert("b", 40, "10.0.0.21", "LAB\\da_admin", &[dc]),
            alert("c", 70, "10.0.0.99", "da_admin@lab.test", &[("account", "bob", false)]),
        ];
        let ids = incidents(&mut alerts);
        assert_eq!(ids, ["inc-a", "inc-a", "inc-a"]);
    }

    #[test]
    fn what_shares_only_a_dc_a_sweep_or_an_old_incident_stays_apart() {
        let dc = ("computer", "DC1", true);
        let swept: Vec<(&str, &str, bool)> =
            ["alice", "bob", "carol", "svc_sql"].iter().map(|n| ("account", *n, false)).collect();
        let mut alerts = [
            // Two attackers against the same DC.
            alert("a", 0, "10.0.0.21", "bob", &[dc]),
            alert("b", 10, "10.0.0.66", "eve", &[dc]),
            // A spray from a third address sweeps svc_sql among others: its targets link nothing.
            alert("c", 20, "10.0.0.77", "", &swept),
            // A roast of svc_sql from a fourth: alone (the sweep did not link it).
            alert("d", 30, "10.0.0.88", "mallory", &[("account", "svc_sql", false)]),
            // The first attacker again, two days later: a new incident.
            alert("e", 2 * 86_400, "10.0.0.21", "bob", &[dc]),
            // The second attacker within the day: still theirs.
            alert("f", 3_600, "10.0.0.66", "eve", &[]),
        ];
        let ids = incidents(&mut alerts);
        assert_eq!(ids, ["inc-a", "inc-b", "inc-c", "inc-d", "inc-e", "inc-b"]);
    }

    #[test]
    fn an_alert_keeps_its_incident_and_tenants_never_share_one() {
        let mut correlator = Correlator::new(&IncidentSettings::default());
        let mut first = alert("a", 0, "10.0.0.21", "bob", &[]);
        correlator.assign(&mut first);
        let mut other_tenant = alert("b", 10, "10.0.0.21", "bob", &[]);
        other_tenant.tenant = TenantId("initech".into());
        correlator.assign(&mut other_tenant);
        assert_eq!(other_tenant.incident.as_deref(), Some("inc-b"));
        // An update of alert a (new entities) stays in inc-a.
        let mut updated = alert("a", 0, "10.0.0.66", "eve", &[]);
        correlator.assign(&mut updated);
        assert_eq!(updated.incident.as_deref(), Some("inc-a"));
    }

    /// After a restart the replay may present a tenant's alerts in another order: remembered,
    /// each keeps its incident, and a new alert linking to them joins that incident.
    #[test]
    fn remembered_incidents_survive_a_replay_in_another_order() {
        let mut before = [
            alert("a", 0, "10.0.0.21", "bob", &[("account", "svc_sql", false)]),
            alert("b", 40, "10.0.0.21", "da_admin", &[]),
        ];
        assert_eq!(incidents(&mut before), ["inc-a", "inc-a"]);
        let replay = |remember: bool| {
            let mut correlator = Correlator::new(&IncidentSettings::default());
            if remember {
                for stored in &before {
                    correlator.remember(stored.id.clone(), stored.incident.clone().unwrap());
                }
            }
            let mut again = [before[1].clone(), before[0].clone()];
            let mut new = alert("c", 60, "10.0.0.99", "da_admin", &[]);
            for a in again.iter_mut().chain(std::iter::once(&mut new)) {
                a.incident = None;
                correlator.assign(a);
            }
            [&again[0], &again[1], &new].map(|a| a.incident.clone().unwrap())
        };
        assert_eq!(replay(true), ["inc-a", "inc-a", "inc-a"]);
        assert_eq!(replay(false), ["inc-b", "inc-b", "inc-b"], "unremembered, the order decides");
    }

    #[test]
    fn the_window_is_configured_and_a_misspelled_key_is_an_error() {
        let config = crate::DetectionConfig::from_toml("[incidents]\nwindow_secs = 60\n").unwrap();
        assert_eq!(config.incidents.window_secs, 60);
        assert_eq!(crate::DetectionConfig::default().incidents.window_secs, 86_400);
        assert!(crate::DetectionConfig::from_toml("[incidents]\nwindow_sec = 60\n").is_err());
        let mut correlator = Correlator::new(&config.incidents);
        let mut first = alert("a", 0, "10.0.0.21", "bob", &[]);
        let mut later = alert("b", 600, "10.0.0.21", "bob", &[]);
        correlator.assign(&mut first);
        correlator.assign(&mut later);
        assert_eq!(later.incident.as_deref(), Some("inc-b"), "past a one-minute window");
    }

    #[test]
    fn incidents_quiet_for_two_windows_are_forgotten() {
        let mut correlator = Correlator::new(&IncidentSettings { window_secs: 60 });
        for (n, at) in [0, 30, 300].into_iter().enumerate() {
            let mut one = alert(&n.to_string(), at, &format!("10.0.0.{n}"), "", &[]);
            correlator.assign(&mut one);
        }
        // At 300 s, the incidents of 0 s and 30 s (last seen 60 s and 90 s) are past two windows.
        assert_eq!(correlator.open.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["inc-2"]);
    }
}
