//! Long-lived streams: ordered, bounded sequences of frames in each direction between two
//! nodes, on either transport.
//!
//! A stream is opened with [`crate::Transport::open_stream`] and served by
//! [`crate::Handler::handle_stream`]. Each end holds a [`StreamSender`] (its direction out)
//! and a [`StreamReceiver`] (the direction in); the two directions close independently:
//!
//! - [`StreamSender::finish`] ends a direction cleanly: the peer's receiver gets every frame
//!   sent and then `Ok(None)`.
//! - Dropping a [`StreamSender`] without finishing resets its direction: the peer's
//!   receiver gets `Err(Error::Closed)` (frames not yet delivered may be lost on QUIC).
//! - Dropping a [`StreamReceiver`] stops the direction: the peer's next `send` fails with
//!   `Err(Error::Closed)`.
//! - Losing the connection (the peer shut down, crashed or was removed) fails both
//!   directions with `Err(Error::Closed)`.
//! - A handler that serves no streams (the default [`crate::Handler::handle_stream`])
//!   refuses: the opener's `recv` (and possibly its `send`) fails with
//!   `Err(Error::Remote(Failure::UnknownService(S)))`.
//! - A partition or isolation between the two ends (the fault filters) breaks the stream:
//!   the next or pending `send`/`recv` at an end that sees it fails with
//!   `Err(Error::Unreachable)`, and the peer's with an error too.
//!
//! After an error, a sender or receiver keeps returning that error.
//!
//! Back-pressure: each direction buffers a bounded amount (64 frames in memory; QUIC's
//! stream flow-control window, 8 MiB, on QUIC) and `send` waits while it is full.
//!
//! Cancellation: `recv` is cancel safe (a cancelled `recv` loses nothing). A cancelled
//! `send` may or may not deliver its frame; if it does, the frame arrives whole and in
//! order, before any later frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use bytes::{Bytes, BytesMut};
use quinn::{ReadError, VarInt, WriteError};
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Failure};
use crate::faults::Faults;
use crate::frame::{
    CODE_CUT, CODE_DROPPED, CODE_NO_SERVICE, CODE_TOO_LARGE, FRAME_HEADER, check_len, frame_header,
};
use crate::{NodeId, Service};

/// Frames buffered in each direction of an in-memory stream: the back-pressure bound.
pub const MEM_STREAM_CAPACITY: usize = 64;

/// No reset or stop code recorded (in memory).
const NO_CODE: u32 = u32::MAX;

/// The error an end reports for a code received from its peer.
fn code_error(code: u32, peer: NodeId, service: Service) -> Error {
    match code {
        CODE_NO_SERVICE => Error::Remote(Failure::UnknownService(service)),
        CODE_TOO_LARGE => Error::Remote(Failure::FrameRefused),
        CODE_CUT => Error::Unreachable {
            node: peer,
            reason: "the stream was cut by a fault filter".into(),
        },
        _ => Error::Closed,
    }
}

/// The code an end sends its peer when it fails with `e`.
fn error_code(e: &Error) -> u32 {
    match e {
        Error::Unreachable { .. } => CODE_CUT,
        Error::TooLarge { .. } => CODE_TOO_LARGE,
        _ => CODE_DROPPED,
    }
}

/// A copy of an error, to repeat it on later calls.
fn repeat(e: &Error) -> Error {
    match e {
        Error::Unreachable { node, reason } => Error::Unreachable {
            node: *node,
            reason: reason.clone(),
        },
        Error::Timeout => Error::Timeout,
        Error::Refused(m) => Error::Refused(m.clone()),
        Error::TooLarge { len, max } => Error::TooLarge {
            len: *len,
            max: *max,
        },
        Error::Remote(m) => Error::Remote(m.clone()),
        _ => Error::Closed,
    }
}

fn read_error(e: ReadError, peer: NodeId, service: Service) -> Error {
    match e {
        ReadError::Reset(code) => code_error(
            u32::try_from(code.into_inner()).unwrap_or(NO_CODE),
            peer,
            service,
        ),
        _ => Error::Closed,
    }
}

