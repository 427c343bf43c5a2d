//! Encryption at rest: program states and data (datasets, trial states, run artifacts, the
//! inputs, outputs and labels of evaluations, feedback corrections, and the service's job
//! payloads, results, journals and events) are sealed with AES-256-GCM when a key is configured (`PROMPTSMITH_ENCRYPTION_KEY`, 64 hex digits, optionally `ID:HEX`). Each
//! sealed value names its key id (`psenc1:ID:BASE64(nonce || ciphertext)`), so old keys listed
//! in `PROMPTSMITH_ENCRYPTION_OLD_KEYS` (comma-separated) still open old rows while
//! `promptsmith keys rotate-encryption` re-seals them under the current key. Values written
//! without a key stay plain and are read as they are.

use crate::error::{Result, StoreError};
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The current key's environment variable.
pub const KEY_ENV: &str = "PROMPTSMITH_ENCRYPTION_KEY";
/// Older keys, still accepted for reading.
pub const OLD_KEYS_ENV: &str = "PROMPTSMITH_ENCRYPTION_OLD_KEYS";
const PREFIX: &str = "psenc1:";

/// The keys a store seals with (the first) and opens with (any).
#[derive(Clone, Default)]
pub struct Keyring {
    keys: Vec<(String, Key<Aes256Gcm>)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// No keys: values are stored plain.
    pub fn none() -> Keyring {
        Keyring::default()
    }

    /// The keys in the environment (none when unset); a malformed key is an error naming the
    /// variable.
    pub fn from_env() -> Result<Keyring> {
        let current = std::env::var(KEY_ENV).ok().filter(|v| !v.trim().is_empty());
        let old = std::env::var(OLD_KEYS_ENV).unwrap_or_default();
        let mut ring = Keyring::none();
        if let Some(k) = current {
            ring.keys.push(parse_key(&k, KEY_ENV)?);
        } else if !old.trim().is_empty() {
            return Err(StoreError::Invalid(format!("{OLD_KEYS_ENV} is set but {KEY_ENV} is not")));
        }
        for k in old.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            ring.keys.push(parse_key(k, OLD_KEYS_ENV)?);
        }
        Ok(ring)
    }

    /// A ring from `ID:HEX` or `HEX` keys, the first sealing.
    pub fn from_keys(keys: &[&str]) -> Result<Keyring> {
        Ok(Keyring { keys: keys.iter().map(|k| parse_key(k, "key")).collect::<Result<_>>()? })
    }

    /// The id of the key that seals, if any.
    pub fn current_id(&self) -> Option<&str> {
        self.keys.first().map(|(id, _)| id.as_str())
    }

    /// `plain` sealed under the current key, or as it is without one.
    pub fn seal(&self, plain: &str) -> Result<String> {
        let Some((id, key)) = self.keys.first() else { return Ok(plain.to_string()) };
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = Aes256Gcm::new(key)
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| StoreError::Invalid("encryption failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{PREFIX}{id}:{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
    }

    /// The plain text of a stored value (sealed or plain).
    pub fn open(&self, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_string()) };
        let (id, body) = rest.split_once(':').ok_or_else(|| corrupt("no key id"))?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == id).ok_or_else(|| {
            StoreError::Invalid(format!(
                "a stored value is encrypted with key '{id}', which is not configured: set {KEY_ENV} (or list it in {OLD_KEYS_ENV})"
            ))
        })?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| corrupt("bad base64"))?;
        if bytes.len() < 12 {
            return Err(corrupt("too short"));
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = Aes256Gcm::new(key)
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| corrupt(&format!("does not open with key '{id}'")))?;
        String::from_utf8(plain).map_err(|_| corrupt("not UTF-8"))
    }

    /// Whether `stored` is sealed under a key other than the current one (or plain while a
    /// key is set): rotation re-seals it.
    pub fn needs_reseal(&self, stored: &str) -> bool {
        match (self.current_id(), stored.strip_prefix(PREFIX)) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(cur), Some(rest)) => rest.split_once(':').map(|(id, _)| id) != Some(cur),
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Invalid(format!("a stored encrypted value is damaged: {what}"))
}

fn parse_key(text: &str, var: &str) -> Result<(String, Key<Aes256Gcm>)> {
    let (id, hex_key) = match text.split_once(':') {
        Some((id, k)) => (Some(id.trim().to_string()), k.trim()),
        None => (None, text.trim()),
    };
    let bytes = hex::decode(hex_key).ok().filter(|b| b.len() == 32).ok_or_else(|| {
        StoreError::Invalid(format!("{var}: expected 64 hex digits (32 bytes), optionally after 'ID:'"))
    })?;
    let id = id.unwrap_or_else(|| hex::encode(&Sha256::digest(&bytes)[..4]));
    if id.is_empty() || id.contains(':') || id.contains(',') {
        return Err(StoreError::Invalid(format!("{var}: key id '{id}' must be non-empty without ':' or ','")));
    }
    Ok((id, *Key::<Aes256Gcm>::from_slice(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:0000000000000000000000000000000000000000000000000000000000000001";
    const K2: &str = "k2:0000000000000000000000000000000000000000000000000000000000000002";

    #[test]
    fn seals_opens_and_rotates() {
        let plain = Keyring::none();
        assert_eq!(plain.seal("x").unwrap(), "x");
        let one = Keyring::from_keys(&[K1]).unwrap();
        let sealed = one.seal("secret rows").unwrap();
        assert!(sealed.starts_with("psenc1:k1:") && !sealed.contains("secret"));
        assert_ne!(sealed, one.seal("secret rows").unwrap(), "a fresh nonce each time");
        assert_eq!(one.open(&sealed).unwrap(), "secret rows");
        assert_eq!(one.open("plain").unwrap(), "plain");
        let rotated = Keyring::from_keys(&[K2, K1]).unwrap();
        assert!(rotated.needs_reseal(&sealed));
        let resealed = rotated.seal(&rotated.open(&sealed).unwrap()).unwrap();
        assert!(!rotated.needs_reseal(&resealed));
        let err = Keyring::from_keys(&[K2]).unwrap().open(&sealed).unwrap_err().to_string();
        assert!(err.contains("key 'k1'"), "{err}");
        let mut tampered = sealed.clone();
        tampered.replace_range(sealed.len() - 3.., "AAA");
        assert!(one.open(&tampered).is_err());
        assert!(Keyring::from_keys(&["abc"]).is_err());
    }
}
