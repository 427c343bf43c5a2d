//! [`JobRequest`]: an optimization submitted to the service. Unlike the CLI's
//! [`OptimizeRequest`], it names no local file: the program is a registered version or an
//! inline spec, the data a stored dataset or inline rows. A worker (on any machine) writes
//! them into its job directory and runs the same [`OptimizeRequest`] the CLI would.

use crate::data::DataRequest;
use crate::error::{invalid, io_error, Result};
use crate::optimize::{EnsembleRequest, OptimizeRequest, OptimizerSpec, RegisterRequest, SplitRequest};
use crate::tenant::Tenant;
use promptsmith_optimize::budget::Budget;
use promptsmith_optimize::pareto::{Constraint, Objective};
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
    /// Registered versions of related programs (`NAME@production`, `NAME@3`) whose instructions
    /// and demos seed MIPROv2's candidate pool (matched to this program's predictors by fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warm_start: Vec<String>,
    /// Validation data (default: drawn from `dataset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_dataset: Option<DatasetInput>,
    /// Held-out test data, scored for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_dataset: Option<DatasetInput>,
    /// One optimizer and its settings (give this or `algorithms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerSpec>,
    /// Several optimizers, by name (`miprov2`, `gepa`, …, with their defaults) or with settings,
    /// run in turn under the one budget and rollout cache; the best is kept and all are
    /// reported. Default, without `optimizer` either: `["miprov2", "gepa"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<AlgorithmInput>>,
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
    /// Objectives besides the metric (`score:max`, `tokens:min`, `MEASURE:max|min[:WEIGHT]`):
    /// the run keeps the Pareto front over them and picks its result from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub objectives: Vec<Objective>,
    /// Bounds the picked result must meet (`{"measure": "latency", "max": 200}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Shorthand for a constraint: prompt plus completion tokens per LM call at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_call: Option<f64>,
    /// Ensemble the best candidates (`{"size": 3, "fields": ["answer"]}`): the result is their
    /// majority vote when it scores above the optimizer's own result on the validation set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleRequest>,
    /// Register the result under this name (default: the program's own name when it is a
    /// registered version; nothing for an inline spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<RegisterRequest>,
}

/// A warm start's `NAME@SELECTOR`, with the name in the tenant's namespace.
fn warm_ref(tenant: &Tenant, text: &str) -> Result<String> {
    let Some((name, selector)) = text.rsplit_once('@').filter(|(n, s)| !n.is_empty() && !s.is_empty()) else {
        invalid!("warm_start '{text}': expected a registered version, NAME@VERSION or NAME@ALIAS");
    };
    Ok(format!("{}@{selector}", tenant.qualify(name)?))
}

/// The optimizers a request without `optimizer` and `algorithms` runs.
pub const DEFAULT_ALGORITHMS: [&str; 2] = ["miprov2", "gepa"];

/// One of `algorithms`: an optimizer's name (its defaults) or its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AlgorithmInput {
    /// `labeled`, `bootstrap`, `random_search`, `mipro` (or `miprov2`), `copro`, `gepa`, `evolutionary`.
    Name(String),
    /// `{"name": ..., settings}`, as `optimizer` takes.
    Spec(OptimizerSpec),
}

