//! Admission of client connections, so that no client — least of all one that never
//! authenticates — can keep the others out.
//!
//! Every accepted connection is tracked in one of two sets, each with its own budget:
//! - **unauthenticated**: from accept until its first request with a valid token. At most
//!   [`ConnLimits::max_unauthenticated`]; a new connection past that bound closes the
//!   *oldest* unauthenticated one. A flood of stalled connections therefore only ever
//!   pushes out older stalled connections, while a real client (which authenticates within
//!   milliseconds of connecting) is displaced only after every connection older than it.
//!   An unauthenticated connection is also closed [`ConnLimits::authenticate_within`]
//!   after its accept, whatever it does. Health probes (`/readyz`) live here, so
//!   authenticated clients can never crowd them out.
//! - **authenticated**: at most [`ConnLimits::max_connections`]. A connection that
//!   authenticates when the set is full closes the oldest idle authenticated connection (no
//!   request in flight) gracefully; when none is idle, its request is answered 429 and the
//!   connection closed. An authenticated connection idle for [`ConnLimits::idle`] is closed
//!   gracefully.
//!
//! Timeouts that hyper and the handlers apply per connection: TLS handshake, request
//! headers (HTTP/1), request body. The decisions are the pure [`room`] and [`expired`];
//! [`Conns`] only keeps the sets and signals the connection tasks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Bounds and timeouts of client connections.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Authenticated connections (each holds a file descriptor and buffers); the
    /// unauthenticated ones have their own budget on top.
    pub max_connections: usize,
    /// Connections that have not yet sent a request with a valid token.
    pub max_unauthenticated: usize,
    /// TLS handshake (then the connection is closed).
    pub handshake: Duration,
    /// HTTP/1 request line and headers (Kubernetes: 32 s), also between keep-alive requests.
    pub header: Duration,
    /// A request body, from the handler's first read to the last byte.
    pub body: Duration,
    /// An unauthenticated connection is closed this long after its accept.
    pub authenticate_within: Duration,
    /// An authenticated connection with no request in flight is closed after this long
    /// (Kubernetes: 90 s).
    pub idle: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: 8_192,
            max_unauthenticated: 1_024,
            handshake: Duration::from_secs(10),
            header: Duration::from_secs(32),
            body: Duration::from_secs(60),
            authenticate_within: Duration::from_secs(32),
            idle: Duration::from_secs(90),
        }
    }
}

/// What admitting one more connection into a set requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Free,
    /// Close the oldest connection of the set (unauthenticated), or its oldest idle one
    /// (authenticated).
    CloseOldest,
    /// Every authenticated connection has a request in flight.
    Full,
}

/// The admission decision for one more connection in a set of `len` under `max`;
/// `any_idle`: whether the set has a connection that may be closed.
pub fn room(len: usize, max: usize, any_idle: bool) -> Room {
    if len < max {
        Room::Free
    } else if any_idle {
        Room::CloseOldest
    } else {
        Room::Full
    }
}

/// Whether a tracked connection has outlived its allowance at `now`.
pub fn expired(c: &ConnInfo, now: Instant, l: &ConnLimits) -> bool {
    if !c.authenticated {
        now.duration_since(c.accepted) >= l.authenticate_within
    } else {
        c.in_flight == 0 && now.duration_since(c.last_active) >= l.idle
    }
}

/// A snapshot of one connection, for [`expired`].
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub authenticated: bool,
    pub accepted: Instant,
    pub last_active: Instant,
    pub in_flight: usize,
}

/// How a connection task is asked to end.
pub const CLOSE_NONE: u8 = 0;
/// Stop reading and drop the connection (unauthenticated ones).
pub const CLOSE_NOW: u8 = 1;
/// Finish requests in flight, then close (GOAWAY / `Connection: close`).
pub const CLOSE_GRACEFUL: u8 = 2;

/// Shared between a connection's task and the tracker.
pub struct Ctl {
    id: u64,
    accepted: Instant,
    authenticated: AtomicBool,
    in_flight: AtomicUsize,
    /// Milliseconds after `accepted` of the last request's end.
    last_active_ms: AtomicU64,
    close: AtomicU8,
    notify: Notify,
}

impl Ctl {
    fn info(&self) -> ConnInfo {
        ConnInfo {
            authenticated: self.authenticated.load(Ordering::Acquire),
            accepted: self.accepted,
            last_active: self.accepted
                + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed)),
            in_flight: self.in_flight.load(Ordering::Acquire),
        }
    }

    fn signal(&self, how: u8) {
        // A hard close wins over a graceful one.
        self.close.fetch_max(how, Ordering::AcqRel);
        self.notify.notify_one();
    }

    /// Resolves when the tracker asks this connection to end; returns how.
    pub async fn closed(&self) -> u8 {
        loop {
            let how = self.close.load(Ordering::Acquire);
            if how != CLOSE_NONE {
                return how;
            }
            self.notify.notified().await;
        }
    }
}

