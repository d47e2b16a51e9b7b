//! Event-time windows and incidents shared by detections.

use std::collections::{BTreeSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

use foldhash::HashMap;
use orthrus_model::{Activity, Evidence, Provenance, SourceId, Timestamp};

/// Evidence items one alert keeps; later ones are counted in `evidence_omitted`.
pub const MAX_EVIDENCE: usize = 100;

/// Items seen in the last `window_secs` of event time, with per-item counts.
/// Bounded: beyond `max_items` the oldest observations are forgotten.
#[derive(Debug, Clone)]
pub struct Window<T: Clone + Eq + Hash> {
    window_micros: i64,
    max_items: usize,
    seen: VecDeque<(Timestamp, T)>,
    counts: HashMap<T, u32>,
}

impl<T: Clone + Eq + Hash> Window<T> {
    pub fn new(window_secs: u64, max_items: usize) -> Self {
        Self {
            window_micros: i64::try_from(window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            max_items,
            seen: VecDeque::new(),
            counts: HashMap::default(),
        }
    }

    pub fn insert(&mut self, time: Timestamp, item: T) {
        self.expire(time);
        if self.seen.len() >= self.max_items {
            self.pop_oldest();
        }
        *self.counts.entry(item.clone()).or_default() += 1;
        self.seen.push_back((time, item));
    }

    /// Forgets what is older than the window, seen from `now`.
    pub fn expire(&mut self, now: Timestamp) {
        let cutoff = now.as_micros().saturating_sub(self.window_micros);
        while self.seen.front().is_some_and(|(t, _)| t.as_micros() < cutoff) {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((_, item)) = self.seen.pop_front()
            && let Some(c) = self.counts.get_mut(&item)
        {
            *c -= 1;
            if *c == 0 {
                self.counts.remove(&item);
            }
        }
    }

    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    pub fn count(&self, item: &T) -> u32 {
        self.counts.get(item).copied().unwrap_or(0)
    }

    pub fn contains(&self, item: &T) -> bool {
        self.counts.contains_key(item)
    }

    pub fn items(&self) -> impl Iterator<Item = (&T, u32)> {
        self.counts.iter().map(|(k, v)| (k, *v))
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Evidence of the last window of event time, kept so that an alert raised when a
/// threshold is crossed carries the activities that led up to it.
#[derive(Debug, Clone)]
pub struct Recent {
    window_micros: i64,
    items: VecDeque<(Timestamp, Vec<Provenance>, String, Arc<str>)>,
}

impl Recent {
    pub fn new(window_secs: u64) -> Self {
        Self {
            window_micros: i64::try_from(window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            items: VecDeque::new(),
        }
    }

    /// Keeps `activity` as evidence, with a one-line summary.
    pub fn push(&mut self, activity: &Activity, summary: String) {
        self.push_at(activity.time, &activity.provenance, &activity.sensor, summary);
    }

    /// Keeps evidence of an activity seen earlier (its time, provenance and sensor).
    pub fn push_at(
        &mut self,
        time: Timestamp,
        provenance: &[Provenance],
        sensor: &Arc<str>,
        summary: String,
    ) {
        let cutoff = time.as_micros().saturating_sub(self.window_micros);
        while self.items.front().is_some_and(|(t, ..)| t.as_micros() < cutoff) {
            self.items.pop_front();
        }
        if self.items.len() >= MAX_EVIDENCE {
            self.items.pop_front();
        }
        self.items.push_back((time, provenance.to_vec(), summary, sensor.clone()));
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Moves everything kept into `incident`, oldest first.
    pub fn drain_into(&mut self, incident: &mut Incident) {
        self.items.make_contiguous().sort_by_key(|(t, ..)| *t);
        for (time, provenance, summary, sensor) in self.items.drain(..) {
            incident.record(time, &provenance, summary);
            incident.seen_by(&sensor);
        }
    }
}

/// One ongoing attack episode: it stays open while activity keeps coming within the window
/// and is then closed; the next activity opens a new one (a new alert).
#[derive(Debug, Clone)]
pub struct Incident {
    /// Distinguishes successive incidents of one key (part of the alert key).
    pub number: u32,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub count: u64,
    pub evidence: Vec<Evidence>,
    pub evidence_omitted: u64,
    /// Whether an alert has been raised for it.
    pub alerted: bool,
    /// The names the incident involved so far (services, tasks, hosts, accounts), for
    /// detections whose alert lists them.
    pub names: BTreeSet<String>,
    /// A running total (bytes read, say), for detections whose alert sums something.
    pub total: u64,
    /// The sensors whose activities the incident recorded (bounded, each once).
    pub sensors: Vec<Arc<str>>,
}

impl Incident {
    fn new(number: u32, time: Timestamp) -> Self {
        Self {
            number,
            first_seen: time,
            last_seen: time,
            count: 0,
            evidence: Vec::new(),
            evidence_omitted: 0,
            alerted: false,
            names: BTreeSet::new(),
            total: 0,
            sensors: Vec::new(),
        }
    }

    /// Notes the sensor that saw an activity of the incident.
    pub fn seen_by(&mut self, sensor: &Arc<str>) {
        if self.sensors.len() < MAX_SENSORS && !self.sensors.contains(sensor) {
            self.sensors.push(sensor.clone());
        }
    }

    /// Starts the incident afresh at `time` (an alert begins: earlier, unalerted
    /// observations are replaced by the evidence that crossed the threshold).
    pub fn restart(&mut self, time: Timestamp) {
        self.first_seen = time;
        self.last_seen = time;
        self.count = 0;
        self.evidence.clear();
        self.evidence_omitted = 0;
        self.sensors.clear();
    }

    /// Records one activity of the incident with its provenance and a one-line summary.
    pub fn record(&mut self, time: Timestamp, provenance: &[Provenance], summary: String) {
        self.first_seen = self.first_seen.min(time);
        self.last_seen = self.last_seen.max(time);
        self.count += 1;
        for at in provenance {
            if self.evidence.len() < MAX_EVIDENCE {
                self.evidence.push(Evidence { at: at.clone(), summary: summary.clone() });
            } else {
                self.evidence_omitted += 1;
            }
        }
    }
}

/// Sensors an incident remembers: an alert names them (the engine bounds the list it shows).
const MAX_SENSORS: usize = 16;

/// Incidents by key (a source address, usually).
#[derive(Debug)]
pub struct Incidents<K: Clone + Eq + Hash> {
    gap_micros: i64,
    open: HashMap<K, Incident>,
    numbers: HashMap<K, u32>,
}

impl<K: Clone + Eq + Hash> Incidents<K> {
    /// An incident closes after `gap_secs` of event time without activity.
    pub fn new(gap_secs: u64) -> Self {
        Self {
            gap_micros: i64::try_from(gap_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            open: HashMap::default(),
            numbers: HashMap::default(),
        }
    }

    /// The open incident of `key` at `time`, opening a new one if the last went quiet.
    pub fn at(&mut self, key: &K, time: Timestamp) -> &mut Incident {
        let stale = self
            .open
            .get(key)
            .is_some_and(|i| time.as_micros().saturating_sub(i.last_seen.as_micros()) > self.gap_micros);
        if stale || !self.open.contains_key(key) {
            let n = self.numbers.entry(key.clone()).or_default();
            *n += 1;
            self.open.insert(key.clone(), Incident::new(*n, time));
        }
        // The entry was just ensured above.
        self.open.entry(key.clone()).or_insert_with(|| Incident::new(0, time))
    }

    /// Adds `names` to the open incident of `key` at `time` (a new incident starts with
    /// none); returns the names so far.
    pub fn named(
        &mut self,
        key: &K,
        time: Timestamp,
        names: impl IntoIterator<Item = String>,
    ) -> BTreeSet<String> {
        self.tallied(key, time, names, 0).0
    }

    /// [`named`](Self::named), also adding `amount` to the incident's running total; returns
    /// the names and the total so far.
    pub fn tallied(
        &mut self,
        key: &K,
        time: Timestamp,
        names: impl IntoIterator<Item = String>,
        amount: u64,
    ) -> (BTreeSet<String>, u64) {
        let incident = self.at(key, time);
        // Names and total belong to what the incident recorded: until it records something
        // (a new incident, or one whose activities were not kept) they start afresh.
        if incident.count == 0 {
            incident.names.clear();
            incident.total = 0;
        }
        incident.names.extend(names);
        incident.total = incident.total.saturating_add(amount);
        (incident.names.clone(), incident.total)
    }

    /// Records `activity` as evidence of the open incident of `key` (opening one if the last
    /// went quiet), with a one-line summary: the incident to raise.
    pub fn record(&mut self, key: &K, activity: &Activity, summary: String) -> &mut Incident {
        let incident = self.at(key, activity.time);
        incident.record(activity.time, &activity.provenance, summary);
        incident.seen_by(&activity.sensor);
        incident
    }

    /// [`record`](Self::record), citing the evidence of an earlier sighting first (a ticket's
    /// issuance or first use, say).
    pub fn record_citing(
        &mut self,
        key: &K,
        activity: &Activity,
        earlier: &[Provenance],
        summary: String,
    ) -> &mut Incident {
        let cited: Vec<Provenance> = earlier.iter().chain(&activity.provenance).cloned().collect();
        let incident = self.at(key, activity.time);
        incident.record(activity.time, &cited, summary);
        incident.seen_by(&activity.sensor);
        incident
    }

    /// Forgets incidents quiet for longer than the gap (bounds memory on long runs).
    pub fn expire(&mut self, now: Timestamp) {
        let gap = self.gap_micros;
        self.open.retain(|_, i| now.as_micros().saturating_sub(i.last_seen.as_micros()) <= gap);
    }
}

/// Sources tracked per detector; past it the longest-quiet are forgotten first.
pub const MAX_SOURCES: usize = 100_000;

/// A detector's state per source address, with that source's incidents. A source quiet for
/// longer than the window is forgotten, so state stays bounded on long runs.
pub struct PerSource<S> {
    window_micros: i64,
    states: HashMap<SourceId, (S, Timestamp)>,
    incidents: Incidents<SourceId>,
    last_sweep: Timestamp,
}

impl<S> PerSource<S> {
    /// `window_secs` is both how long a quiet source is remembered and the quiet gap that
    /// closes an incident.
    pub fn new(window_secs: u64) -> Self {
        Self {
            window_micros: i64::try_from(window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            states: HashMap::default(),
            incidents: Incidents::new(window_secs),
            last_sweep: Timestamp::from_micros(i64::MIN),
        }
    }

    /// The state of `source` (made by `make` when new) and its open incident, at `time`.
    pub fn at(
        &mut self,
        source: &SourceId,
        time: Timestamp,
        make: impl FnOnce() -> S,
    ) -> (&mut S, &mut Incident) {
        self.sweep(time);
        let entry = self.states.entry(source.clone()).or_insert_with(|| (make(), time));
        entry.1 = entry.1.max(time);
        (&mut entry.0, self.incidents.at(source, time))
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    fn sweep(&mut self, now: Timestamp) {
        let due = now.as_micros().saturating_sub(self.last_sweep.as_micros()) >= 1_000_000;
        if !due && self.states.len() < MAX_SOURCES {
            return;
        }
        self.last_sweep = now;
        let cutoff = now.as_micros().saturating_sub(self.window_micros);
        self.states.retain(|_, (_, last)| last.as_micros() >= cutoff);
        self.incidents.expire(now);
        if self.states.len() >= MAX_SOURCES {
            let mut by_age: Vec<(Timestamp, SourceId)> =
                self.states.iter().map(|(ip, (_, t))| (*t, ip.clone())).collect();
            by_age.sort_unstable();
            for (_, ip) in by_age.into_iter().take(MAX_SOURCES / 10) {
                self.states.remove(&ip);
            }
        }
    }
}

/// Attempt times kept per (account, view). Thresholds compare against a handful of attempts;
/// the cap bounds a flood's memory (8 KiB per account and view) while keeping the counts a
/// description reports exact up to it (beyond, the oldest are forgotten: "at least").
pub const MAX_ATTEMPTS_PER_ACCOUNT: usize = 1_000;

/// Accounts (per view) one source's attempts are kept for. A spray alert needs a handful of
/// accounts (`min_accounts`, 5 by default), so accounts beyond this are not needed to raise it;
/// the cap bounds what a spray over a whole directory costs per source.
pub const MAX_ACCOUNTS_PER_SOURCE: usize = 10_000;

/// Failed attempts of one source per (account, view) in a sliding window of event time: what
/// the password-guessing detections count. A view is where an attempt was seen (the wire, a
/// log); the same attempt often shows in two views, so counts compare per view, never add up.
///
/// Each (account, view) keeps its times sorted (merged input is nearly in order, so an
/// insert is almost always a push at the back), and expiring only pops fronts — and only
/// once the earliest time kept has left the window — so a flood costs O(1) per attempt, not
/// a scan of every attempt in the window.
pub struct AccountFailures<V> {
    window_micros: i64,
    failures: std::collections::BTreeMap<(String, V), VecDeque<i64>>,
    /// The earliest time kept (`i64::MAX` when none): nothing can expire before it does.
    earliest: i64,
}

impl<V: Ord + Copy> AccountFailures<V> {
    pub fn new(window_secs: u64) -> Self {
        Self {
            window_micros: i64::try_from(window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            failures: std::collections::BTreeMap::new(),
            earliest: i64::MAX,
        }
    }

    /// Forgets attempts older than the window.
    pub fn expire(&mut self, now: Timestamp) {
        let (now, window) = (now.as_micros(), self.window_micros);
        if now.saturating_sub(self.earliest) <= window {
            return;
        }
        let mut earliest = i64::MAX;
        self.failures.retain(|_, times| {
            while times.front().is_some_and(|t| now.saturating_sub(*t) > window) {
                times.pop_front();
            }
            earliest = earliest.min(times.front().copied().unwrap_or(i64::MAX));
            !times.is_empty()
        });
        self.earliest = earliest;
    }

    /// Records a failure, after forgetting what fell out of the window. An account beyond
    /// [`MAX_ACCOUNTS_PER_SOURCE`] is not recorded (returns false).
    pub fn record(&mut self, account: String, view: V, time: Timestamp) -> bool {
        self.expire(time);
        let key = (account, view);
        if self.failures.len() >= MAX_ACCOUNTS_PER_SOURCE && !self.failures.contains_key(&key) {
            return false;
        }
        let times = self.failures.entry(key).or_default();
        let time = time.as_micros();
        let at = times.partition_point(|t| *t <= time);
        times.insert(at, time);
        if times.len() > MAX_ATTEMPTS_PER_ACCOUNT {
            times.pop_front();
        }
        self.earliest = self.earliest.min(times.front().copied().unwrap_or(time));
        true
    }

    /// Whether any attempt is still within the window at `now` (else the source can go).
    pub fn is_live(&self, now: Timestamp) -> bool {
        let now = now.as_micros();
        self.failures
            .values()
            .filter_map(VecDeque::back)
            .any(|t| now.saturating_sub(*t) <= self.window_micros)
    }

    /// Whether `account` has failures in any view.
    pub fn has(&self, account: &str) -> bool {
        self.failures.keys().any(|(a, _)| a == account)
    }

    /// Accounts with failures in `view`.
    pub fn accounts_in(&self, view: V) -> std::collections::BTreeSet<&str> {
        self.failures.keys().filter(|(_, v)| *v == view).map(|(a, _)| a.as_str()).collect()
    }

    /// Per account, the largest count among the views `counts` accepts.
    pub fn per_account(&self, counts: impl Fn(&str, V) -> bool) -> std::collections::BTreeMap<&str, usize> {
        let mut per_account = std::collections::BTreeMap::new();
        for ((account, view), times) in &self.failures {
            if counts(account, *view) {
                let n: &mut usize = per_account.entry(account.as_str()).or_default();
                *n = (*n).max(times.len());
            }
        }
        per_account
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    #[test]
    fn window_forgets_what_falls_out_of_it() {
        let mut w = Window::new(60, 100);
        w.insert(t(0), "a");
        w.insert(t(30), "b");
        w.insert(t(30), "b");
        assert_eq!((w.distinct(), w.count(&"b")), (2, 2));
        w.insert(t(75), "c");
        assert!(!w.contains(&"a"), "a is 75 s old");
        assert_eq!(w.distinct(), 2);
    }

    #[test]
    fn window_is_bounded_in_items() {
        let mut w = Window::new(3600, 3);
        for i in 0..10 {
            w.insert(t(i), i);
        }
        assert_eq!(w.distinct(), 3);
        assert!(w.contains(&9) && !w.contains(&6));
    }

    #[test]
    fn quiet_sources_are_forgotten() {
        let mut per_source: PerSource<u32> = PerSource::new(60);
        let a = SourceId::Ip("192.0.2.1".parse().unwrap());
        let b = SourceId::Host("WS01".into());
        *per_source.at(&a, t(0), || 0).0 += 1;
        *per_source.at(&a, t(30), || 0).0 += 1;
        assert_eq!(*per_source.at(&a, t(31), || 0).0, 2);
        per_source.at(&b, t(200), || 0);
        assert_eq!(per_source.len(), 1, "a was quiet for longer than the window");
        assert_eq!(*per_source.at(&a, t(201), || 7).0, 7, "a starts afresh");
    }

    #[test]
    fn incident_reopens_after_a_quiet_gap() {
        let mut incidents = Incidents::new(600);
        assert_eq!(incidents.at(&"10.0.0.1", t(0)).number, 1);
        incidents.at(&"10.0.0.1", t(0)).last_seen = t(500);
        assert_eq!(incidents.at(&"10.0.0.1", t(1000)).number, 1, "500 s quiet: same incident");
        assert_eq!(incidents.at(&"10.0.0.1", t(1601)).number, 2, "over 600 s quiet: new");
    }

    #[test]
    fn account_failures_slide_exactly_even_out_of_order() {
        let mut failures = AccountFailures::new(60);
        assert!(failures.record("alice".into(), 0, t(10)));
        assert!(failures.record("alice".into(), 0, t(50)));
        // Older than the last one: kept in time order, so it leaves the window on time.
        assert!(failures.record("alice".into(), 0, t(20)));
        assert!(failures.record("bob".into(), 1, t(55)));
        assert_eq!(failures.per_account(|_, _| true).get("alice"), Some(&3));
        failures.expire(t(75));
        assert_eq!(failures.per_account(|_, _| true).get("alice"), Some(&2), "t=10 left at 70 s");
        failures.expire(t(81));
        assert_eq!(failures.per_account(|_, _| true).get("alice"), Some(&1), "t=20 left at 80 s");
        assert!(failures.is_live(t(115)) && !failures.is_live(t(116)));
        failures.expire(t(200));
        assert!(failures.per_account(|_, _| true).is_empty() && !failures.has("bob"));
    }

    #[test]
    fn account_failures_are_bounded_per_account_and_per_source() {
        let mut failures = AccountFailures::new(3600);
        for i in 0..(MAX_ATTEMPTS_PER_ACCOUNT as i64 + 50) {
            failures.record("alice".into(), 0, t(i / 1000));
        }
        assert_eq!(failures.per_account(|_, _| true)["alice"], MAX_ATTEMPTS_PER_ACCOUNT);
        for i in 1..MAX_ACCOUNTS_PER_SOURCE {
            assert!(failures.record(format!("user{i}"), 0, t(2)));
        }
        assert!(!failures.record("one.too.many".into(), 0, t(2)), "the source's account cap is reached");
        assert!(failures.record("alice".into(), 0, t(3)), "a kept account still counts");
        assert_eq!(failures.per_account(|_, _| true).len(), MAX_ACCOUNTS_PER_SOURCE);
    }
}
