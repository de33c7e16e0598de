//! SHA-256 in hex, for content hashes.

use sha2::{Digest, Sha256};

pub fn hex_sha256(bytes: &[u8]) -> String {
    hex_digest(Sha256::digest(bytes).as_slice())
}

pub fn hex_digest(bytes: &[u8]) -> String {
    hex::encode(bytes)
}
