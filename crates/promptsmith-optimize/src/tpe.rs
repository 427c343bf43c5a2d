//! A Tree-structured Parzen Estimator (TPE) sampler with an ask/tell interface, faithful to
//! Optuna's `TPESampler` (checked against Optuna 5.0.0), the sampler MIPROv2 uses to pick an
//! instruction and a demo set per predictor.
//!
//! # Algorithm
//!
//! 1. Enqueued trials (e.g. the baseline program) run first, in order, with their fixed values.
//! 2. While fewer than `n_startup_trials` trials (default 10) have finished, parameters are drawn
//!    uniformly at random.
//! 3. After that, the `n` finished trials are split by value into a good group of
//!    `gamma(n) = min(ceil(0.1 n), 25)` trials and a bad group of the rest, each ordered by trial
//!    number. A Parzen estimator is fitted to each: `l(x)` to the good trials, `g(x)` to the bad
//!    ones (see [`Weights`] for the observation weights and the `parzen` module docs for the
//!    kernels). `n_ei_candidates` (default 24) candidates are drawn from `l(x)` and the one that
//!    maximizes `log l(x) - log g(x)` is suggested (Optuna's acquisition
//!    `-logaddexp(log γ, log(1-γ) + log g - log l)` is increasing in that difference, so the
//!    choice is the same).
//! 4. With `multivariate: true` (the default, as in Optuna 5 for one objective, and what MIPROv2
//!    passes) the estimators are joint over all dimensions, so interactions between dimensions are
//!    modelled. With `multivariate: false` each dimension is fitted and chosen on its own.
//!
//! Failed trials ([`Tpe::fail`]) are ignored, as Optuna ignores `FAIL` trials.
//!
//! # Pending trials
//!
//! Several trials may be asked before any is told (concurrent evaluation), and trials may be told
//! in any order. Pending trials are handled with Optuna's constant liar, on by default as in
//! Optuna 5 (`constant_liar: true`): once TPE has taken over, a pending trial joins the bad group
//! (it is assumed no better than the bad trials) without counting towards `n` in `gamma(n)`,
//! which steers concurrent asks away from each other. With `constant_liar: false` (Optuna 3 and
//! 4's default) pending trials are ignored, and concurrent asks differ only through the random
//! stream. With one trial at a time the two are the same.
//!
//! # Determinism and checkpoints
//!
//! Every random draw comes from one ChaCha8 stream seeded by `seed`, so the same seed and the
//! same told values give the same suggestions. [`Tpe`] serializes with serde (space, config,
//! trials, queue and the stream's position), and deserializing gives a sampler whose next
//! suggestions are the ones the original would have made. Deserialization validates the state.
//!
//! # Example
//!
//! ```
//! use promptsmith_optimize::tpe::{ParamValue, Params, SearchSpace, Tpe, TpeConfig};
//!
//! let space = SearchSpace::new().categorical("instruction_0", 4)?.categorical("demos_0", 6)?;
//! let mut tpe = Tpe::new(space, TpeConfig::default(), 7)?;
//! // Evaluate the baseline first.
//! tpe.enqueue(Params::new().with("instruction_0", ParamValue::Index(0)).with("demos_0", ParamValue::Index(0)))?;
//! for _ in 0..20 {
//!     let trial = tpe.ask();
//!     let instruction = trial.params.index("instruction_0").unwrap_or(0);
//!     let demos = trial.params.index("demos_0").unwrap_or(0);
//!     let score = if instruction == 2 { 0.5 } else { 0.0 } + demos as f64 * 0.05;
//!     tpe.tell(trial.number, score)?;
//! }
//! let best = tpe.best().expect("trials finished");
//! assert!(best.value >= 0.25);
//! // Checkpoint and resume.
//! let saved = serde_json::to_string(&tpe).expect("serializes");
//! let resumed: Tpe = serde_json::from_str(&saved).expect("deserializes");
//! assert_eq!(resumed.trials().len(), 20);
//! # Ok::<(), promptsmith_optimize::tpe::TpeError>(())
//! ```

mod normal;
mod parzen;
mod rng;
mod space;

pub use parzen::{Gamma, Weights};
pub use space::{Dimension, ParamValue, Params, SearchSpace};

use parzen::{EstimatorParams, ParzenEstimator};
use rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Result alias for the TPE sampler.
pub type Result<T> = std::result::Result<T, TpeError>;

