//! The web UI's login throttle. Guessing passwords gets slower with every failure, per user
//! name and client address (so one attacker cannot lock a real user out from elsewhere for
//! long) and per client address over all names (so trying many names from one place slows
//! too); a name failing from many places is locked for a while, and the lock expires however
//! many tries arrive meanwhile (tries while locked are not verified, so they cannot extend
//! it). Password verification (Argon2id, 19 MiB and tens of milliseconds each) runs on
//! [`VERIFICATIONS`] threads of its own, one per client address at a time: a flood of logins
//! costs bounded memory and queues behind itself, not in front of a real user elsewhere. Each
//! thread keeps its Argon2 memory from one login to the next: allocated and freed per login,
//! it fragmented the allocator until a flood had grown the center by hundreds of MiB.
//!
//! The records are in memory and bounded; a restart forgets them (and signs everyone out).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use orthrus_model::Timestamp;

/// Failed logins of one name from one address that cost nothing: typos.
const FREE_FAILURES_PER_PAIR: u32 = 3;
/// Failed logins from one address, over all names, that cost nothing: higher than per pair,
/// as an address may be a NAT gateway in front of many users.
const FREE_FAILURES_PER_ADDRESS: u32 = 10;
/// The wait after the first failure beyond the free ones, doubled with each further failure
/// up to [`MAX_WAIT_SECS`]: a user who mistyped waits seconds, a guesser hours per hundred
/// tries.
const FIRST_WAIT_SECS: i64 = 1;
const MAX_WAIT_SECS: i64 = 300;
/// Failures of one name, from every address together, within [`NAME_WINDOW_SECS`] that lock
/// the name for [`NAME_LOCK_SECS`]: the per-pair backoff already slows each guesser, this
/// bounds a guesser spread over many addresses. The lock runs from when it was set and ends.
const NAME_FAILURES: u32 = 20;
const NAME_WINDOW_SECS: i64 = 300;
const NAME_LOCK_SECS: i64 = 300;
/// A record without a failure for this long is forgotten.
const FORGET_SECS: i64 = 900;
/// Records kept at most per table: bounds memory against names made up by the million.
const MAX_RECORDS: usize = 20_000;
/// Password verifications at once: two Argon2id runs are 38 MiB and two cores' worth of a
/// login's time; more would only let a flood take the memory and the CPU.
pub const VERIFICATIONS: usize = 2;
/// Verifications waiting at most; beyond, a login is asked to try again at once.
const WAITING: usize = 64;
/// How long a login waits for its verification before it is asked to try again.
const VERIFY_WAIT: Duration = Duration::from_secs(10);

/// A password to check against a kept hash, and where the answer goes.
type Job = (String, Option<String>, tokio::sync::oneshot::Sender<bool>);

/// The verification threads and their bounded queue.
struct Verifier {
    jobs: mpsc::SyncSender<Job>,
}

impl Verifier {
    fn start() -> Self {
        let (jobs, queue) = mpsc::sync_channel::<Job>(WAITING);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..VERIFICATIONS {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("orthrus-login-{n}")).spawn(move || {
                // Argon2's memory, kept by this thread from one login to the next.
                let mut memory = Vec::new();
                loop {
                    let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((password, kept, answer)) = job else { return };
                    let matched = orthrus_store::credentials::verify_password_in(
                        &password,
                        kept.as_deref().unwrap_or_else(|| decoy_hash()),
                        &mut memory,
                    );
                    let _ = answer.send(matched && kept.is_some());
                }
            });
            if let Err(error) = spawned {
                tracing::error!("starting a login verification thread: {error}");
            }
        }
        Self { jobs }
    }
}

/// Why a login was not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures: try again after this many seconds.
    Wait(i64),
    /// Too many logins at once (from this address, or everywhere): try again shortly.
    Busy,
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    last: Timestamp,
}

impl Strikes {
    /// When the next try is allowed, given `free` failures that cost nothing.
    fn allowed_from(&self, free: u32) -> Option<Timestamp> {
        let beyond = self.failures.checked_sub(free).filter(|n| *n > 0)?;
        let wait = FIRST_WAIT_SECS.saturating_mul(1 << (beyond - 1).min(20)).min(MAX_WAIT_SECS);
        Some(self.last.saturating_add_secs(wait))
    }
}

#[derive(Debug, Clone, Copy)]
struct NameRecord {
    window_start: Timestamp,
    failures: u32,
    locked_until: Option<Timestamp>,
    last: Timestamp,
}

