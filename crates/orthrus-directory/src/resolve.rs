//! Network name resolution: which computer an IP address is, learned from what the traffic and
//! the event logs themselves show (mdi-model.md section 6, passive methods first).
//!
//! Every observation keeps its method and confidence. An address resolves to a name only when
//! the most confident methods that saw it agree; when they name different computers the
//! address stays unresolved (an alert then shows the IP alone rather than a wrong computer).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AuthOutcome, KdcOutcome, Timestamp};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The computer's own account got a Kerberos TGT from this address (it knew the machine key).
    KerberosMachineAccount,
    /// A server accepted a Kerberos service ticket for `service/host` at this address: it holds
    /// that host's key.
    ServiceTicketAccepted,
    /// A client presented a service ticket for `service/host` to this address (answer unseen).
    ServiceTicketPresented,
    /// An SMB share path (`\\host\share`) a client asked this address for.
    SharePath,
    /// An NTLM AUTHENTICATE message's workstation field (client-supplied).
    NtlmWorkstation,
    /// The server's name in its NTLM CHALLENGE (MsvAvNbComputerName, echoed in the client's
    /// NTLMv2 response), taken only when the client named the same computer in the SPN it
    /// meant to reach (MsvAvTargetName): a relay forwards another server's challenge, and its
    /// victim's SPN names the relay, so the two disagree there.
    NtlmServerName,
    /// A logon event's workstation name beside its source address (client-supplied).
    EventWorkstation,
    /// The host registered or refreshed its own name (NetBIOS name service, DNS dynamic update).
    NameRegistration,
    /// A NetBIOS name query answered with this address.
    NetbiosAnswer,
    /// A DNS A/AAAA/PTR answer seen on the wire.
    DnsAnswer,
    /// A reverse (PTR) lookup the sensor asked itself.
    ReverseDns,
    /// A server's own log names the server beside its own address (a Samba DC's audit log:
    /// its NetBIOS name with `localAddress`), for an act done to it.
    OwnEventLog,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::KerberosMachineAccount => "kerberos_machine_account",
            Method::ServiceTicketAccepted => "service_ticket_accepted",
            Method::ServiceTicketPresented => "service_ticket_presented",
            Method::SharePath => "share_path",
            Method::NtlmWorkstation => "ntlm_workstation",
            Method::NtlmServerName => "ntlm_server_name",
            Method::EventWorkstation => "event_workstation",
            Method::NameRegistration => "name_registration",
            Method::NetbiosAnswer => "netbios_answer",
            Method::DnsAnswer => "dns_answer",
            Method::ReverseDns => "reverse_dns",
            Method::OwnEventLog => "own_event_log",
        }
    }

    /// How the method found the name, in an analyst's words (an entity page's "resolved by").
    pub fn label(self) -> &'static str {
        match self {
            Method::KerberosMachineAccount => "its machine account got a Kerberos ticket from this address",
            Method::ServiceTicketAccepted => "it accepted a Kerberos service ticket for that computer",
            Method::ServiceTicketPresented => "a client presented it a service ticket for that computer",
            Method::SharePath => "a share path a client asked it for",
            Method::NtlmWorkstation => "the workstation name in its NTLM logons (client-supplied)",
            Method::NtlmServerName => "its NTLM challenge, for the name the client asked for",
            Method::EventWorkstation => "the workstation name in logon events (client-supplied)",
            Method::NameRegistration => "it registered the name itself (NetBIOS or DNS update)",
            Method::NetbiosAnswer => "a NetBIOS name answer",
            Method::DnsAnswer => "a DNS answer seen on the wire",
            Method::ReverseDns => "a reverse DNS lookup by the sensor",
            Method::OwnEventLog => "the server's own event log",
        }
    }

    pub fn confidence(self) -> Confidence {
        match self {
            Method::KerberosMachineAccount | Method::ServiceTicketAccepted | Method::OwnEventLog => {
                Confidence::High
            }
            Method::NameRegistration
            | Method::ReverseDns
            | Method::NtlmWorkstation
            | Method::NtlmServerName
            | Method::ServiceTicketPresented => Confidence::Medium,
            Method::EventWorkstation | Method::NetbiosAnswer | Method::DnsAnswer | Method::SharePath => {
                Confidence::Low
            }
        }
    }
}