fn write_error(e: WriteError, peer: NodeId, service: Service) -> Error {
    match e {
        WriteError::Stopped(code) => code_error(
            u32::try_from(code.into_inner()).unwrap_or(NO_CODE),
            peer,
            service,
        ),
        _ => Error::Closed,
    }
}

/// Watches what can break an open stream besides its peer: the fault filters between the
/// two ends and, in memory, either end shutting down.
#[derive(Clone)]
pub(crate) struct Guard {
    faults: Faults,
    local: NodeId,
    peer: NodeId,
    changes: watch::Receiver<u64>,
    downs: [Option<watch::Receiver<bool>>; 2],
}

impl Guard {
    pub(crate) fn new(faults: &Faults, local: NodeId, peer: NodeId) -> Guard {
        Guard {
            faults: faults.clone(),
            local,
            peer,
            changes: faults.subscribe(),
            downs: [None, None],
        }
    }

    /// Also breaks the stream (as `Closed`) when either signal turns true or is dropped.
    pub(crate) fn with_downs(mut self, a: watch::Receiver<bool>, b: watch::Receiver<bool>) -> Self {
        self.downs = [Some(a), Some(b)];
        self
    }

    fn check(&self) -> Result<(), Error> {
        if let Some(reason) = self.faults.cut(self.local, self.peer) {
            return Err(Error::Unreachable {
                node: self.peer,
                reason: format!("stream cut: {reason}"),
            });
        }
        for d in self.downs.iter().flatten() {
            if *d.borrow() || d.has_changed().is_err() {
                return Err(Error::Closed);
            }
        }
        Ok(())
    }

    /// Resolves when the stream is broken.
    async fn broken(&mut self) -> Error {
        loop {
            if let Err(e) = self.check() {
                return e;
            }
            let [a, b] = &mut self.downs;
            tokio::select! {
                r = self.changes.changed() => {
                    if r.is_err() {
                        // The filters are gone (cannot happen while we hold them).
                        std::future::pending::<()>().await;
                    }
                }
                () = went_down(a) => {}
                () = went_down(b) => {}
            }
        }
    }
}

async fn went_down(d: &mut Option<watch::Receiver<bool>>) {
    match d {
        Some(d) => {
            let _ = d.wait_for(|down| *down).await;
        }
        None => std::future::pending().await,
    }
}

/// The shared state of one direction of an in-memory stream.
#[derive(Debug)]
struct MemDir {
    /// Set by the sender before it drops its channel end: a clean finish.
    fin: AtomicBool,
    /// Set by a sender that resets.
    reset: AtomicU32,
    /// Set by a receiver that stops.
    stop: AtomicU32,
}

impl MemDir {
    fn new() -> Arc<MemDir> {
        Arc::new(MemDir {
            fin: AtomicBool::new(false),
            reset: AtomicU32::new(NO_CODE),
            stop: AtomicU32::new(NO_CODE),
        })
    }
}

enum TxInner {
    Quic {
        send: quinn::SendStream,
        /// What is left of the frame being written (header, body), kept across a
        /// cancelled `send`.
        pending: Vec<Bytes>,
    },
    Mem {
        tx: mpsc::Sender<Bytes>,
        dir: Arc<MemDir>,
    },
    Done,
}

impl TxInner {
    async fn flush(&mut self, peer: NodeId, service: Service) -> Result<(), Error> {
        if let TxInner::Quic { send, pending } = self {
            while !pending.is_empty() {
                send.write_chunks(pending)
                    .await
                    .map_err(|e| write_error(e, peer, service))?;
                pending.retain(|b| !b.is_empty());
            }
        }
        Ok(())
    }

