//! Key rotation: re-sealing every encrypted (or plain) program state and dataset under the
//! current key, row by row, each in its own small transaction.

use crate::db::{with_pool, Store};
use crate::error::Result;

/// What a rotation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResealCount {
    /// Program versions re-sealed.
    pub states: u64,
    /// Datasets re-sealed.
    pub datasets: u64,
}

impl Store {
    /// Re-seals every program state and dataset not sealed under the current key (nothing to
    /// do without a key).
    pub async fn reseal_all(&self) -> Result<ResealCount> {
        let mut count = ResealCount::default();
        if self.keyring.current_id().is_none() {
            return Ok(count);
        }
        let states: Vec<(i64, i64, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT program_id, version, state_json FROM program_versions").fetch_all(pool).await?
        });
        for (program, version, stored) in states.into_iter().filter(|(_, _, s)| self.keyring.needs_reseal(s)) {
            let sealed = self.keyring.seal(&self.keyring.open(&stored)?)?;
            with_pool!(self, pool => {
                sqlx::query("UPDATE program_versions SET state_json = $1 WHERE program_id = $2 AND version = $3")
                    .bind(&sealed).bind(program).bind(version).execute(pool).await?;
            });
            count.states += 1;
        }
        let datasets: Vec<(String, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, content FROM datasets").fetch_all(pool).await?
        });
        for (id, stored) in datasets.into_iter().filter(|(_, s)| self.keyring.needs_reseal(s)) {
            let sealed = self.keyring.seal(&self.keyring.open(&stored)?)?;
            with_pool!(self, pool => {
                sqlx::query("UPDATE datasets SET content = $1 WHERE id = $2").bind(&sealed).bind(&id).execute(pool).await?;
            });
            count.datasets += 1;
        }
        Ok(count)
    }
}
