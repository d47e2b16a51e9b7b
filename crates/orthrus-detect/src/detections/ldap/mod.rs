//! Detections fed by LDAP binds: password guessing through simple binds.

pub mod brute_force;

use orthrus_model::{Activity, ActivityKind, AuthOutcome, Logon};

/// A logon event that stands for an LDAP simple bind: Samba's audit names it, and Windows logs
/// one as a network-cleartext logon (type 8) handled by lsass (OpenSSH and IIS basic
/// authentication log type 8 too, from their own processes).
pub(crate) fn is_simple_bind_logon(logon: &Logon) -> bool {
    logon.package.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("simple bind"))
        || (logon.logon_type == Some(8)
            && logon.process.as_deref().is_some_and(|p| p.to_ascii_lowercase().ends_with("lsass.exe")))
}

/// An LDAP simple bind, from the wire or the DC's log: (account, outcome).
pub(crate) fn simple_bind(activity: &Activity) -> Option<(String, AuthOutcome)> {
    match &activity.kind {
        ActivityKind::LdapBound(bind) if bind.method == "simple" && !bind.name.is_empty() => {
            Some((bind.name.clone(), bind.outcome))
        }
        ActivityKind::LoggedOn(logon) if is_simple_bind_logon(logon) => {
            Some((logon.account.name.clone(), logon.outcome))
        }
        _ => None,
    }
}
