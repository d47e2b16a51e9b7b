//! What the sensor's loop says as it goes ([`SensorEvent`]) and why it stops ([`SensorError`]):
//! shared by the loop and the watched folder.

use std::path::{Path, PathBuf};

use crate::client::ClientError;
use crate::spool::SpoolError;

#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error("{what} {path}: {error}")]
    Io { what: &'static str, path: PathBuf, error: std::io::Error },
    #[error("opening the disk buffer {path}: {error}")]
    OpenSpool { path: PathBuf, error: SpoolError },
    #[error("the disk buffer: {0}")]
    Spool(#[from] SpoolError),
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Config(String),
    #[error("live capture: {0}")]
    Capture(String),
}

pub(crate) fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SensorError + 'a {
    move |error| SensorError::Io { what, path: path.to_owned(), error }
}

/// What the loop tells its operator as it goes.
#[derive(Debug)]
pub enum SensorEvent<'a> {
    Watching {
        folder: &'a Path,
        center: &'a str,
    },
    Capturing {
        interface: &'a str,
        center: &'a str,
    },
    /// A listener of forwarded events is open (`syslog_udp`, `syslog_tcp`, `syslog_tls`,
    /// `https`).
    Listening {
        listener: &'static str,
        address: std::net::SocketAddr,
    },
    /// A file of the watched folder could not be read; it went to `failed/`.
    FileFailed(&'a str),
    /// A file of the watched folder was no regular file of its own (a link, a device, a
    /// pipe, a hard link to a file elsewhere); it went to `refused/` unread.
    FileRefused {
        name: &'a str,
        why: &'a str,
    },
    /// The center did not take the batches; they wait in the disk buffer.
    CenterDown(&'a SensorError),
    CenterUp,
    /// The center refused the heartbeat (a refusal, not an unreachable center).
    HeartbeatRefused(&'a ClientError),
    /// Stopped as asked; `waiting` batches are left in the disk buffer.
    Stopped {
        waiting: u64,
    },
}
