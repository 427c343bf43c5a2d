//! Search spaces: named dimensions, and the parameter values a trial carries for them.

use super::{Result, TpeError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One dimension of a [`SearchSpace`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dimension {
    /// One of `choices` unordered options, named by their index `0..choices` (the main case: which
    /// instruction, which demo set).
    Categorical {
        /// Number of options (at least 1).
        choices: usize,
    },
    /// An integer in `low..=high` on the grid `low + k * step`.
    Int {
        /// Smallest value.
        low: i64,
        /// Largest value; `high - low` must be a multiple of `step`.
        high: i64,
        /// Grid spacing (at least 1; exactly 1 when `log`).
        step: i64,
        /// Model the value on a log scale (needs `low >= 1`).
        log: bool,
    },
    /// A real number in `[low, high]`, optionally on the grid `low + k * step`.
    Float {
        /// Smallest value.
        low: f64,
        /// Largest value; `high - low` must be a multiple of `step` when there is one.
        high: f64,
        /// Grid spacing, or `None` for a continuous range (must be `None` when `log`).
        step: Option<f64>,
        /// Model the value on a log scale (needs `low > 0`).
        log: bool,
    },
}

impl Dimension {
    /// A categorical dimension with `choices` options.
    pub fn categorical(choices: usize) -> Self {
        Dimension::Categorical { choices }
    }

    /// An integer dimension `low..=high` with step 1, linear scale.
    pub fn int(low: i64, high: i64) -> Self {
        Dimension::Int { low, high, step: 1, log: false }
    }

    /// A continuous real dimension `[low, high]`, linear scale.
    pub fn float(low: f64, high: f64) -> Self {
        Dimension::Float { low, high, step: None, log: false }
    }

    /// The same dimension on a log scale (numeric dimensions; categoricals are returned unchanged).
    pub fn log(self) -> Self {
        match self {
            Dimension::Int { low, high, step, .. } => Dimension::Int { low, high, step, log: true },
            Dimension::Float { low, high, step, .. } => Dimension::Float { low, high, step, log: true },
            categorical => categorical,
        }
    }

    /// The same numeric dimension restricted to the grid `low + k * step` (categoricals unchanged;
    /// for integers the step is rounded to the nearest integer).
    pub fn step(self, step: f64) -> Self {
        match self {
            Dimension::Int { low, high, log, .. } => Dimension::Int { low, high, step: step.round() as i64, log },
            Dimension::Float { low, high, log, .. } => Dimension::Float { low, high, step: Some(step), log },
            categorical => categorical,
        }
    }

    /// Checks the dimension's own constraints (the reason when it breaks one).
    fn validate(&self) -> std::result::Result<(), String> {
        match *self {
            Dimension::Categorical { choices } => {
                if choices == 0 {
                    return Err("a categorical dimension needs at least one choice".into());
                }
            }
            Dimension::Int { low, high, step, log } => {
                if low > high {
                    return Err(format!("low {low} is above high {high}"));
                }
                if step < 1 {
                    return Err(format!("step {step} must be at least 1"));
                }
                if (high - low) % step != 0 {
                    return Err(format!("high - low = {} is not a multiple of step {step}", high - low));
                }
                if log && low < 1 {
                    return Err(format!("a log-scale dimension needs low >= 1, got {low}"));
                }
                if log && step != 1 {
                    return Err(format!("a log-scale integer dimension needs step 1, got {step}"));
                }
            }
            Dimension::Float { low, high, step, log } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err("bounds must be finite".into());
                }
                if low > high {
                    return Err(format!("low {low} is above high {high}"));
                }
                if log && low <= 0.0 {
                    return Err(format!("a log-scale dimension needs low > 0, got {low}"));
                }
                if let Some(step) = step {
                    if log {
                        return Err("a log-scale dimension cannot have a step".into());
                    }
                    if !(step.is_finite() && step > 0.0) {
                        return Err(format!("step {step} must be positive"));
                    }
                    let k = (high - low) / step;
                    if (k - k.round()).abs() > 1e-8 * k.abs().max(1.0) {
                        return Err(format!("high - low = {} is not a multiple of step {step}", high - low));
                    }
                }
            }
        }
        Ok(())
    }

    /// The internal (real-valued) representation of `value`, or why it does not fit this dimension.
    pub(crate) fn internal(&self, value: ParamValue) -> std::result::Result<f64, String> {
        match (*self, value) {
            (Dimension::Categorical { choices }, ParamValue::Index(i)) => {
                if i < choices {
                    Ok(i as f64)
                } else {
                    Err(format!("index {i} is out of range for {choices} choices"))
                }
            }
            (Dimension::Int { low, high, step, .. }, ParamValue::Int(v)) => {
                if v < low || v > high {
                    Err(format!("{v} is outside {low}..={high}"))
                } else if (v - low) % step != 0 {
                    Err(format!("{v} is not on the grid {low} + k * {step}"))
                } else {
                    Ok(v as f64)
                }
            }
            (Dimension::Float { low, high, step, .. }, ParamValue::Float(x)) => {
                if !(low..=high).contains(&x) {
                    Err(format!("{x} is outside [{low}, {high}]"))
                } else if let Some(step) = step {
                    let k = (x - low) / step;
                    if (k - k.round()).abs() > 1e-8 * k.abs().max(1.0) {
                        Err(format!("{x} is not on the grid {low} + k * {step}"))
                    } else {
                        Ok(x)
                    }
                } else {
                    Ok(x)
                }
            }
            (dimension, value) => Err(format!("{value:?} does not fit the {} dimension", dimension.kind())),
        }
    }

    /// The parameter value of an internal representation produced by the samplers.
    pub(crate) fn external(&self, internal: f64) -> ParamValue {
        match *self {
            Dimension::Categorical { choices } => {
                ParamValue::Index((internal.max(0.0) as usize).min(choices.saturating_sub(1)))
            }
            Dimension::Int { low, high, .. } => ParamValue::Int((internal.round() as i64).clamp(low, high)),
            Dimension::Float { low, high, .. } => ParamValue::Float(internal.clamp(low, high)),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Dimension::Categorical { .. } => "categorical",
            Dimension::Int { .. } => "int",
            Dimension::Float { .. } => "float",
        }
    }

    /// The numeric view of an int or float dimension; `None` for categoricals.
    pub(crate) fn numeric(&self) -> Option<Numeric> {
        match *self {
            Dimension::Categorical { .. } => None,
            Dimension::Int { low, high, step, log } => {
                Some(Numeric { low: low as f64, high: high as f64, step: Some(step as f64), log })
            }
            Dimension::Float { low, high, step, log } => Some(Numeric { low, high, step, log }),
        }
    }

    /// A uniform draw (internal representation), as Optuna's `RandomSampler` does it: categoricals
    /// uniformly over the indices; numbers uniformly over the (log-)transformed range widened by
    /// half a step on each side, then mapped back and snapped to the grid.
    pub(crate) fn sample_uniform<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            Dimension::Categorical { choices } => rng.gen_range(0..choices.max(1)) as f64,
            _ => match self.numeric() {
                Some(numeric) => {
                    let (low, high) = numeric.transformed_bounds();
                    let t = low + (high - low) * rng.gen::<f64>();
                    numeric.untransform(t)
                }
                None => 0.0,
            },
        }
    }
}

