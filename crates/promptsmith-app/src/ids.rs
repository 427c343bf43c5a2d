//! Public ids of service objects: a prefix and 24 random hex digits (96 bits from the OS), so
//! an id says what it names and cannot be guessed.

use rand::RngCore;

/// `PREFIX_` and 24 random hex digits.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// A secret: `PREFIX_` and 48 random hex digits (192 bits).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}
