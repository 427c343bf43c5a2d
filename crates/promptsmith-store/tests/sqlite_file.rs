//! SQLite-only behaviour: the file is created with WAL journaling, and a file that is not a
//! usable database is refused with an error naming it, and left byte-for-byte as it was.
#![allow(clippy::unwrap_used)]

use promptsmith_store::{Store, StoreError};

#[tokio::test]
async fn creates_the_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(store.kind(), promptsmith_store::DbKind::Sqlite);
    assert!(path.exists());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
    assert_eq!(mode, "wal");
    assert!(store.check_integrity().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_foreign_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let content = b"these are my notes, not a database\n".repeat(100);
    std::fs::write(&path, &content).unwrap();
    let err = Store::open(&format!("sqlite://{}", path.display())).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("notes.db") && text.contains("left untouched"), "{text}");
    assert_eq!(std::fs::read(&path).unwrap(), content);
    assert!(!dir.path().join("notes.db-wal").exists());
}

#[tokio::test]
async fn a_database_with_a_corrupt_body_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = Store::open(path.to_str().unwrap()).await.unwrap();
        store.close().await;
    }
    // Keep SQLite's header, overwrite everything after the first 100 bytes with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(100) {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("store.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("store.db-shm"));
    let err = Store::open(path.to_str().unwrap()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("store.db"), "{text}");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[tokio::test]
async fn an_unsupported_url_is_a_clear_error() {
    let err = Store::open("mysql://localhost/x").await.unwrap_err();
    assert!(err.to_string().contains("unsupported scheme"), "{err}");
}

#[tokio::test]
async fn open_existing_creates_nothing_and_opens_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.db");
    let err = Store::open_existing(path.to_str().unwrap()).await.unwrap_err();
    assert!(err.is_missing(), "{err:?}");
    assert_eq!(err.to_string(), format!("no store at {} (nothing has been recorded yet)", path.display()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no database, -wal or -shm file was made");

    // Once something created it, the same call opens it (and sees what was written).
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    store.close().await;
    let store = Store::open_existing(&format!("sqlite://{}", path.display())).await.unwrap();
    assert!(store.list_programs().await.unwrap().is_empty());
    assert!(store.check_integrity().await.unwrap().is_empty());
    store.close().await;
}