impl AlgorithmInput {
    fn spec(&self) -> Result<OptimizerSpec> {
        match self {
            AlgorithmInput::Spec(s) => Ok(s.clone()),
            AlgorithmInput::Name(n) => serde_json::from_value(serde_json::json!({ "name": n })).map_err(|_| {
                crate::AppError::invalid(format!(
                    "algorithms: unknown optimizer '{n}'; expected labeled, bootstrap, random_search, mipro \
                     (miprov2), copro, gepa or evolutionary"
                ))
            }),
        }
    }
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
    /// The optimizer the job runs: `optimizer`, or a portfolio of `algorithms` (default
    /// [`DEFAULT_ALGORITHMS`]); a list of one is that optimizer alone.
    pub fn optimizer_spec(&self) -> Result<OptimizerSpec> {
        let algorithms = match (&self.optimizer, &self.algorithms) {
            (Some(_), Some(_)) => invalid!("give `optimizer` or `algorithms`, not both"),
            (Some(o), None) => return Ok(o.clone()),
            (None, Some(list)) => list.iter().map(AlgorithmInput::spec).collect::<Result<Vec<_>>>()?,
            (None, None) => DEFAULT_ALGORITHMS
                .iter()
                .map(|n| AlgorithmInput::Name((*n).into()).spec())
                .collect::<Result<Vec<_>>>()?,
        };
        match <[OptimizerSpec; 1]>::try_from(algorithms) {
            Ok([one]) => Ok(one),
            Err(list) if list.is_empty() => invalid!("algorithms: name at least one optimizer"),
            Err(list) => Ok(OptimizerSpec::Portfolio { algorithms: list }),
        }
    }

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
        let optimizer = self.optimizer_spec()?;
        no_local_files(&optimizer)?;
        if Path::new(&self.metric).extension().is_some() || self.metric.contains('/') {
            invalid!("metric '{}': the service takes a built-in metric id, not a file", self.metric);
        }
        let mut request = OptimizeRequest::new(program, DataRequest::named(data), optimizer);
        request.splits = splits;
        request.metric = self.metric.clone();
        request.field = self.field.clone();
        request.seed = self.seed;
        request.budget = self.budget;
        request.keep_regression = self.keep_regression;
        request.objectives = self.objectives.clone();
        request.constraints = self.constraints.clone();
        request.max_tokens_per_call = self.max_tokens_per_call;
        request.ensemble = self.ensemble.clone();
        request.register = self.register_request(tenant)?;
        request.warm_start = self.warm_start.iter().map(|w| warm_ref(tenant, w)).collect::<Result<_>>()?;
        Ok(request)
    }

    /// Registration: the one asked for, else the registered program's own name.
    fn register_request(&self, tenant: &Tenant) -> Result<Option<RegisterRequest>> {
        let asked = match (&self.register, &self.program) {
            (Some(r), _) => Some(r.clone()),
            (None, ProgramInput::Registered(_)) => {
                Some(RegisterRequest { name: self.program_name(), promotion_margin: 0.05, promote: true, actor: None })
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

/// Refuses settings that name files on the worker's machine (the service takes none).
fn no_local_files(spec: &OptimizerSpec) -> Result<()> {
    if let Some(path) = spec.bootstrap().and_then(|b| b.teacher_state.as_ref()) {
        invalid!(
            "optimizer.bootstrap.teacher_state ({}) names a file; the service takes no file paths",
            path.display()
        );
    }
    match spec {
        OptimizerSpec::Gepa(g) => match &g.stop_file {
            Some(p) => invalid!(
                "optimizer.stop_file ({}) names a file; stop a service job with DELETE /v1/optimizations/{{id}}",
                p.display()
            ),
            None => Ok(()),
        },
        OptimizerSpec::Portfolio { algorithms } => algorithms.iter().try_for_each(no_local_files),
        _ => Ok(()),
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| io_error(format!("cannot write {}", path.display()), &e))?;
    Ok(path.display().to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(extra: Value) -> Result<JobRequest> {
        let mut body = json!({"program": "add@production", "dataset": "ds_1"});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        serde_json::from_value(body).map_err(|e| crate::AppError::invalid(e.to_string()))
    }

    #[test]
    fn without_an_optimizer_a_job_runs_miprov2_then_gepa() {
        let spec = request(json!({})).unwrap().optimizer_spec().unwrap();
        let OptimizerSpec::Portfolio { algorithms } = spec else { panic!("{spec:?}") };
        let ids: Vec<&str> = algorithms.iter().map(OptimizerSpec::id).collect();
        assert_eq!(ids, ["mipro", "gepa"]);
    }

    #[test]
    fn algorithms_take_names_or_settings_and_one_is_that_optimizer_alone() {
        let r = request(json!({"algorithms": ["copro", {"name": "labeled", "k": 3}]})).unwrap();
        let OptimizerSpec::Portfolio { algorithms } = r.optimizer_spec().unwrap() else { panic!() };
        assert_eq!(algorithms[1], OptimizerSpec::Labeled { k: 3 });
        let one = request(json!({"algorithms": ["gepa"]})).unwrap().optimizer_spec().unwrap();
        assert_eq!(one.id(), "gepa");
    }

    #[test]
    fn conflicting_or_unknown_algorithms_are_refused_with_the_reason() {
        let both = request(json!({"optimizer": {"name": "copro"}, "algorithms": ["gepa"]})).unwrap();
        assert!(both.optimizer_spec().unwrap_err().message.contains("not both"));
        let unknown = request(json!({"algorithms": ["simba"]})).unwrap().optimizer_spec().unwrap_err();
        assert!(unknown.message.contains("unknown optimizer 'simba'"), "{}", unknown.message);
        let empty = request(json!({"algorithms": []})).unwrap().optimizer_spec().unwrap_err();
        assert!(empty.message.contains("at least one"), "{}", empty.message);
    }

    #[tokio::test]
    async fn objectives_and_constraints_reach_the_optimize_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).await.unwrap();
        let r = request(json!({"dataset": [{"question": "q", "answer": 1}], "optimizer": {"name": "evolutionary"},
            "objectives": ["score:max", "tokens:min"], "max_tokens_per_call": 400.0,
            "constraints": [{"measure": "latency", "max": 200.0}]}))
        .unwrap();
        let o = r.materialize(&Tenant::default(), &store, dir.path()).await.unwrap();
        assert_eq!(o.objectives.len(), 2);
        assert_eq!((o.constraints.len(), o.max_tokens_per_call), (1, Some(400.0)));
        let bad = request(json!({"objectives": ["speed:max"]}));
        assert!(bad.is_err(), "an unknown measure is refused");
    }
}
