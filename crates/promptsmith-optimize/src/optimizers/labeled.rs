//! LabeledFewShot: each predictor gets `k` labeled examples (sampled with the run seed) as demos.

use super::{labeled_demo, require_examples, with_demos, Candidate, OptimizeTask, Optimizer, Outcome, Plan};
use crate::engine::Engine;
use crate::error::Result;
use crate::events::TrialKind;
use async_trait::async_trait;
use promptsmith_core::{Demo, Example};
use rand::seq::SliceRandom;
use serde_json::json;
use std::collections::BTreeMap;

/// LabeledFewShot settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabeledFewShot {
    /// Demos per predictor (default 16).
    pub k: usize,
}

impl Default for LabeledFewShot {
    fn default() -> Self {
        LabeledFewShot { k: 16 }
    }
}

/// Up to `k` labeled demos sampled from `trainset` with `rng`.
pub(crate) fn sample_labeled(trainset: &[Example], k: usize, rng: &mut impl rand::Rng) -> Vec<Demo> {
    let mut picked: Vec<&Example> = trainset.iter().collect();
    picked.shuffle(rng);
    picked.into_iter().take(k).map(labeled_demo).collect()
}

#[async_trait]
impl Optimizer for LabeledFewShot {
    fn name(&self) -> &'static str {
        "labeled"
    }

    fn params(&self) -> serde_json::Value {
        json!({"k": self.k})
    }

    fn validate(&self, task: &OptimizeTask) -> Result<()> {
        require_examples(task, 1, "labeled")
    }

    fn plan(&self, task: &OptimizeTask) -> Plan {
        Plan {
            task_calls: 2 * task.valset.len() as u64,
            trials: 1,
            notes: vec!["the program as written and the demo'd program, each on the validation set".into()],
            ..Plan::default()
        }
    }

    async fn optimize(&self, engine: &Engine, task: &OptimizeTask) -> Result<Outcome> {
        let base = task.program.state();
        let mut rng = engine.rng("labeled");
        let demos: BTreeMap<String, Vec<Demo>> = base
            .predictors
            .keys()
            .map(|name| (name.clone(), sample_labeled(&task.trainset, self.k, &mut rng)))
            .collect();
        let candidate = Candidate::new(&task.program, with_demos(&base, &demos))?;
        let scored =
            super::trial(engine, task, &candidate, &task.valset, TrialKind::Full, json!({"k": self.k})).await?;
        let (val_score, stopped) = match scored {
            Ok((s, _)) => (Some(s), None),
            Err(stop) => (None, Some(stop)),
        };
        Ok(Outcome { state: candidate.state, val_score, stopped, details: json!({}) })
    }
}
