//! The framing of syslog streams, on bytes as forwarders write them, and the checks on each message.

use super::syslog::{Frame, next_frame};

/// Every frame of `bytes`, as text, with `max` bytes kept per message.
fn frames(bytes: &[u8], max: usize) -> Vec<Result<String, Frame>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let mut reader = tokio::io::BufReader::with_capacity(7, bytes);
        let mut message = Vec::new();
        let mut out = Vec::new();
        for _ in 0..100 {
            match next_frame(&mut reader, &mut message, max).await.unwrap() {
                Frame::Message => out.push(Ok(String::from_utf8(message.clone()).unwrap())),
                Frame::End => return out,
                other => out.push(Err(other)),
            }
        }
        panic!("more than 100 frames in {} bytes", bytes.len());
    })
}

#[test]
fn octet_counted_and_line_framed_messages_are_told_apart_one_by_one() {
    let stream = b"11 <13>1 a\nb c5 <1>ab\n<14>line one\n<14>line two";
    assert_eq!(
        frames(stream, 1024),
        vec![
            Ok("<13>1 a\nb c".to_owned()),
            Ok("<1>ab".to_owned()),
            Ok("<14>line one".to_owned()),
            Ok("<14>line two".to_owned()),
        ]
    );
}

#[test]
fn a_line_that_starts_with_digits_is_a_line_not_a_count() {
    // A Snare record sent without a syslog header begins with the sender's address.
    let stream = b"10.0.0.5\tMSWinEventLog\t1\n42 abc";
    let got = frames(stream, 1024);
    assert_eq!(got.first(), Some(&Ok("10.0.0.5\tMSWinEventLog\t1".to_owned())));
    // "42 " announces 42 bytes and the stream ends after 3: the frame is cut, not invented.
    assert_eq!(got.len(), 1, "{got:?}");
}

#[test]
fn oversize_messages_are_skipped_whole_and_the_next_one_read() {
    let long = "x".repeat(50);
    let stream = format!("<1>{long}\n<2>short\n60 <3>{long}1234567\n<4>after");
    assert_eq!(
        frames(stream.as_bytes(), 20),
        vec![
            Err(Frame::Oversize),
            Ok("<2>short".to_owned()),
            Err(Frame::Oversize),
            Ok("<4>after".to_owned())
        ]
    );
}

#[test]
fn blank_lines_and_nuls_between_frames_are_no_messages() {
    assert_eq!(frames(b"\n\r\n\0<1>a\n\n", 64), vec![Ok("<1>a".to_owned())]);
    assert_eq!(frames(b"", 64), vec![]);
}

fn inbound(allow: &[&str], max_message_bytes: usize) -> super::Inbound {
    let (queue, _) = tokio::sync::mpsc::channel(1);
    super::Inbound {
        queue,
        context: std::sync::Arc::default(),
        allow: allow.iter().map(|net| net.parse().unwrap()).collect(),
        max_message_bytes,
    }
}

#[test]
fn the_size_bound_is_on_the_bytes_received_not_their_lossy_text() {
    use std::sync::atomic::Ordering;
    let counters = super::ListenerCounters::default();
    let file: std::sync::Arc<str> = std::sync::Arc::from("udp");
    // 20 bytes, 10 of them invalid UTF-8: 40 bytes once each becomes U+FFFD.
    let mut message = b"<13>abcdef".to_vec();
    message.extend([0xff; 10]);
    message.extend(b"\r\n\0");
    super::syslog::read_message(&inbound(&[], 20), &counters, &message, &file, 1);
    assert_eq!(counters.oversize.load(Ordering::Relaxed), 0, "trailing line ends do not count");
    assert_eq!(counters.unreadable.load(Ordering::Relaxed), 1, "read, and not a Windows event");
    super::syslog::read_message(&inbound(&[], 19), &counters, &message, &file, 2);
    assert_eq!(counters.oversize.load(Ordering::Relaxed), 1);
    assert_eq!(counters.messages.load(Ordering::Relaxed), 2);
    super::syslog::read_message(&inbound(&[], 19), &counters, b"  \r\n\0", &file, 3);
    assert_eq!(counters.messages.load(Ordering::Relaxed), 2, "a blank datagram is no message");
}

#[test]
fn v4_clients_of_a_dual_stack_socket_match_v4_networks() {
    let only_lan = inbound(&["192.0.2.0/24"], 64);
    assert!(only_lan.allowed("::ffff:192.0.2.7".parse().unwrap()));
    assert!(only_lan.allowed("192.0.2.7".parse().unwrap()));
    assert!(!only_lan.allowed("::ffff:198.51.100.7".parse().unwrap()));
    assert!(!only_lan.allowed("2001:db8::1".parse().unwrap()));
    assert!(inbound(&[], 64).allowed("2001:db8::1".parse().unwrap()), "no list: every source");
}
