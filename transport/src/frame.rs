//! The frame format. Every bidirectional QUIC stream starts with a kind byte: 0 for a
//! request (one request and its response), 1 for a long-lived stream.
//!
//! ```text
//! request:  kind u8 = 0 | service u16 BE | length u32 BE | body
//! response: status  u8     | length u32 BE | body
//!           status 0 = ok (body = reply), 1 = handler error (body = UTF-8 message),
//!           2 = too large (body = length u64 BE | limit u64 BE)
//! ```
//! Each side reads at most its frame limit; a longer length is refused before its body is
//! read.
//!
//! A long-lived stream:
//!
//! ```text
//! opener → listener:  kind u8 = 1 | service u16 BE | frame*  [FIN]
//! listener → opener:  frame*  [FIN]
//! frame:              length u32 BE | bytes
//! ```
//! Each direction ends with a FIN at a frame boundary (finished) or a reset (the sender
//! gave up); a receiver that gives up stops the other side's sending. Reset and stop codes
//! are the `CODE_*` constants. A FIN inside a frame is a broken stream.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Service;
use crate::error::{Error, Failure};

/// The default frame limit: 64 MiB.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// First byte of a request stream.
pub(crate) const KIND_REQUEST: u8 = 0;
/// First byte of a long-lived stream.
pub(crate) const KIND_STREAM: u8 = 1;

pub(crate) const REQUEST_HEADER: usize = 6;
/// A long-lived stream's header after its kind byte: the service.
pub(crate) const STREAM_HEADER: usize = 2;
/// Length prefix of a frame of a long-lived stream.
pub(crate) const FRAME_HEADER: usize = 4;

/// Reset/stop code: the other end dropped its half (or the stream failed there).
pub(crate) const CODE_DROPPED: u32 = 0;
/// Reset/stop code: the listener's handler serves no streams for this service.
pub(crate) const CODE_NO_SERVICE: u32 = 1;
/// Stop code: a frame was longer than the receiver's limit.
pub(crate) const CODE_TOO_LARGE: u32 = 2;
/// Reset/stop code: a fault filter cut the stream at the other end.
pub(crate) const CODE_CUT: u32 = 3;
pub(crate) const RESPONSE_HEADER: usize = 5;

const OK: u8 = 0;
const REMOTE: u8 = 1;
const TOO_LARGE: u8 = 2;

pub(crate) fn request_header(service: Service, len: usize) -> [u8; REQUEST_HEADER] {
    let mut h = [0; REQUEST_HEADER];
    h[..2].copy_from_slice(&service.to_be_bytes());
    h[2..].copy_from_slice(&(len as u32).to_be_bytes());
    h
}

/// The opening bytes of a long-lived stream: kind and service.
pub(crate) fn stream_header(service: Service) -> [u8; 1 + STREAM_HEADER] {
    let [a, b] = service.to_be_bytes();
    [KIND_STREAM, a, b]
}

pub(crate) fn frame_header(len: usize) -> [u8; FRAME_HEADER] {
    (len as u32).to_be_bytes()
}

pub(crate) fn parse_request_header(h: &[u8; REQUEST_HEADER]) -> (Service, usize) {
    let service = u16::from_be_bytes([h[0], h[1]]);
    let len = u32::from_be_bytes([h[2], h[3], h[4], h[5]]) as usize;
    (service, len)
}

/// Checks a body length against a limit (which the u32 length field also caps).
pub(crate) fn check_len(len: usize, max: usize) -> Result<(), Error> {
    let max = max.min(u32::MAX as usize);
    if len > max {
        Err(Error::TooLarge { len, max })
    } else {
        Ok(())
    }
}

/// A response as sent on the wire.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Response {
    Ok(Bytes),
    Remote(Failure),
    TooLarge { len: usize, max: usize },
}

impl Response {
    /// Header and body of this response.
    pub(crate) fn encode(&self) -> ([u8; RESPONSE_HEADER], Bytes) {
        let (status, body) = match self {
            Response::Ok(b) => (OK, b.clone()),
            // A `Failure` always encodes; should it not, the peer reads a malformed one.
            Response::Remote(f) => (REMOTE, postcard::to_allocvec(f).unwrap_or_default().into()),
            Response::TooLarge { len, max } => {
                let mut b = BytesMut::with_capacity(16);
                b.put_u64(*len as u64);
                b.put_u64(*max as u64);
                (TOO_LARGE, b.freeze())
            }
        };
        let mut h = [0; RESPONSE_HEADER];
        h[0] = status;
        h[1..].copy_from_slice(&(body.len() as u32).to_be_bytes());
        (h, body)
    }

    pub(crate) fn parse_header(h: &[u8; RESPONSE_HEADER]) -> (u8, usize) {
        (h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize)
    }

    /// The response for a status and its body, as the caller's result.
    pub(crate) fn decode(status: u8, body: Bytes) -> Result<Bytes, Error> {
        match status {
            OK => Ok(body),
            REMOTE => Err(Error::Remote(postcard::from_bytes(&body).unwrap_or_else(
                |e| Failure::Failed(format!("an undecodable failure ({e})")),
            ))),
            TOO_LARGE if body.len() == 16 => {
                let n = |i: usize| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&body[i..i + 8]);
                    u64::from_be_bytes(a) as usize
                };
                Err(Error::TooLarge {
                    len: n(0),
                    max: n(8),
                })
            }
            s => Err(Error::Remote(Failure::Failed(format!(
                "malformed response (status {s})"
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let h = request_header(513, 70_000);
        assert_eq!(parse_request_header(&h), (513, 70_000));
        for r in [
            Response::Ok(Bytes::from_static(b"hi")),
            Response::Remote(Failure::Failed("boom".into())),
            Response::Remote(Failure::UnknownService(7)),
            Response::TooLarge { len: 9, max: 8 },
        ] {
            let (h, body) = r.encode();
            let (status, len) = Response::parse_header(&h);
            assert_eq!(len, body.len());
            let back = match Response::decode(status, body) {
                Ok(b) => Response::Ok(b),
                Err(Error::Remote(m)) => Response::Remote(m),
                Err(Error::TooLarge { len, max }) => Response::TooLarge { len, max },
                Err(e) => panic!("{e}"),
            };
            assert_eq!(back, r);
        }
    }

    #[test]
    fn limit() {
        assert!(check_len(8, 8).is_ok());
        assert!(matches!(
            check_len(9, 8),
            Err(Error::TooLarge { len: 9, max: 8 })
        ));
    }
}
