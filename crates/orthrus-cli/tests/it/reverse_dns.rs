//! `analyze --reverse-dns`: the addresses alerts stand on, asked of a DNS server (a small one on
//! loopback here, answering like a DC's DNS with a reverse zone).

use std::net::UdpSocket;
use std::time::Duration;

use simple_dns::rdata::{PTR, RData};
use simple_dns::{CLASS, Name, Packet, RCODE, ResourceRecord};

/// Answers PTR queries for 21.0.99.10.in-addr.arpa with `atk-box.lab.test`, NXDOMAIN for the
/// rest, until `queries` have been answered or 30 s pass.
pub(crate) fn dns_server(queries: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let address = socket.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let mut asked = Vec::new();
        let mut buffer = [0u8; 1500];
        for _ in 0..queries {
            let Ok((n, peer)) = socket.recv_from(&mut buffer) else { break };
            let query = Packet::parse(&buffer[..n]).unwrap();
            let question = query.questions[0].qname.to_string();
            asked.push(question.clone());
            let mut reply = query.clone().into_reply();
            if question == "21.0.99.10.in-addr.arpa" {
                reply.answers.push(ResourceRecord::new(
                    query.questions[0].qname.clone(),
                    CLASS::IN,
                    300,
                    RData::PTR(PTR(Name::new_unchecked("atk-box.lab.test"))),
                ));
            } else {
                *reply.rcode_mut() = RCODE::NameError;
            }
            socket.send_to(&reply.build_bytes_vec().unwrap(), peer).unwrap();
        }
        asked
    });
    (address, handle)
}

#[test]
fn reverse_dns_names_the_addresses_alerts_stand_on() {
    let (server, asked) = dns_server(2);
    let raised =
        super::alerts(&["--reverse-dns", &server, super::lab("dns_zone_transfer").to_str().unwrap()]);
    let alert = raised.iter().find(|a| a["detection"] == "ORT-DNS-001").unwrap();
    assert_eq!(alert["source"]["computer"], "ATK-BOX", "{alert:#}");
    assert_eq!(alert["source"]["resolution"]["methods"][0], "reverse_dns");
    assert!(alert["description"].as_str().unwrap().starts_with("ATK-BOX (10.99.0.21)"), "{alert:#}");
    let mut asked = asked.join().unwrap();
    asked.sort();
    // the attacker, and the DC the zone transfer was asked of (no PTR: stays an address)
    assert_eq!(asked, ["10.0.99.10.in-addr.arpa", "21.0.99.10.in-addr.arpa"]);

    // without the option nobody is asked and the address stays unnamed
    let quiet = super::alerts(&[super::lab("dns_zone_transfer").to_str().unwrap()]);
    assert!(quiet.iter().all(|a| a["source"].get("computer").is_none()), "{quiet:#?}");
}

#[test]
fn an_unanswering_dns_server_costs_bounded_time() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = super::orthrus()
        .args(["analyze", "--format", "json", "--reverse-dns", &server])
        .arg(super::lab("dns_zone_transfer"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reverse DNS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    drop(silent);
}
