//! Objectives besides the metric and the Pareto machinery over them.
//!
//! - [`Measure`]s a candidate has once it is scored on the validation set: the metric's mean
//!   score, prompt and completion tokens per LM call, latency and cost per example, all read
//!   from the rollouts the trial recorded, and the length of its prompt (instruction and demo
//!   characters, read from the program, so it needs no model).
//! - [`Objective`]s (`score:max`, `tokens:min`, optionally `:WEIGHT`) and [`Constraint`]s
//!   (`tokens <= 400`) make a [`Selection`].
//! - [`non_dominated_sort`] and [`crowding_distance`] are NSGA-II's (Deb et al. 2002);
//!   [`hypervolume`] is exact (a sweep for two objectives at any size; slicing objectives,
//!   "HSO", for more, up to [`EXACT_HV_POINTS`] points) and a seeded Monte-Carlo estimate beyond.
//! - [`Archive`] keeps only the non-dominated candidates offered to it (with their states), so
//!   a long search holds its front, never every candidate it tried.
//!
//! Every vector handed to the functions here is oriented for maximization: [`Objective::value`]
//! negates the measures that are minimized.

use crate::engine::Rollout;
use promptsmith_core::{Program, ProgramState};
use rand::Rng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Points up to which (or at any size with two objectives) the hypervolume is computed exactly.
pub const EXACT_HV_POINTS: usize = 64;
/// Samples of the Monte-Carlo hypervolume estimate.
pub const MC_HV_SAMPLES: usize = 20_000;

/// Something measured about a candidate on the validation set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// The metric's mean score.
    Score,
    /// Prompt tokens per LM call.
    PromptTokens,
    /// Completion tokens per LM call.
    CompletionTokens,
    /// Prompt plus completion tokens per LM call.
    Tokens,
    /// Milliseconds per example (measured: a resumed run's journaled calls take none).
    Latency,
    /// US dollars per example, at the configured prices (0 without prices).
    Cost,
    /// Characters of the instructions and demos in the prompt (from the program, no model).
    Length,
}

impl Measure {
    /// Every measure.
    pub const ALL: [Measure; 7] = [
        Measure::Score,
        Measure::PromptTokens,
        Measure::CompletionTokens,
        Measure::Tokens,
        Measure::Latency,
        Measure::Cost,
        Measure::Length,
    ];

    /// The name used in flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Score => "score",
            Measure::PromptTokens => "prompt_tokens",
            Measure::CompletionTokens => "completion_tokens",
            Measure::Tokens => "tokens",
            Measure::Latency => "latency",
            Measure::Cost => "cost",
            Measure::Length => "length",
        }
    }

    /// The direction the measure is usually wanted in (score up, everything else down).
    pub fn natural(self) -> Direction {
        if self == Measure::Score {
            Direction::Max
        } else {
            Direction::Min
        }
    }
}

impl FromStr for Measure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        Measure::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Measure::ALL.iter().map(|m| m.as_str()).collect();
            format!("unknown objective '{s}': expected one of {}", names.join(", "))
        })
    }
}

/// Whether an objective is maximized or minimized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Larger is better.
    Max,
    /// Smaller is better.
    Min,
}

/// What was measured about one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Measures {
    /// Mean score.
    pub score: f64,
    /// Prompt tokens per call.
    pub prompt_tokens: f64,
    /// Completion tokens per call.
    pub completion_tokens: f64,
    /// Tokens per call.
    pub tokens: f64,
    /// Milliseconds per example.
    pub latency: f64,
    /// US dollars per example.
    pub cost: f64,
    /// Prompt characters (instructions and demos).
    pub length: f64,
}