/// An int or float dimension as the samplers see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Numeric {
    pub(crate) low: f64,
    pub(crate) high: f64,
    pub(crate) step: Option<f64>,
    pub(crate) log: bool,
}

impl Numeric {
    /// Into the space the kernels live in: ln(x) on a log scale, x otherwise.
    pub(crate) fn transform(&self, x: f64) -> f64 {
        if self.log {
            x.ln()
        } else {
            x
        }
    }

    /// The kernels' range: `[low - step/2, high + step/2]`, transformed.
    pub(crate) fn transformed_bounds(&self) -> (f64, f64) {
        let half = self.step.unwrap_or(0.0) / 2.0;
        (self.transform(self.low - half), self.transform(self.high + half))
    }

    /// Back from the kernels' space: undo the log, snap to the grid, clamp into `[low, high]`.
    pub(crate) fn untransform(&self, t: f64) -> f64 {
        let x = if self.log { t.exp() } else { t };
        match self.step {
            Some(step) => {
                let k = ((x - self.low) / step).round_ties_even();
                (self.low + k * step).clamp(self.low, self.high)
            }
            None => x.clamp(self.low, self.high),
        }
    }
}

/// The value of one parameter in a trial.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamValue {
    /// The index of the chosen option of a categorical dimension.
    Index(usize),
    /// The value of an integer dimension.
    Int(i64),
    /// The value of a float dimension.
    Float(f64),
}

