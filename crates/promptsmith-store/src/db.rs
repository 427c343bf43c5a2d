//! Opening the database (SQLite file or PostgreSQL server), migrations, and the small helpers
//! every repository module shares: one SQL text runs on both backends (`$1` placeholders, which
//! SQLite accepts too; integers as BIGINT, floats as DOUBLE PRECISION, JSON as TEXT, times as
//! Unix milliseconds).

use crate::error::{Result, StoreError};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Postgres, Row, Sqlite, Transaction};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Database used when none is configured: `promptsmith.db` in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://promptsmith.db";

/// Environment variable that names the database URL.
pub const DATABASE_URL_ENV: &str = "PROMPTSMITH_DATABASE_URL";

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// An SQLite file (WAL journal).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Where a database URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// An SQLite file.
    SqliteFile(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseLocation {
    /// Reads a database URL: `postgres://…`/`postgresql://…`, `sqlite://PATH`, `sqlite:PATH`, or a
    /// plain file path (SQLite).
    pub fn parse(url: &str) -> Result<DatabaseLocation> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StoreError::BadUrl { url: url.into(), message: "empty database URL".into() });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseLocation::Postgres(url.to_string()));
        }
        let path = if let Some(rest) = url.strip_prefix("sqlite://") {
            rest
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            rest
        } else if url.contains("://") {
            return Err(StoreError::BadUrl {
                url: redact(url),
                message: "unsupported scheme (use sqlite://PATH, postgres://… or a file path)".into(),
            });
        } else {
            url
        };
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::BadUrl { url: url.into(), message: "an SQLite store needs a file path".into() });
        }
        Ok(DatabaseLocation::SqliteFile(PathBuf::from(path)))
    }
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else { return url.to_string() };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The store: one connection pool to an SQLite file or a PostgreSQL database, with the schema
/// migrated. Cheap to clone (the pool is shared). All methods are async and `Send`.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    url: String,
    pub(crate) keyring: std::sync::Arc<crate::crypto::Keyring>,
    /// SQLite: the task that checkpoints the WAL while any clone of this store lives.
    _checkpoints: Option<std::sync::Arc<crate::checkpoint::Checkpointer>>,
}

/// Runs `$body` with `$pool` bound to the concrete pool (`SqlitePool` or `PgPool`); the body is
/// compiled once per backend, so the same SQL and binds serve both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::db::Backend::Sqlite($pool) => $body,
            $crate::db::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Starting a transaction that will write: on SQLite `BEGIN IMMEDIATE` takes the write lock
/// up front (waiting up to the busy timeout) so a read-then-write transaction can never fail
/// half way with SQLITE_BUSY; on PostgreSQL a plain `BEGIN` (row locks serialize writers).
///
/// The `BEGIN` runs in a task of its own, so it is cancellation-safe: when the caller's future
/// is dropped while `BEGIN` is in flight (a cancelled model call journaling its answer, an HTTP
/// client that went away), the task still finishes and drops the transaction, which rolls it
/// back. Awaited in place, a dropped `BEGIN IMMEDIATE` could leave its connection in the pool
/// inside an open transaction holding SQLite's write lock: every later writer then waited out
/// the busy timeout and writes on that connection were silently rolled back.
pub(crate) trait BeginWrite {
    /// The database.
    type Db: sqlx::Database;
    /// Begins a write transaction.
    fn begin_write(
        &self,
    ) -> impl Future<Output = std::result::Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = std::result::Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        let pool = self.clone();
        begin_detached(async move { pool.begin_with("BEGIN IMMEDIATE").await })
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = std::result::Result<Transaction<'static, Postgres>, sqlx::Error>> + Send {
        let pool = self.clone();
        begin_detached(async move { pool.begin().await })
    }
}

/// Runs a `BEGIN` to completion in its own task (see [`BeginWrite`]).
async fn begin_detached<DB: sqlx::Database>(
    begin: impl Future<Output = std::result::Result<Transaction<'static, DB>, sqlx::Error>> + Send + 'static,
) -> std::result::Result<Transaction<'static, DB>, sqlx::Error> {
    tokio::spawn(begin).await.map_err(|e| sqlx::Error::Io(std::io::Error::other(format!("BEGIN task: {e}"))))?
}