impl Measures {
    /// The measures of `program` from its rollouts on the validation set.
    pub fn of(rollouts: &[Rollout], program: &Program) -> Self {
        let n = rollouts.len().max(1) as f64;
        let calls: u64 = rollouts.iter().map(|r| u64::from(r.lm_calls)).sum();
        let per_call = |v: u64| if calls == 0 { 0.0 } else { v as f64 / calls as f64 };
        let prompt: u64 = rollouts.iter().map(|r| r.usage.prompt_tokens).sum();
        let completion: u64 = rollouts.iter().map(|r| r.usage.completion_tokens).sum();
        Measures {
            score: rollouts.iter().map(|r| r.score).sum::<f64>() / n,
            prompt_tokens: per_call(prompt),
            completion_tokens: per_call(completion),
            tokens: per_call(prompt + completion),
            latency: rollouts.iter().map(|r| r.latency_ms as f64).sum::<f64>() / n,
            cost: rollouts.iter().filter_map(|r| r.cost_usd).sum::<f64>() / n,
            length: prompt_length(program) as f64,
        }
    }

    /// One measure.
    pub fn get(&self, m: Measure) -> f64 {
        match m {
            Measure::Score => self.score,
            Measure::PromptTokens => self.prompt_tokens,
            Measure::CompletionTokens => self.completion_tokens,
            Measure::Tokens => self.tokens,
            Measure::Latency => self.latency,
            Measure::Cost => self.cost,
            Measure::Length => self.length,
        }
    }
}

/// Characters of every predictor's instruction and demos (their JSON): how long the part of
/// the prompt an optimizer changes is.
pub fn prompt_length(program: &Program) -> usize {
    program
        .predictors
        .iter()
        .map(|p| {
            let demos: usize = p.demos.iter().map(|d| serde_json::Value::Object(d.clone()).to_string().len()).sum();
            p.signature.instruction().chars().count() + demos
        })
        .sum()
}

/// One objective: a measure, its direction and, for a pick by weights, its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// What is measured.
    pub measure: Measure,
    /// Up or down.
    pub direction: Direction,
    /// Weight in a pick by weights (`None`: 1 when another objective has a weight).
    pub weight: Option<f64>,
}

impl Objective {
    /// `measure` in its natural direction, unweighted.
    pub fn natural(measure: Measure) -> Self {
        Objective { measure, direction: measure.natural(), weight: None }
    }

    /// The measure oriented for maximization.
    pub fn value(&self, m: &Measures) -> f64 {
        match self.direction {
            Direction::Max => m.get(self.measure),
            Direction::Min => -m.get(self.measure),
        }
    }
}

impl FromStr for Objective {
    type Err = String;
    /// `score:max`, `tokens:min`, `tokens:min:0.3`, or a bare measure in its natural direction.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(':');
        let measure: Measure = parts.next().unwrap_or_default().parse()?;
        let direction = match parts.next().map(str::trim) {
            None | Some("") => measure.natural(),
            Some("max") => Direction::Max,
            Some("min") => Direction::Min,
            Some(d) => return Err(format!("objective '{s}': direction '{d}' must be max or min")),
        };
        let weight = match parts.next() {
            None => None,
            Some(w) => match w.trim().parse::<f64>() {
                Ok(w) if w.is_finite() && w >= 0.0 => Some(w),
                _ => return Err(format!("objective '{s}': weight '{w}' must be a number of at least 0")),
            },
        };
        if parts.next().is_some() {
            return Err(format!("objective '{s}': expected MEASURE:max|min[:WEIGHT]"));
        }
        Ok(Objective { measure, direction, weight })
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = if self.direction == Direction::Max { "max" } else { "min" };
        write!(f, "{}:{d}", self.measure.as_str())?;
        if let Some(w) = self.weight {
            write!(f, ":{w}")?;
        }
        Ok(())
    }
}