/// A trial's parameter values by dimension name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(BTreeMap<String, ParamValue>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// These parameters plus `name = value` (builder style).
    pub fn with(mut self, name: impl Into<String>, value: ParamValue) -> Self {
        self.0.insert(name.into(), value);
        self
    }

    /// Sets `name = value`, returning the value it replaces.
    pub fn insert(&mut self, name: impl Into<String>, value: ParamValue) -> Option<ParamValue> {
        self.0.insert(name.into(), value)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<ParamValue> {
        self.0.get(name).copied()
    }

    /// The chosen index of the categorical parameter `name` (`None` if absent or not categorical).
    pub fn index(&self, name: &str) -> Option<usize> {
        match self.get(name)? {
            ParamValue::Index(i) => Some(i),
            _ => None,
        }
    }

    /// The value of the integer parameter `name` (`None` if absent or not an integer).
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            ParamValue::Int(v) => Some(v),
            _ => None,
        }
    }

    /// The value of the float parameter `name` (`None` if absent or not a float).
    pub fn float(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            ParamValue::Float(x) => Some(x),
            _ => None,
        }
    }

    /// Number of parameters set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameters in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, ParamValue)> {
        self.0.iter().map(|(name, value)| (name.as_str(), *value))
    }
}

impl<S: Into<String>> FromIterator<(S, ParamValue)> for Params {
    fn from_iter<I: IntoIterator<Item = (S, ParamValue)>>(iter: I) -> Self {
        Params(iter.into_iter().map(|(name, value)| (name.into(), value)).collect())
    }
}

/// A named dimension, as the space stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct NamedDimension {
    name: String,
    #[serde(flatten)]
    dimension: Dimension,
}

/// An ordered list of uniquely named dimensions.
///
/// The order is the order dimensions were added; it fixes the order in which they are sampled
/// (and so the random stream), not their meaning.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct SearchSpace {
    dimensions: Vec<NamedDimension>,
}

impl SearchSpace {
    /// An empty space.
    pub fn new() -> Self {
        Self::default()
    }

    /// This space plus the dimension `name`; fails on a duplicate name or an invalid dimension.
    pub fn add(mut self, name: impl Into<String>, dimension: Dimension) -> Result<Self> {
        let name = name.into();
        if self.position(&name).is_some() {
            return Err(TpeError::DuplicateDimension(name));
        }
        if let Err(reason) = dimension.validate() {
            return Err(TpeError::InvalidDimension { name, reason });
        }
        self.dimensions.push(NamedDimension { name, dimension });
        Ok(self)
    }

    /// This space plus a categorical dimension with `choices` options.
    pub fn categorical(self, name: impl Into<String>, choices: usize) -> Result<Self> {
        self.add(name, Dimension::categorical(choices))
    }

    /// This space plus an integer dimension `low..=high` (step 1, linear).
    pub fn int(self, name: impl Into<String>, low: i64, high: i64) -> Result<Self> {
        self.add(name, Dimension::int(low, high))
    }

    /// This space plus a continuous float dimension `[low, high]` (linear).
    pub fn float(self, name: impl Into<String>, low: f64, high: f64) -> Result<Self> {
        self.add(name, Dimension::float(low, high))
    }

    /// Number of dimensions.
    pub fn len(&self) -> usize {
        self.dimensions.len()
    }

    /// Whether the space has no dimension.
    pub fn is_empty(&self) -> bool {
        self.dimensions.is_empty()
    }

    /// The dimension called `name`.
    pub fn get(&self, name: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.name == name).map(|d| &d.dimension)
    }

    /// The position of the dimension called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.dimensions.iter().position(|d| d.name == name)
    }

    /// The dimensions in order, with their names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Dimension)> {
        self.dimensions.iter().map(|d| (d.name.as_str(), &d.dimension))
    }

    /// The `i`-th dimension.
    pub(crate) fn dimension(&self, i: usize) -> Option<&Dimension> {
        self.dimensions.get(i).map(|d| &d.dimension)
    }

    /// Checks that every name in `params` is a dimension and every value fits it.
    pub(crate) fn check(&self, params: &Params) -> Result<()> {
        for (name, value) in params.iter() {
            let dimension = self.get(name).ok_or_else(|| TpeError::UnknownParameter(name.to_string()))?;
            dimension.internal(value).map_err(|reason| TpeError::InvalidValue { name: name.to_string(), reason })?;
        }
        Ok(())
    }

    /// The internal representation of `params` along the dimensions at `positions`; `None` when a
    /// dimension is missing or its value does not fit.
    pub(crate) fn internal(&self, params: &Params, positions: &[usize]) -> Option<Vec<f64>> {
        positions
            .iter()
            .map(|&i| {
                let d = self.dimensions.get(i)?;
                d.dimension.internal(params.get(&d.name)?).ok()
            })
            .collect()
    }

    /// Parameters from internal values along the dimensions at `positions`.
    pub(crate) fn params(&self, positions: &[usize], internal: &[f64]) -> Params {
        positions
            .iter()
            .zip(internal)
            .filter_map(|(&i, &x)| self.dimensions.get(i).map(|d| (d.name.clone(), d.dimension.external(x))))
            .collect()
    }
}