/// Typed column access that reads the same on SQLite and PostgreSQL rows.
pub(crate) trait RowExt {
    fn i64(&self, col: &str) -> Result<i64>;
    fn opt_i64(&self, col: &str) -> Result<Option<i64>>;
    fn f64(&self, col: &str) -> Result<f64>;
    fn opt_f64(&self, col: &str) -> Result<Option<f64>>;
    fn string(&self, col: &str) -> Result<String>;
    fn opt_string(&self, col: &str) -> Result<Option<String>>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn i64(&self, col: &str) -> Result<i64> {
                Ok(self.try_get::<i64, _>(col)?)
            }
            fn opt_i64(&self, col: &str) -> Result<Option<i64>> {
                Ok(self.try_get::<Option<i64>, _>(col)?)
            }
            fn f64(&self, col: &str) -> Result<f64> {
                Ok(self.try_get::<f64, _>(col)?)
            }
            fn opt_f64(&self, col: &str) -> Result<Option<f64>> {
                Ok(self.try_get::<Option<f64>, _>(col)?)
            }
            fn string(&self, col: &str) -> Result<String> {
                Ok(self.try_get::<String, _>(col)?)
            }
            fn opt_string(&self, col: &str) -> Result<Option<String>> {
                Ok(self.try_get::<Option<String>, _>(col)?)
            }
        }
    };
}
impl_row_ext!(SqliteRow);
impl_row_ext!(PgRow);

/// A bind value for dynamically built queries.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I(i64),
    F(f64),
    S(String),
    OI(Option<i64>),
    OS(Option<String>),
}

/// Binds a list of [`Arg`]s (taken by value), in order, to a query (works for either backend).
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for a in $args {
            q = match a {
                $crate::db::Arg::I(v) => q.bind(v),
                $crate::db::Arg::F(v) => q.bind(v),
                $crate::db::Arg::S(v) => q.bind(v),
                $crate::db::Arg::OI(v) => q.bind(v),
                $crate::db::Arg::OS(v) => q.bind(v),
            };
        }
        q
    }};
}
pub(crate) use bind_args;

pub use promptsmith_core::clock::now_ms;

/// The keys in the environment, shared by every store this process opens.
fn env_keyring() -> Result<std::sync::Arc<crate::crypto::Keyring>> {
    crate::crypto::Keyring::from_env().map(std::sync::Arc::new)
}

/// Parses a stored JSON column.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| StoreError::Json { what: what.to_string(), source })
}

/// Serializes a value for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StoreError::Json { what: what.to_string(), source })
}

/// A file path as the user would write it: `./promptsmith.db` for a bare relative name.
fn shown_path(path: &Path) -> String {
    let text = path.display().to_string();
    if path.is_relative() && !text.starts_with('.') {
        format!("./{text}")
    } else {
        text
    }
}

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Refuses a file that exists, is not empty and does not start with SQLite's header, before
/// SQLite gets a chance to touch it.
fn check_sqlite_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let corrupt = |message: String| StoreError::Corrupt { path: path.display().to_string(), message };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(corrupt(format!("cannot read: {e}"))),
    };
    let mut head = Vec::with_capacity(16);
    file.by_ref().take(16).read_to_end(&mut head).map_err(|e| corrupt(format!("cannot read: {e}")))?;
    if head.is_empty() || head.as_slice() == SQLITE_HEADER {
        Ok(())
    } else {
        Err(corrupt("the file does not start with the SQLite header".into()))
    }
}

/// Whether an sqlx error is SQLite saying the file is corrupt or not a database.
fn is_sqlite_corruption(e: &sqlx::Error) -> Option<String> {
    let db = e.as_database_error()?;
    let code = db.code()?;
    // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), possibly with extended-code bits.
    let primary = code.parse::<i64>().ok()? & 0xff;
    (primary == 11 || primary == 26).then(|| db.message().to_string())
}

