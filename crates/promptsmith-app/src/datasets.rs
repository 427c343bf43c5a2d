//! Uploaded datasets: a body in JSONL, CSV or JSON, checked by the same loader as a data file
//! on the command line (so errors name the line and field), then stored for the tenant.

use crate::error::{invalid, io_error, AppError, Result};
use crate::tenant::Tenant;
use promptsmith_eval::dataset::DataFormat;
use promptsmith_eval::Dataset;
use promptsmith_store::{DatasetInfo, NewDataset, Store};
use std::collections::BTreeSet;

/// Largest dataset accepted, in bytes.
pub const MAX_DATASET_BYTES: usize = 64 << 20;

/// A dataset to upload.
#[derive(Debug, Clone)]
pub struct DatasetUpload {
    /// A name for people.
    pub name: String,
    /// `jsonl`, `csv` or `json`.
    pub format: String,
    /// The content.
    pub content: String,
}

/// Checks and stores `upload` for `tenant`; returns its description.
pub async fn upload(store: &Store, tenant: &Tenant, upload: &DatasetUpload) -> Result<DatasetInfo> {
    if upload.content.len() > MAX_DATASET_BYTES {
        return Err(AppError::new(
            promptsmith_core::ErrorKind::LimitExceeded,
            format!(
                "dataset '{}': {} bytes is over the {MAX_DATASET_BYTES}-byte limit",
                upload.name,
                upload.content.len()
            ),
        ));
    }
    let format = upload.format.to_ascii_lowercase();
    if DataFormat::from_name(&format).is_none() || !["jsonl", "csv", "json"].contains(&format.as_str()) {
        invalid!("format '{}': expected jsonl, csv or json", upload.format);
    }
    let (rows, columns) = check(&upload.name, &format, &upload.content)?;
    let new = NewDataset {
        id: crate::ids::new_id("ds"),
        tenant: tenant.name().to_string(),
        name: upload.name.clone(),
        format,
        rows: rows as i64,
        columns,
        content: upload.content.clone(),
        sha256: promptsmith_eval::dataset::sha256_hex(upload.content.as_bytes()),
    };
    Ok(store.insert_dataset(&new).await?)
}

/// A stored dataset's content in plain text.
pub async fn read_content(store: &Store, info: &DatasetInfo) -> Result<String> {
    Ok(store.dataset_content(&info.id).await?)
}

/// Loads the content as the CLI loads a data file: rows and sorted column names, or the
/// loader's error (with line and field) under the dataset's name.
fn check(name: &str, format: &str, content: &str) -> Result<(usize, Vec<String>)> {
    let rows = load_rows(name, format, content)?;
    let columns: BTreeSet<String> = rows.iter().flat_map(|r| r.keys().cloned()).collect();
    Ok((rows.len(), columns.into_iter().collect()))
}

/// The rows of content in `format`, loaded as the CLI loads a data file.
fn load_rows(name: &str, format: &str, content: &str) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let dir = tempfile_dir()?;
    let path = dir.join(format!("{}.{format}", sanitize(name)));
    std::fs::write(&path, content).map_err(|e| io_error(format!("cannot write {}", path.display()), &e))?;
    let loaded = Dataset::load(&path, &[]);
    let _ = std::fs::remove_dir_all(&dir);
    let dataset = loaded.map_err(|e| {
        let text = e.to_string().replace(&path.display().to_string(), &format!("dataset '{name}'"));
        AppError::invalid(text)
    })?;
    if dataset.is_empty() {
        invalid!("dataset '{name}': no rows");
    }
    Ok(dataset.iter().map(|ex| ex.fields.clone()).collect())
}

/// The rows of stored dataset `id`.
pub async fn stored_rows(store: &Store, id: &str) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let info = store.dataset_info(id).await?;
    let content = read_content(store, &info).await?;
    load_rows(&info.name, &info.format, &content)
}

fn sanitize(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(64).collect();
    if s.is_empty() {
        "data".into()
    } else {
        s
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(crate::ids::new_id("promptsmith-upload"));
    std::fs::create_dir_all(&dir).map_err(|e| io_error(format!("cannot create {}", dir.display()), &e))?;
    Ok(dir)
}
