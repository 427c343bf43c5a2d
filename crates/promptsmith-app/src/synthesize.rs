//! [`SynthesizeService`]: labelled examples written by an LM from a handful of seeds, so that an
//! optimization can start before real data exists (`promptsmith data synthesize`).
//!
//! Each call shows a few seeds, asks for a small batch of new rows with a difficulty and a
//! variation of its own (and, for one enum label, the labels to use, least-used first, so that
//! classes stay balanced), and every row it returns is checked: the program's fields with valid
//! typed values, no copy or near-copy of a seed or of a kept row (word-pair Jaccard), and a
//! label-free quality score (the heuristic scorer's parts for judge and rubric rows). Calls run
//! in rounds of the model's concurrency and are read in order, so a seed gives the same data.

mod fields;
mod filter;
mod prompt;

use crate::data::DataRequest;
use crate::error::{invalid, AppError, Result};
use crate::program::{self, ProgramSource, StoreTarget};
use fields::{check_seeds, data_fields, DataField};
use filter::{admit, Seen};
use futures::future::join_all;
use promptsmith_core::signature::FieldType;
use promptsmith_core::{value_to_text, ChatRequest, Example, LanguageModel, Program, Usage};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Dropped rows listed in the report, at most.
const DROPS_LISTED: usize = 20;

/// One synthesis job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthesizeRequest {
    /// A program spec file, or `NAME@VERSION|ALIAS` in the registry.
    pub program: String,
    /// The seed examples and their column mapping.
    pub seeds: DataRequest,
    /// Examples wanted.
    pub n: usize,
    /// Examples asked for per call.
    #[serde(default = "default_per_call")]
    pub per_call: usize,
    /// Seeds shown in each call.
    #[serde(default = "default_shown")]
    pub seeds_shown: usize,
    /// Most calls made (default: three times the calls `n` needs, plus two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<usize>,
    /// Seed of the choices and of the model's sampling.
    #[serde(default)]
    pub seed: u64,
    /// Sampling temperature.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Rows whose inputs are at least this similar to an earlier row's are near-duplicates.
    #[serde(default = "default_similarity")]
    pub max_similarity: f64,
    /// Rows scoring below this on the quality heuristic are dropped.
    #[serde(default = "default_quality")]
    pub min_quality: f64,
}

fn default_per_call() -> usize {
    5
}
fn default_shown() -> usize {
    3
}
fn default_temperature() -> f32 {
    0.9
}
fn default_similarity() -> f64 {
    0.7
}
fn default_quality() -> f64 {
    0.75
}

impl SynthesizeRequest {
    /// A request with the defaults.
    pub fn new(program: impl Into<String>, seeds: DataRequest, n: usize) -> Self {
        Self {
            program: program.into(),
            seeds,
            n,
            per_call: default_per_call(),
            seeds_shown: default_shown(),
            max_calls: None,
            seed: 0,
            temperature: default_temperature(),
            max_similarity: default_similarity(),
            min_quality: default_quality(),
        }
    }

    fn calls_allowed(&self) -> usize {
        self.max_calls.unwrap_or(3 * self.n.div_ceil(self.per_call) + 2)
    }

    fn check(&self) -> Result<()> {
        if self.n == 0 {
            invalid!("--n 0: ask for at least one example");
        }
        if self.per_call == 0 || self.per_call > 50 {
            invalid!("--per-call {}: expected 1 to 50 examples per call", self.per_call);
        }
        if self.seeds_shown == 0 {
            invalid!("--seeds-shown 0: show at least one seed per call");
        }
        if self.max_calls == Some(0) {
            invalid!("--max-calls 0: allow at least one call");
        }
        if !(0.0..=1.0).contains(&self.max_similarity) || !(0.0..=1.0).contains(&self.min_quality) {
            invalid!("--max-similarity and --min-quality are shares between 0 and 1");
        }
        Ok(())
    }
}

/// A dropped row and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedRow {
    /// The call that wrote it (0-based).
    pub call: usize,
    /// The reason's key (`near_duplicate`, `invalid_value`, ...).
    pub reason: String,
    /// The reason in words.
    pub detail: String,
    /// The row as the model wrote it.
    pub row: Value,
}

/// What a synthesis did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SynthesisReport {
    /// Examples asked for.
    pub requested: usize,
    /// Rows the model wrote (in answers that parsed).
    pub generated: usize,
    /// Rows kept.
    pub kept: usize,
    /// Rows written after `requested` were kept (not checked, not kept).
    pub surplus: usize,
    /// Dropped rows by reason.
    pub dropped: BTreeMap<String, usize>,
    /// The first dropped rows, with their reasons.
    pub dropped_examples: Vec<DroppedRow>,
    /// Answers with no readable rows.
    pub unreadable_answers: usize,
    /// LM calls made.
    pub calls: usize,
    /// Failed LM calls (after the client's retries).
    pub failed_calls: usize,
    /// Tokens spent.
    pub usage: Usage,
    /// Why it ended before `requested` rows were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Kept rows per label, for a program with one enum label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, usize>,
}