impl<'de> Deserialize<'de> for SearchSpace {
    /// Deserializes and validates, so a loaded space obeys the same rules as a built one.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let dimensions = Vec::<NamedDimension>::deserialize(deserializer)?;
        dimensions
            .into_iter()
            .try_fold(SearchSpace::new(), |space, d| space.add(d.name, d.dimension))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn builder_rejects_duplicates_and_invalid_dimensions() {
        let space = SearchSpace::new().categorical("a", 3).unwrap().int("b", 1, 9).unwrap();
        assert_eq!(space.len(), 2);
        assert_eq!(space.position("b"), Some(1));
        assert_eq!(space.clone().categorical("a", 2).unwrap_err(), TpeError::DuplicateDimension("a".into()));
        assert!(matches!(space.clone().categorical("c", 0), Err(TpeError::InvalidDimension { .. })));
        assert!(matches!(space.clone().int("c", 5, 1), Err(TpeError::InvalidDimension { .. })));
        assert!(matches!(space.clone().add("c", Dimension::int(0, 10).log()), Err(TpeError::InvalidDimension { .. })));
        assert!(matches!(
            space.clone().add("c", Dimension::int(0, 10).step(3.0)),
            Err(TpeError::InvalidDimension { .. })
        ));
        assert!(matches!(
            space.clone().add("c", Dimension::float(0.1, 1.0).log().step(0.1)),
            Err(TpeError::InvalidDimension { .. })
        ));
        assert!(space.add("c", Dimension::float(0.0, 1.0).step(0.25)).is_ok());
    }

    #[test]
    fn values_are_checked_against_their_dimension() {
        let space = SearchSpace::new()
            .categorical("c", 3)
            .unwrap()
            .add("i", Dimension::int(0, 10).step(2.0))
            .unwrap()
            .add("f", Dimension::float(0.0, 1.0).step(0.25))
            .unwrap();
        assert!(space.check(&Params::new().with("c", ParamValue::Index(2)).with("i", ParamValue::Int(4))).is_ok());
        assert!(matches!(
            space.check(&Params::new().with("c", ParamValue::Index(3))),
            Err(TpeError::InvalidValue { .. })
        ));
        assert!(matches!(
            space.check(&Params::new().with("i", ParamValue::Int(3))),
            Err(TpeError::InvalidValue { .. })
        ));
        assert!(matches!(
            space.check(&Params::new().with("f", ParamValue::Float(0.3))),
            Err(TpeError::InvalidValue { .. })
        ));
        assert!(matches!(
            space.check(&Params::new().with("c", ParamValue::Int(1))),
            Err(TpeError::InvalidValue { .. })
        ));
        assert_eq!(
            space.check(&Params::new().with("zz", ParamValue::Index(0))),
            Err(TpeError::UnknownParameter("zz".into()))
        );
    }

    #[test]
    fn uniform_samples_cover_the_grid_evenly() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let int = Dimension::int(0, 10).step(5.0);
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            let x = int.sample_uniform(&mut rng);
            let ParamValue::Int(v) = int.external(x) else { panic!("not an int") };
            counts[(v / 5) as usize] += 1;
        }
        // Each of 0, 5, 10 about 1000 times.
        assert!(counts.iter().all(|&c| (850..1150).contains(&c)), "{counts:?}");
        let log = Dimension::float(1.0, 100.0).log();
        let below_ten = (0..3000).filter(|_| log.sample_uniform(&mut rng) < 10.0).count();
        // Log-uniform: half the mass below 10.
        assert!((1350..1650).contains(&below_ten), "{below_ten}");
        let cat = Dimension::categorical(4);
        let mut seen = [false; 4];
        for _ in 0..100 {
            seen[cat.sample_uniform(&mut rng) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn space_round_trips_through_json_and_validates_on_load() {
        let space =
            SearchSpace::new().categorical("instruction_0", 5).unwrap().add("t", Dimension::float(0.0, 2.0)).unwrap();
        let json = serde_json::to_string(&space).unwrap();
        let back: SearchSpace = serde_json::from_str(&json).unwrap();
        assert_eq!(back, space);
        let bad = r#"[{"name":"a","kind":"categorical","choices":0}]"#;
        assert!(serde_json::from_str::<SearchSpace>(bad).is_err());
    }
}
