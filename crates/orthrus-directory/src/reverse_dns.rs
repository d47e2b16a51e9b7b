//! Reverse DNS asked by Orthrus itself (MDI's secondary name-resolution method): one PTR query
//! over UDP to a server the operator names, bounded in time; simple-dns builds and reads the
//! messages. Used only when asked for (`--reverse-dns`), never by default offline.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};

use crate::DirectoryError;

/// `10.99.0.21` → `21.0.99.10.in-addr.arpa`; IPv6 nibbles under `ip6.arpa`.
pub fn ptr_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = Vec::with_capacity(33);
            for byte in v6.octets().iter().rev() {
                labels.push(format!("{:x}", byte & 0x0f));
                labels.push(format!("{:x}", byte >> 4));
            }
            labels.push("ip6.arpa".into());
            labels.join(".")
        }
    }
}

/// A DNS server as operators write it: `10.0.0.1:53`, or `10.0.0.1` (port 53).
pub fn server_address(text: &str) -> Option<SocketAddr> {
    text.parse().ok().or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

/// The name the server gives for `ip`, None when it has none (NXDOMAIN, no PTR).
pub fn reverse_lookup(
    server: SocketAddr,
    ip: IpAddr,
    timeout: Duration,
) -> Result<Option<String>, DirectoryError> {
    let io = |e: std::io::Error| DirectoryError::Dns(format!("{server}: {e}"));
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .map_err(|_| DirectoryError::Dns("bad bind address".into()))?;
    let socket = UdpSocket::bind(bind).map_err(io)?;
    socket.set_read_timeout(Some(timeout)).map_err(io)?;
    socket.connect(server).map_err(io)?;

    let qname = ptr_name(ip);
    // A query id that differs per address; the answer must echo it.
    let id = (orthrus_model::fnv1a64(&[qname.as_bytes()]) & 0xffff) as u16;
    let mut query = Packet::new_query(id);
    query.set_flags(PacketFlag::RECURSION_DESIRED);
    let name = Name::new(&qname).map_err(|e| DirectoryError::Dns(e.to_string()))?;
    query.questions.push(Question::new(name, QTYPE::TYPE(TYPE::PTR), QCLASS::CLASS(CLASS::IN), false));
    let bytes = query.build_bytes_vec().map_err(|e| DirectoryError::Dns(e.to_string()))?;
    socket.send(&bytes).map_err(io)?;

    let mut buffer = [0u8; 4096];
    // Skip stray datagrams with another id, but never wait past the timeout per read and never
    // read more than a few.
    for _ in 0..4 {
        let n = socket.recv(&mut buffer).map_err(io)?;
        let Some(datagram) = buffer.get(..n) else { continue };
        let Ok(answer) = Packet::parse(datagram) else { continue };
        if answer.id() != id {
            continue;
        }
        if answer.rcode() != RCODE::NoError {
            return Ok(None);
        }
        return Ok(answer.answers.iter().find_map(|record| match &record.rdata {
            RData::PTR(ptr) => Some(ptr.0.to_string()),
            _ => None,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptr_names() {
        assert_eq!(ptr_name("10.99.0.21".parse().unwrap()), "21.0.99.10.in-addr.arpa");
        let v6 = ptr_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.") && v6.ends_with(".8.b.d.0.1.0.0.2.ip6.arpa"), "{v6}");
    }

    #[test]
    fn nobody_answering_is_an_error_within_the_timeout() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let started = std::time::Instant::now();
        let result = reverse_lookup(
            silent.local_addr().unwrap(),
            "10.0.0.1".parse().unwrap(),
            Duration::from_millis(300),
        );
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
