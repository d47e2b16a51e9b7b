//! Test support: recordings run through the engine, and the benign sets every detection must
//! stay silent on.
//!
//! - [`lab`]: the Samba lab's captures (testdata/pcap).
//! - [`logs`]: public corpus event logs and the lab's Samba audit logs.
//! - [`extra`]: the recordings of testdata/lab-extra, and the lab's directory snapshot.

pub mod extra;
pub mod lab;
pub mod logs;
