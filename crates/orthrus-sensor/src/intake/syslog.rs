//! Syslog listeners: UDP datagrams, one message each; TCP and TLS streams framed by octet
//! counting (`LEN SP MSG`, RFC 6587 §3.4.1 and RFC 5425) or by line feeds (RFC 6587 §3.4.2),
//! told apart message by message as rsyslog does (a syslog message itself starts with `<`,
//! never a digit).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orthrus_listen::ConnectionLimits;
use orthrus_model::{Activity, Position};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_rustls::TlsAcceptor;

use super::{Inbound, ListenerCounters};
use crate::report::SensorError;

/// The kernel's receive buffer asked for a UDP listener: a burst of a busy DC's events (a few
/// thousand of a few KiB) while the listener is between reads. Linux caps it at
/// `net.core.rmem_max`; what the kernel still drops it counts in /proc/net/udp.
const UDP_RECEIVE_BUFFER: usize = 8 << 20;
/// A forwarder keeps its connection open between bursts; one silent for an hour is closed
/// (it reconnects when it has something to say), so abandoned connections do not hold slots.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Read buffer per connection.
const READ_BUFFER: usize = 64 << 10;
/// Digits of an octet count: up to 9 999 999 999 bytes, far above any message bound.
const MAX_COUNT_DIGITS: usize = 10;

fn bind_error(address: SocketAddr) -> impl Fn(std::io::Error) -> SensorError {
    move |error| SensorError::Config(format!("[intake] listening on {address}: {error}"))
}

