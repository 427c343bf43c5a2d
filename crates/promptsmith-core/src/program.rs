//! Multi-step programs: named predictors run in steps, each step's inputs taken from
//! the example or from earlier steps' outputs. Built in Rust with [`ProgramBuilder`]
//! or loaded from a spec file (see [`crate::spec`]).

use crate::ensemble::Ensemble;
use crate::error::PredictError;
use crate::example::{Example, Prediction, TraceStep};
use crate::lm::LanguageModel;
use crate::module::Module;
use crate::predict::Predictor;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A field of the example.
    Example(String),
    /// An output of an earlier step, by predictor name.
    Step {
        /// Predictor name.
        predictor: String,
        /// Output field.
        field: String,
    },
}

impl Source {
    /// Parses `predictor.field`, `example.field` / `input.field`, or a bare example field.
    pub fn parse(text: &str) -> Source {
        match text.split_once('.') {
            Some(("example" | "input" | "inputs", field)) => Source::Example(field.to_string()),
            Some((predictor, field)) => Source::Step { predictor: predictor.to_string(), field: field.to_string() },
            None => Source::Example(text.to_string()),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Example(field) => write!(f, "example.{field}"),
            Source::Step { predictor, field } => write!(f, "{predictor}.{field}"),
        }
    }
}

/// One step: run a predictor with inputs wired from sources.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Predictor name.
    pub predictor: String,
    /// Input field -> source.
    pub inputs: Vec<(String, Source)>,
}

/// A program: predictors, steps and the outputs it returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Program name.
    pub name: String,
    /// Predictors, in declaration order.
    pub predictors: Vec<Predictor>,
    /// Steps, in run order.
    pub steps: Vec<Step>,
    /// Output name -> source.
    pub outputs: Vec<(String, Source)>,
    /// When set, the program runs once per member state and reduces the predictions.
    pub ensemble: Option<Ensemble>,
}