impl Store {
    /// Opens (creating when missing) the database a URL names and brings its schema up to date.
    /// SQLite files are created with WAL journaling; a file that is not an SQLite database is
    /// refused with [`StoreError::Corrupt`] and left as it was.
    pub async fn open(url: &str) -> Result<Store> {
        match DatabaseLocation::parse(url)? {
            DatabaseLocation::SqliteFile(path) => Store::open_sqlite(&path).await,
            DatabaseLocation::Postgres(pg) => Store::open_postgres(&pg).await,
        }
    }

    /// Opens the database a URL names only if it exists: a missing SQLite file is
    /// [`StoreError::Missing`] and nothing is created (no database, no `-wal`/`-shm` files). For
    /// commands that only read, so that asking about an empty folder leaves it empty. An existing
    /// file is opened as by [`Store::open`] (read-write, schema brought up to date). PostgreSQL
    /// databases are opened as by [`Store::open`].
    pub async fn open_existing(url: &str) -> Result<Store> {
        match DatabaseLocation::parse(url)? {
            DatabaseLocation::SqliteFile(path) => Store::open_sqlite_with(&path, false).await,
            DatabaseLocation::Postgres(pg) => Store::open_postgres(&pg).await,
        }
    }

    /// The URL used when none is given: `url`, else `$PROMPTSMITH_DATABASE_URL`, else
    /// `./promptsmith.db`.
    pub fn default_url(url: Option<&str>) -> String {
        let env = std::env::var(DATABASE_URL_ENV).ok().filter(|s| !s.trim().is_empty());
        url.or(env.as_deref()).unwrap_or(DEFAULT_DATABASE_URL).to_string()
    }

    /// Opens the database named by `url`, else `$PROMPTSMITH_DATABASE_URL`, else `./promptsmith.db`.
    pub async fn open_default(url: Option<&str>) -> Result<Store> {
        Store::open(&Store::default_url(url)).await
    }

    /// [`Store::open_existing`] on the database named by `url`, else `$PROMPTSMITH_DATABASE_URL`,
    /// else `./promptsmith.db`.
    pub async fn open_default_existing(url: Option<&str>) -> Result<Store> {
        Store::open_existing(&Store::default_url(url)).await
    }