/// What an address resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// Upper-case NetBIOS-style name (`WS01`).
    pub computer: String,
    /// The DNS name, when an observation gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    pub confidence: Confidence,
    pub methods: Vec<Method>,
}

#[derive(Default)]
struct Seen {
    methods: BTreeSet<Method>,
    dns_name: Option<String>,
    first: Option<Timestamp>,
}

/// Names that say nothing about the computer (tools' defaults, RDP's placeholder).
const GENERIC_WORKSTATIONS: &[&str] = &["", "WORKSTATION", "MSTSC", "LOCALHOST", "-", "NULL"];

/// Bounds: addresses tracked and names kept per address (overflow counted, not kept).
const MAX_ADDRESSES: usize = 1_000_000;
const MAX_NAMES_PER_ADDRESS: usize = 16;

#[derive(Default)]
pub struct NameResolver {
    seen: HashMap<IpAddr, BTreeMap<String, Seen>>,
    /// Addresses seen answering as a KDC: domain controllers (an LDAP server alone may be AD
    /// LDS or OpenLDAP).
    kdcs: BTreeSet<IpAddr>,
    /// Domain controllers' names (from the directory): a logon event's workstation naming one
    /// is the server's own name filled in (Samba's LDAP simple binds), not the client's.
    server_names: BTreeSet<String>,
    pub dropped: u64,
}

/// `ws01.lab.test` / `WS01$` / `ws01` → (`WS01`, DNS name if dotted).
fn normalize(name: &str) -> Option<(String, Option<String>)> {
    let name = name.trim().trim_end_matches('.').trim_end_matches('$');
    if name.is_empty() || name.parse::<IpAddr>().is_ok() || name.len() > 255 {
        return None;
    }
    let first = name.split('.').next()?;
    if first.is_empty() || GENERIC_WORKSTATIONS.iter().any(|g| g.eq_ignore_ascii_case(first)) {
        return None;
    }
    let dns = name.contains('.').then(|| name.to_ascii_lowercase());
    Some((first.to_ascii_uppercase(), dns))
}

/// `1.0.99.10.in-addr.arpa` → 10.99.0.1
fn ptr_address(name: &str) -> Option<IpAddr> {
    let reversed = name.trim_end_matches('.').strip_suffix(".in-addr.arpa")?;
    let mut octets: Vec<&str> = reversed.split('.').collect();
    octets.reverse();
    octets.join(".").parse().ok()
}

