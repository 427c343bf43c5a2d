//! WAL checkpoints of an SQLite store, run beside the writers instead of inside their commits.
//!
//! SQLite's automatic checkpoint runs in the commit that grows the WAL past 1,000 pages: that
//! commit copies the WAL into the database file and fsyncs it before it returns, so every few
//! batches one writer (in the service, a whole batch of predictions waiting for their ids)
//! stalls for the copy. The service benchmark's p99 was those stalls. Stores opened on SQLite
//! turn the automatic checkpoint off and run this task instead: a `PASSIVE` checkpoint every
//! [`EVERY`] on a pooled connection, which never waits for and never blocks readers or writers.
//! A passive checkpoint cannot restart a WAL that writers keep appending to, so when the WAL
//! still holds more than [`RESTART_FRAMES`] after one, a `RESTART` checkpoint (which waits for
//! the writer of the moment and makes the next one start the WAL over) bounds its size.

use sqlx::SqlitePool;
use std::time::Duration;
use tokio::sync::oneshot;

/// How often the WAL is checkpointed.
pub(crate) const EVERY: Duration = Duration::from_millis(250);

/// WAL frames (pages) beyond which the WAL is restarted even if that waits for a writer:
/// 16,384 pages of 4 KiB, 64 MiB.
pub(crate) const RESTART_FRAMES: i64 = 16_384;

/// Keeps the checkpoint task running; dropping the last clone of the store that holds it
/// stops the task (it holds a pool handle, which would otherwise keep the file open).
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: oneshot::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing `pool` on the current runtime.
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(run(pool, stopped));
        Self { _stop: stop }
    }
}

async fn run(pool: SqlitePool, mut stopped: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = tick.tick() => {}
        }
        if pool.is_closed() {
            return;
        }
        if let Err(e) = checkpoint(&pool).await {
            tracing::debug!(error = %e, "WAL checkpoint failed; the next one will try again");
        }
    }
}

/// One passive checkpoint, and a restart when the WAL is still too long after it.
async fn checkpoint(pool: &SqlitePool) -> sqlx::Result<()> {
    let frames = wal_frames(pool, "PASSIVE").await?;
    if frames > RESTART_FRAMES {
        wal_frames(pool, "RESTART").await?;
    }
    Ok(())
}

/// Runs a checkpoint in `mode`; the WAL's length in frames when it ran.
async fn wal_frames(pool: &SqlitePool, mode: &str) -> sqlx::Result<i64> {
    let (_busy, frames, _copied): (i64, i64, i64) =
        sqlx::query_as(&format!("PRAGMA wal_checkpoint({mode})")).fetch_one(pool).await?;
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;
    use crate::Store;

    async fn sqlite(dir: &tempfile::TempDir) -> (Store, SqlitePool) {
        let store = Store::open(dir.path().join("s.db").to_str().unwrap()).await.unwrap();
        let Backend::Sqlite(pool) = &store.backend else { unreachable!() };
        let pool = pool.clone();
        (store, pool)
    }

    async fn write(pool: &SqlitePool, rows: usize) {
        sqlx::query("CREATE TABLE IF NOT EXISTS filler (x BLOB)").execute(pool).await.unwrap();
        for _ in 0..rows {
            sqlx::query("INSERT INTO filler VALUES (randomblob(3000))").execute(pool).await.unwrap();
        }
    }

    #[tokio::test]
    async fn commits_never_checkpoint_and_the_task_does() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, pool) = sqlite(&dir).await;
        let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint").fetch_one(&pool).await.unwrap();
        assert_eq!(auto, 0, "commits must not run checkpoints themselves");
        let file = dir.path().join("s.db");
        let before = std::fs::metadata(&file).unwrap().len();
        write(&pool, 400).await; // about 1.2 MB, in the WAL until a checkpoint copies it
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::fs::metadata(&file).unwrap().len() < before + 1_000_000 {
            assert!(std::time::Instant::now() < deadline, "the checkpoint task never copied the WAL");
            tokio::time::sleep(EVERY).await;
        }
    }

    #[tokio::test]
    async fn a_long_wal_is_restarted_from_its_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, pool) = sqlite(&dir).await;
        write(&pool, 50).await;
        wal_frames(&pool, "RESTART").await.unwrap();
        write(&pool, 1).await;
        let frames = wal_frames(&pool, "PASSIVE").await.unwrap();
        assert!(frames < 10, "after a restart the next commit starts the WAL over, found {frames} frames");
    }

    #[tokio::test]
    async fn the_task_ends_when_its_guard_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, pool) = sqlite(&dir).await;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(pool, stopped));
        drop(stop);
        tokio::time::timeout(Duration::from_secs(30), task).await.expect("the task kept running").unwrap();
    }
}
