//! Web UI sessions: a password login opens a session held in the center's memory, named by a
//! random id in an `HttpOnly; Secure; SameSite=Strict` cookie. Each session carries its own
//! CSRF token, which every form that changes something must send back.
//!
//! Sessions live in memory only: a restart of the center signs everyone out (API tokens are
//! unaffected). A session ends after [`SESSION_SECS`] or at sign-out.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use orthrus_model::Timestamp;
use ring::rand::{SecureRandom, SystemRandom};

/// The session cookie's name.
pub const COOKIE: &str = "orthrus_session";
/// How long a session lasts (a working day).
pub const SESSION_SECS: i64 = 12 * 3600;
/// Sessions held at most; the oldest go first beyond it.
const MAX_SESSIONS: usize = 10_000;
/// Failed logins in a row after which a user name is refused for [`LOCKOUT_SECS`].
pub const MAX_FAILURES: u32 = 5;
pub const LOCKOUT_SECS: i64 = 60;

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    pub expires: Timestamp,
}

#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
    /// Per user name: failed logins in a row, and when the last one was.
    failures: Mutex<HashMap<String, (u32, Timestamp)>>,
}

impl Sessions {
    /// Opens a session for `user`; its id goes into the cookie. `None` when the operating
    /// system gives no random bytes.
    pub fn open(&self, user: &str, now: Timestamp) -> Option<String> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open.iter().min_by_key(|(_, s)| s.expires).map(|(id, _)| id.clone())
        {
            open.remove(&oldest);
        }
        open.insert(
            id.clone(),
            Session { user: user.to_owned(), csrf, expires: now.saturating_add_secs(SESSION_SECS) },
        );
        Some(id)
    }

    /// The live session the request's cookie names.
    pub fn find(&self, headers: &HeaderMap, now: Timestamp) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(id).filter(|s| s.expires > now).cloned()
    }

    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            self.open.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        }
    }

    /// Whether `user` is locked out by failed logins.
    pub fn locked(&self, user: &str, now: Timestamp) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.get(user).is_some_and(|(count, last)| {
            *count >= MAX_FAILURES && last.saturating_add_secs(LOCKOUT_SECS) > now
        })
    }

    pub fn failed(&self, user: &str, now: Timestamp) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_SESSIONS {
            failures.retain(|_, (_, last)| last.saturating_add_secs(LOCKOUT_SECS) > now);
        }
        let entry = failures.entry(user.to_owned()).or_insert((0, now));
        *entry = (entry.0.saturating_add(1), now);
    }

    pub fn succeeded(&self, user: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(user);
    }
}

/// The value of cookie `name` in the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value carrying session `id`.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={SESSION_SECS}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_expires_or_closes() {
        let sessions = Sessions::default();
        let now = Timestamp::from_micros(1_000_000_000_000);
        let id = sessions.open("alice", now).unwrap();
        assert_eq!(id.len(), 64);
        let headers = with_cookie(&format!("theme=dark; {COOKIE}={id}"));
        let session = sessions.find(&headers, now).unwrap();
        assert_eq!(session.user, "alice");
        assert_eq!(session.csrf.len(), 64);
        assert_ne!(session.csrf, id);
        assert!(sessions.find(&headers, now.saturating_add_secs(SESSION_SECS)).is_none(), "expired");
        // Another id (its first digit changed) opens nothing.
        let other = format!("{}{}", if id.starts_with('0') { '1' } else { '0' }, &id[1..]);
        assert!(sessions.find(&with_cookie(&format!("{COOKIE}={other}")), now).is_none());
        sessions.close(&headers);
        assert!(sessions.find(&headers, now).is_none(), "closed");
    }

    #[test]
    fn repeated_failures_lock_a_name_for_a_while() {
        let sessions = Sessions::default();
        let now = Timestamp::from_micros(1_000_000_000_000);
        for _ in 0..MAX_FAILURES - 1 {
            sessions.failed("bob", now);
        }
        assert!(!sessions.locked("bob", now));
        sessions.failed("bob", now);
        assert!(sessions.locked("bob", now));
        assert!(!sessions.locked("carol", now));
        assert!(!sessions.locked("bob", now.saturating_add_secs(LOCKOUT_SECS)));
        sessions.succeeded("bob");
        assert!(!sessions.locked("bob", now));
    }
}