impl NameResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the domain controllers (NetBIOS or DNS names).
    pub fn know_servers<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.server_names.extend(names.into_iter().filter_map(normalize).map(|(n, _)| n));
    }

    pub fn record(&mut self, ip: IpAddr, name: &str, method: Method, time: Timestamp) {
        let Some((computer, dns)) = normalize(name) else { return };
        if !self.seen.contains_key(&ip) && self.seen.len() >= MAX_ADDRESSES {
            self.dropped += 1;
            return;
        }
        let names = self.seen.entry(ip).or_default();
        if !names.contains_key(&computer) && names.len() >= MAX_NAMES_PER_ADDRESS {
            self.dropped += 1;
            return;
        }
        let seen = names.entry(computer).or_default();
        seen.methods.insert(method);
        seen.first.get_or_insert(time);
        if seen.dns_name.is_none() {
            seen.dns_name = dns;
        }
    }

    /// Learns from one activity (every kind that ties an address to a name).
    pub fn observe(&mut self, activity: &Activity) {
        let source = activity.source_ip();
        let time = activity.time;
        if activity.from_event_log() {
            self.observe_logging_computer(activity);
        }
        match &activity.kind {
            ActivityKind::TgtRequested(exchange) => {
                if let (Some(ip), KdcOutcome::Issued(issued)) = (source, &exchange.outcome)
                    && issued.cname.ends_with('$')
                {
                    self.record(ip, &issued.cname, Method::KerberosMachineAccount, time);
                }
                self.kdc(activity, !matches!(exchange.outcome, KdcOutcome::NoReply));
            }
            ActivityKind::ServiceTicketRequested(exchange) => {
                self.kdc(activity, !matches!(exchange.outcome, KdcOutcome::NoReply));
            }
            // A relayed message carries its victim's workstation name, not the sender's: one
            // whose MIC was stripped was relayed, and a DC's name claimed from an address that
            // is no KDC is a coerced DC's authentication passed on (NTLM relay).
            ActivityKind::NtlmAuthenticated(auth) if !activity.from_event_log() && !auth.mic_missing => {
                if let (Some(destination), Some(server)) =
                    (activity.destination, Self::server_asked_for(auth))
                {
                    self.record(destination.ip, server, Method::NtlmServerName, time);
                }
                let Some(ip) = source else { return };
                let names_a_dc =
                    normalize(&auth.workstation).is_some_and(|(n, _)| self.server_names.contains(&n));
                if !names_a_dc || self.kdcs.contains(&ip) {
                    self.record(ip, &auth.workstation, Method::NtlmWorkstation, time);
                }
            }
            ActivityKind::ServiceAccessed(access) if !activity.from_event_log() => {
                let method = match access.outcome {
                    AuthOutcome::Succeeded => Method::ServiceTicketAccepted,
                    AuthOutcome::Unknown => Method::ServiceTicketPresented,
                    AuthOutcome::Failed { .. } => return,
                };
                // `cifs/dc1.lab.test`, `ldap/dc1.lab.test/lab.test`: the host is the second part
                if let (Some(destination), Some(host)) =
                    (activity.destination, access.service.split('/').nth(1))
                {
                    self.record(destination.ip, host.split(':').next().unwrap_or(host), method, time);
                }
            }
            ActivityKind::ShareOpened(share) if !activity.from_event_log() => {
                let host = share.path.trim_start_matches('\\').split('\\').next().unwrap_or_default();
                if let Some(destination) = activity.destination {
                    self.record(destination.ip, host, Method::SharePath, time);
                }
            }
            ActivityKind::DnsQueried(query) => {
                if query.opcode == "update"
                    && let Some(ip) = source
                {
                    self.record(ip, &query.name, Method::NameRegistration, time);
                }
                for answer in &query.answers {
                    let mut parts = answer.split_whitespace();
                    let (Some(name), Some(kind), Some(data)) = (parts.next(), parts.next(), parts.next())
                    else {
                        continue;
                    };
                    match kind {
                        "A" | "AAAA" => {
                            if let Ok(ip) = data.parse() {
                                self.record(ip, name, Method::DnsAnswer, time);
                            }
                        }
                        "PTR" => {
                            if let Some(ip) = ptr_address(name) {
                                self.record(ip, data, Method::DnsAnswer, time);
                            }
                        }
                        _ => {}
                    }
                }
            }
            ActivityKind::NameLookedUp(lookup) => {
                self.record(lookup.address, &lookup.name, Method::ReverseDns, time)
            }
            ActivityKind::NetbiosNameSeen(nb) if matches!(nb.suffix, 0x00 | 0x20) => {
                let method = match (nb.operation.as_str(), nb.response) {
                    ("registration" | "refresh", false) => Method::NameRegistration,
                    ("query", true) => Method::NetbiosAnswer,
                    _ => return,
                };
                for address in &nb.addresses {
                    self.record(IpAddr::V4(*address), &nb.name, method, time);
                }
            }
            _ if activity.from_event_log() => {
                // Event-log activities with an address and the workstation name beside it. A
                // workstation name equal to the logging computer's own is the server filling in
                // its name (Samba's LDAP simple binds, Windows network logons), not the client's.
                let (Some(ip), Some(host)) = (source, activity.source_host.as_deref()) else { return };
                let Some((claimed, _)) = normalize(host) else { return };
                let own_name = activity.destination_host.as_deref().and_then(normalize).map(|(n, _)| n);
                if own_name.as_ref() != Some(&claimed) && !self.server_names.contains(&claimed) {
                    self.record(ip, host, Method::EventWorkstation, time);
                }
            }
            _ => {}
        }
    }

    /// An event-log record of something done to the computer that logged it (a logon, a
    /// ticket, a change) with that computer's own address as the destination: the logger's name
    /// is the destination's. Records a computer logs of its own outbound acts (a process's
    /// connection, explicit credentials) name the other side as destination and are left out.
    fn observe_logging_computer(&mut self, activity: &Activity) {
        let done_to_the_logger = matches!(
            activity.kind,
            ActivityKind::TgtRequested(_)
                | ActivityKind::ServiceTicketRequested(_)
                | ActivityKind::NtlmAuthenticated(_)
                | ActivityKind::LoggedOn(_)
                | ActivityKind::GroupMembershipChanged(_)
                | ActivityKind::DirectoryObjectChanged(_)
                | ActivityKind::SamObjectOpened(_)
                | ActivityKind::AccountChanged(_)
                | ActivityKind::ShareOpened(_)
                | ActivityKind::FileOpened(_)
        );
        if let (true, Some(destination), Some(logger)) =
            (done_to_the_logger, activity.destination, activity.destination_host.as_deref())
        {
            self.record(destination.ip, logger, Method::OwnEventLog, activity.time);
        }
    }

    /// The server's own name from an NTLM exchange, when the client's SPN names that computer
    /// too (`cifs/dc1.lab.test` for `DC1`) and the logon did not fail. An SPN holding an
    /// address, or none (most tools send none), corroborates nothing.
    fn server_asked_for(auth: &orthrus_model::NtlmAuthentication) -> Option<&str> {
        let server = auth.server_name.as_deref()?;
        let spn_host = auth.target_name.as_deref()?.split('/').nth(1)?.split(':').next()?;
        let first_label = spn_host.split('.').next()?;
        let agree = spn_host.parse::<IpAddr>().is_err() && first_label.eq_ignore_ascii_case(server);
        (agree && !matches!(auth.outcome, AuthOutcome::Failed { .. })).then_some(server)
    }

    fn kdc(&mut self, activity: &Activity, answered: bool) {
        if answered
            && !activity.from_event_log()
            && let Some(destination) = activity.destination
            && self.kdcs.len() < MAX_ADDRESSES
        {
            self.kdcs.insert(destination.ip);
        }
    }

    /// The computer at `ip`: the name the most confident methods agree on; None when nothing
    /// named it or the most confident methods disagree.
    pub fn resolve(&self, ip: IpAddr) -> Option<Resolution> {
        let names = self.seen.get(&ip)?;
        let best = names.values().filter_map(|s| s.methods.iter().map(|m| m.confidence()).max()).max()?;
        let mut top = names.iter().filter(|(_, s)| s.methods.iter().any(|m| m.confidence() == best));
        let (computer, seen) = top.next()?;
        if top.next().is_some() {
            return None;
        }
        Some(Resolution {
            computer: computer.clone(),
            dns_name: seen.dns_name.clone(),
            confidence: best,
            methods: seen.methods.iter().copied().collect(),
        })
    }

    /// Every address that resolves, with its resolution, in address order.
    pub fn resolved(&self) -> Vec<(IpAddr, Resolution)> {
        let mut out: Vec<(IpAddr, Resolution)> =
            self.seen.keys().filter_map(|ip| Some((*ip, self.resolve(*ip)?))).collect();
        out.sort_by_key(|(ip, _)| *ip);
        out
    }

    /// Whether the address answered as a KDC (a domain controller), learned without a
    /// directory.
    pub fn answered_as_kdc(&self, ip: IpAddr) -> bool {
        self.kdcs.contains(&ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn agreeing_methods_resolve_and_conflicts_stay_unresolved() {
        let t = Timestamp::from_micros(0);
        let mut r = NameResolver::new();
        r.record(ip("10.0.0.5"), "WS01$", Method::KerberosMachineAccount, t);
        r.record(ip("10.0.0.5"), "ws01.corp.example", Method::DnsAnswer, t);
        r.record(ip("10.0.0.5"), "ALIAS", Method::DnsAnswer, t);
        let got = r.resolve(ip("10.0.0.5")).unwrap();
        assert_eq!((got.computer.as_str(), got.confidence), ("WS01", Confidence::High));
        assert_eq!(got.dns_name.as_deref(), Some("ws01.corp.example"));

        r.record(ip("10.0.0.6"), "LAPTOP7", Method::NtlmWorkstation, t);
        r.record(ip("10.0.0.6"), "KALI", Method::NtlmWorkstation, t);
        assert_eq!(r.resolve(ip("10.0.0.6")), None, "two client-supplied names: unresolved");
        assert_eq!(r.seen[&ip("10.0.0.6")].keys().collect::<Vec<_>>(), ["KALI", "LAPTOP7"]);

        r.record(ip("10.0.0.7"), "WORKSTATION", Method::NtlmWorkstation, t);
        r.record(ip("10.0.0.7"), "", Method::NtlmWorkstation, t);
        assert_eq!(r.resolve(ip("10.0.0.7")), None, "generic names say nothing");
        assert_eq!(ptr_address("21.0.99.10.in-addr.arpa."), Some(ip("10.99.0.21")));
    }

    /// An NTLM logon from `client` to `server` as the wire shows it.
    fn ntlm(client: &str, server: &str, spn: &str, server_name: &str, result: &str) -> Activity {
        serde_json::from_value(serde_json::json!({
            "time": "2026-11-25T07:17:51Z", "tenant": "t", "sensor": "s",
            "source": {"ip": client, "port": 40000}, "destination": {"ip": server, "port": 445},
            "transport": "tcp", "provenance": [],
            "activity": "ntlm_authenticated", "via": "smb", "user": "bob", "domain": "CORP",
            "workstation": "", "response": "v2", "mic": true, "target_name": spn,
            "server_name": server_name, "channel_bindings": false, "result": result,
            "status": "0xc000006d",
        }))
        .unwrap()
    }

    #[test]
    fn a_server_is_named_by_its_ntlm_challenge_only_for_the_name_the_client_asked_for() {
        let mut r = NameResolver::new();
        r.observe(&ntlm("10.0.0.5", "10.0.0.10", "cifs/dc1.corp.example", "DC1", "succeeded"));
        let got = r.resolve(ip("10.0.0.10")).unwrap();
        assert_eq!((got.computer.as_str(), got.methods.as_slice()), ("DC1", &[Method::NtlmServerName][..]));
        assert_eq!(r.resolve(ip("10.0.0.5")), None, "the client is not named by the server's name");

        // A relay at .66 forwards DC1's challenge to a victim that meant to reach the relay
        // (by address or by the relay's own name): the relay is not named DC1.
        r.observe(&ntlm("10.0.0.7", "10.0.0.66", "cifs/10.0.0.66", "DC1", "succeeded"));
        r.observe(&ntlm("10.0.0.7", "10.0.0.66", "cifs/kali.corp.example", "DC1", "succeeded"));
        // Without an SPN (most tools), or when the logon failed, nothing is learnt.
        r.observe(&ntlm("10.0.0.8", "10.0.0.67", "", "FS01", "succeeded"));
        r.observe(&ntlm("10.0.0.8", "10.0.0.68", "cifs/fs02", "FS02", "failed"));
        for silent in ["10.0.0.66", "10.0.0.67", "10.0.0.68"] {
            assert_eq!(r.resolve(ip(silent)), None, "{silent}");
        }
    }

    #[test]
    fn names_per_address_are_bounded() {
        let t = Timestamp::from_micros(0);
        let mut r = NameResolver::new();
        for n in 0..100 {
            r.record(ip("10.0.0.9"), &format!("HOST{n}"), Method::DnsAnswer, t);
        }
        assert_eq!(r.seen[&ip("10.0.0.9")].len(), MAX_NAMES_PER_ADDRESS);
        assert_eq!(r.dropped, 100 - MAX_NAMES_PER_ADDRESS as u64);
    }
}