/// The kept rows and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthesis {
    /// Kept rows, in the order they were written.
    pub rows: Vec<Map<String, Value>>,
    /// What happened.
    pub report: SynthesisReport,
}

impl Synthesis {
    /// Writes the rows as JSONL.
    pub fn write_jsonl(&self, path: &Path) -> Result<()> {
        let fail = |e: std::io::Error| AppError::invalid(format!("--out {}: cannot write: {e}", path.display()));
        let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(fail)?);
        for row in &self.rows {
            writeln!(file, "{}", Value::Object(row.clone())).map_err(fail)?;
        }
        file.flush().map_err(fail)
    }
}

/// A synthesis with its program, fields and seeds checked.
#[derive(Debug)]
pub struct PreparedSynthesis {
    request: SynthesizeRequest,
    task: String,
    fields: Vec<DataField>,
    seeds: Vec<Map<String, Value>>,
}

impl PreparedSynthesis {
    /// Seeds loaded.
    pub fn seed_count(&self) -> usize {
        self.seeds.len()
    }

    /// The rows' field names, inputs first.
    pub fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.field.name.clone()).collect()
    }

    /// Calls the run may make.
    pub fn max_calls(&self) -> usize {
        self.request.calls_allowed()
    }
}

/// Generates datasets; programs named in the registry are read from `store`.
#[derive(Debug, Clone, Default)]
pub struct SynthesizeService {
    store: StoreTarget,
}

impl SynthesizeService {
    /// A service reading registered programs from `store`.
    pub fn new(store: StoreTarget) -> Self {
        Self { store }
    }

    /// Loads and checks the program and the seeds, before any model call.
    pub async fn prepare(&self, request: SynthesizeRequest) -> Result<PreparedSynthesis> {
        request.check()?;
        let source = ProgramSource::parse(&request.program);
        let program = program::load(&source, None, &self.store).await?;
        let loaded =
            request.seeds.load_for_program(&program::sample_dirs(&source), &program.input_fields(), None, None)?;
        let seeds: Vec<Example> = loaded.dataset.examples().to_vec();
        let name = &request.seeds.data;
        let fields = data_fields(&program, &seeds, name)?;
        check_seeds(&fields, &seeds, name)?;
        let seeds = seeds.iter().map(|s| project(s, &fields)).collect();
        Ok(PreparedSynthesis { task: task_of(&program), request, fields, seeds })
    }

    /// Generates until `n` rows are kept or the calls run out; calls go `concurrency` at a time.
    pub async fn run(
        &self,
        p: PreparedSynthesis,
        lm: &dyn LanguageModel,
        concurrency: usize,
        progress: &(dyn Fn(&SynthesisReport) + Send + Sync),
    ) -> Result<Synthesis> {
        let mut run = Run::new(&p);
        let allowed = p.request.calls_allowed();
        while run.rows.len() < p.request.n && run.report.calls < allowed {
            let wanted = p.request.n - run.rows.len();
            let batch = concurrency.max(1).min(allowed - run.report.calls).min(wanted.div_ceil(p.request.per_call));
            run.planned.clear();
            let asks: Vec<prompt::Ask> = (0..batch).map(|i| run.ask(&p, run.report.calls + i)).collect();
            let answers = join_all(asks.iter().map(|ask| call(lm, &p, ask))).await;
            for (ask, answer) in asks.iter().zip(answers) {
                run.read(&p, ask.call, answer);
            }
            progress(&run.report);
            if run.report.failed_calls == run.report.calls {
                return Err(AppError::unavailable(format!(
                    "every LM call failed; the last error: {}",
                    run.last_error.clone().unwrap_or_default()
                )));
            }
        }
        run.rows.truncate(p.request.n);
        run.report.kept = run.rows.len();
        if run.report.kept < p.request.n {
            run.report.stopped = Some(format!("{allowed} calls made (--max-calls) with {} rows kept", run.report.kept));
        }
        Ok(Synthesis { rows: run.rows, report: run.report })
    }
}

/// The task in words: the instructions of the program's predictors.
fn task_of(program: &Program) -> String {
    let parts: Vec<String> = program.predictors.iter().map(|p| p.effective_signature().instruction()).collect();
    parts.join(" Then: ")
}

/// A seed's fields, in the rows' order.
fn project(seed: &Example, fields: &[DataField]) -> Map<String, Value> {
    fields.iter().filter_map(|f| seed.get(&f.field.name).map(|v| (f.field.name.clone(), v.clone()))).collect()
}

