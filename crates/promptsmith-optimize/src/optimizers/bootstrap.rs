//! BootstrapFewShot: run a teacher over training examples and keep the traces of the ones it
//! gets right as demos, topped up with labeled examples.
//!
//! Faithful to DSPy's algorithm (rounds, per-predictor traces, `max_bootstrapped_demos`
//! augmented demos followed by labeled demos up to `max_labeled_demos`), with two deliberate
//! differences: examples are run through the teacher a window of `concurrency` at a time rather
//! than one by one (accepted in order, so the result is the same), and without a threshold a
//! trace must score 1.0 to become a demo (DSPy accepts any truthy score, so partial credit such
//! as an F1 of 0.2 would make a demo).

use super::labeled::sample_labeled;
use super::{labeled_demo, require_examples, with_demos, Candidate, OptimizeTask, Optimizer, Outcome, Plan};
use crate::engine::{example_id, Engine, Stop};
use crate::error::{OptimizeError, Result};
use crate::events::{Event, TrialKind};
use async_trait::async_trait;
use promptsmith_core::{Demo, Example, ProgramState};
use promptsmith_lm::LmRole;
use rand::seq::SliceRandom;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};

/// How demos are bootstrapped.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapSettings {
    /// Most bootstrapped (teacher-generated) demos per predictor (default 4).
    pub max_bootstrapped_demos: usize,
    /// Most demos in all per predictor, labeled ones filling up after the bootstrapped (default 16).
    pub max_labeled_demos: usize,
    /// Passes over the training set (default 1); later rounds sample the teacher at temperature 1.
    pub max_rounds: usize,
    /// Score a teacher trace needs to become a demo (default 1.0).
    pub metric_threshold: f64,
    /// The teacher's own state (default: the program with `max_labeled_demos` labeled demos).
    pub teacher_state: Option<ProgramState>,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        BootstrapSettings {
            max_bootstrapped_demos: 4,
            max_labeled_demos: 16,
            max_rounds: 1,
            metric_threshold: 1.0,
            teacher_state: None,
        }
    }
}

impl BootstrapSettings {
    pub(crate) fn validate(&self, what: &str) -> Result<()> {
        if self.max_rounds == 0 {
            return Err(OptimizeError::config(format!("{what}: max_rounds must be at least 1")));
        }
        if !(0.0..=1.0).contains(&self.metric_threshold) {
            return Err(OptimizeError::config(format!(
                "{what}: metric_threshold {} is outside [0, 1]",
                self.metric_threshold
            )));
        }
        Ok(())
    }

    pub(crate) fn params(&self) -> Value {
        json!({
            "max_bootstrapped_demos": self.max_bootstrapped_demos,
            "max_labeled_demos": self.max_labeled_demos,
            "max_rounds": self.max_rounds,
            "metric_threshold": self.metric_threshold,
            "teacher_state": self.teacher_state.is_some(),
        })
    }

    /// Upper bound on teacher calls for one bootstrap over `n` examples.
    pub(crate) fn max_teacher_calls(&self, n: usize) -> u64 {
        (n * self.max_rounds) as u64
    }
}

/// Demos found by one bootstrap.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrapped {
    /// Demos per predictor (bootstrapped first, then labeled).
    pub demos: BTreeMap<String, Vec<Demo>>,
    /// Examples whose teacher trace became demos.
    pub bootstrapped: usize,
    /// Examples the teacher was run on.
    pub tried: usize,
}

/// The teacher candidate: its own state, or the program with labeled demos (sampled from the
/// unshuffled training set with the run's `bootstrap-teacher` stream, so every bootstrap of a
/// run shares one teacher and its traces are reused from the rollout cache).
pub(crate) fn teacher(engine: &Engine, task: &OptimizeTask, settings: &BootstrapSettings) -> Result<Candidate> {
    let state = match &settings.teacher_state {
        Some(s) => s.clone(),
        None => {
            let base = task.program.state();
            let mut rng = engine.rng("bootstrap-teacher");
            let demos: BTreeMap<String, Vec<Demo>> = base
                .predictors
                .keys()
                .map(|n| (n.clone(), sample_labeled(&task.trainset, settings.max_labeled_demos, &mut rng)))
                .collect();
            with_demos(&base, &demos)
        }
    };
    Candidate::new(&task.program, state)
}

/// Bootstraps demos from `trainset` (in the given order) with `max_bootstrapped` traces per
/// predictor; `stream` names the random stream that samples the labeled top-up.
pub(crate) async fn bootstrap(
    engine: &Engine,
    task: &OptimizeTask,
    settings: &BootstrapSettings,
    max_bootstrapped: usize,
    trainset: &[Example],
    stream: &str,
) -> Result<std::result::Result<Bootstrapped, Stop>> {
    let teacher = teacher(engine, task, settings)?;
    let mut traces: BTreeMap<String, Vec<Demo>> = BTreeMap::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut tried = 0usize;
    let window = engine.config().concurrency.max(1);
    'rounds: for round in 0..settings.max_rounds {
        // Later rounds sample the teacher at temperature 1 under a distinct rollout id.
        let hot;
        let (program, id) = if round == 0 {
            (&teacher.program, teacher.id.clone())
        } else {
            let mut p = teacher.program.clone();
            for pred in p.predictors.iter_mut() {
                pred.options.temperature = Some(1.0);
            }
            hot = p;
            (&hot, format!("{}:t1", teacher.id))
        };
        let pending: Vec<Example> = trainset.iter().filter(|e| !done.contains(&example_id(e))).cloned().collect();
        for chunk in pending.chunks(window) {
            if done.len() >= max_bootstrapped {
                break 'rounds;
            }
            let rollouts = match engine.evaluate(program, &id, chunk, &task.metric, LmRole::Teacher, round as u64).await
            {
                Ok(r) => r,
                Err(stop) => return Ok(Err(stop)),
            };
            for (example, r) in chunk.iter().zip(rollouts) {
                if done.len() >= max_bootstrapped {
                    break;
                }
                tried += 1;
                if r.failed || r.score < settings.metric_threshold {
                    continue;
                }
                done.insert(example_id(example));
                for step in r.trace {
                    let mut demo: Map<String, Value> = step.inputs.clone();
                    demo.extend(step.outputs.clone());
                    traces.entry(step.predictor.clone()).or_default().push(demo);
                }
            }
            engine.emit(Event::Step { done: tried });
        }
    }
    let mut rng = engine.rng(stream);
    let mut raw: Vec<&Example> = trainset.iter().filter(|e| !done.contains(&example_id(e))).collect();
    let mut demos = BTreeMap::new();
    for name in task.program.state().predictors.keys() {
        let mut list: Vec<Demo> = traces.get(name).cloned().unwrap_or_default();
        list.truncate(max_bootstrapped);
        let room = settings.max_labeled_demos.saturating_sub(list.len()).min(raw.len());
        raw.shuffle(&mut rng);
        list.extend(raw.iter().take(room).map(|e| labeled_demo(e)));
        demos.insert(name.clone(), list);
    }
    Ok(Ok(Bootstrapped { demos, bootstrapped: done.len(), tried }))
}

