//! API keys (only their SHA-256 is stored; the key is shown once, when made) with a tenant and
//! a role, and the audit log of every mutating call.

use crate::db::{now_ms, with_pool, BeginWrite, RowExt, Store};
use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read only.
    Read,
    /// Read, submit jobs, predict, give feedback, upload data.
    Write,
    /// Everything, including the registry's aliases and the audit log.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Reads a role name.
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Invalid(format!("unknown role '{other}' (expected read, write or admin)"))),
        }
    }
}

/// A stored key (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public id (`key_…`), also the key's prefix.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Role.
    pub role: Role,
    /// A name for people.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Last use (Unix ms), updated at most once a minute.
    pub last_used_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

/// One audited call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Id.
    pub id: i64,
    /// Tenant.
    pub tenant: String,
    /// The key id (or `anonymous` without auth).
    pub actor: String,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Response status.
    pub status: i64,
    /// What was done (e.g. the created id).
    pub detail: Option<String>,
    /// Unix ms.
    pub at: i64,
}

impl Store {
    /// Stores a key by its hash.
    pub async fn insert_api_key(&self, id: &str, tenant: &str, role: Role, name: &str, hash: &str) -> Result<ApiKey> {
        if tenant.trim().is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(StoreError::Invalid(format!("tenant '{tenant}': use letters, digits, '-', '_' or '.'")));
        }
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO api_keys (id, tenant, role, name, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id)
                .bind(tenant)
                .bind(role.as_str())
                .bind(name)
                .bind(hash)
                .bind(now_ms())
                .execute(pool)
                .await?;
        });
        self.api_key(id).await
    }

    /// Key `id`.
    pub async fn api_key(&self, id: &str) -> Result<ApiKey> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1").bind(id).fetch_optional(pool).await?;
            match row {
                Some(r) => key_from_row(&r),
                None => Err(StoreError::NotFound(format!("no API key '{id}'"))),
            }
        })
    }

    /// The live (not revoked) key with this hash, if any.
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM api_keys WHERE hash = $1 AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(key_from_row).transpose()
        })
    }

    /// Every key (of `tenant`, or all), oldest first.
    pub async fn api_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKey>> {
        with_pool!(self, pool => {
            let rows = match tenant {
                Some(t) => sqlx::query("SELECT * FROM api_keys WHERE tenant = $1 ORDER BY created_at, id").bind(t).fetch_all(pool).await?,
                None => sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id").fetch_all(pool).await?,
            };
            rows.iter().map(key_from_row).collect()
        })
    }

    /// Revokes key `id` (idempotent).
    pub async fn revoke_api_key(&self, id: &str) -> Result<ApiKey> {
        let key = self.api_key(id).await?;
        if key.revoked_at.is_none() {
            with_pool!(self, pool => {
                sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2").bind(now_ms()).bind(id).execute(pool).await?;
            });
        }
        self.api_key(id).await
    }

    /// Notes that key `id` was used now.
    pub async fn touch_api_key(&self, id: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2").bind(now_ms()).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Appends audit entries (tenant, actor, method, path, status, detail) in one transaction.
    pub async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for e in entries {
                sqlx::query(
                    "INSERT INTO audit_log (tenant, actor, method, path, status, detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&e.tenant)
                .bind(&e.actor)
                .bind(&e.method)
                .bind(&e.path)
                .bind(e.status)
                .bind(&e.detail)
                .bind(e.at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// `tenant`'s audit entries with an id below `before` (None: the newest), newest first.
    pub async fn audit_log(&self, tenant: &str, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM audit_log WHERE tenant = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
                .bind(tenant)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit.clamp(1, 1000))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(AuditEntry {
                        id: r.i64("id")?,
                        tenant: r.string("tenant")?,
                        actor: r.string("actor")?,
                        method: r.string("method")?,
                        path: r.string("path")?,
                        status: r.i64("status")?,
                        detail: r.opt_string("detail")?,
                        at: r.i64("at")?,
                    })
                })
                .collect()
        })
    }
}

fn key_from_row(r: &impl RowExt) -> Result<ApiKey> {
    Ok(ApiKey {
        id: r.string("id")?,
        tenant: r.string("tenant")?,
        role: Role::parse(&r.string("role")?)?,
        name: r.string("name")?,
        created_at: r.i64("created_at")?,
        last_used_at: r.opt_i64("last_used_at")?,
        revoked_at: r.opt_i64("revoked_at")?,
    })
}
