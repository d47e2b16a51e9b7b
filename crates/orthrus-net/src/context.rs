//! Where and when a message was seen, and who observes: what every tracker needs to turn a
//! message into an activity.

use std::sync::Arc;

use orthrus_model::{Activity, ActivityKind, Endpoint, Position, Provenance, TenantId, Timestamp, Transport};

/// Who, where and when a message was seen: everything but the message itself.
#[derive(Clone, Debug)]
pub struct Seen {
    pub client: Endpoint,
    pub server: Endpoint,
    pub transport: Transport,
    pub ts_micros: i64,
    pub frame: u64,
}

impl Seen {
    /// A message of the TCP flow `pair`, carried by (the end of) frame `frame`.
    pub fn tcp(pair: crate::tcp::SocketPair, ts_micros: i64, frame: u64) -> Self {
        Self {
            client: endpoint(pair.client),
            server: endpoint(pair.server),
            transport: Transport::Tcp,
            ts_micros,
            frame,
        }
    }
}

/// The observer and the file being read: stamped on every activity.
#[derive(Clone)]
pub struct Origin {
    pub tenant: TenantId,
    pub sensor: Arc<str>,
    pub file: Arc<str>,
}

impl Origin {
    pub fn new(tenant: TenantId, sensor: Arc<str>) -> Self {
        Self { tenant, sensor, file: Arc::from("") }
    }

    pub fn at(&self, frame: u64) -> Provenance {
        Provenance { file: self.file.clone(), at: Position::Frame(frame) }
    }

    /// An activity that began at `seen` and was built from `provenance`.
    pub fn activity(&self, seen: &Seen, provenance: Vec<Provenance>, kind: ActivityKind) -> Activity {
        self.activity_between(seen.ts_micros, (seen.client, seen.server, seen.transport), provenance, kind)
    }

    /// An activity that began at `time` between `client` and `server`.
    pub fn activity_between(
        &self,
        time: i64,
        (client, server, transport): (Endpoint, Endpoint, Transport),
        provenance: Vec<Provenance>,
        kind: ActivityKind,
    ) -> Activity {
        Activity {
            time: Timestamp::from_micros(time),
            tenant: self.tenant.clone(),
            sensor: self.sensor.clone(),
            source: Some(client),
            destination: Some(server),
            transport: Some(transport),
            source_host: None,
            destination_host: None,
            provenance,
            kind,
        }
    }
}

pub(crate) fn endpoint((ip, port): (std::net::IpAddr, u16)) -> Endpoint {
    Endpoint { ip, port }
}
