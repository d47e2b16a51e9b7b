//! What every request handler shares: the center, the store, the clock, counters and the web
//! UI's sessions; and how a handler calls the blocking store and center.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use orthrus_center::health::EndpointReport;
use orthrus_center::{Center, CenterError};
use orthrus_model::Timestamp;
use orthrus_store::Store;

use crate::error::ApiError;
use crate::serve::{ConnectionCounters, KeyedSlots};
use crate::ui::session::Sessions;
use crate::ui::throttle::LoginThrottle;

pub struct AppState {
    /// Shared by every request: the center locks per tenant inside, so one tenant's work
    /// (a directory replay, a large batch) never holds up another's.
    pub center: Center,
    pub store: Arc<dyn Store>,
    /// "Now" for what the API records (comments, batch receipt): the wall clock in the
    /// binary, a fixed clock in tests.
    pub clock: fn() -> Timestamp,
    /// Each alert endpoint as its sender last saw it (for /metrics and health).
    pub sink_status: Arc<Mutex<Vec<EndpointReport>>>,
    pub intake: IntakeCounters,
    /// The web UI's signed-in sessions.
    pub sessions: Sessions,
    /// The web UI's login throttle and its bound on password verifications at once.
    pub logins: LoginThrottle,
    /// What the listener has done (open, refused connections), for /metrics.
    pub connections: Arc<ConnectionCounters>,
    /// Large bodies (sensor batches, directory uploads) decoded at once, off the async
    /// threads: a bomb costs one slot's time, not every tenant's latency.
    pub decoding: Arc<tokio::sync::Semaphore>,
    /// Requests under way per sensor credential (its token's hash).
    pub sensor_requests: Arc<KeyedSlots<[u8; 32]>>,
}

impl AppState {
    pub fn new(center: Center, store: Arc<dyn Store>, clock: fn() -> Timestamp) -> Self {
        Self {
            center,
            store,
            clock,
            sink_status: Arc::default(),
            intake: IntakeCounters::default(),
            sessions: Sessions::default(),
            logins: LoginThrottle::default(),
            connections: Arc::default(),
            decoding: Arc::new(tokio::sync::Semaphore::new(decoding_slots())),
            sensor_requests: Arc::default(),
        }
    }
}

/// Bodies decoded at once: one per core (decoding is CPU work), at least two so one slow
/// body never holds up the next.
fn decoding_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

/// What the intake has done since the center started.
#[derive(Debug, Default)]
pub struct IntakeCounters {
    pub batches: AtomicU64,
    pub duplicate_batches: AtomicU64,
    pub activities: AtomicU64,
    pub alerts_changed: AtomicU64,
    pub heartbeats: AtomicU64,
    pub refused: AtomicU64,
}

impl IntakeCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A blocking store call made from a handler: on the multi-threaded runtime the worker hands
/// its other tasks over first (and PostgreSQL's synchronous client, which runs a runtime of its
/// own, may only be called so); elsewhere (tests) it simply runs.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Runs `work` on the center off the async threads (the store is blocking).
pub async fn with_center<T: Send + 'static>(
    state: Arc<AppState>,
    work: impl FnOnce(&Center) -> Result<T, CenterError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || work(&state.center))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}