    /// Writes one frame; cancel safe in the sense of the module documentation.
    async fn write(&mut self, frame: Bytes, peer: NodeId, service: Service) -> Result<(), Error> {
        match self {
            TxInner::Quic { .. } => {
                self.flush(peer, service).await?;
                if let TxInner::Quic { pending, .. } = self {
                    pending.push(Bytes::copy_from_slice(&frame_header(frame.len())));
                    pending.push(frame);
                }
                self.flush(peer, service).await
            }
            TxInner::Mem { tx, dir } => tx
                .send(frame)
                .await
                .map_err(|_| code_error(dir.stop.load(Ordering::Acquire), peer, service)),
            TxInner::Done => Err(Error::Closed),
        }
    }

    fn reset(&mut self, code: u32) {
        match std::mem::replace(self, TxInner::Done) {
            TxInner::Quic { mut send, .. } => {
                let _ = send.reset(VarInt::from_u32(code));
            }
            TxInner::Mem { dir, .. } => {
                let _ =
                    dir.reset
                        .compare_exchange(NO_CODE, code, Ordering::AcqRel, Ordering::Acquire);
            }
            TxInner::Done => {}
        }
    }

    fn finish(&mut self) -> Result<(), Error> {
        match std::mem::replace(self, TxInner::Done) {
            TxInner::Quic { mut send, .. } => send.finish().map_err(|_| Error::Closed),
            TxInner::Mem { dir, .. } => {
                dir.fin.store(true, Ordering::Release);
                Ok(())
            }
            TxInner::Done => Err(Error::Closed),
        }
    }
}

/// One direction of a stream, the sending end: frames in order, bounded (a full buffer
/// makes [`send`](Self::send) wait). Dropping it without [`finish`](Self::finish) resets
/// the direction: the peer's receiver gets `Err(Error::Closed)`.
pub struct StreamSender {
    peer: NodeId,
    service: Service,
    max_frame: usize,
    guard: Guard,
    inner: TxInner,
    failed: Option<Error>,
}

impl std::fmt::Debug for StreamSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSender")
            .field("peer", &self.peer)
            .field("service", &self.service)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl StreamSender {
    /// The node at the other end.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// The stream's service number.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Sends one frame, waiting while the direction's buffer is full (back-pressure from
    /// the receiver). A frame over the transport's limit fails with [`Error::TooLarge`]
    /// and leaves the stream usable; any other error breaks the direction.
    pub async fn send(&mut self, frame: Bytes) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(repeat(e));
        }
        check_len(frame.len(), self.max_frame)?;
        let (peer, service) = (self.peer, self.service);
        let result = match self.guard.check() {
            Err(e) => Err(e),
            Ok(()) => tokio::select! {
                biased;
                e = self.guard.broken() => Err(e),
                r = self.inner.write(frame, peer, service) => r,
            },
        };
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    /// Ends this direction cleanly after the frames sent so far: the peer's receiver gets
    /// them all and then `Ok(None)`. Does not wait for the peer to read them.
    pub async fn finish(mut self) -> Result<(), Error> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let (peer, service) = (self.peer, self.service);
        let result = match self.guard.check() {
            Err(e) => Err(e),
            Ok(()) => tokio::select! {
                biased;
                e = self.guard.broken() => Err(e),
                r = self.inner.flush(peer, service) => r,
            },
        };
        match result {
            Ok(()) => self.inner.finish(),
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }

    /// Refuses the stream: the peer learns that this node serves no such stream.
    pub(crate) fn refuse(mut self) {
        self.inner.reset(CODE_NO_SERVICE);
    }

    fn fail(&mut self, e: &Error) {
        self.inner.reset(error_code(e));
        self.failed = Some(repeat(e));
    }
}

impl Drop for StreamSender {
    fn drop(&mut self) {
        self.inner.reset(CODE_DROPPED);
    }
}

struct QuicRx {
    recv: quinn::RecvStream,
    header: [u8; FRAME_HEADER],
    header_got: usize,
    body: Option<Body>,
}

/// A frame body being read, kept across a cancelled `recv`.
struct Body {
    len: usize,
    got: usize,
    first: Option<Bytes>,
    buf: BytesMut,
}