#[derive(Default)]
struct Records {
    pairs: HashMap<(String, Option<IpAddr>), Strikes>,
    addresses: HashMap<Option<IpAddr>, Strikes>,
    names: HashMap<String, NameRecord>,
    /// Addresses with a verification under way.
    in_flight: HashMap<Option<IpAddr>, ()>,
}

/// Keeps a table within [`MAX_RECORDS`]: the forgotten go first, then the oldest.
fn bound<K: Clone + Eq + std::hash::Hash, V>(
    table: &mut HashMap<K, V>,
    last: impl Fn(&V) -> Timestamp,
    now: Timestamp,
) {
    if table.len() < MAX_RECORDS {
        return;
    }
    table.retain(|_, v| last(v).saturating_add_secs(FORGET_SECS) > now);
    if table.len() >= MAX_RECORDS
        && let Some(oldest) = table.iter().min_by_key(|(_, v)| last(v)).map(|(k, _)| k.clone())
    {
        table.remove(&oldest);
    }
}

#[derive(Default)]
pub struct LoginThrottle {
    records: Mutex<Records>,
    /// Started at the first login.
    verifier: OnceLock<Verifier>,
    /// Logins held back, said at most once a minute.
    pub held_back_log: crate::serve::RateLimitedLog,
}

/// A login allowed to verify its password; the address's turn ends when it drops.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    name: String,
    address: Option<IpAddr>,
}

impl LoginThrottle {
    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `name` may try a password from `address` now.
    pub fn admit(&self, name: &str, address: Option<IpAddr>, now: Timestamp) -> Result<Attempt<'_>, Refused> {
        let mut records = self.records();
        let wait_until = [
            records
                .pairs
                .get(&(name.to_owned(), address))
                .and_then(|s| s.allowed_from(FREE_FAILURES_PER_PAIR)),
            records.addresses.get(&address).and_then(|s| s.allowed_from(FREE_FAILURES_PER_ADDRESS)),
            records.names.get(name).and_then(|n| n.locked_until),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(until) = wait_until.filter(|until| *until > now) {
            let micros = until.as_micros() - now.as_micros();
            let seconds = (micros + 999_999) / 1_000_000;
            return Err(Refused::Wait(seconds.max(1)));
        }
        if records.in_flight.insert(address, ()).is_some() {
            return Err(Refused::Busy);
        }
        Ok(Attempt { throttle: self, name: name.to_owned(), address })
    }
}

impl Attempt<'_> {
    /// Verifies `password` against the user's kept hash (a decoy's when the user is unknown or
    /// has no password, so a wrong name costs the same time as a wrong password), on the
    /// verification threads.
    pub async fn verify(&self, password: String, kept: Option<String>) -> Result<bool, Refused> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let verifier = self.throttle.verifier.get_or_init(Verifier::start);
        verifier.jobs.try_send((password, kept, answer)).map_err(|_| Refused::Busy)?;
        // A client that hangs up leaves its job to finish: the queue's bound holds either way.
        match tokio::time::timeout(VERIFY_WAIT, answered).await {
            Ok(Ok(matched)) => Ok(matched),
            _ => Err(Refused::Busy),
        }
    }

    /// The password was wrong (or the user unknown).
    pub fn failed(&self, now: Timestamp) {
        let mut records = self.throttle.records();
        let records = &mut *records;
        bound(&mut records.pairs, |s| s.last, now);
        bound(&mut records.addresses, |s| s.last, now);
        bound(&mut records.names, |n| n.last, now);
        for strikes in [
            records
                .pairs
                .entry((self.name.clone(), self.address))
                .or_insert(Strikes { failures: 0, last: now }),
            records.addresses.entry(self.address).or_insert(Strikes { failures: 0, last: now }),
        ] {
            if strikes.last.saturating_add_secs(FORGET_SECS) <= now {
                strikes.failures = 0;
            }
            *strikes = Strikes { failures: strikes.failures.saturating_add(1), last: now };
        }
        let name = records.names.entry(self.name.clone()).or_insert(NameRecord {
            window_start: now,
            failures: 0,
            locked_until: None,
            last: now,
        });
        if name.window_start.saturating_add_secs(NAME_WINDOW_SECS) <= now {
            (name.window_start, name.failures) = (now, 0);
        }
        name.failures += 1;
        name.last = now;
        if name.failures >= NAME_FAILURES {
            name.locked_until = Some(now.saturating_add_secs(NAME_LOCK_SECS));
            (name.window_start, name.failures) = (now, 0);
        }
    }

    /// The password was right: this name's failures from this address, and the name's own
    /// count, are forgotten (the address's count over all names is not: a success of one
    /// user behind a NAT does not pardon a guesser beside it).
    pub fn succeeded(&self) {
        let mut records = self.throttle.records();
        records.pairs.remove(&(self.name.clone(), self.address));
        records.names.remove(&self.name);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.throttle.records().in_flight.remove(&self.address);
    }
}