/// A wiring mistake found when building a program.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct WiringError {
    /// Where (e.g. `steps[1].inputs.draft`).
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl Program {
    /// A one-predictor program: inputs from the example fields of the same names, outputs
    /// the predictor's outputs.
    pub fn single(predictor: Predictor) -> Program {
        let name = predictor.name.clone();
        let inputs =
            predictor.signature.inputs.iter().map(|f| (f.name.clone(), Source::Example(f.name.clone()))).collect();
        let outputs = predictor
            .effective_signature()
            .outputs
            .iter()
            .map(|f| (f.name.clone(), Source::Step { predictor: name.clone(), field: f.name.clone() }))
            .collect();
        Program {
            name: name.clone(),
            predictors: vec![predictor],
            steps: vec![Step { predictor: name, inputs }],
            outputs,
            ensemble: None,
        }
    }

    /// A predictor by name.
    pub fn predictor(&self, name: &str) -> Option<&Predictor> {
        self.predictors.iter().find(|p| p.name == name)
    }

    /// A mutable predictor by name.
    pub fn predictor_mut(&mut self, name: &str) -> Option<&mut Predictor> {
        self.predictors.iter_mut().find(|p| p.name == name)
    }

    /// Example fields the program reads.
    pub fn input_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.steps {
            for (_, src) in &s.inputs {
                if let Source::Example(f) = src {
                    if !out.contains(f) {
                        out.push(f.clone());
                    }
                }
            }
        }
        out
    }

    /// Names of the outputs the program returns.
    pub fn output_fields(&self) -> Vec<String> {
        self.outputs.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Stable hash of the program's structure and current state (for manifests).
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        for p in &self.predictors {
            h.update(format!("{:?}|{}|{:?}|{:?}", p.kind, p.name, p.adapter, p.options).as_bytes());
            h.update(serde_json::to_string(&p.signature).unwrap_or_default().as_bytes());
            h.update(serde_json::to_string(&p.demos).unwrap_or_default().as_bytes());
            // Only what a program has, so unwrapped programs keep their hashes.
            if let Some(w) = &p.wrap {
                h.update(serde_json::to_string(w).unwrap_or_default().as_bytes());
            }
            if !p.constraints.is_empty() {
                h.update(p.constraints.fingerprint().as_bytes());
            }
            if let Some(r) = &p.reward {
                h.update(format!("reward:{}", r.0.name()).as_bytes());
            }
        }
        if let Some(e) = &self.ensemble {
            h.update(e.fingerprint().as_bytes());
        }
        for s in &self.steps {
            h.update(format!("{}{:?}", s.predictor, s.inputs).as_bytes());
        }
        h.update(format!("{:?}", self.outputs).as_bytes());
        hex::encode(h.finalize())
    }

    /// The model calls one run on one example makes at most when every answer parses (for
    /// planned budgets): each step's [`Predictor::planned_calls`], times the members of an
    /// ensemble, plus one call per member when a judge picks among them.
    pub fn planned_calls_per_run(&self) -> u64 {
        let one: u64 =
            self.steps.iter().map(|s| self.predictor(&s.predictor).map_or(1, |p| u64::from(p.planned_calls()))).sum();
        let one = one.max(1);
        match &self.ensemble {
            None => one,
            Some(e) => {
                let members = e.members.len().max(1) as u64;
                let judge = if matches!(e.reducer, crate::ensemble::Reducer::Best(_)) { members } else { 0 };
                one.saturating_mul(members).saturating_add(judge)
            }
        }
    }

    /// Checks the wiring: steps name known predictors, inputs come from the example or
    /// from earlier steps' outputs, outputs come from steps that ran.
    pub fn validate(&self) -> Result<(), WiringError> {
        let err = |location: String, message: String| Err(WiringError { location, message });
        if self.predictors.is_empty() {
            return err("predictors".into(), "a program needs at least one predictor".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.predictors.iter().enumerate() {
            if !seen.insert(p.name.as_str()) {
                return err(format!("predictors[{i}].name"), format!("predictor name '{}' is used twice", p.name));
            }
        }
        let mut done: Vec<&str> = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let Some(pred) = self.predictor(&step.predictor) else {
                return err(
                    format!("steps[{i}].predictor"),
                    format!("unknown predictor '{}' (known: {})", step.predictor, self.predictor_names().join(", ")),
                );
            };
            for f in &pred.signature.inputs {
                if !step.inputs.iter().any(|(n, _)| n == &f.name) {
                    return err(
                        format!("steps[{i}].inputs"),
                        format!("no source for input field '{}' of '{}'", f.name, pred.name),
                    );
                }
            }
            for (field, src) in &step.inputs {
                if pred.signature.inputs.iter().all(|f| &f.name != field) {
                    return err(
                        format!("steps[{i}].inputs.{field}"),
                        format!(
                            "'{}' has no input field '{field}' (inputs: {})",
                            pred.name,
                            names(&pred.signature.inputs)
                        ),
                    );
                }
                self.check_source(src, &done, &format!("steps[{i}].inputs.{field}"))?;
            }
            done.push(&step.predictor);
        }
        if self.outputs.is_empty() {
            return err("outputs".into(), "a program needs at least one output".into());
        }
        for (name, src) in &self.outputs {
            self.check_source(src, &done, &format!("outputs.{name}"))?;
        }
        Ok(())
    }

    fn predictor_names(&self) -> Vec<String> {
        self.predictors.iter().map(|p| p.name.clone()).collect()
    }

    fn check_source(&self, src: &Source, done: &[&str], location: &str) -> Result<(), WiringError> {
        if let Source::Step { predictor, field } = src {
            let Some(p) = self.predictor(predictor) else {
                return Err(WiringError {
                    location: location.into(),
                    message: format!(
                        "'{src}' names unknown predictor '{predictor}' (known: {})",
                        self.predictor_names().join(", ")
                    ),
                });
            };
            if !done.contains(&predictor.as_str()) {
                return Err(WiringError {
                    location: location.into(),
                    message: format!("'{src}' reads predictor '{predictor}' before it has run"),
                });
            }
            let sig = p.effective_signature();
            if sig.outputs.iter().all(|f| &f.name != field) {
                return Err(WiringError {
                    location: location.into(),
                    message: format!(
                        "predictor '{predictor}' has no output field '{field}' (outputs: {})",
                        names(&sig.outputs)
                    ),
                });
            }
        }
        Ok(())
    }
}

fn names(fields: &[crate::signature::Field]) -> String {
    fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
}

fn resolve(src: &Source, example: &Example, results: &Map<String, Value>) -> Option<Value> {
    match src {
        Source::Example(f) => example.get(f).cloned(),
        Source::Step { predictor, field } => results.get(predictor).and_then(|o| o.get(field)).cloned(),
    }
}

#[async_trait]
impl Module for Program {
    async fn forward(&self, lm: &dyn LanguageModel, example: &Example) -> Result<Prediction, PredictError> {
        match &self.ensemble {
            Some(e) => crate::ensemble::forward(self, e, lm, example).await,
            None => self.run_steps(lm, example).await,
        }
    }
}

