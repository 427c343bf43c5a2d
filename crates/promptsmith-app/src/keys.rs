//! API keys: made at random and shown once; the store keeps only their SHA-256. A key acts for
//! one tenant with one role. `promptsmith keys` and the server's auth both call these.

use crate::error::{AppError, Result};
use crate::ids::{new_id, new_secret};
use crate::tenant::Tenant;
use promptsmith_store::{ApiKey, Role, Store};
use sha2::{Digest, Sha256};

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant.
    pub tenant: Tenant,
    /// What it may do.
    pub role: Role,
    /// The key's id (`anonymous` without auth).
    pub key_id: String,
}

impl Principal {
    /// The default tenant with every right (a server without auth, the CLI).
    pub fn local_admin() -> Principal {
        Principal { tenant: Tenant::default(), role: Role::Admin, key_id: "anonymous".into() }
    }

    /// An error unless the role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<()> {
        if self.role >= needed {
            return Ok(());
        }
        Err(AppError::new(
            promptsmith_core::ErrorKind::Forbidden,
            format!("key '{}' has role '{}'; this needs '{}'", self.key_id, self.role.as_str(), needed.as_str()),
        ))
    }
}

/// A new key: its record and the secret, shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The key itself (`psk_…`): not stored, not shown again.
    pub secret: String,
}

/// The SHA-256 of a key, as stored.
pub fn key_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Makes a key for `tenant` with `role`.
pub async fn create(store: &Store, tenant: &Tenant, role: Role, name: &str) -> Result<CreatedKey> {
    let secret = new_secret("psk");
    let key = store.insert_api_key(&new_id("key"), tenant.name(), role, name, &key_hash(&secret)).await?;
    Ok(CreatedKey { key, secret })
}

/// The principal a presented key acts as; an unknown or revoked key is an auth error.
pub async fn authenticate(store: &Store, secret: &str) -> Result<Principal> {
    let unauthorized = || AppError::new(promptsmith_core::ErrorKind::Unauthorized, "unknown or revoked API key");
    let key = store.api_key_by_hash(&key_hash(secret.trim())).await?.ok_or_else(unauthorized)?;
    let stale = key.last_used_at.is_none_or(|t| promptsmith_core::clock::now_ms() - t > 60_000);
    if stale {
        store.touch_api_key(&key.id).await?;
    }
    Ok(Principal { tenant: Tenant::new(&key.tenant)?, role: key.role, key_id: key.id })
}