/// Verifying against this when the user is unknown (or has no password) keeps a wrong name as
/// slow as a wrong password: the names cannot be learned from the timing.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        orthrus_store::credentials::hash_password("not anyone's password, ever").unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(1_000_000_000_000 + secs * 1_000_000)
    }

    fn address(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn fail(throttle: &LoginThrottle, name: &str, from: Option<IpAddr>, now: Timestamp) {
        throttle.admit(name, from, now).unwrap().failed(now);
    }

    #[test]
    fn a_pair_waits_longer_after_each_failure_and_the_wait_ends() {
        let throttle = LoginThrottle::default();
        let guesser = address("192.0.2.7");
        for _ in 0..FREE_FAILURES_PER_PAIR {
            fail(&throttle, "alice", guesser, at(0));
        }
        assert!(throttle.admit("alice", guesser, at(0)).is_ok(), "typos cost nothing");
        fail(&throttle, "alice", guesser, at(0));
        assert_eq!(throttle.admit("alice", guesser, at(0)).err(), Some(Refused::Wait(1)));
        fail(&throttle, "alice", guesser, at(1));
        assert_eq!(throttle.admit("alice", guesser, at(1)).err(), Some(Refused::Wait(2)));
        assert!(throttle.admit("alice", guesser, at(3)).is_ok(), "the wait ends");
        // alice from her own address is not slowed by the guesser
        assert!(throttle.admit("alice", address("198.51.100.1"), at(1)).is_ok());
    }

    #[test]
    fn one_failure_a_minute_never_locks_a_name_for_good() {
        // The old lock: five failures, then a failure a minute kept the name locked forever.
        let throttle = LoginThrottle::default();
        let guesser = address("192.0.2.7");
        for minute in 0..60 {
            let now = at(minute * 60);
            if let Ok(attempt) = throttle.admit("bob", guesser, now) {
                attempt.failed(now);
            }
        }
        // the real bob, elsewhere, gets in at once
        assert!(throttle.admit("bob", address("198.51.100.1"), at(3600)).is_ok());
        // and the guesser's own wait is capped: it ends
        assert!(throttle.admit("bob", guesser, at(59 * 60 + MAX_WAIT_SECS)).is_ok());
    }

    #[test]
    fn a_name_failing_everywhere_is_locked_and_the_lock_expires() {
        let throttle = LoginThrottle::default();
        for n in 0..NAME_FAILURES {
            fail(&throttle, "carol", address(&format!("192.0.2.{n}")), at(0));
        }
        assert_eq!(throttle.admit("carol", address("198.51.100.1"), at(1)).err(), Some(Refused::Wait(299)));
        // tries while locked are refused before they are verified, so they cannot extend it
        for second in 1..NAME_LOCK_SECS {
            assert!(throttle.admit("carol", address("203.0.113.9"), at(second)).is_err());
        }
        assert!(throttle.admit("carol", address("198.51.100.1"), at(NAME_LOCK_SECS)).is_ok(), "unlocked");
    }

    #[test]
    fn many_names_from_one_address_slow_that_address_only() {
        let throttle = LoginThrottle::default();
        let sprayer = address("192.0.2.9");
        for n in 0..=FREE_FAILURES_PER_ADDRESS {
            fail(&throttle, &format!("user{n}"), sprayer, at(0));
        }
        assert_eq!(throttle.admit("someone", sprayer, at(0)).err(), Some(Refused::Wait(1)));
        assert!(throttle.admit("someone", address("198.51.100.1"), at(0)).is_ok());
    }

    #[test]
    fn one_verification_per_address_at_a_time() {
        let throttle = LoginThrottle::default();
        let client = address("192.0.2.1");
        let first = throttle.admit("dave", client, at(0)).unwrap();
        assert_eq!(throttle.admit("erin", client, at(0)).err(), Some(Refused::Busy));
        assert!(throttle.admit("erin", address("192.0.2.2"), at(0)).is_ok());
        drop(first);
        assert!(throttle.admit("erin", client, at(0)).is_ok());
    }

    #[test]
    fn made_up_names_by_the_million_stay_within_the_bound() {
        let throttle = LoginThrottle::default();
        for n in 0..(MAX_RECORDS + 500) {
            let from = Some(IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]));
            fail(&throttle, &format!("name{n}"), from, at(0));
        }
        let records = throttle.records();
        assert!(records.pairs.len() <= MAX_RECORDS && records.names.len() <= MAX_RECORDS);
        assert!(records.addresses.len() <= MAX_RECORDS);
    }
}
