//! Web UI sessions: a password login opens a session held in the center's memory, named by a
//! random id in an `HttpOnly; Secure; SameSite=Strict` cookie. Each session carries its own
//! CSRF token, which every form that changes something must send back.
//!
//! Sessions live in memory only: a restart of the center signs everyone out (API tokens are
//! unaffected). A session ends after [`SESSION_SECS`], at sign-out, or when the user's
//! session epoch in the store moves on (a password change, the user removed): each session
//! keeps the epoch it was opened in, and each request compares it with the store's.

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

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    /// The user's session epoch when the session opened.
    pub epoch: i64,
    pub csrf: String,
    pub expires: Timestamp,
}

#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `user`; its id goes into the cookie. `None` when the operating
    /// system gives no random bytes.
    pub fn open(&self, user: &str, epoch: i64, now: Timestamp) -> Option<String> {
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
            Session { user: user.to_owned(), epoch, csrf, expires: now.saturating_add_secs(SESSION_SECS) },
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
        let id = sessions.open("alice", 0, now).unwrap();
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
}