impl Serialize for Objective {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Objective {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A bound on one measure that the final pick must respect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    /// What is bounded.
    pub measure: Measure,
    /// Largest allowed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Smallest allowed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

impl Constraint {
    /// How far `m` is outside the bound, relative to the bound (0 inside).
    pub fn violation(&self, m: &Measures) -> f64 {
        let v = m.get(self.measure);
        let rel = |excess: f64, bound: f64| excess / bound.abs().max(1e-9);
        let over = self.max.map_or(0.0, |b| if v > b { rel(v - b, b) } else { 0.0 });
        let under = self.min.map_or(0.0, |b| if v < b { rel(b - v, b) } else { 0.0 });
        over + under
    }

    /// The objective that keeps the best candidate meeting this bound on an archive's front.
    fn objective(&self) -> Objective {
        let direction = if self.max.is_some() { Direction::Min } else { Direction::Max };
        Objective { measure: self.measure, direction, weight: None }
    }
}

/// The objectives a run keeps a front over and how the final candidate is picked from it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Selection {
    /// The objectives, score first.
    pub objectives: Vec<Objective>,
    /// Bounds the pick must meet.
    pub constraints: Vec<Constraint>,
}

impl Selection {
    /// A selection over `objectives` (score:max is put first when missing) and `constraints`;
    /// refuses a measure named twice, weights that are all 0 and empty or impossible bounds.
    pub fn new(objectives: &[Objective], constraints: &[Constraint]) -> Result<Self, String> {
        let mut objs: Vec<Objective> = Vec::new();
        if !objectives.iter().any(|o| o.measure == Measure::Score) {
            objs.push(Objective::natural(Measure::Score));
        }
        for o in objectives {
            if objs.iter().any(|x| x.measure == o.measure) {
                return Err(format!("objective '{}' is named twice", o.measure.as_str()));
            }
            objs.push(*o);
        }
        if objs.iter().any(|o| o.weight.is_some()) && objs.iter().all(|o| o.weight.unwrap_or(1.0) == 0.0) {
            return Err("objective weights are all 0: give at least one a positive weight".into());
        }
        for c in constraints {
            let name = c.measure.as_str();
            if c.max.is_some() == c.min.is_some() {
                return Err(format!("constraint on {name}: give max or min (one of them)"));
            }
            if [c.max, c.min].iter().flatten().any(|v| !v.is_finite()) {
                return Err(format!("constraint on {name}: bounds must be numbers"));
            }
        }
        Ok(Selection { objectives: objs, constraints: constraints.to_vec() })
    }

    /// Whether this asks for more than the metric's score.
    pub fn is_multi(&self) -> bool {
        self.objectives.len() > 1 || !self.constraints.is_empty()
    }

    /// The objectives an archive must keep a front over: the objectives and, for each
    /// constraint on another measure, that measure in the bound's direction.
    pub fn archive_objectives(&self) -> Vec<Objective> {
        let mut out = self.objectives.clone();
        for c in &self.constraints {
            if !out.iter().any(|o| o.measure == c.measure) {
                out.push(c.objective());
            }
        }
        out
    }

    /// Sum of the constraint violations of `m` (0: all met).
    pub fn violation(&self, m: &Measures) -> f64 {
        self.constraints.iter().map(|c| c.violation(m)).sum()
    }
}

/// Whether `a` dominates `b` (maximizing): at least as good everywhere, better somewhere.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y)
}