/// What can go wrong building a search space or driving the sampler.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TpeError {
    /// Two dimensions share a name.
    #[error("duplicate dimension name '{0}'")]
    DuplicateDimension(String),
    /// A dimension breaks its own rules (empty range, bad step, log scale of non-positive numbers).
    #[error("invalid dimension '{name}': {reason}")]
    InvalidDimension {
        /// The dimension.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Parameters name a dimension the space does not have.
    #[error("unknown parameter '{0}': the search space has no such dimension")]
    UnknownParameter(String),
    /// A parameter value does not fit its dimension.
    #[error("invalid value for parameter '{name}': {reason}")]
    InvalidValue {
        /// The parameter.
        name: String,
        /// Why the value does not fit.
        reason: String,
    },
    /// The configuration is unusable.
    #[error("invalid TPE configuration: {0}")]
    InvalidConfig(String),
    /// No trial has this number.
    #[error("no trial number {0}")]
    UnknownTrial(u64),
    /// The trial was already told or failed.
    #[error("trial {0} is already finished")]
    TrialFinished(u64),
    /// Objective values must be finite (fail the trial instead).
    #[error("trial {number}: objective value {value} is not finite; use fail() for failed trials")]
    NonFiniteValue {
        /// The trial.
        number: u64,
        /// The value given.
        value: f64,
    },
    /// A deserialized sampler state is inconsistent.
    #[error("invalid TPE state: {0}")]
    InvalidState(String),
}

/// Whether larger or smaller objective values are better.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Larger is better (scores, accuracies).
    #[default]
    Maximize,
    /// Smaller is better (losses, costs).
    Minimize,
}

/// The sampler's settings. Defaults are Optuna 5's `TPESampler` defaults for one objective
/// (multivariate, constant liar), which for the one setting MIPROv2 passes (`multivariate=True`)
/// are also what MIPROv2 runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TpeConfig {
    /// Finished trials before TPE takes over from uniform random sampling (default 10; enqueued
    /// trials count once finished).
    pub n_startup_trials: usize,
    /// Candidates drawn from the good estimator per suggestion (default 24).
    pub n_ei_candidates: usize,
    /// Weight of the prior component of each estimator, relative to an observation (default 1.0;
    /// must not be negative).
    pub prior_weight: f64,
    /// Bound numeric bandwidths below by `range / min(100, 1 + n_kernels)` (default true).
    pub consider_magic_clip: bool,
    /// Let the range ends count as neighbours of the extreme numeric kernels (default false).
    pub consider_endpoints: bool,
    /// One joint estimator over all dimensions (true) or one per dimension (false).
    pub multivariate: bool,
    /// Put pending trials in the bad group (true, the default) or ignore them (false).
    pub constant_liar: bool,
    /// Maximize (default) or minimize.
    pub direction: Direction,
    /// Size of the good group.
    pub gamma: Gamma,
    /// Observation weights.
    pub weights: Weights,
}

impl Default for TpeConfig {
    fn default() -> Self {
        TpeConfig {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            multivariate: true,
            constant_liar: true,
            direction: Direction::Maximize,
            gamma: Gamma::default(),
            weights: Weights::default(),
        }
    }
}

impl TpeConfig {
    fn validate(&self) -> Result<()> {
        if self.n_ei_candidates == 0 {
            return Err(TpeError::InvalidConfig("n_ei_candidates must be at least 1".into()));
        }
        if !(self.prior_weight.is_finite() && self.prior_weight >= 0.0) {
            return Err(TpeError::InvalidConfig(format!(
                "prior_weight must be finite and not negative, got {}",
                self.prior_weight
            )));
        }
        if !(0.0..=1.0).contains(&self.gamma.fraction) {
            return Err(TpeError::InvalidConfig(format!(
                "gamma.fraction must be in [0, 1], got {}",
                self.gamma.fraction
            )));
        }
        Ok(())
    }

    fn estimator_params(&self) -> EstimatorParams {
        EstimatorParams {
            prior_weight: self.prior_weight,
            consider_magic_clip: self.consider_magic_clip,
            consider_endpoints: self.consider_endpoints,
            weights: self.weights,
        }
    }
}

/// A trial to evaluate: its number (to [`Tpe::tell`] the result with) and its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The trial's number, counting from 0 in ask order.
    pub number: u64,
    /// One value per dimension of the search space.
    pub params: Params,
}

/// Where a trial stands.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TrialState {
    /// Asked, not yet told.
    Pending,
    /// Told, with its objective value.
    Complete {
        /// The objective value.
        value: f64,
    },
    /// Evaluation failed; the sampler ignores it.
    Failed,
}

/// A trial the sampler has handed out, with its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The trial's number.
    pub number: u64,
    /// Its parameters.
    pub params: Params,
    /// Its state.
    pub state: TrialState,
}

