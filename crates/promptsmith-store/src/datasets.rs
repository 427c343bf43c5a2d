//! Stored datasets: the rows a client uploaded (already validated by the caller), kept as text
//! in their format, per tenant, so jobs on any worker can read them.

use crate::db::{now_ms, parse_json, to_json, with_pool, RowExt, Store};
use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};

/// A dataset to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDataset {
    /// Its id (made by the caller, unguessable).
    pub id: String,
    /// Owner.
    pub tenant: String,
    /// A name for people.
    pub name: String,
    /// `jsonl`, `csv` or `json`.
    pub format: String,
    /// Number of rows.
    pub rows: i64,
    /// Column names.
    pub columns: Vec<String>,
    /// The content (sealed by the store's keyring when it has a key).
    pub content: String,
    /// SHA-256 of the plain content.
    pub sha256: String,
}

/// A stored dataset's description (without its content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetInfo {
    /// Id.
    pub id: String,
    /// Owner.
    pub tenant: String,
    /// Name.
    pub name: String,
    /// Format.
    pub format: String,
    /// Rows.
    pub rows: i64,
    /// Columns.
    pub columns: Vec<String>,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Unix ms.
    pub created_at: i64,
}

impl Store {
    /// Stores a dataset.
    pub async fn insert_dataset(&self, d: &NewDataset) -> Result<DatasetInfo> {
        let columns = to_json(&d.columns, "dataset columns")?;
        let content = self.keyring.seal(&d.content)?;
        let now = now_ms();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO datasets (id, tenant, name, format, num_rows, columns_json, content, sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&d.id)
            .bind(&d.tenant)
            .bind(&d.name)
            .bind(&d.format)
            .bind(d.rows)
            .bind(&columns)
            .bind(&content)
            .bind(&d.sha256)
            .bind(now)
            .execute(pool)
            .await?;
        });
        self.dataset_info(&d.id).await
    }

    /// Dataset `id`'s description.
    pub async fn dataset_info(&self, id: &str) -> Result<DatasetInfo> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, tenant, name, format, num_rows, columns_json, sha256, created_at FROM datasets WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => info_from_row(&r),
                None => Err(StoreError::NotFound(format!("no dataset '{id}'"))),
            }
        })
    }

    /// Dataset `id`'s content, in plain text.
    pub async fn dataset_content(&self, id: &str) -> Result<String> {
        let stored = with_pool!(self, pool => {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT content FROM datasets WHERE id = $1").bind(id).fetch_optional(pool).await?;
            row.map(|(c,)| c).ok_or_else(|| StoreError::NotFound(format!("no dataset '{id}'")))?
        });
        self.keyring.open(&stored)
    }

    /// `tenant`'s datasets, newest first, at most `limit`.
    pub async fn datasets(&self, tenant: &str, limit: i64) -> Result<Vec<DatasetInfo>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, tenant, name, format, num_rows, columns_json, sha256, created_at FROM datasets \
                 WHERE tenant = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            )
            .bind(tenant)
            .bind(limit.clamp(1, 1000))
            .fetch_all(pool)
            .await?;
            rows.iter().map(info_from_row).collect()
        })
    }
}

fn info_from_row(r: &impl RowExt) -> Result<DatasetInfo> {
    Ok(DatasetInfo {
        id: r.string("id")?,
        tenant: r.string("tenant")?,
        name: r.string("name")?,
        format: r.string("format")?,
        rows: r.i64("num_rows")?,
        columns: parse_json(&r.string("columns_json")?, "dataset columns")?,
        sha256: r.string("sha256")?,
        created_at: r.i64("created_at")?,
    })
}
