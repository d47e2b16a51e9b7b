//! Directory knowledge: what Orthrus knows about the domains it watches.
//!
//! - [`ldap::sync`] reads a domain over LDAP (users, groups with members, computers, OUs,
//!   service accounts, trusts, sites, subnets), fully or incrementally by `uSNChanged`, into a
//!   [`Snapshot`] that `orthrus analyze --directory` and later the center use.
//! - [`Directory`] answers lookups by SID, `DOMAIN\sam`, UPN, DN, SPN and computer name, and
//!   says which accounts are sensitive (built-in groups by well-known SID/RID, transitively,
//!   plus manual tags) and which are honeytokens.
//! - [`NameResolver`] learns IP → computer from what the traffic itself shows (network name
//!   resolution), keeping method and confidence, and leaves conflicting addresses unresolved.

pub mod ad;
mod describe;
mod index;
pub mod ldap;
mod resolve;
pub mod reverse_dns;
pub mod security;
mod snapshot;

pub use describe::describe;
pub use index::{Directory, EntityTags, Found, Sensitivity, well_known_sensitive_group};
pub use resolve::{Confidence, Method, NameResolver, Resolution};
pub use snapshot::{ChangeSummary, DirectoryObject, Domain, ObjectKind, Site, Snapshot, Subnet, Trust};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: {1}")]
    Snapshot(String, String),
    #[error("LDAP: {0}")]
    Ldap(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("reverse DNS: {0}")]
    Dns(String),
}

/// `LAB\bob`, `bob@LAB.TEST`, `CN=bob,CN=Users,…`, `Bob` → `bob`.
pub fn bare_account_name(name: &str) -> String {
    let name = name.trim();
    let name = name.rsplit('\\').next().unwrap_or(name);
    let name = name.split('@').next().unwrap_or(name);
    let name = match (name.get(..3), name.get(3..)) {
        (Some(prefix), Some(rest)) if prefix.eq_ignore_ascii_case("cn=") => {
            rest.split(',').next().unwrap_or(rest)
        }
        _ => name,
    };
    name.to_lowercase()
}