/// The best finished trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestTrial {
    /// The trial's number.
    pub number: u64,
    /// Its parameters.
    pub params: Params,
    /// Its objective value.
    pub value: f64,
}

/// The TPE sampler: ask for trials, tell their values, read the best.
#[derive(Clone, Debug, Serialize)]
pub struct Tpe {
    space: SearchSpace,
    config: TpeConfig,
    rng: SeededRng,
    trials: Vec<TrialRecord>,
    queue: VecDeque<Params>,
}

impl Tpe {
    /// A sampler over `space` whose random stream is seeded by `seed`.
    pub fn new(space: SearchSpace, config: TpeConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        Ok(Tpe { space, config, rng: SeededRng::new(seed), trials: Vec::new(), queue: VecDeque::new() })
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The configuration.
    pub fn config(&self) -> &TpeConfig {
        &self.config
    }

    /// The seed the random stream started from.
    pub fn seed(&self) -> u64 {
        self.rng.seed()
    }

    /// Every trial handed out so far, in number order.
    pub fn trials(&self) -> &[TrialRecord] {
        &self.trials
    }

    /// The trial numbered `number`.
    pub fn trial(&self, number: u64) -> Option<&TrialRecord> {
        usize::try_from(number).ok().and_then(|i| self.trials.get(i))
    }

    /// Number of trials told a value.
    pub fn n_complete(&self) -> usize {
        self.trials.iter().filter(|t| matches!(t.state, TrialState::Complete { .. })).count()
    }

    /// Number of trials asked and not yet told or failed.
    pub fn n_pending(&self) -> usize {
        self.trials.iter().filter(|t| t.state == TrialState::Pending).count()
    }

    /// Number of enqueued trials not yet asked.
    pub fn n_queued(&self) -> usize {
        self.queue.len()
    }

    /// Queues a trial with fixed values, handed out by a later [`Tpe::ask`] before any sampled
    /// trial (first in, first out). Dimensions left out are sampled as usual when it is asked.
    pub fn enqueue(&mut self, params: Params) -> Result<()> {
        self.space.check(&params)?;
        self.queue.push_back(params);
        Ok(())
    }

    /// The next trial to evaluate: the oldest enqueued one, else a sampled one.
    pub fn ask(&mut self) -> Trial {
        let number = self.trials.len() as u64;
        let params = match self.queue.pop_front() {
            Some(fixed) if fixed.len() == self.space.len() => fixed,
            Some(fixed) => {
                let mut params = self.suggest();
                for (name, value) in fixed.iter() {
                    params.insert(name, value);
                }
                params
            }
            None => self.suggest(),
        };
        self.trials.push(TrialRecord { number, params: params.clone(), state: TrialState::Pending });
        Trial { number, params }
    }

    /// Records the objective value of a pending trial.
    pub fn tell(&mut self, number: u64, value: f64) -> Result<()> {
        if !value.is_finite() {
            return Err(TpeError::NonFiniteValue { number, value });
        }
        self.pending_mut(number)?.state = TrialState::Complete { value };
        Ok(())
    }

    /// Marks a pending trial as failed; the sampler ignores it from then on.
    pub fn fail(&mut self, number: u64) -> Result<()> {
        self.pending_mut(number)?.state = TrialState::Failed;
        Ok(())
    }

    /// The best finished trial (the earliest one among ties), if any has finished.
    pub fn best(&self) -> Option<BestTrial> {
        let mut best: Option<(&TrialRecord, f64)> = None;
        for trial in &self.trials {
            if let TrialState::Complete { value } = trial.state {
                let better = match best {
                    None => true,
                    Some((_, current)) => match self.config.direction {
                        Direction::Maximize => value > current,
                        Direction::Minimize => value < current,
                    },
                };
                if better {
                    best = Some((trial, value));
                }
            }
        }
        best.map(|(trial, value)| BestTrial { number: trial.number, params: trial.params.clone(), value })
    }

    fn pending_mut(&mut self, number: u64) -> Result<&mut TrialRecord> {
        let trial =
            usize::try_from(number).ok().and_then(|i| self.trials.get_mut(i)).ok_or(TpeError::UnknownTrial(number))?;
        if trial.state != TrialState::Pending {
            return Err(TpeError::TrialFinished(number));
        }
        Ok(trial)
    }

    /// Sampled values for every dimension: uniform during startup, TPE afterwards.
    fn suggest(&mut self) -> Params {
        let positions: Vec<usize> = (0..self.space.len()).collect();
        if positions.is_empty() {
            return Params::new();
        }
        let internal = if self.n_complete() < self.config.n_startup_trials {
            let mut values = Vec::with_capacity(positions.len());
            for &i in &positions {
                if let Some(dimension) = self.space.dimension(i) {
                    values.push(dimension.sample_uniform(&mut self.rng));
                }
            }
            values
        } else if self.config.multivariate {
            self.sample_tpe(&positions)
        } else {
            let mut values = Vec::with_capacity(positions.len());
            for &i in &positions {
                values.extend(self.sample_tpe(&[i]));
            }
            values
        };
        self.space.params(&positions, &internal)
    }

    /// One TPE suggestion over the dimensions at `positions` (internal representation).
    fn sample_tpe(&mut self, positions: &[usize]) -> Vec<f64> {
        let params = self.config.estimator_params();
        let dimensions: Vec<&Dimension> = positions.iter().filter_map(|&i| self.space.dimension(i)).collect();
        let (good, bad) = {
            let (below, above) = split(&self.trials, &self.config);
            let observe = |group: &[&TrialRecord]| -> Vec<Vec<f64>> {
                group.iter().filter_map(|t| self.space.internal(&t.params, positions)).collect()
            };
            (
                ParzenEstimator::new(&observe(&below), &dimensions, &params),
                ParzenEstimator::new(&observe(&above), &dimensions, &params),
            )
        };
        let mut candidates = good.sample(&mut self.rng, self.config.n_ei_candidates);
        let mut best = 0;
        let mut best_score = f64::NEG_INFINITY;
        for (i, candidate) in candidates.iter().enumerate() {
            let score = good.log_pdf(candidate) - bad.log_pdf(candidate);
            if score > best_score {
                best = i;
                best_score = score;
            }
        }
        if best < candidates.len() {
            candidates.swap_remove(best)
        } else {
            dimensions.iter().map(|d| d.sample_uniform(&mut self.rng)).collect()
        }
    }
}

/// Optuna's split: the `gamma(n)` best finished trials are good, the other finished ones bad, and
/// with the constant liar the pending ones are bad too; both groups in trial-number order. Ties
/// keep trial order (stable sort), so the earlier of two equal trials is the better one.
fn split<'a>(trials: &'a [TrialRecord], config: &TpeConfig) -> (Vec<&'a TrialRecord>, Vec<&'a TrialRecord>) {
    let mut complete: Vec<(&TrialRecord, f64)> = trials
        .iter()
        .filter_map(|t| match t.state {
            TrialState::Complete { value } => Some((t, value)),
            _ => None,
        })
        .collect();
    let n_below = config.gamma.n_below(complete.len()).min(complete.len());
    match config.direction {
        Direction::Maximize => complete.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal)),
        Direction::Minimize => complete.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal)),
    }
    let mut below: Vec<&TrialRecord> = complete[..n_below].iter().map(|&(t, _)| t).collect();
    let mut above: Vec<&TrialRecord> = complete[n_below..].iter().map(|&(t, _)| t).collect();
    if config.constant_liar {
        above.extend(trials.iter().filter(|t| t.state == TrialState::Pending));
    }
    below.sort_by_key(|t| t.number);
    above.sort_by_key(|t| t.number);
    (below, above)
}

/// The serialized form of [`Tpe`], validated on the way in.
#[derive(Deserialize)]
struct TpeState {
    space: SearchSpace,
    config: TpeConfig,
    rng: SeededRng,
    trials: Vec<TrialRecord>,
    #[serde(default)]
    queue: VecDeque<Params>,
}

impl TpeState {
    fn validate(self) -> Result<Tpe> {
        self.config.validate()?;
        for (i, trial) in self.trials.iter().enumerate() {
            if trial.number != i as u64 {
                return Err(TpeError::InvalidState(format!("trial at position {i} has number {}", trial.number)));
            }
            self.space.check(&trial.params)?;
            if trial.params.len() != self.space.len() {
                return Err(TpeError::InvalidState(format!("trial {i} does not set every dimension")));
            }
            if let TrialState::Complete { value } = trial.state {
                if !value.is_finite() {
                    return Err(TpeError::InvalidState(format!("trial {i} has a non-finite value")));
                }
            }
        }
        for params in &self.queue {
            self.space.check(params)?;
        }
        Ok(Tpe { space: self.space, config: self.config, rng: self.rng, trials: self.trials, queue: self.queue })
    }
}

impl<'de> Deserialize<'de> for Tpe {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        TpeState::deserialize(deserializer)?.validate().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
