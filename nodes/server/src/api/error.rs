//! API errors as HTTP responses: a Kubernetes `Status` body with its code (the errors
//! themselves are `kumo_registry::error`'s).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use kumo_registry::error::*;

/// Renders an [`ApiError`] as the response Kubernetes would give.
pub trait StatusResponse {
    fn into_response(self) -> Response;
}

impl StatusResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (code, self.body()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.retry_after() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_with_retry_after() {
        let resp = ApiError::from(kumo_raft_store::Error::DiskFull).into_response();
        assert_eq!(resp.status().as_u16(), 507);
        assert_eq!(resp.headers()["retry-after"], "1");
    }
}