/// Carried in a request's extensions: closes the request's connection at once. A watch
/// whose client stopped reading uses it, since a connection that cannot be written to
/// would otherwise keep the watch's buffered bytes until the client goes away.
#[derive(Clone)]
pub struct CloseConnection(Arc<Ctl>);

impl CloseConnection {
    pub fn close_now(&self) {
        self.0.signal(CLOSE_NOW);
    }
}

#[derive(Default)]
struct Sets {
    next: u64,
    unauthenticated: BTreeMap<u64, Arc<Ctl>>,
    authenticated: BTreeMap<u64, Arc<Ctl>>,
}

/// Counters of connections closed by the limits, for `/metrics`.
#[derive(Default)]
pub struct ConnStats {
    pub closed_displaced: AtomicU64,
    pub closed_unauthenticated_timeout: AtomicU64,
    pub closed_idle: AtomicU64,
    pub refused_full: AtomicU64,
    pub handshake_timeouts: AtomicU64,
}

/// The tracker of every open client connection.
pub struct Conns {
    limits: ConnLimits,
    sets: Mutex<Sets>,
    pub stats: ConnStats,
}

impl Conns {
    pub fn new(limits: ConnLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            sets: Mutex::new(Sets::default()),
            stats: ConnStats::default(),
        })
    }

    pub fn limits(&self) -> &ConnLimits {
        &self.limits
    }

    /// (unauthenticated, authenticated) connections open now.
    pub fn counts(&self) -> (usize, usize) {
        let s = self.sets.lock();
        (s.unauthenticated.len(), s.authenticated.len())
    }

    /// Admits a new (unauthenticated) connection, closing the oldest unauthenticated one
    /// when their budget is full.
    pub fn admit(self: &Arc<Self>) -> ConnHandle {
        let mut s = self.sets.lock();
        while room(
            s.unauthenticated.len(),
            self.limits.max_unauthenticated.max(1),
            true,
        ) != Room::Free
        {
            if let Some((_, c)) = s.unauthenticated.pop_first() {
                c.signal(CLOSE_NOW);
                self.stats.closed_displaced.fetch_add(1, Ordering::Relaxed);
            }
        }
        let id = s.next;
        s.next += 1;
        let ctl = Arc::new(Ctl {
            id,
            accepted: Instant::now(),
            authenticated: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            close: AtomicU8::new(CLOSE_NONE),
            notify: Notify::new(),
        });
        s.unauthenticated.insert(id, ctl.clone());
        ConnHandle {
            conns: self.clone(),
            ctl,
        }
    }

    /// Closes every connection past its allowance. Run periodically by [`Conns::reap_every`].
    pub fn reap(&self) {
        let now = Instant::now();
        let mut s = self.sets.lock();
        let mut gone = Vec::new();
        for (id, c) in s.unauthenticated.iter() {
            // Ordered by accept: the first one still within its allowance ends the scan.
            if !expired(&c.info(), now, &self.limits) {
                break;
            }
            gone.push(*id);
        }
        for id in gone {
            if let Some(c) = s.unauthenticated.remove(&id) {
                c.signal(CLOSE_NOW);
                self.stats
                    .closed_unauthenticated_timeout
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        let idle: Vec<u64> = s
            .authenticated
            .iter()
            .filter(|(_, c)| expired(&c.info(), now, &self.limits))
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            if let Some(c) = s.authenticated.remove(&id) {
                c.signal(CLOSE_GRACEFUL);
                self.stats.closed_idle.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Runs [`Conns::reap`] every second until the tracker is dropped elsewhere.
    pub async fn reap_every(self: Arc<Self>, period: Duration) {
        let weak = Arc::downgrade(&self);
        drop(self);
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(c) => c.reap(),
                None => return,
            }
        }
    }
}

/// One connection's membership in the tracker; dropping it forgets the connection.
pub struct ConnHandle {
    conns: Arc<Conns>,
    ctl: Arc<Ctl>,
}

impl ConnHandle {
    pub fn ctl(&self) -> &Arc<Ctl> {
        &self.ctl
    }

    /// A handle that closes this connection, for the request's handler.
    pub fn closer(&self) -> CloseConnection {
        CloseConnection(self.ctl.clone())
    }

    /// The connection sent a request with a valid token: it moves to the authenticated
    /// set (once), closing the oldest idle authenticated connection if that set is full.
    /// `false` when every authenticated connection is busy: the caller answers 429 and
    /// closes this one.
    pub fn authenticated(&self) -> bool {
        if self.ctl.authenticated.load(Ordering::Acquire) {
            return true;
        }
        let mut s = self.conns.sets.lock();
        let max = self.conns.limits.max_connections.max(1);
        loop {
            let full = s.authenticated.len() >= max;
            // Looked for only when the set is full (a scan of the authenticated set).
            let idle = if full {
                s.authenticated
                    .values()
                    .find(|c| c.in_flight.load(Ordering::Acquire) == 0)
                    .cloned()
            } else {
                None
            };
            match room(s.authenticated.len(), max, idle.is_some()) {
                Room::Free => break,
                Room::CloseOldest => {
                    if let Some(c) = idle {
                        s.authenticated.remove(&c.id);
                        c.signal(CLOSE_GRACEFUL);
                        self.conns
                            .stats
                            .closed_displaced
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                Room::Full => {
                    self.conns
                        .stats
                        .refused_full
                        .fetch_add(1, Ordering::Relaxed);
                    return false;
                }
            }
        }
        self.ctl.authenticated.store(true, Ordering::Release);
        // Absent when it was displaced meanwhile: it is closing; leave it so.
        if let Some(c) = s.unauthenticated.remove(&self.ctl.id) {
            s.authenticated.insert(self.ctl.id, c);
        }
        true
    }

    /// Asks this connection to finish its requests in flight and close.
    pub fn close_gracefully(&self) {
        self.ctl.signal(CLOSE_GRACEFUL);
    }

    /// Marks a request in flight until the guard (held by the response body) drops.
    pub fn request(&self) -> RequestGuard {
        self.ctl.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard {
            ctl: self.ctl.clone(),
        }
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        let mut s = self.conns.sets.lock();
        s.unauthenticated.remove(&self.ctl.id);
        s.authenticated.remove(&self.ctl.id);
    }
}

/// A request in flight on a connection.
pub struct RequestGuard {
    ctl: Arc<Ctl>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let ms = self.ctl.accepted.elapsed().as_millis() as u64;
        self.ctl.last_active_ms.fetch_max(ms, Ordering::Relaxed);
        self.ctl.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, unauth: usize) -> ConnLimits {
        ConnLimits {
            max_connections: max,
            max_unauthenticated: unauth,
            ..ConnLimits::default()
        }
    }

    #[test]
    fn room_decisions() {
        assert_eq!(room(0, 10, false), Room::Free);
        assert_eq!(room(9, 10, false), Room::Free);
        assert_eq!(room(10, 10, true), Room::CloseOldest);
        assert_eq!(room(10, 10, false), Room::Full);
    }

    #[test]
    fn expiry() {
        let l = ConnLimits::default();
        let t0 = Instant::now();
        let mut c = ConnInfo {
            authenticated: false,
            accepted: t0,
            last_active: t0,
            in_flight: 0,
        };
        assert!(!expired(&c, t0 + Duration::from_secs(31), &l));
        assert!(expired(&c, t0 + Duration::from_secs(32), &l));
        c.authenticated = true;
        assert!(!expired(&c, t0 + Duration::from_secs(89), &l));
        assert!(expired(&c, t0 + Duration::from_secs(90), &l));
        c.in_flight = 1;
        assert!(!expired(&c, t0 + Duration::from_secs(3600), &l));
    }

    #[tokio::test]
    async fn a_flood_of_unauthenticated_connections_displaces_only_the_oldest() {
        let conns = Conns::new(limits(100, 8));
        let stalled: Vec<_> = (0..8).map(|_| conns.admit()).collect();
        let real = conns.admit();
        // The oldest stalled one was asked to close, at once.
        assert_eq!(stalled[0].ctl().closed().await, CLOSE_NOW);
        assert!(real.authenticated());
        // Another thousand stalled connections never touch the authenticated one.
        let mut more = Vec::new();
        for _ in 0..1000 {
            more.push(conns.admit());
        }
        assert_eq!(real.ctl().close.load(Ordering::Acquire), CLOSE_NONE);
        assert_eq!(conns.counts(), (8, 1));
        drop(more);
        assert_eq!(conns.counts(), (0, 1));
    }

    #[tokio::test]
    async fn when_full_the_oldest_idle_authenticated_goes_and_busy_ones_stay() {
        let conns = Conns::new(limits(2, 2));
        let a = conns.admit();
        assert!(a.authenticated());
        let b = conns.admit();
        assert!(b.authenticated());
        let _busy = b.request();
        let c = conns.admit();
        assert!(c.authenticated());
        assert_eq!(a.ctl().closed().await, CLOSE_GRACEFUL);
        let _busy_c = c.request();
        // Unauthenticated connections (health probes) still get in.
        let d = conns.admit();
        assert!(!d.authenticated(), "all authenticated slots busy: refused");
        assert_eq!(conns.stats.refused_full.load(Ordering::Relaxed), 1);
        assert_eq!(conns.counts(), (1, 2));
    }

    #[tokio::test]
    async fn reap_closes_late_unauthenticated_and_idle_connections() {
        let l = ConnLimits {
            authenticate_within: Duration::from_millis(20),
            idle: Duration::from_millis(20),
            ..ConnLimits::default()
        };
        let conns = Conns::new(l);
        let stalled = conns.admit();
        let idle = conns.admit();
        assert!(idle.authenticated());
        let busy = conns.admit();
        assert!(busy.authenticated());
        let _g = busy.request();
        tokio::time::sleep(Duration::from_millis(30)).await;
        conns.reap();
        assert_eq!(stalled.ctl().closed().await, CLOSE_NOW);
        assert_eq!(idle.ctl().closed().await, CLOSE_GRACEFUL);
        assert_eq!(busy.ctl().close.load(Ordering::Acquire), CLOSE_NONE);
    }
}