/// BootstrapFewShot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BootstrapFewShot {
    /// Bootstrapping settings.
    pub settings: BootstrapSettings,
}

#[async_trait]
impl Optimizer for BootstrapFewShot {
    fn name(&self) -> &'static str {
        "bootstrap"
    }

    fn params(&self) -> Value {
        self.settings.params()
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        require_examples(task, 1, "bootstrap")?;
        self.settings.validate("bootstrap")
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        Plan {
            teacher_calls: self.settings.max_teacher_calls(task.trainset.len()),
            task_calls: 2 * task.valset.len() as u64,
            trials: 1,
            notes: vec![
                "teacher calls: at most one per training example per round (fewer once enough demos are found)".into(),
                "task calls: the program as written and the result, each on the validation set".into(),
            ],
            ..Plan::default()
        }
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        engine.emit(Event::Phase { name: "bootstrap".into(), steps: Some(task.trainset.len()) });
        let boot = match bootstrap(
            engine,
            task,
            &self.settings,
            self.settings.max_bootstrapped_demos,
            &task.trainset,
            "bootstrap-labeled",
        )
        .await?
        {
            Ok(b) => b,
            Err(stop) => return Ok(Outcome::stopped_at_start(task, &stop)),
        };
        let candidate = Candidate::new(&task.program, with_demos(&task.program.state(), &boot.demos))?;
        engine.emit(Event::Phase { name: "evaluate".into(), steps: Some(1) });
        let params = json!({"bootstrapped": boot.bootstrapped, "tried": boot.tried});
        let (val_score, stopped) =
            match super::trial(engine, task, &candidate, &task.valset, TrialKind::Full, params.clone()).await? {
                Ok((s, _)) => (Some(s), None),
                Err(stop) => (None, Some(stop)),
            };
        Ok(Outcome { state: candidate.state, val_score, stopped, details: params })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::checkpoint::NoCheckpoint;
    use crate::events::NoEvents;
    use crate::{EngineConfig, RoleModels};
    use promptsmith_core::{LanguageModel, Predictor, Program, Signature};
    use std::sync::Arc;

    fn task(train: usize) -> OptimizeTask {
        let program = Program::single(Predictor::new("solve", Signature::parse("question -> answer").unwrap()));
        let trainset = (0..train)
            .map(|i| {
                let mut e =
                    Example::from_inputs(serde_json::Map::from_iter([("question".into(), json!(format!("q{i}")))]));
                e.fields.insert("answer".into(), json!(i.to_string()));
                e
            })
            .collect();
        let metric: Arc<dyn promptsmith_eval::Metric> =
            Arc::from(promptsmith_eval::metric_by_name("exact_match", "answer").unwrap());
        OptimizeTask { program, trainset, valset: Vec::new(), metric }
    }

    fn engine(seed: u64) -> Engine {
        let lm: Arc<dyn LanguageModel> = Arc::new(promptsmith_lm::ScriptedLm::from_texts(["unused"]));
        let config = EngineConfig { concurrency: 2, seed, ..EngineConfig::default() };
        Engine::new(RoleModels::single(lm), config, Arc::new(NoCheckpoint), Arc::new(NoEvents)).unwrap()
    }

    #[test]
    fn the_default_teacher_shows_labeled_demos_sampled_by_the_run_seed() {
        let task = task(10);
        let settings = BootstrapSettings { max_labeled_demos: 3, ..BootstrapSettings::default() };
        let a = teacher(&engine(1), &task, &settings).unwrap();
        let demos = &a.state.predictors["solve"].demos;
        assert_eq!(demos.len(), 3);
        assert!(demos.iter().all(|d| task.trainset.iter().any(|e| e.fields == *d)), "demos are training examples");
        assert_eq!(teacher(&engine(1), &task, &settings).unwrap().id, a.id, "same seed, same teacher");
        assert_ne!(teacher(&engine(2), &task, &settings).unwrap().id, a.id, "another seed samples others");
    }

    #[test]
    fn a_given_teacher_state_is_used_as_it_is() {
        let task = task(4);
        let mut own = task.program.state();
        own.predictors.get_mut("solve").unwrap().instruction = Some("Teach well.".into());
        let settings = BootstrapSettings { teacher_state: Some(own.clone()), ..BootstrapSettings::default() };
        let t = teacher(&engine(0), &task, &settings).unwrap();
        assert_eq!(t.state, own);
    }
}
