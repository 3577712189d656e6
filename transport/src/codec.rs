//! The binary codec for typed bodies: postcard.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;

/// Encodes a value as a request or response body.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    Ok(Bytes::from(postcard::to_stdvec(value)?))
}

/// Decodes a body written by [`encode`].
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    Ok(postcard::from_bytes(body)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let v = (7u64, "vote".to_string(), vec![1u8, 2, 3]);
        let b = super::encode(&v).unwrap();
        assert_eq!(super::decode::<(u64, String, Vec<u8>)>(&b).unwrap(), v);
        assert!(super::decode::<(u64, String)>(&b[..2]).is_err());
    }
}
