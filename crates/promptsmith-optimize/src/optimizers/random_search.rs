//! BootstrapFewShotWithRandomSearch: several demo sets (zero-shot, labeled only, an unshuffled
//! bootstrap and shuffled bootstraps of random size), each scored on the whole validation set;
//! the best wins. The demo-set generator is shared with MIPROv2.

use super::bootstrap::{bootstrap, BootstrapSettings};
use super::labeled::sample_labeled;
use super::{require_examples, with_demos, Candidate, OptimizeTask, Optimizer, Outcome, Plan};
use crate::engine::{Engine, Stop};
use crate::error::{OptimizeError, Result};
use crate::events::{Event, TrialKind};
use async_trait::async_trait;
use promptsmith_core::{Demo, Example};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One demo set per predictor, with how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSet {
    /// `zero_shot`, `labeled`, `bootstrap` or `bootstrap_shuffled_<seed>`.
    pub label: String,
    /// Demos per predictor.
    pub demos: BTreeMap<String, Vec<Demo>>,
}

/// Builds `3 + n_shuffled` demo sets as DSPy's `create_n_fewshot_demo_sets` does: seed -3 is
/// zero-shot, -2 labeled only, -1 an unshuffled bootstrap, and seeds 0.. bootstrap a shuffled
/// training set with a random number (1 to `max_bootstrapped_demos`) of demos.
pub(crate) async fn demo_sets(
    engine: &Engine,
    task: &OptimizeTask,
    settings: &BootstrapSettings,
    n_shuffled: usize,
    stream: &str,
) -> Result<std::result::Result<Vec<DemoSet>, Stop>> {
    let names: Vec<String> = task.program.state().predictors.keys().cloned().collect();
    let mut sets = Vec::with_capacity(n_shuffled + 3);
    sets.push(DemoSet { label: "zero_shot".into(), demos: names.iter().map(|n| (n.clone(), Vec::new())).collect() });
    if settings.max_labeled_demos > 0 {
        let mut rng = engine.rng(&format!("{stream}-labeled"));
        sets.push(DemoSet {
            label: "labeled".into(),
            demos: names
                .iter()
                .map(|n| (n.clone(), sample_labeled(&task.trainset, settings.max_labeled_demos, &mut rng)))
                .collect(),
        });
    }
    engine.emit(Event::Phase { name: "bootstrap".into(), steps: Some(n_shuffled + 1) });
    let unshuffled = match bootstrap(
        engine,
        task,
        settings,
        settings.max_bootstrapped_demos,
        &task.trainset,
        &format!("{stream}-unshuffled"),
    )
    .await?
    {
        Ok(b) => b,
        Err(stop) => return Ok(Err(stop)),
    };
    sets.push(DemoSet { label: "bootstrap".into(), demos: unshuffled.demos });
    let mut rng = engine.rng(&format!("{stream}-sizes"));
    for seed in 0..n_shuffled {
        let mut shuffled: Vec<Example> = task.trainset.clone();
        shuffled.shuffle(&mut engine.rng(&format!("{stream}-shuffle-{seed}")));
        let size =
            if settings.max_bootstrapped_demos == 0 { 0 } else { rng.gen_range(1..=settings.max_bootstrapped_demos) };
        let b = match bootstrap(engine, task, settings, size, &shuffled, &format!("{stream}-shuffled-{seed}")).await? {
            Ok(b) => b,
            Err(stop) => return Ok(Err(stop)),
        };
        sets.push(DemoSet { label: format!("bootstrap_shuffled_{seed}"), demos: b.demos });
        engine.emit(Event::Step { done: seed + 2 });
    }
    Ok(Ok(sets))
}

/// BootstrapFewShotWithRandomSearch settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomSearch {
    /// Bootstrapping settings.
    pub settings: BootstrapSettings,
    /// Shuffled-bootstrap candidates beyond the three fixed ones (default 16).
    pub num_candidate_programs: usize,
}

impl Default for RandomSearch {
    fn default() -> Self {
        RandomSearch { settings: BootstrapSettings::default(), num_candidate_programs: 16 }
    }
}

#[async_trait]
impl Optimizer for RandomSearch {
    fn name(&self) -> &'static str {
        "random_search"
    }

    fn params(&self) -> Value {
        let mut p = self.settings.params();
        p["num_candidate_programs"] = json!(self.num_candidate_programs);
        p
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        require_examples(task, 1, "random_search")?;
        self.settings.validate("random_search")?;
        if self.num_candidate_programs == 0 {
            return Err(OptimizeError::config("random_search: num_candidate_programs must be at least 1"));
        }
        Ok(())
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        let candidates = self.num_candidate_programs as u64 + 3;
        Plan {
            teacher_calls: self.settings.max_teacher_calls(task.trainset.len()) * (self.num_candidate_programs as u64 + 1),
            task_calls: candidates * task.valset.len() as u64,
            trials: candidates,
            notes: vec![
                format!("{candidates} candidates, each evaluated on the whole validation set"),
                "teacher traces are shared between candidates through the rollout cache, so real teacher calls are usually far fewer".into(),
            ],
            ..Plan::default()
        }
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        let sets = match demo_sets(engine, task, &self.settings, self.num_candidate_programs, "random_search").await? {
            Ok(s) => s,
            Err(stop) => return Ok(Outcome::stopped_at_start(task, &stop)),
        };
        engine.emit(Event::Phase { name: "search".into(), steps: Some(sets.len()) });
        let base = task.program.state();
        let mut best: Option<(f64, Candidate)> = None;
        let mut scores = Vec::new();
        let mut stopped = None;
        for (i, set) in sets.iter().enumerate() {
            let candidate = Candidate::new(&task.program, with_demos(&base, &set.demos))?;
            let params = json!({"demo_set": set.label});
            match super::trial(engine, task, &candidate, &task.valset, TrialKind::Full, params).await? {
                Ok((score, _)) => {
                    scores.push(json!({"demo_set": set.label, "score": score}));
                    if best.as_ref().is_none_or(|(b, _)| score > *b) {
                        engine.emit(Event::NewBest { number: engine.next_trial_number() - 1, score });
                        best = Some((score, candidate));
                    }
                }
                Err(stop) => {
                    stopped = Some(stop);
                    break;
                }
            }
            engine.emit(Event::Step { done: i + 1 });
        }
        let details = json!({"candidates": scores});
        Ok(match best {
            Some((score, c)) => Outcome { state: c.state, val_score: Some(score), stopped, details },
            None => Outcome { state: base, val_score: None, stopped, details },
        })
    }
}
