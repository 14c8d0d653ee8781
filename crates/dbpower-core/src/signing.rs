//! Request signing for agent ingestion (HMAC-SHA256). The canonical string is six lines joined by `\n`
//! without a trailing newline: `DBPOWER-HMAC-SHA256`, the unix timestamp, the request id, the method,
//! the path with its query string, and the lowercase hex SHA-256 of the raw body. The signature is the
//! lowercase hex HMAC-SHA256 of that string under the key's signing secret.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const SCHEME: &str = "DBPOWER-HMAC-SHA256";
/// How far `X-Timestamp` may be from the server's clock, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Lowercase hex SHA-256 of the body.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The names of the headers that carry a signed request's parts (besides its body).
pub mod header {
    pub const API_KEY: &str = "x-api-key";
    pub const REQUEST_ID: &str = "x-request-id";
    pub const TIMESTAMP: &str = "x-timestamp";
    pub const SIGNATURE: &str = "x-signature";
}

/// The parts of a request that its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub timestamp: i64,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

impl Signed<'_> {
    /// The canonical string the HMAC is computed over (see the module's documentation).
    pub fn canonical(&self) -> String {
        format!(
            "{SCHEME}\n{}\n{}\n{}\n{}\n{}",
            self.timestamp,
            self.request_id,
            self.method,
            self.path_and_query,
            body_hash(self.body)
        )
    }

    /// The signature an agent sends in `X-Signature`.
    pub fn sign(&self, secret: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable_mac());
        mac.update(self.canonical().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a presented signature (hex, any case).
    pub fn verify(&self, secret: &str, signature: &str) -> bool {
        let Ok(presented) = hex::decode(signature.trim()) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(self.canonical().as_bytes());
        mac.verify_slice(&presented).is_ok()
    }

    /// The headers a signed request carries for the key `key_id` with signing secret `secret`.
    pub fn headers(&self, key_id: &str, secret: &str) -> [(&'static str, String); 4] {
        [
            (header::API_KEY, key_id.to_string()),
            (header::REQUEST_ID, self.request_id.to_string()),
            (header::TIMESTAMP, self.timestamp.to_string()),
            (header::SIGNATURE, self.sign(secret)),
        ]
    }
}

/// HMAC accepts keys of any length, so construction cannot fail; this keeps the code panic-free anyway.
fn unreachable_mac() -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(b"k").unwrap_or_else(|_| unreachable_mac())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed `POST`: the parts the signature covers.
    struct Request<'a> {
        secret: &'a str,
        timestamp: i64,
        request_id: &'a str,
        path: &'a str,
        body: &'a [u8],
    }

    impl Request<'_> {
        fn parts(&self) -> Signed<'_> {
            Signed {
                timestamp: self.timestamp,
                request_id: self.request_id,
                method: "POST",
                path_and_query: self.path,
                body: self.body,
            }
        }
    }

    /// The published test vector's request.
    const VECTOR: Request<'static> = Request {
        secret: "dbp-test-secret",
        timestamp: 1700000000,
        request_id: "5d0c7a51-0000-4000-8000-000000000001",
        path: "/api/v1/slow-queries",
        body: br#"{"queries":[]}"#,
    };

    /// Whether `signature` verifies for the test vector's request as `change` alters it.
    fn verifies(signature: &str, change: impl FnOnce(&mut Request<'static>)) -> bool {
        let mut r = VECTOR;
        change(&mut r);
        r.parts().verify(r.secret, signature)
    }

    #[test]
    fn the_published_test_vector() {
        let v = VECTOR;
        assert_eq!(
            body_hash(v.body),
            "002a0e3a6fb2a71647744ca79f6ab6c7aaa5d149d4b4275986bc054ad0207aa0"
        );
        let sig = v.parts().sign(v.secret);
        assert_eq!(
            sig,
            "dda10af8c686da66e169ad380f362fa476e7663fe27b5ac340e533399fde3f62"
        );
        assert!(verifies(&sig, |_| {}));
        assert!(verifies(&sig.to_uppercase(), |_| {}));
        assert!(!verifies(&sig, |r| r.timestamp += 1));
        assert!(!verifies(&sig, |r| r.secret = "other"));
        assert!(!verifies(&sig, |r| r.body = b"{}"));
        assert!(!verifies("not hex", |r| (r.request_id, r.path) = ("x", "/")));
    }
}