impl Body {
    fn push(&mut self, chunk: Bytes) {
        self.got += chunk.len();
        if self.first.is_none() && self.buf.is_empty() {
            self.first = Some(chunk);
        } else {
            if let Some(f) = self.first.take() {
                self.buf.extend_from_slice(&f);
            }
            self.buf.extend_from_slice(&chunk);
        }
    }

    fn take(self) -> Bytes {
        self.first.unwrap_or_else(|| self.buf.freeze())
    }
}

impl QuicRx {
    /// Reads the next frame; cancel safe (partial reads are kept in `self`).
    async fn read(
        &mut self,
        max_frame: usize,
        peer: NodeId,
        service: Service,
    ) -> Result<Option<Bytes>, Error> {
        let err = |e| read_error(e, peer, service);
        if self.body.is_none() {
            while self.header_got < FRAME_HEADER {
                let want = FRAME_HEADER - self.header_got;
                match self.recv.read_chunk(want, true).await.map_err(err)? {
                    None if self.header_got == 0 => return Ok(None),
                    None => return Err(Error::Closed),
                    Some(c) => {
                        let n = c.bytes.len();
                        self.header[self.header_got..self.header_got + n].copy_from_slice(&c.bytes);
                        self.header_got += n;
                    }
                }
            }
            self.header_got = 0;
            let len = u32::from_be_bytes(self.header) as usize;
            check_len(len, max_frame)?;
            self.body = Some(Body {
                len,
                got: 0,
                first: None,
                buf: BytesMut::new(),
            });
        }
        if let Some(body) = &mut self.body {
            while body.got < body.len {
                match self
                    .recv
                    .read_chunk(body.len - body.got, true)
                    .await
                    .map_err(err)?
                {
                    None => return Err(Error::Closed),
                    Some(c) => body.push(c.bytes),
                }
            }
        }
        Ok(self.body.take().map(Body::take))
    }
}

enum RxInner {
    Quic(QuicRx),
    Mem {
        rx: mpsc::Receiver<Bytes>,
        dir: Arc<MemDir>,
    },
    Done,
}

impl RxInner {
    async fn read(
        &mut self,
        max_frame: usize,
        peer: NodeId,
        service: Service,
    ) -> Result<Option<Bytes>, Error> {
        match self {
            RxInner::Quic(q) => q.read(max_frame, peer, service).await,
            RxInner::Mem { rx, dir } => match rx.recv().await {
                Some(frame) => Ok(Some(frame)),
                None if dir.fin.load(Ordering::Acquire) => Ok(None),
                None => Err(code_error(dir.reset.load(Ordering::Acquire), peer, service)),
            },
            RxInner::Done => Ok(None),
        }
    }

    fn stop(&mut self, code: u32) {
        match std::mem::replace(self, RxInner::Done) {
            RxInner::Quic(mut q) => {
                let _ = q.recv.stop(VarInt::from_u32(code));
            }
            RxInner::Mem { dir, .. } => {
                let _ =
                    dir.stop
                        .compare_exchange(NO_CODE, code, Ordering::AcqRel, Ordering::Acquire);
            }
            RxInner::Done => {}
        }
    }
}

/// One direction of a stream, the receiving end. [`recv`](Self::recv) returns frames in
/// the order sent, `Ok(None)` once the peer finished, and an error if the direction broke.
/// Dropping it stops the direction: the peer's next `send` fails with `Err(Error::Closed)`.
pub struct StreamReceiver {
    peer: NodeId,
    service: Service,
    max_frame: usize,
    guard: Guard,
    inner: RxInner,
    finished: bool,
    failed: Option<Error>,
}