impl Program {
    /// Runs the steps in order.
    async fn run_steps(&self, lm: &dyn LanguageModel, example: &Example) -> Result<Prediction, PredictError> {
        let mut results: Map<String, Value> = Map::new();
        let mut pred = Prediction::default();
        for step in &self.steps {
            let predictor = self
                .predictor(&step.predictor)
                .ok_or_else(|| PredictError::Program(format!("unknown predictor '{}'", step.predictor)))?;
            let mut inputs = Map::new();
            for (field, src) in &step.inputs {
                match resolve(src, example, &results) {
                    Some(v) => {
                        inputs.insert(field.clone(), v);
                    }
                    None => {
                        let missing = match src {
                            Source::Example(f) => f.clone(),
                            other => other.to_string(),
                        };
                        return Err(PredictError::MissingInput { predictor: predictor.name.clone(), field: missing });
                    }
                }
            }
            // A failure reports what the whole run spent, not only the failing step.
            let (outputs, usage, calls) =
                predictor.call(lm, &inputs).await.map_err(|e| e.with_earlier_spend(pred.usage, pred.lm_calls))?;
            pred.usage += usage;
            pred.lm_calls += calls;
            pred.trace.push(TraceStep { predictor: predictor.name.clone(), inputs, outputs: outputs.clone() });
            results.insert(predictor.name.clone(), Value::Object(outputs));
        }
        for (name, src) in &self.outputs {
            if let Some(v) = resolve(src, example, &results) {
                pred.fields.insert(name.clone(), v);
            }
        }
        Ok(pred)
    }
}

/// Composes programs in Rust code.
#[derive(Debug, Clone)]
pub struct ProgramBuilder {
    name: String,
    predictors: Vec<Predictor>,
    steps: Vec<(String, Vec<(String, Source)>)>,
    outputs: Vec<(String, Source)>,
}

impl ProgramBuilder {
    /// Starts a program.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_string(), predictors: Vec::new(), steps: Vec::new(), outputs: Vec::new() }
    }

    /// Adds a predictor.
    pub fn predictor(mut self, predictor: Predictor) -> Self {
        self.predictors.push(predictor);
        self
    }

    /// Adds a step running `predictor`, with explicit `(input field, source)` wiring;
    /// unlisted inputs come from the latest earlier step that outputs a field of that
    /// name, else from the example field of that name.
    pub fn step(mut self, predictor: &str, inputs: &[(&str, &str)]) -> Self {
        let wiring = inputs.iter().map(|(f, s)| (f.to_string(), Source::parse(s))).collect();
        self.steps.push((predictor.to_string(), wiring));
        self
    }

    /// Adds a program output.
    pub fn output(mut self, name: &str, source: &str) -> Self {
        self.outputs.push((name.to_string(), Source::parse(source)));
        self
    }

    /// Fills default wiring, validates and returns the program.
    pub fn build(self) -> Result<Program, WiringError> {
        let mut steps_in = self.steps;
        if steps_in.is_empty() {
            steps_in = self.predictors.iter().map(|p| (p.name.clone(), Vec::new())).collect();
        }
        let mut steps = Vec::new();
        for (predictor, mut wiring) in steps_in {
            if let Some(p) = self.predictors.iter().find(|p| p.name == predictor) {
                for f in &p.signature.inputs {
                    if wiring.iter().any(|(n, _)| n == &f.name) {
                        continue;
                    }
                    let from_step = steps.iter().rev().find_map(|s: &Step| {
                        let sp = self.predictors.iter().find(|x| x.name == s.predictor)?;
                        sp.effective_signature()
                            .outputs
                            .iter()
                            .any(|o| o.name == f.name)
                            .then(|| Source::Step { predictor: sp.name.clone(), field: f.name.clone() })
                    });
                    wiring.push((f.name.clone(), from_step.unwrap_or_else(|| Source::Example(f.name.clone()))));
                }
            }
            steps.push(Step { predictor, inputs: wiring });
        }
        let mut outputs = self.outputs;
        if outputs.is_empty() {
            if let Some(last) = steps.last() {
                if let Some(p) = self.predictors.iter().find(|p| p.name == last.predictor) {
                    outputs = p
                        .effective_signature()
                        .outputs
                        .iter()
                        .map(|f| (f.name.clone(), Source::Step { predictor: p.name.clone(), field: f.name.clone() }))
                        .collect();
                }
            }
        }
        let program = Program { name: self.name, predictors: self.predictors, steps, outputs, ensemble: None };
        program.validate()?;
        Ok(program)
    }
}
