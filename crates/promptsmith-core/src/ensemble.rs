//! Ensembles: one program run under several states (instruction and demo variants, such as
//! an optimizer's best candidates), with the members' outputs reduced to one prediction by a
//! majority vote or by the best [`Reward`]. In a spec:
//!
//! ```json
//! "ensemble": {"members": [{}, "state-a.json", {"predictors": {"solve": {"instruction": "Be brief."}}}],
//!              "reducer": "majority", "fields": ["answer"]}
//! ```
//! `"reducer": "judge"` with a `"rubric"` keeps the member the model rates best against it
//! (one more call per member, counted with the ensemble's).
//! A member is a state file (relative to the spec; [`crate::ProgramSpec::load`] inlines it) or
//! an inline state, applied over the program's own state (`{}` is the program as it stands).
//! An ensemble is a [`crate::Program`] like any other, so it is run and evaluated the same way;
//! applying a state to it changes the base every member starts from.

use crate::error::PredictError;
use crate::example::{Example, Prediction};
use crate::lm::LanguageModel;
use crate::module::Module;
use crate::predict::REASONING_FIELD;
use crate::program::Program;
use crate::state::ProgramState;
use crate::wrap::{majority, vote_key, SharedReward};

/// How members' predictions become one.
#[derive(Debug, Clone, PartialEq)]
pub enum Reducer {
    /// The most frequent normalised value of `fields` (empty: every output but `reasoning`);
    /// ties go to the earlier member.
    Majority {
        /// Outputs voted on.
        fields: Vec<String>,
    },
    /// The member whose outputs the reward scores highest (ties: the earlier member).
    Best(SharedReward),
}

/// The members and the reducer of an ensemble program.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    /// Each member's state, applied over the program's own.
    pub members: Vec<ProgramState>,
    /// How the members' predictions are reduced.
    pub reducer: Reducer,
    /// Whether the members came from a program state (an optimizer's ensemble of its best
    /// candidates), so [`Program::state`] carries them; a spec's members stay in the spec.
    pub in_state: bool,
}

impl Ensemble {
    /// A stable text for program hashes.
    pub(crate) fn fingerprint(&self) -> String {
        let members: Vec<String> = self.members.iter().map(|m| serde_json::to_string(m).unwrap_or_default()).collect();
        let reducer = match &self.reducer {
            Reducer::Majority { fields } => format!("majority{fields:?}"),
            Reducer::Best(r) => format!("best:{}", r.0.name()),
        };
        format!("{members:?}|{reducer}")
    }
}

/// Runs every member (concurrently) and reduces their predictions. The result carries the
/// kept member's trace and the whole ensemble's tokens and calls; members that fail are left
/// out, and when all fail the first failure is returned.
pub(crate) async fn forward(
    program: &Program,
    ensemble: &Ensemble,
    lm: &dyn LanguageModel,
    example: &Example,
) -> Result<Prediction, PredictError> {
    let base = Program { ensemble: None, ..program.clone() };
    let members = ensemble
        .members
        .iter()
        .enumerate()
        .map(|(i, s)| base.with_state(s).map_err(|e| PredictError::Program(format!("ensemble member {i}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let runs = futures::future::join_all(members.iter().map(|m| m.forward(lm, example))).await;
    let mut total = Prediction::default();
    let mut valid = Vec::new();
    let mut first_error = None;
    for run in runs {
        match run {
            Ok(p) => {
                total.usage += p.usage;
                total.lm_calls += p.lm_calls;
                valid.push(p);
            }
            Err(e) => {
                let (usage, calls) = e.spent();
                total.usage += usage;
                total.lm_calls += calls;
                first_error = first_error.or(Some(e));
            }
        }
    }
    let Some(i) = reduce(&ensemble.reducer, program, lm, example, &valid, &mut total).await? else {
        let mut e = first_error.unwrap_or_else(|| PredictError::Program("the ensemble has no members".into()));
        e.set_spent(total.usage, total.lm_calls);
        return Err(e);
    };
    let mut kept = valid.swap_remove(i);
    kept.usage = total.usage;
    kept.lm_calls = total.lm_calls;
    Ok(kept)
}

async fn reduce(
    reducer: &Reducer,
    program: &Program,
    lm: &dyn LanguageModel,
    example: &Example,
    preds: &[Prediction],
    total: &mut Prediction,
) -> Result<Option<usize>, PredictError> {
    match reducer {
        Reducer::Majority { fields } => {
            let fields = if fields.is_empty() { default_fields(program) } else { fields.clone() };
            let keys: Vec<String> = preds.iter().map(|p| vote_key(&p.fields, &fields)).collect();
            Ok(majority(&keys))
        }
        Reducer::Best(reward) => {
            let inputs = example.inputs();
            let mut best: Option<(f64, usize)> = None;
            for (i, p) in preds.iter().enumerate() {
                let s =
                    reward.0.score(lm, &inputs, &p.fields).await.map_err(|e| {
                        PredictError::Program(format!("ensemble reward '{}' failed: {e}", reward.0.name()))
                    })?;
                total.usage += s.usage;
                total.lm_calls += s.lm_calls;
                let score = if s.score.is_nan() { f64::NEG_INFINITY } else { s.score };
                if best.is_none_or(|(b, _)| score > b) {
                    best = Some((score, i));
                }
            }
            Ok(best.map(|(_, i)| i))
        }
    }
}

fn default_fields(program: &Program) -> Vec<String> {
    let all = program.output_fields();
    let named: Vec<String> = all.iter().filter(|f| f.as_str() != REASONING_FIELD).cloned().collect();
    if named.is_empty() {
        all
    } else {
        named
    }
}