impl std::fmt::Debug for StreamReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReceiver")
            .field("peer", &self.peer)
            .field("service", &self.service)
            .field("finished", &self.finished)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl StreamReceiver {
    /// The node at the other end.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// The stream's service number.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The next frame; `Ok(None)` once the peer finished (and on every later call);
    /// `Err(Error::Closed)` if the peer reset its side, stopped reading, or the connection
    /// was lost; `Err(Error::Unreachable)` if a fault filter cut the stream;
    /// `Err(Error::Remote(..))` if the peer serves no such stream; `Err(Error::TooLarge)`
    /// if the peer sent a frame over this node's limit. Cancel safe.
    pub async fn recv(&mut self) -> Result<Option<Bytes>, Error> {
        if let Some(e) = &self.failed {
            return Err(repeat(e));
        }
        if self.finished {
            return Ok(None);
        }
        let (peer, service, max) = (self.peer, self.service, self.max_frame);
        let result = match self.guard.check() {
            Err(e) => Err(e),
            Ok(()) => tokio::select! {
                biased;
                e = self.guard.broken() => Err(e),
                r = self.inner.read(max, peer, service) => r,
            },
        };
        match &result {
            Ok(Some(_)) => {}
            Ok(None) => {
                self.finished = true;
                self.inner = RxInner::Done;
            }
            Err(e) => {
                self.inner.stop(error_code(e));
                self.failed = Some(repeat(e));
            }
        }
        result
    }

    /// Refuses the stream: the peer learns that this node serves no such stream.
    pub(crate) fn refuse(mut self) {
        self.inner.stop(CODE_NO_SERVICE);
    }
}

impl Drop for StreamReceiver {
    fn drop(&mut self) {
        self.inner.stop(CODE_DROPPED);
    }
}

/// What both ends of a stream share: the far end, the service, the frame limit.
#[derive(Clone, Copy)]
pub(crate) struct Ends {
    pub(crate) peer: NodeId,
    pub(crate) service: Service,
    pub(crate) max_frame: usize,
}

/// One end of a QUIC stream (after its header).
pub(crate) fn quic_end(
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    ends: Ends,
    guard: Guard,
) -> (StreamSender, StreamReceiver) {
    let tx = StreamSender {
        peer: ends.peer,
        service: ends.service,
        max_frame: ends.max_frame,
        guard: guard.clone(),
        inner: TxInner::Quic {
            send,
            pending: Vec::with_capacity(2),
        },
        failed: None,
    };
    let rx = StreamReceiver {
        peer: ends.peer,
        service: ends.service,
        max_frame: ends.max_frame,
        guard,
        inner: RxInner::Quic(QuicRx {
            recv,
            header: [0; FRAME_HEADER],
            header_got: 0,
            body: None,
        }),
        finished: false,
        failed: None,
    };
    (tx, rx)
}

/// Both ends of an in-memory stream: (opener's sender, opener's receiver) and (listener's
/// sender, listener's receiver).
pub(crate) fn mem_pair(
    opener: NodeId,
    listener: NodeId,
    service: Service,
    max_frame: usize,
    opener_guard: Guard,
    listener_guard: Guard,
) -> (
    (StreamSender, StreamReceiver),
    (StreamSender, StreamReceiver),
) {
    let half = |from: NodeId, to: NodeId, guard_tx: &Guard, guard_rx: &Guard| {
        let (tx, rx) = mpsc::channel(MEM_STREAM_CAPACITY);
        let dir = MemDir::new();
        let sender = StreamSender {
            peer: to,
            service,
            max_frame,
            guard: guard_tx.clone(),
            inner: TxInner::Mem {
                tx,
                dir: dir.clone(),
            },
            failed: None,
        };
        let receiver = StreamReceiver {
            peer: from,
            service,
            max_frame,
            guard: guard_rx.clone(),
            inner: RxInner::Mem { rx, dir },
            finished: false,
            failed: None,
        };
        (sender, receiver)
    };
    let (up_tx, up_rx) = half(opener, listener, &opener_guard, &listener_guard);
    let (down_tx, down_rx) = half(listener, opener, &listener_guard, &opener_guard);
    ((up_tx, down_rx), (down_tx, up_rx))
}