/// The one enum label's field, when the rows have exactly one label and it is an enum.
fn enum_label(fields: &[DataField]) -> Option<(&str, &[String])> {
    let labels: Vec<&DataField> = fields.iter().filter(|f| !f.input).collect();
    match labels.as_slice() {
        [f] => match &f.field.ty {
            FieldType::Enum(values) => Some((f.field.name.as_str(), values.as_slice())),
            _ => None,
        },
        _ => None,
    }
}

/// One call's answer text and usage.
async fn call(
    lm: &dyn LanguageModel,
    p: &PreparedSynthesis,
    ask: &prompt::Ask,
) -> std::result::Result<(String, Usage), String> {
    let mut req = ChatRequest::new(prompt::messages(&p.task, &p.fields, ask));
    req.temperature = Some(p.request.temperature);
    req.seed = Some(p.request.seed.wrapping_add(ask.call as u64));
    req.rollout_id = Some(ask.call as u64);
    req.max_tokens = Some((ask.count as u32).saturating_mul(200).clamp(256, 4096));
    let response = lm.chat(&req).await.map_err(|e| e.to_string())?;
    let text = response.choices.first().map(|c| c.text.clone()).unwrap_or_default();
    Ok((text, response.usage))
}

/// A synthesis in progress.
struct Run {
    rng: ChaCha8Rng,
    seen: Seen,
    rows: Vec<Map<String, Value>>,
    report: SynthesisReport,
    last_error: Option<String>,
    /// Labels asked for by the calls of the current round, not yet read.
    planned: BTreeMap<String, usize>,
}

impl Run {
    fn new(p: &PreparedSynthesis) -> Self {
        let mut seen = Seen::default();
        for seed in &p.seeds {
            seen.add_seed(&input_texts(seed, &p.fields));
        }
        let report = SynthesisReport { requested: p.request.n, ..SynthesisReport::default() };
        let rng = ChaCha8Rng::seed_from_u64(p.request.seed);
        Run { rng, seen, rows: Vec::new(), report, last_error: None, planned: BTreeMap::new() }
    }

    /// What call `call` asks for: random seeds, and the least-used labels of an enum label
    /// (counting those kept and those asked for earlier in the round).
    fn ask(&mut self, p: &PreparedSynthesis, call: usize) -> prompt::Ask {
        let asked: usize = self.planned.values().sum();
        let wanted = p.request.n.saturating_sub(self.rows.len() + asked);
        let count = p.request.per_call.min(wanted.max(1));
        let shown = p.seeds.choose_multiple(&mut self.rng, p.request.seeds_shown).cloned().collect();
        let labels: Vec<String> = match enum_label(&p.fields) {
            Some((_, values)) => {
                let used = |v: &str| {
                    self.report.labels.get(v).copied().unwrap_or(0) + self.planned.get(v).copied().unwrap_or(0)
                };
                let mut order: Vec<&String> = values.iter().collect();
                order.shuffle(&mut self.rng);
                order.sort_by_key(|v| used(v));
                order.into_iter().cycle().take(count).cloned().collect()
            }
            None => Vec::new(),
        };
        for l in &labels {
            *self.planned.entry(l.clone()).or_default() += 1;
        }
        prompt::Ask { count, call, shown, labels }
    }

    /// Reads one answer: every row is admitted or dropped with its reason.
    fn read(&mut self, p: &PreparedSynthesis, call: usize, answer: std::result::Result<(String, Usage), String>) {
        self.report.calls += 1;
        let (text, usage) = match answer {
            Ok(a) => a,
            Err(e) => {
                self.report.failed_calls += 1;
                self.last_error = Some(e);
                return;
            }
        };
        self.report.usage += usage;
        let Some(items) = prompt::rows(&text) else {
            self.report.unreadable_answers += 1;
            return;
        };
        for item in items {
            self.report.generated += 1;
            if self.rows.len() >= p.request.n {
                self.report.surplus += 1;
                continue;
            }
            match admit(&item, &p.fields, &mut self.seen, p.request.max_similarity, p.request.min_quality) {
                Ok(row) => {
                    if let Some((name, _)) = enum_label(&p.fields) {
                        let label = row.get(name).map(value_to_text).unwrap_or_default();
                        *self.report.labels.entry(label).or_default() += 1;
                    }
                    self.rows.push(row);
                }
                Err(why) => self.drop_row(call, &why, item),
            }
        }
    }

    fn drop_row(&mut self, call: usize, why: &filter::Drop, row: Value) {
        *self.report.dropped.entry(why.key().to_string()).or_default() += 1;
        if self.report.dropped_examples.len() < DROPS_LISTED {
            let (reason, detail) = (why.key().to_string(), why.detail());
            self.report.dropped_examples.push(DroppedRow { call, reason, detail, row });
        }
    }
}

fn input_texts(row: &Map<String, Value>, fields: &[DataField]) -> Vec<String> {
    fields.iter().filter(|f| f.input).map(|f| row.get(&f.field.name).map(value_to_text).unwrap_or_default()).collect()
}

#[cfg(test)]
mod tests;