/// NSGA-II's fast non-dominated sort: the fronts in order (front 0 is non-dominated), each
/// holding point indices ascending.
pub fn non_dominated_sort(points: &[Vec<f64>]) -> Vec<Vec<usize>> {
    let n = points.len();
    let mut dominated_by: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut count = vec![0usize; n];
    for i in 0..n {
        for j in (i + 1)..n {
            if dominates(&points[i], &points[j]) {
                dominated_by[i].push(j);
                count[j] += 1;
            } else if dominates(&points[j], &points[i]) {
                dominated_by[j].push(i);
                count[i] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|i| count[*i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominated_by[i] {
                count[j] -= 1;
                if count[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        fronts.push(std::mem::replace(&mut current, next));
    }
    fronts
}

/// NSGA-II's crowding distance of each point of `front` (same order): per objective, the gap
/// between its neighbours over the objective's range; the extremes get infinity.
#[allow(clippy::needless_range_loop)] // `d` indexes the inner vectors, not `points`
pub fn crowding_distance(points: &[Vec<f64>], front: &[usize]) -> Vec<f64> {
    let mut dist = vec![0.0; front.len()];
    if front.len() <= 2 {
        return vec![f64::INFINITY; front.len()];
    }
    let dims = points.get(front[0]).map_or(0, Vec::len);
    for d in 0..dims {
        let mut order: Vec<usize> = (0..front.len()).collect();
        order.sort_by(|a, b| points[front[*a]][d].total_cmp(&points[front[*b]][d]).then(a.cmp(b)));
        let lo = points[front[order[0]]][d];
        let hi = points[front[order[order.len() - 1]]][d];
        dist[order[0]] = f64::INFINITY;
        dist[order[order.len() - 1]] = f64::INFINITY;
        if hi - lo <= 0.0 {
            continue;
        }
        for k in 1..order.len() - 1 {
            let gap = points[front[order[k + 1]]][d] - points[front[order[k - 1]]][d];
            dist[order[k]] += gap / (hi - lo);
        }
    }
    dist
}

/// Per point, its front (0 best) and its crowding distance within that front.
pub fn rank_and_crowding(points: &[Vec<f64>]) -> Vec<(usize, f64)> {
    let mut out = vec![(0usize, 0.0f64); points.len()];
    for (r, front) in non_dominated_sort(points).iter().enumerate() {
        for (i, d) in front.iter().zip(crowding_distance(points, front)) {
            out[*i] = (r, d);
        }
    }
    out
}

/// NSGA-II's crowded comparison: lower front first, then larger crowding distance.
pub fn crowded_cmp(a: (usize, f64), b: (usize, f64)) -> Ordering {
    a.0.cmp(&b.0).then(b.1.total_cmp(&a.1))
}

/// The volume of the region dominated by `points` and dominating `reference` (maximizing;
/// points not above the reference in every objective add nothing). Exact for two objectives
/// and for up to [`EXACT_HV_POINTS`] points; beyond, a Monte-Carlo estimate with
/// [`MC_HV_SAMPLES`] samples from a fixed seed (so it is reproducible).
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let above: Vec<Vec<f64>> = points.iter().filter(|p| p.iter().zip(reference).all(|(x, r)| x > r)).cloned().collect();
    if above.is_empty() || reference.is_empty() {
        return 0.0;
    }
    let front: Vec<Vec<f64>> = non_dominated_sort(&above)[0].iter().map(|i| above[*i].clone()).collect();
    if front.len() <= EXACT_HV_POINTS || reference.len() <= 2 {
        hso(front, reference)
    } else {
        monte_carlo(&front, reference)
    }
}

/// Exact hypervolume by slicing along the last objective.
fn hso(mut points: Vec<Vec<f64>>, reference: &[f64]) -> f64 {
    let d = reference.len();
    if d == 1 {
        return points.iter().map(|p| p[0] - reference[0]).fold(0.0, f64::max);
    }
    if d == 2 {
        return sweep_2d(points, reference);
    }
    points.sort_by(|a, b| b[d - 1].total_cmp(&a[d - 1]));
    let mut total = 0.0;
    for i in 0..points.len() {
        let next = points.get(i + 1).map_or(reference[d - 1], |p| p[d - 1]);
        let height = points[i][d - 1] - next;
        if height > 0.0 {
            let slice: Vec<Vec<f64>> = points[..=i].iter().map(|p| p[..d - 1].to_vec()).collect();
            total += height * hso(slice, &reference[..d - 1]);
        }
    }
    total
}

/// Exact 2-D hypervolume: by the first objective descending, each point adds the strip above
/// the best second objective so far.
fn sweep_2d(mut points: Vec<Vec<f64>>, reference: &[f64]) -> f64 {
    points.sort_by(|a, b| b[0].total_cmp(&a[0]).then(b[1].total_cmp(&a[1])));
    let mut best_y = reference[1];
    let mut area = 0.0;
    for p in &points {
        if p[1] > best_y {
            area += (p[0] - reference[0]) * (p[1] - best_y);
            best_y = p[1];
        }
    }
    area
}

fn monte_carlo(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let d = reference.len();
    let upper: Vec<f64> = (0..d).map(|k| points.iter().map(|p| p[k]).fold(f64::NEG_INFINITY, f64::max)).collect();
    let volume: f64 = (0..d).map(|k| upper[k] - reference[k]).product();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    let mut hits = 0usize;
    let mut x = vec![0.0; d];
    for _ in 0..MC_HV_SAMPLES {
        for k in 0..d {
            x[k] = reference[k] + rng.gen::<f64>() * (upper[k] - reference[k]);
        }
        if points.iter().any(|p| p.iter().zip(&x).all(|(a, b)| a >= b)) {
            hits += 1;
        }
    }
    volume * hits as f64 / MC_HV_SAMPLES as f64
}

/// A candidate on an archive's front.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontPoint {
    /// Content hash of its state.
    pub candidate: String,
    /// The trial that scored it on the validation set, when one did.
    pub trial: Option<usize>,
    /// What was measured.
    pub measures: Measures,
    /// Its state.
    pub state: ProgramState,
}

/// The non-dominated candidates offered so far, over a selection's objectives (constraint
/// measures included); a candidate dominated by, or equal in every objective to and not
/// shorter than, one already kept is dropped, so memory is the front's size.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// What the front is kept over and how the pick is made.
    pub selection: Selection,
    objectives: Vec<Objective>,
    points: Vec<FrontPoint>,
    /// Candidates offered (one per full validation trial, repeats included).
    pub offered: usize,
    /// Per objective, the worst oriented value seen (normalizes the hypervolume).
    worst: Vec<f64>,
}

impl Archive {
    /// An empty archive for `selection`.
    pub fn new(selection: Selection) -> Self {
        let objectives = selection.archive_objectives();
        let worst = vec![f64::INFINITY; objectives.len()];
        Archive { selection, objectives, points: Vec::new(), offered: 0, worst }
    }

    /// The kept points, in the order they were found.
    pub fn points(&self) -> &[FrontPoint] {
        &self.points
    }

    fn vector(&self, m: &Measures) -> Vec<f64> {
        self.objectives.iter().map(|o| o.value(m)).collect()
    }

    /// Offers a candidate; returns whether it joined the front.
    pub fn offer(&mut self, point: FrontPoint) -> bool {
        self.offered += 1;
        let v = self.vector(&point.measures);
        for (w, x) in self.worst.iter_mut().zip(&v) {
            *w = w.min(*x);
        }
        if self.points.iter().any(|p| p.candidate == point.candidate) {
            return false;
        }
        let beaten = self.points.iter().any(|p| {
            let pv = self.vector(&p.measures);
            dominates(&pv, &v) || (pv == v && p.measures.length <= point.measures.length)
        });
        if beaten {
            return false;
        }
        let keep: Vec<FrontPoint> = std::mem::take(&mut self.points)
            .into_iter()
            .filter(|p| {
                let pv = self.vector(&p.measures);
                !(dominates(&v, &pv) || pv == v)
            })
            .collect();
        self.points = keep;
        self.points.push(point);
        true
    }

    /// The kept points' vectors in normalized space (maximizing, about `[0, 1]`): the score as
    /// is; every other objective scaled between the worst value seen on any offered candidate
    /// (less a 10% margin of the range, so the worst point still adds volume) and the best on
    /// the front, so no measure's unit outweighs another's.
    pub fn normalized(&self) -> Vec<Vec<f64>> {
        let best: Vec<f64> = (0..self.objectives.len())
            .map(|k| self.points.iter().map(|p| self.vector(&p.measures)[k]).fold(f64::NEG_INFINITY, f64::max))
            .collect();
        self.points
            .iter()
            .map(|p| {
                let v = self.vector(&p.measures);
                v.iter()
                    .enumerate()
                    .map(|(k, x)| match self.objectives[k].measure {
                        Measure::Score if self.objectives[k].direction == Direction::Max => *x,
                        _ => {
                            let lo = self.worst[k] - 0.1 * (best[k] - self.worst[k]).abs().max(1e-9);
                            let span = (best[k] - lo).max(1e-12);
                            (x - lo) / span
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Hypervolume of the front in [`normalized`](Self::normalized) space, reference point at
    /// the origin.
    pub fn hypervolume(&self) -> f64 {
        let refp = vec![0.0; self.objectives.len()];
        hypervolume(&self.normalized(), &refp)
    }

    /// The index of the pick: among the points meeting every constraint (or, when none does,
    /// those closest to meeting them), by weights when any objective has one (weighted sum of
    /// normalized values), else by the objectives in order (lexicographic); ties go to the
    /// shorter prompt, then to the earlier found.
    pub fn pick(&self) -> Option<usize> {
        let sel = &self.selection;
        let least = self.points.iter().map(|p| sel.violation(&p.measures)).fold(f64::INFINITY, f64::min);
        let eligible: Vec<usize> =
            (0..self.points.len()).filter(|i| sel.violation(&self.points[*i].measures) <= least).collect();
        let weighted = sel.objectives.iter().any(|o| o.weight.is_some());
        let norm = self.normalized();
        let key = |i: usize| -> Vec<f64> {
            if weighted {
                let s = sel.objectives.iter().enumerate().map(|(k, o)| o.weight.unwrap_or(1.0) * norm[i][k]).sum();
                vec![s]
            } else {
                sel.objectives.iter().map(|o| o.value(&self.points[i].measures)).collect()
            }
        };
        eligible.into_iter().min_by(|a, b| {
            let (ka, kb) = (key(*a), key(*b));
            let by_key = kb.iter().zip(&ka).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal);
            by_key.then(self.points[*a].measures.length.total_cmp(&self.points[*b].measures.length)).then(a.cmp(b))
        })
    }

    /// Whether the pick meets every constraint.
    pub fn pick_is_feasible(&self) -> bool {
        self.pick().is_some_and(|i| self.selection.violation(&self.points[i].measures) == 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[&[f64]]) -> Vec<Vec<f64>> {
        v.iter().map(|p| p.to_vec()).collect()
    }

    /// A textbook two-objective minimization, negated for maximization.
    fn textbook() -> Vec<Vec<f64>> {
        let min = [[1.0, 5.0], [2.0, 3.0], [4.0, 1.0], [3.0, 4.0], [4.0, 3.0], [5.0, 5.0]];
        min.iter().map(|p| vec![-p[0], -p[1]]).collect()
    }

    #[test]
    fn non_dominated_sorting_finds_the_textbook_fronts() {
        assert_eq!(non_dominated_sort(&textbook()), vec![vec![0, 1, 2], vec![3, 4], vec![5]]);
        assert!(non_dominated_sort(&[]).is_empty());
        // Equal points do not dominate each other.
        assert_eq!(non_dominated_sort(&pts(&[&[1.0, 1.0], &[1.0, 1.0]])), vec![vec![0, 1]]);
    }

    #[test]
    fn crowding_gives_extremes_infinity_and_the_middle_its_normalized_gaps() {
        let p = textbook();
        let d = crowding_distance(&p, &[0, 1, 2]);
        assert!(d[0].is_infinite() && d[2].is_infinite());
        // (2,3) between (1,5) and (4,1): (4-1)/(4-1) + (5-1)/(5-1) = 2.
        assert!((d[1] - 2.0).abs() < 1e-12, "{d:?}");
        let ranks = rank_and_crowding(&p);
        assert_eq!(ranks.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 0, 0, 1, 1, 2]);
        assert_eq!(crowded_cmp(ranks[1], ranks[0]), Ordering::Greater, "an extreme beats the middle");
        assert_eq!(crowded_cmp(ranks[3], ranks[1]), Ordering::Greater, "a lower front wins");
    }

    #[test]
    fn hypervolume_of_known_fronts() {
        let front = pts(&[&[1.0, 3.0], &[2.0, 2.0], &[3.0, 1.0]]);
        assert!((hypervolume(&front, &[0.0, 0.0]) - 6.0).abs() < 1e-12);
        // A dominated point and one below the reference add nothing.
        let more = pts(&[&[1.0, 3.0], &[2.0, 2.0], &[3.0, 1.0], &[1.0, 1.0], &[-1.0, 9.0]]);
        assert!((hypervolume(&more, &[0.0, 0.0]) - 6.0).abs() < 1e-12);
        let three = pts(&[&[2.0, 1.0, 1.0], &[1.0, 2.0, 1.0]]);
        assert!((hypervolume(&three, &[0.0, 0.0, 0.0]) - 3.0).abs() < 1e-12);
        assert!((hypervolume(&pts(&[&[1.0, 2.0, 3.0]]), &[0.0; 3]) - 6.0).abs() < 1e-12);
        assert_eq!(hypervolume(&[], &[0.0, 0.0]), 0.0);
    }

    #[test]
    fn the_monte_carlo_estimate_is_close_to_the_exact_volume() {
        // 70 points on a 4-D simplex-like front: exact by slicing vs. the estimate.
        let front: Vec<Vec<f64>> = (0..70)
            .map(|i| {
                let t = i as f64 / 69.0;
                vec![t, 1.0 - t, 0.5 + 0.5 * t * (1.0 - t), 0.3 + 0.2 * t]
            })
            .collect();
        let exact = hso(non_dominated_sort(&front)[0].iter().map(|i| front[*i].clone()).collect(), &[0.0; 4]);
        let estimate = hypervolume(&front, &[0.0; 4]);
        assert!((estimate - exact).abs() / exact < 0.05, "{estimate} vs {exact}");
        // The 2-D sweep agrees with slicing in three dimensions with a flat third objective.
        let two = pts(&[&[1.0, 3.0], &[2.0, 2.0], &[3.0, 1.0], &[2.5, 1.5]]);
        let flat: Vec<Vec<f64>> = two.iter().map(|p| vec![p[0], p[1], 1.0]).collect();
        assert!((hypervolume(&two, &[0.0, 0.0]) - hso(flat, &[0.0; 3])).abs() < 1e-12);
    }

    fn point(id: &str, score: f64, tokens: f64, length: f64) -> FrontPoint {
        let measures = Measures { score, tokens, length, ..Measures::default() };
        let state = ProgramState { format_version: 1, program: None, predictors: Default::default(), ensemble: None };
        FrontPoint { candidate: id.into(), trial: None, measures, state }
    }

    fn selection(objectives: &[&str], constraints: &[Constraint]) -> Selection {
        let objs: Vec<Objective> = objectives.iter().map(|o| o.parse().unwrap()).collect();
        Selection::new(&objs, constraints).unwrap()
    }

    #[test]
    fn objectives_parse_and_print() {
        let o: Objective = "tokens:min:0.5".parse().unwrap();
        assert_eq!((o.measure, o.direction, o.weight), (Measure::Tokens, Direction::Min, Some(0.5)));
        assert_eq!(o.to_string(), "tokens:min:0.5");
        assert_eq!("score".parse::<Objective>().unwrap().direction, Direction::Max);
        assert!("speed:min".parse::<Objective>().unwrap_err().contains("unknown objective 'speed'"));
        assert!("tokens:down".parse::<Objective>().unwrap_err().contains("must be max or min"));
        assert!("tokens:min:-1".parse::<Objective>().unwrap_err().contains("at least 0"));
        let s = selection(&["tokens:min"], &[]);
        assert_eq!(s.objectives[0].measure, Measure::Score, "score is put first");
        assert!(Selection::new(&[o, o], &[]).unwrap_err().contains("named twice"));
        let bad = Constraint { measure: Measure::Tokens, max: None, min: None };
        assert!(Selection::new(&[], &[bad]).unwrap_err().contains("give max or min"));
    }

    #[test]
    fn the_archive_keeps_the_front_and_at_equal_score_the_shorter_prompt() {
        let mut a = Archive::new(selection(&["score:max", "tokens:min"], &[]));
        assert!(a.offer(point("a", 0.5, 100.0, 50.0)));
        assert!(a.offer(point("b", 0.7, 200.0, 80.0)));
        assert!(!a.offer(point("c", 0.4, 150.0, 10.0)), "dominated by a");
        assert!(a.offer(point("d", 0.7, 200.0, 60.0)), "equal to b but shorter: replaces it");
        assert!(!a.offer(point("e", 0.7, 200.0, 60.0)), "equal and not shorter");
        assert!(a.offer(point("f", 0.8, 90.0, 70.0)), "dominates all");
        let ids: Vec<&str> = a.points().iter().map(|p| p.candidate.as_str()).collect();
        assert_eq!(ids, vec!["f"]);
        assert_eq!(a.offered, 6);
    }

    #[test]
    fn picks_follow_order_weights_and_constraints() {
        let mut a = Archive::new(selection(&["score:max", "tokens:min"], &[]));
        for p in [point("a", 0.5, 100.0, 50.0), point("b", 0.7, 300.0, 80.0), point("c", 0.6, 150.0, 60.0)] {
            a.offer(p);
        }
        assert_eq!(a.pick(), Some(1), "lexicographic: the best score");
        assert!(a.hypervolume() > 0.0);
        let mut w = Archive::new(selection(&["score:max:0", "tokens:min:1"], &[]));
        for p in a.points().to_vec() {
            w.offer(p);
        }
        assert_eq!(w.pick(), Some(0), "tokens only: the fewest");
        let c = Constraint { measure: Measure::Tokens, max: Some(200.0), min: None };
        let mut k = Archive::new(selection(&["score:max"], &[c]));
        for p in a.points().to_vec() {
            k.offer(p);
        }
        assert_eq!(k.points().len(), 3, "tokens joins the archive's objectives");
        assert_eq!(k.points()[k.pick().unwrap()].candidate, "c");
        assert!(k.pick_is_feasible());
        let tight = Constraint { measure: Measure::Tokens, max: Some(10.0), min: None };
        let mut t = Archive::new(selection(&["score:max"], &[tight]));
        for p in a.points().to_vec() {
            t.offer(p);
        }
        assert_eq!(t.points()[t.pick().unwrap()].candidate, "a", "closest to the bound");
        assert!(!t.pick_is_feasible());
    }

    #[test]
    fn at_equal_score_the_shorter_prompt_is_picked() {
        let mut a = Archive::new(selection(&["score:max", "latency:min"], &[]));
        let mut fast = point("fast_long", 0.7, 0.0, 90.0);
        fast.measures.latency = 1.0;
        let mut slow = point("slow_short", 0.7, 0.0, 40.0);
        slow.measures.latency = 5.0;
        a.offer(fast);
        a.offer(slow);
        assert_eq!(a.points().len(), 1, "equal score, lower latency dominates");
        assert_eq!(a.points()[0].candidate, "fast_long");
        let mut b = Archive::new(selection(&["score:max"], &[]));
        b.offer(point("long", 0.7, 0.0, 90.0));
        b.offer(point("short", 0.7, 0.0, 40.0));
        assert_eq!(b.points()[b.pick().unwrap()].candidate, "short");
    }
}
