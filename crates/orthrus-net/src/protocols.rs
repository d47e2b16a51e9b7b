//! Every application protocol the decoder follows, in one place: its tracker and the ports
//! it is followed on. Routing, file switching, end of input, statistics and the fuzz entry
//! points all go through this list; a new protocol is a tracker module and one entry here.

use std::sync::Arc;

use orthrus_model::TenantId;

use crate::tracker::Tracker;

/// A protocol the decoder follows.
pub struct Protocol {
    /// Its name (`--stats` sections may split it further).
    pub name: &'static str,
    /// TCP server ports it is followed on by default.
    pub tcp_ports: &'static [u16],
    /// UDP ports it is followed on by default (either side).
    pub udp_ports: &'static [u16],
    /// A fresh tracker for one capture source.
    pub tracker: fn(TenantId, Arc<str>) -> Box<dyn Tracker>,
}

/// Every protocol the decoder follows. A port listed by two protocols goes to the earlier;
/// at end of input trackers finish in this order.
pub const PROTOCOLS: &[Protocol] = &[
    Protocol {
        name: "kerberos",
        tcp_ports: &[88],
        udp_ports: &[88],
        tracker: |tenant, sensor| Box::new(crate::kerberos::KerberosTracker::new(tenant, sensor)),
    },
    Protocol {
        name: "smb",
        tcp_ports: &[445, 139],
        udp_ports: &[],
        tracker: |tenant, sensor| Box::new(crate::smb::SmbTracker::new(tenant, sensor)),
    },
    Protocol {
        // The endpoint mapper; the dynamic ports it announces are followed as they are learned.
        name: "dcerpc",
        tcp_ports: &[135],
        udp_ports: &[],
        tracker: |tenant, sensor| Box::new(crate::rpc::RpcTcpTracker::new(tenant, sensor)),
    },
    Protocol {
        name: "dns",
        tcp_ports: &[53],
        udp_ports: &[53],
        tracker: |tenant, sensor| Box::new(crate::dns::DnsTracker::new(tenant, sensor)),
    },
    Protocol {
        // LDAP over TCP (and the global catalog), CLDAP over UDP.
        name: "ldap",
        tcp_ports: &[389, 3268],
        udp_ports: &[389, 3268],
        tracker: |tenant, sensor| Box::new(crate::ldap::LdapTracker::new(tenant, sensor)),
    },
    Protocol {
        // Name-resolution inputs: NetBIOS name service datagrams and RDP connection cookies.
        name: "netbios_rdp",
        tcp_ports: &[3389],
        udp_ports: &[137],
        tracker: |tenant, sensor| Box::new(crate::names::NameTracker::new(tenant, sensor)),
    },
    Protocol {
        // TLS on directory ports (LDAPS, global catalog over TLS): handshake metadata.
        name: "tls",
        tcp_ports: &[636, 3269],
        udp_ports: &[],
        tracker: |tenant, sensor| Box::new(crate::tls::TlsTracker::new(tenant, sensor)),
    },
    Protocol {
        // WinRM and IIS: NTLM and Kerberos in Authorization headers.
        name: "http",
        tcp_ports: &[80, 5985],
        udp_ports: &[],
        tracker: |tenant, sensor| Box::new(crate::http::HttpTracker::new(tenant, sensor)),
    },
];

/// The registry entry of a protocol by name.
pub fn protocol(name: &str) -> Option<&'static Protocol> {
    PROTOCOLS.iter().find(|p| p.name == name)
}
