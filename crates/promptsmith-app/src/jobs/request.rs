//! [`JobRequest`]: an optimization submitted to the service. Unlike the CLI's
//! [`OptimizeRequest`], it names no local file: the program is a registered version or an
//! inline spec, the data a stored dataset or inline rows. A worker (on any machine) writes
//! them into its job directory and runs the same [`OptimizeRequest`] the CLI would.

use crate::data::DataRequest;
use crate::error::{invalid, io_error, Result};
use crate::optimize::{OptimizeRequest, OptimizerSpec, RegisterRequest, SplitRequest};
use crate::tenant::Tenant;
use promptsmith_optimize::budget::Budget;
use promptsmith_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;

/// An optimization job as the service receives it (the body of `POST /v1/optimizations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// A registered version (`NAME@production`, `NAME@3`) or an inline program spec.
    pub program: ProgramInput,
    /// A stored dataset id (`ds_…`) or inline rows.
    pub dataset: DatasetInput,
    /// Validation data (default: drawn from `dataset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_dataset: Option<DatasetInput>,
    /// Held-out test data, scored for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_dataset: Option<DatasetInput>,
    /// The optimizer and its settings (default MIPROv2 light).
    #[serde(default = "default_optimizer")]
    pub optimizer: OptimizerSpec,
    /// A built-in metric id.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The output field the metric compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seed of every random choice.
    #[serde(default)]
    pub seed: u64,
    /// Caps on calls, tokens, cost and time.
    #[serde(default)]
    pub budget: Budget,
    /// Examples used from each split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_size: Option<usize>,
    /// Validation examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_size: Option<usize>,
    /// Test examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_size: Option<usize>,
    /// Keep the result even when it scores below the program as written.
    #[serde(default)]
    pub keep_regression: bool,
    /// Register the result under this name (default: the program's own name when it is a
    /// registered version; nothing for an inline spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<RegisterRequest>,
}

fn default_optimizer() -> OptimizerSpec {
    OptimizerSpec::Mipro(crate::optimize::MiproSpec::default())
}

fn default_metric() -> String {
    "exact_match".into()
}

/// A program: registered (`NAME@SELECTOR`) or an inline spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ProgramInput {
    /// `NAME@production`, `NAME@3`, `NAME@latest`.
    Registered(String),
    /// A program spec, as in a spec file.
    Inline(Map<String, Value>),
}

/// Data: a stored dataset or inline rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DatasetInput {
    /// A dataset id from `POST /v1/datasets`.
    Stored(String),
    /// Rows, one JSON object each.
    Rows(Vec<Map<String, Value>>),
}

impl JobRequest {
    /// The program's name (for listing): the registered name or the inline spec's `name`.
    pub fn program_name(&self) -> String {
        match &self.program {
            ProgramInput::Registered(r) => r.split('@').next().unwrap_or(r).to_string(),
            ProgramInput::Inline(spec) => spec.get("name").and_then(Value::as_str).unwrap_or("program").to_string(),
        }
    }

    /// Writes the inline program and the data into `dir` and returns the [`OptimizeRequest`]
    /// that runs this job there, with registry names qualified by `tenant`.
    pub async fn materialize(&self, tenant: &Tenant, store: &Store, dir: &Path) -> Result<OptimizeRequest> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(format!("cannot create {}", dir.display()), &e))?;
        let program = match &self.program {
            ProgramInput::Registered(r) => {
                if !r.contains('@') {
                    invalid!("program: '{r}' names no version; use NAME@production, NAME@3 or an inline spec object");
                }
                tenant.qualify(r)?
            }
            ProgramInput::Inline(spec) => write_file(dir, "program.json", &Value::Object(spec.clone()).to_string())?,
        };
        let data = self.dataset.materialize(tenant, store, dir, "train").await?;
        let mut splits = SplitRequest {
            train_size: self.train_size,
            val_size: self.val_size,
            test_size: self.test_size,
            ..SplitRequest::default()
        };
        if let Some(v) = &self.val_dataset {
            splits.val_data = Some(v.materialize(tenant, store, dir, "val").await?);
        }
        if let Some(t) = &self.test_dataset {
            splits.test_data = Some(t.materialize(tenant, store, dir, "test").await?);
        }
        if let Some(path) = teacher_state(&self.optimizer) {
            invalid!("optimizer.bootstrap.teacher_state ({}) names a file; the service takes no file paths", path);
        }
        if let OptimizerSpec::Gepa(g) = &self.optimizer {
            if let Some(p) = &g.stop_file {
                invalid!(
                    "optimizer.stop_file ({}) names a file; stop a service job with DELETE /v1/optimizations/{{id}}",
                    p.display()
                );
            }
        }
        if Path::new(&self.metric).extension().is_some() || self.metric.contains('/') {
            invalid!("metric '{}': the service takes a built-in metric id, not a file", self.metric);
        }
        let mut request = OptimizeRequest::new(program, DataRequest::named(data), self.optimizer.clone());
        request.splits = splits;
        request.metric = self.metric.clone();
        request.field = self.field.clone();
        request.seed = self.seed;
        request.budget = self.budget;
        request.keep_regression = self.keep_regression;
        request.register = self.register_request(tenant)?;
        Ok(request)
    }

    /// Registration: the one asked for, else the registered program's own name.
    fn register_request(&self, tenant: &Tenant) -> Result<Option<RegisterRequest>> {
        let asked = match (&self.register, &self.program) {
            (Some(r), _) => Some(r.clone()),
            (None, ProgramInput::Registered(_)) => {
                Some(RegisterRequest { name: self.program_name(), promotion_margin: 0.05 })
            }
            (None, ProgramInput::Inline(_)) => None,
        };
        asked
            .map(|mut r| {
                r.name = tenant.qualify(&r.name)?;
                Ok(r)
            })
            .transpose()
    }
}

impl DatasetInput {
    /// Writes the data into `dir` as `<stem>.<format>`; returns the file's path.
    async fn materialize(&self, tenant: &Tenant, store: &Store, dir: &Path, stem: &str) -> Result<String> {
        match self {
            DatasetInput::Rows(rows) => {
                if rows.is_empty() {
                    invalid!("{stem} dataset: no rows");
                }
                let text: String = rows.iter().map(|r| Value::Object(r.clone()).to_string() + "\n").collect();
                write_file(dir, &format!("{stem}.jsonl"), &text)
            }
            DatasetInput::Stored(id) => {
                let info = tenant.dataset(store, id).await?;
                let content = crate::datasets::read_content(store, &info).await?;
                write_file(dir, &format!("{stem}.{}", info.format), &content)
            }
        }
    }
}

fn teacher_state(spec: &OptimizerSpec) -> Option<String> {
    let bootstrap = match spec {
        OptimizerSpec::Bootstrap(b) | OptimizerSpec::RandomSearch { bootstrap: b, .. } => b,
        OptimizerSpec::Mipro(m) => &m.bootstrap,
        _ => return None,
    };
    bootstrap.teacher_state.as_ref().map(|p| p.display().to_string())
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| io_error(format!("cannot write {}", path.display()), &e))?;
    Ok(path.display().to_string())
}