/// Listens for syslog datagrams on `address`; returns the address bound.
pub async fn serve_udp(
    address: SocketAddr,
    inbound: Inbound,
    counters: Arc<ListenerCounters>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<SocketAddr, SensorError> {
    let socket = bind_udp(address).map_err(bind_error(address))?;
    let bound = socket.local_addr().map_err(bind_error(address))?;
    tokio::spawn(async move {
        // The largest UDP payload, so a datagram is never cut short unseen.
        let mut buffer = vec![0u8; 65_536];
        let mut number = 0u64;
        tokio::pin!(stop);
        loop {
            let received = tokio::select! {
                received = socket.recv_from(&mut buffer) => received,
                () = &mut stop => return,
            };
            let Ok((length, peer)) = received else {
                // ICMP errors surface here on Linux; they say nothing about the next datagram.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            if !inbound.allowed(peer.ip()) {
                ListenerCounters::add(&counters.refused_sources, 1);
                continue;
            }
            let Some(datagram) = buffer.get(..length) else { continue };
            number += 1;
            let file: Arc<str> = Arc::from(format!("syslog/udp from {peer}"));
            if let Some(activity) = read_message(&inbound, &counters, datagram, &file, number) {
                inbound.offer(&counters, activity);
            }
        }
    });
    Ok(bound)
}

fn bind_udp(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(address), socket2::Type::DGRAM, None)?;
    // Asked, not required: the kernel may give less.
    let _ = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

/// Listens for syslog streams on `address`, over TLS when `tls` is given; returns the
/// address bound.
pub async fn serve_tcp(
    address: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
    inbound: Inbound,
    counters: Arc<ListenerCounters>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<SocketAddr, SensorError> {
    let listener = TcpListener::bind(address).await.map_err(bind_error(address))?;
    let bound = listener.local_addr().map_err(bind_error(address))?;
    let transport = if tls.is_some() { "tls" } else { "tcp" };
    let acceptor = tls.map(TlsAcceptor::from);
    let connections = counters.connections.clone();
    let serve = move |stream: TcpStream, peer: SocketAddr| {
        let (inbound, counters, acceptor) = (inbound.clone(), counters.clone(), acceptor.clone());
        async move {
            if !inbound.allowed(peer.ip()) {
                ListenerCounters::add(&counters.refused_sources, 1);
                return;
            }
            let file: Arc<str> = Arc::from(format!("syslog/{transport} from {peer}"));
            match acceptor {
                Some(acceptor) => {
                    let handshake = orthrus_listen::handshake(stream, peer, &acceptor, &counters.connections);
                    if let Some(stream) = handshake.await {
                        read_stream(stream, &inbound, &counters, &file).await;
                    }
                }
                None => read_stream(stream, &inbound, &counters, &file).await,
            }
        }
    };
    tokio::spawn(orthrus_listen::accept_loop(listener, limits, connections, stop, serve));
    Ok(bound)
}

/// Reads messages off one connection until it ends, goes silent for [`IDLE_TIMEOUT`], loses
/// its framing, or the sensor stops.
async fn read_stream(
    stream: impl AsyncRead + Unpin,
    inbound: &Inbound,
    counters: &ListenerCounters,
    file: &Arc<str>,
) {
    let mut reader = BufReader::with_capacity(READ_BUFFER, stream);
    let mut message = Vec::new();
    let mut number = 0u64;
    loop {
        let frame = tokio::time::timeout(
            IDLE_TIMEOUT,
            next_frame(&mut reader, &mut message, inbound.max_message_bytes),
        );
        match frame.await {
            Ok(Ok(Frame::Message)) => {
                number += 1;
                if let Some(activity) = read_message(inbound, counters, &message, file, number)
                    && !inbound.send(counters, activity).await
                {
                    return;
                }
            }
            Ok(Ok(Frame::Oversize)) => {
                number += 1;
                ListenerCounters::add(&counters.messages, 1);
                ListenerCounters::add(&counters.oversize, 1);
            }
            Ok(Ok(Frame::End) | Err(_)) | Err(_) => return,
        }
    }
}

/// A message read as a Windows event and counted; its activity if it maps to one.
pub(super) fn read_message(
    inbound: &Inbound,
    counters: &ListenerCounters,
    bytes: &[u8],
    file: &Arc<str>,
    number: u64,
) -> Option<Activity> {
    let end = bytes.iter().rposition(|b| !matches!(b, b'\n' | b'\r' | 0)).map_or(0, |last| last + 1);
    let bytes = bytes.get(..end).unwrap_or_default();
    if bytes.trim_ascii().is_empty() {
        return None;
    }
    ListenerCounters::add(&counters.messages, 1);
    // On the received bytes: lossy decoding can make a message longer (each bad byte becomes
    // three), and the bound is on what a client sent.
    if bytes.len() > inbound.max_message_bytes {
        ListenerCounters::add(&counters.oversize, 1);
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    inbound.activity(counters, orthrus_events::syslog::parse_line(&text, file, Position::Line(number)))
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Frame {
    /// `message` holds the next message.
    Message,
    /// The next message was longer than the bound and was skipped.
    Oversize,
    /// The stream ended.
    End,
}

/// The next message of a stream into `message` (at most `max` bytes kept).
pub(super) async fn next_frame(
    reader: &mut (impl AsyncBufRead + Unpin),
    message: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Frame> {
    message.clear();
    // Line ends and NULs between frames (some senders end octet-counted frames with one).
    let first = loop {
        let buffer = reader.fill_buf().await?;
        let Some(&first) = buffer.first() else { return Ok(Frame::End) };
        if matches!(first, b'\n' | b'\r' | b'\0') {
            reader.consume(1);
            continue;
        }
        break first;
    };
    if first.is_ascii_digit() {
        // Octet counting, unless the digits turn out to begin a line (a Snare record that
        // starts with an address): then they are that line's first bytes.
        let mut length: u64 = 0;
        loop {
            let Some(byte) = reader.fill_buf().await?.first().copied() else { return Ok(Frame::End) };
            reader.consume(1);
            if byte == b' ' && !message.is_empty() {
                message.clear();
                return read_counted(reader, message, length, max).await;
            }
            if !byte.is_ascii_digit() || message.len() >= MAX_COUNT_DIGITS {
                message.push(byte);
                if byte == b'\n' {
                    return Ok(Frame::Message);
                }
                break;
            }
            message.push(byte);
            length = length * 10 + u64::from(byte - b'0');
        }
    }
    read_line(reader, message, max).await
}

async fn read_counted(
    reader: &mut (impl AsyncBufRead + Unpin),
    message: &mut Vec<u8>,
    length: u64,
    max: usize,
) -> std::io::Result<Frame> {
    if length > max as u64 {
        let skipped = tokio::io::copy(&mut (&mut *reader).take(length), &mut tokio::io::sink()).await?;
        return Ok(if skipped < length { Frame::End } else { Frame::Oversize });
    }
    let read = (&mut *reader).take(length).read_to_end(message).await?;
    Ok(if (read as u64) < length { Frame::End } else { Frame::Message })
}

/// The rest of a line (after what `message` holds already); a line past `max` is skipped to
/// its end.
async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    message: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Frame> {
    let mut oversize = message.len() > max;
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            // The last line of a stream may lack its line feed.
            return Ok(match (oversize, message.is_empty()) {
                (true, _) => Frame::Oversize,
                (false, true) => Frame::End,
                (false, false) => Frame::Message,
            });
        }
        let (piece, used, ended) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (buffer.get(..at).unwrap_or_default(), at + 1, true),
            None => (buffer, buffer.len(), false),
        };
        if !oversize && message.len() + piece.len() <= max {
            message.extend_from_slice(piece);
        } else {
            oversize = true;
            message.clear();
        }
        reader.consume(used);
        if ended {
            return Ok(if oversize { Frame::Oversize } else { Frame::Message });
        }
    }
}