    /// Opens (creating when missing) an SQLite store file.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Store::open_sqlite_with(path, true).await
    }

    /// Opens an SQLite store file; a missing one is created only with `create`, else it is
    /// [`StoreError::Missing`].
    async fn open_sqlite_with(path: &Path, create: bool) -> Result<Store> {
        let display = path.display().to_string();
        let missing = || StoreError::Missing { path: shown_path(path) };
        if !create && !path.exists() {
            return Err(missing());
        }
        check_sqlite_header(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(60))
            .foreign_keys(true)
            // Checkpoints run beside the writers (`checkpoint`), not inside their commits.
            .pragma("wal_autocheckpoint", "0")
            // A WAL grown by a burst shrinks back to this when it restarts.
            .pragma("journal_size_limit", (64 << 20).to_string());
        let map_err = |source: sqlx::Error| match is_sqlite_corruption(&source) {
            Some(message) => StoreError::Corrupt { path: display.clone(), message },
            // Removed between the check above and the open: SQLite refuses it (no file is made).
            None if !create && !path.exists() => missing(),
            None => StoreError::Connect { url: display.clone(), source },
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(120))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        // Migrations under the write lock, so that processes opening a fresh file at the same
        // time do not both try to create the schema.
        let migrate = async {
            let mut tx = pool.begin_write().await.map_err(sqlx::migrate::MigrateError::from)?;
            SQLITE_MIGRATOR.run_direct(&mut *tx).await?;
            tx.commit().await.map_err(sqlx::migrate::MigrateError::from)
        };
        if let Err(source) = migrate.await {
            pool.close().await;
            if let sqlx::migrate::MigrateError::Execute(inner) = &source {
                if let Some(message) = is_sqlite_corruption(inner) {
                    return Err(StoreError::Corrupt { path: display, message });
                }
            }
            return Err(StoreError::Migrate { url: display, source });
        }
        let keyring = env_keyring()?;
        let checkpoints = std::sync::Arc::new(crate::checkpoint::Checkpointer::start(pool.clone()));
        Ok(Store { backend: Backend::Sqlite(pool), url: display, keyring, _checkpoints: Some(checkpoints) })
    }

    /// Connects to a PostgreSQL database and brings its schema up to date.
    pub async fn open_postgres(url: &str) -> Result<Store> {
        let shown = redact(url);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(60))
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect { url: shown.clone(), source })?;
        if let Err(source) = POSTGRES_MIGRATOR.run(&pool).await {
            pool.close().await;
            return Err(StoreError::Migrate { url: shown, source });
        }
        Ok(Store { backend: Backend::Postgres(pool), url: shown, keyring: env_keyring()?, _checkpoints: None })
    }

    /// The same store sealing program states and datasets with `keyring` (instead of the keys
    /// in the environment).
    pub fn with_keyring(mut self, keyring: crate::crypto::Keyring) -> Store {
        self.keyring = std::sync::Arc::new(keyring);
        self
    }

    /// The keys this store seals and opens with.
    pub fn keyring(&self) -> &crate::crypto::Keyring {
        &self.keyring
    }

    /// Which engine this store runs on.
    pub fn kind(&self) -> DbKind {
        match self.backend {
            Backend::Sqlite(_) => DbKind::Sqlite,
            Backend::Postgres(_) => DbKind::Postgres,
        }
    }

    /// The database (file path, or URL without password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes every connection (waits for running queries).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// Refreshes the query planner's statistics (`ANALYZE`). PostgreSQL's autovacuum does this on
    /// its own after enough writes; call it after a bulk load to get good plans at once.
    pub async fn analyze(&self) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("ANALYZE").execute(pool).await?;
        });
        Ok(())
    }

    /// Checks the database: SQLite's `PRAGMA integrity_check` and `foreign_key_check` on SQLite,
    /// then on both engines that every program's versions are numbered 1..=n without gaps and
    /// that replaying the alias log gives exactly the alias table. Returns the problems found
    /// (empty when all is well).
    pub async fn check_integrity(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        if let Backend::Sqlite(pool) = &self.backend {
            let rows = sqlx::query("PRAGMA integrity_check").fetch_all(pool).await?;
            for row in rows {
                let line: String = row.try_get(0)?;
                if line != "ok" {
                    problems.push(format!("integrity_check: {line}"));
                }
            }
            let fk = sqlx::query("PRAGMA foreign_key_check").fetch_all(pool).await?;
            if !fk.is_empty() {
                problems.push(format!("foreign_key_check: {} row(s) refer to missing rows", fk.len()));
            }
        }
        problems.extend(self.check_registry_consistency().await?);
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            DatabaseLocation::parse("sqlite://a/b.db").unwrap(),
            DatabaseLocation::SqliteFile(PathBuf::from("a/b.db"))
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:x.db?mode=rwc").unwrap(),
            DatabaseLocation::SqliteFile(PathBuf::from("x.db"))
        );
        assert_eq!(DatabaseLocation::parse("./p.db").unwrap(), DatabaseLocation::SqliteFile(PathBuf::from("./p.db")));
        assert_eq!(
            DatabaseLocation::parse("postgresql://u@h/db").unwrap(),
            DatabaseLocation::Postgres("postgresql://u@h/db".into())
        );
        assert!(DatabaseLocation::parse("mysql://h/db").is_err());
        assert!(DatabaseLocation::parse("").is_err());
        assert!(DatabaseLocation::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("x.db"), "x.db");
    }

    #[test]
    fn header_check_refuses_foreign_files_and_accepts_missing_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.db");
        assert!(check_sqlite_header(&missing).is_ok());
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        assert!(check_sqlite_header(&empty).is_ok());
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"this is not a database at all").unwrap();
        let err = check_sqlite_header(&junk).unwrap_err().to_string();
        assert!(err.contains("junk.db") && err.contains("SQLite header"), "{err}");
    }
}
