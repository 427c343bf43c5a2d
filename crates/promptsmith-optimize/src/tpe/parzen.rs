//! The Parzen estimators of TPE: the good/bad split size (gamma), the observation weights, and the
//! mixture of product kernels fitted to one group of trials, following Optuna's `_ParzenEstimator`.
//!
//! A mixture has one component per observation plus one prior component; each component is a
//! product of one kernel per dimension:
//!
//! - categorical: a distribution over the choices that puts `prior_weight / n_kernels` on every
//!   choice plus 1 on the observed one, normalized; the prior component is uniform;
//! - numeric: a normal truncated to the range (widened by half a step, on a log scale when asked),
//!   centred on the observation, its bandwidth the distance to the farther of its neighbours
//!   (Optuna 5's rule, the same in multivariate and independent mode) bounded by "magic clip";
//!   the prior component is centred on the range with the range as its standard deviation. Grid
//!   dimensions use the kernel's mass over the grid cell instead of its density.
//!
//! The component weights are the observation weights (see [`Weights`]) plus `prior_weight`,
//! normalized.

use super::normal::{log_gauss_mass, log_normal_pdf, sample_truncated};
use super::space::{Dimension, Numeric};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How many of `n` finished trials form the good group ("below" in Optuna's minimizing terms).
///
/// `n_below(n) = min(ceil(fraction * n), max)`, computed in floating point as Optuna's
/// `default_gamma` does.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gamma {
    /// Fraction of the trials that are good.
    pub fraction: f64,
    /// Cap on the size of the good group.
    pub max: usize,
}

impl Default for Gamma {
    /// Optuna's default: `min(ceil(0.1 * n), 25)`.
    fn default() -> Self {
        Gamma { fraction: 0.1, max: 25 }
    }
}

impl Gamma {
    /// The size of the good group among `n` finished trials.
    pub fn n_below(&self, n: usize) -> usize {
        let raw = (self.fraction * n as f64).ceil();
        let raw = if raw.is_finite() && raw > 0.0 { raw as usize } else { 0 };
        raw.min(self.max)
    }
}

/// The weights of a group's observations, oldest first (groups are ordered by trial number).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Weights {
    /// Optuna's `default_weights` with `flat = 25`: weight 1 for the `flat` most recent
    /// observations and, when there are more, a linear ramp from `1/n` up to 1 over the older ones.
    Ramp {
        /// How many of the most recent observations get full weight.
        flat: usize,
    },
    /// Weight 1 for every observation.
    Uniform,
}

impl Default for Weights {
    /// Optuna's default: [`Weights::Ramp`] with `flat = 25`.
    fn default() -> Self {
        Weights::Ramp { flat: 25 }
    }
}

impl Weights {
    /// The weights of `n` observations, oldest first.
    pub fn weights(&self, n: usize) -> Vec<f64> {
        match *self {
            Weights::Uniform => vec![1.0; n],
            Weights::Ramp { flat } => {
                if n < flat.max(1) {
                    return vec![1.0; n];
                }
                let ramp_len = n - flat;
                let start = 1.0 / n as f64;
                let mut weights = linspace(start, 1.0, ramp_len);
                weights.extend(std::iter::repeat_n(1.0, flat));
                weights
            }
        }
    }
}

/// `num` evenly spaced values from `start` to `stop` inclusive, like `numpy.linspace`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (stop - start) / (num - 1) as f64;
            let mut values: Vec<f64> = (0..num).map(|i| start + i as f64 * step).collect();
            values[num - 1] = stop;
            values
        }
    }
}

/// The settings the estimators share (a slice of the sampler's configuration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct EstimatorParams {
    /// Weight of the prior component relative to an observation of weight 1.
    pub(crate) prior_weight: f64,
    /// Bound numeric bandwidths below by `range / min(100, 1 + n_kernels)`.
    pub(crate) consider_magic_clip: bool,
    /// Let the range ends count as neighbours of the extreme kernels.
    pub(crate) consider_endpoints: bool,
    /// Observation weights.
    pub(crate) weights: Weights,
}

/// Smallest bandwidth without magic clip (Optuna's `EPS`).
const EPS: f64 = 1e-12;

/// The kernels of one dimension, one per mixture component.
#[derive(Clone, Debug)]
enum Kernels {
    Categorical(CategoricalKernels),
    Numeric(NumericKernels),
}

/// Row-major `n_kernels × choices` probabilities.
#[derive(Clone, Debug)]
struct CategoricalKernels {
    choices: usize,
    probs: Vec<f64>,
    log_probs: Vec<f64>,
}

#[derive(Clone, Debug)]
struct NumericKernels {
    dimension: Numeric,
    /// Kernel range in the transformed space.
    low: f64,
    high: f64,
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    /// ln of each kernel's mass inside `[low, high]` (its truncation normalizer).
    log_mass: Vec<f64>,
}

/// A mixture of product kernels fitted to one group of observations.
#[derive(Clone, Debug)]
pub(crate) struct ParzenEstimator {
    weights: Vec<f64>,
    log_weights: Vec<f64>,
    kernels: Vec<Kernels>,
}

impl ParzenEstimator {
    /// Fits the estimator to `observations` (one row per trial, oldest first, one internal value
    /// per dimension in `dimensions`).
    pub(crate) fn new(observations: &[Vec<f64>], dimensions: &[&Dimension], params: &EstimatorParams) -> Self {
        let n = observations.len();
        let mut weights = if n == 0 {
            vec![1.0]
        } else {
            let mut w = params.weights.weights(n);
            w.resize(n, 1.0);
            w.push(params.prior_weight);
            w
        };
        let total: f64 = weights.iter().sum();
        if total > 0.0 && total.is_finite() {
            weights.iter_mut().for_each(|w| *w /= total);
        } else {
            let k = weights.len() as f64;
            weights.iter_mut().for_each(|w| *w = 1.0 / k);
        }
        let log_weights = weights.iter().map(|w| w.ln()).collect();
        let kernels = dimensions
            .iter()
            .enumerate()
            .map(|(j, dimension)| {
                let column: Vec<f64> = observations.iter().map(|row| row.get(j).copied().unwrap_or(0.0)).collect();
                match dimension.numeric() {
                    None => {
                        let choices = match dimension {
                            Dimension::Categorical { choices } => *choices,
                            _ => 1,
                        };
                        Kernels::Categorical(CategoricalKernels::new(&column, choices, params.prior_weight))
                    }
                    Some(numeric) => Kernels::Numeric(NumericKernels::new(&column, numeric, params)),
                }
            })
            .collect();
        ParzenEstimator { weights, log_weights, kernels }
    }

    /// The normalized component weights (observations oldest first, then the prior).
    #[cfg(test)]
    pub(crate) fn component_weights(&self) -> &[f64] {
        &self.weights
    }

    /// `n` draws from the mixture (internal representation), drawing all component indices first
    /// and then the values dimension by dimension, as Optuna does.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Vec<Vec<f64>> {
        let components: Vec<usize> = (0..n).map(|_| pick(&self.weights, rng.gen::<f64>())).collect();
        let mut samples = vec![Vec::with_capacity(self.kernels.len()); n];
        for kernels in &self.kernels {
            for (sample, &k) in samples.iter_mut().zip(&components) {
                let value = match kernels {
                    Kernels::Categorical(c) => {
                        let row = &c.probs[k * c.choices..(k + 1) * c.choices];
                        pick(row, rng.gen::<f64>()) as f64
                    }
                    Kernels::Numeric(num) => {
                        let t = sample_truncated(rng, num.mus[k], num.sigmas[k], num.low, num.high);
                        num.dimension.untransform(t)
                    }
                };
                sample.push(value);
            }
        }
        samples
    }

    /// ln of the mixture's density (mass, for categorical and grid dimensions) at `x`.
    pub(crate) fn log_pdf(&self, x: &[f64]) -> f64 {
        let mut terms = self.log_weights.clone();
        for (kernels, &value) in self.kernels.iter().zip(x) {
            match kernels {
                Kernels::Categorical(c) => {
                    let choice = (value.max(0.0) as usize).min(c.choices.saturating_sub(1));
                    for (k, term) in terms.iter_mut().enumerate() {
                        *term += c.log_probs[k * c.choices + choice];
                    }
                }
                Kernels::Numeric(num) => {
                    for (k, term) in terms.iter_mut().enumerate() {
                        *term += num.log_pdf(k, value);
                    }
                }
            }
        }
        log_sum_exp(&terms)
    }
}

impl CategoricalKernels {
    /// Optuna's categorical kernels: with `m` observations there are `m + 1` kernels; row `i < m`
    /// is `prior_weight / (m + 1)` on every choice plus 1 on observation `i`'s choice, normalized;
    /// the last row (the prior) is uniform. No observations: a single uniform row.
    fn new(observed: &[f64], choices: usize, prior_weight: f64) -> Self {
        let choices = choices.max(1);
        let probs = if observed.is_empty() {
            vec![1.0 / choices as f64; choices]
        } else {
            let n_kernels = observed.len() + 1;
            let mut probs = vec![prior_weight / n_kernels as f64; n_kernels * choices];
            for (i, &x) in observed.iter().enumerate() {
                let choice = (x.max(0.0) as usize).min(choices - 1);
                probs[i * choices + choice] += 1.0;
            }
            for row in probs.chunks_mut(choices) {
                let sum: f64 = row.iter().sum();
                if sum > 0.0 {
                    row.iter_mut().for_each(|p| *p /= sum);
                } else {
                    row.iter_mut().for_each(|p| *p = 1.0 / choices as f64);
                }
            }
            probs
        };
        let log_probs = probs.iter().map(|p| p.ln()).collect();
        CategoricalKernels { choices, probs, log_probs }
    }
}

impl NumericKernels {
    fn new(observed: &[f64], dimension: Numeric, params: &EstimatorParams) -> Self {
        let (low, high) = dimension.transformed_bounds();
        let range = high - low;
        let mut mus: Vec<f64> = observed.iter().map(|&x| dimension.transform(x)).collect();
        let m = mus.len();
        let mut sigmas = neighbour_bandwidths(&mus, low, high, params.consider_endpoints);
        let max_sigma = range;
        let min_sigma = if params.consider_magic_clip { range / (1.0 + (m + 1) as f64).min(100.0) } else { EPS };
        for sigma in &mut sigmas {
            *sigma = sigma.max(min_sigma).min(max_sigma);
        }
        mus.push(0.5 * (low + high));
        sigmas.push(range);
        // A zero-width range (low == high) still needs a positive bandwidth.
        for sigma in &mut sigmas {
            if sigma.is_nan() || *sigma <= 0.0 {
                *sigma = EPS;
            }
        }
        let log_mass =
            mus.iter().zip(&sigmas).map(|(&mu, &s)| log_gauss_mass((low - mu) / s, (high - mu) / s)).collect();
        NumericKernels { dimension, low, high, mus, sigmas, log_mass }
    }

    /// ln density (continuous) or ln mass of the grid cell (stepped) of kernel `k` at `x`
    /// (internal representation). Log-scale densities are taken in log space, as Optuna does.
    fn log_pdf(&self, k: usize, x: f64) -> f64 {
        if self.dimension.low >= self.dimension.high {
            // A single-valued dimension carries no information (Optuna leaves such dimensions out).
            return 0.0;
        }
        let (mu, sigma) = (self.mus[k], self.sigmas[k]);
        match self.dimension.step {
            None => {
                let t = self.dimension.transform(x);
                let z = (t - mu) / sigma;
                log_normal_pdf(z) - sigma.ln() - self.log_mass[k]
            }
            Some(step) => {
                let lower = self.dimension.transform(x - step / 2.0).max(self.low);
                let upper = self.dimension.transform(x + step / 2.0).min(self.high);
                log_gauss_mass((lower - mu) / sigma, (upper - mu) / sigma) - self.log_mass[k]
            }
        }
    }
}

/// Optuna's bandwidths: each observation's distance to its farther neighbour among the sorted
/// observations and the range ends; without `consider_endpoints` (and with at least two
/// observations) the extreme kernels use their inner neighbour only.
fn neighbour_bandwidths(mus: &[f64], low: f64, high: f64, consider_endpoints: bool) -> Vec<f64> {
    let m = mus.len();
    if m == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| mus[a].total_cmp(&mus[b]));
    let mut points = Vec::with_capacity(m + 2);
    points.push(low);
    points.extend(order.iter().map(|&i| mus[i]));
    points.push(high);
    let mut sorted_sigmas: Vec<f64> =
        (0..m).map(|i| (points[i + 1] - points[i]).max(points[i + 2] - points[i + 1])).collect();
    if !consider_endpoints && points.len() >= 4 {
        sorted_sigmas[0] = points[2] - points[1];
        sorted_sigmas[m - 1] = points[m] - points[m - 1];
    }
    let mut sigmas = vec![0.0; m];
    for (&original, &sigma) in order.iter().zip(&sorted_sigmas) {
        sigmas[original] = sigma;
    }
    sigmas
}

/// The index drawn by the uniform `u` from the (normalized) probabilities `probs`: the first
/// index whose cumulative probability exceeds `u`; the last one absorbs rounding.
fn pick(probs: &[f64], u: f64) -> usize {
    let mut cumulative = 0.0;
    for (i, p) in probs.iter().enumerate() {
        cumulative += p;
        if u < cumulative {
            return i;
        }
    }
    probs.len().saturating_sub(1)
}

/// ln Σ exp(terms), `-inf` when every term is `-inf`.
fn log_sum_exp(terms: &[f64]) -> f64 {
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY || max.is_nan() {
        return max;
    }
    max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn params() -> EstimatorParams {
        EstimatorParams {
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            weights: Weights::default(),
        }
    }

    fn rows(columns: &[&[f64]]) -> Vec<Vec<f64>> {
        (0..columns[0].len()).map(|i| columns.iter().map(|c| c[i]).collect()).collect()
    }

    fn assert_log_pdfs(pe: &ParzenEstimator, points: &[&[f64]], want: &[f64]) {
        for (x, want) in rows(points).iter().zip(want) {
            let got = pe.log_pdf(x);
            assert!((got - want).abs() < 1e-9 * want.abs().max(1.0), "log_pdf({x:?}) = {got}, Optuna says {want}");
        }
    }

    /// Reference values computed with Optuna 5.0.0's `_ParzenEstimator` (prior weight 1, magic
    /// clip, no endpoints, default weights unless stated), by the script in the crate's
    /// `tests/optuna_reference.py`.
    #[test]
    fn log_pdfs_match_optunas_parzen_estimator() {
        let p = params();
        let float = Dimension::float(0.0, 10.0);
        let obs = rows(&[&[1.0, 2.5, 7.0, 7.2]]);
        let pe = ParzenEstimator::new(&obs, &[&float], &p);
        let want = [-2.262391368441417, -2.364910470120643, -2.187279143221187, -2.8482025963595614];
        assert_log_pdfs(&pe, &[&[0.0, 3.3, 7.1, 10.0]], &want);

        let p2 = EstimatorParams { prior_weight: 2.0, consider_endpoints: true, ..p };
        let pe = ParzenEstimator::new(&obs, &[&float], &p2);
        let want = [-2.2719417988209285, -2.268480878810321, -2.3318430016428455, -2.6502431409576506];
        assert_log_pdfs(&pe, &[&[0.0, 3.3, 7.1, 10.0]], &want);

        let noclip = EstimatorParams { consider_magic_clip: false, ..p };
        let pe = ParzenEstimator::new(&rows(&[&[5.0, 5.01]]), &[&float], &noclip);
        assert_log_pdfs(&pe, &[&[5.0, 9.0]], &[3.0633205673688426, -3.440219581171206]);

        let pe = ParzenEstimator::new(&rows(&[&[2.0]]), &[&float], &p);
        assert_log_pdfs(&pe, &[&[2.0, 9.0]], &[-2.2399798016659256, -2.444999723712837]);

        let int = Dimension::int(0, 20);
        let pe = ParzenEstimator::new(&rows(&[&[3.0, 4.0, 15.0]]), &[&int], &p);
        let want = [-2.913348349897434, -2.7321957493988824, -3.070271518052353, -3.51468314618137];
        assert_log_pdfs(&pe, &[&[0.0, 4.0, 10.0, 20.0]], &want);

        let int_step = Dimension::int(0, 20).step(4.0);
        let pe = ParzenEstimator::new(&rows(&[&[4.0, 4.0, 16.0]]), &[&int_step], &p);
        let want = [-1.7319199559903442, -1.525076160716592, -1.831404914585477, -2.186319744979521];
        assert_log_pdfs(&pe, &[&[0.0, 4.0, 12.0, 20.0]], &want);

        let float_step = Dimension::float(0.0, 1.0).step(0.25);
        let pe = ParzenEstimator::new(&rows(&[&[0.25, 1.0]]), &[&float_step], &p);
        assert_log_pdfs(&pe, &[&[0.0, 0.25, 0.75]], &[-1.7490590680864821, -1.6132179501025714, -1.543050894481933]);

        let float_log = Dimension::float(1e-3, 10.0).log();
        let pe = ParzenEstimator::new(&rows(&[&[0.01, 0.5, 2.0]]), &[&float_log], &p);
        assert_log_pdfs(&pe, &[&[0.001, 0.1, 5.0]], &[-2.7128446610098753, -2.207791544346927, -2.0774531826936893]);

        let int_log = Dimension::int(1, 1000).log();
        let pe = ParzenEstimator::new(&rows(&[&[2.0, 30.0, 500.0]]), &[&int_log], &p);
        assert_log_pdfs(&pe, &[&[1.0, 30.0, 999.0]], &[-2.1447001769851095, -5.322073267776791, -9.093882376393703]);

        // Joint over a categorical, a float and a stepped int, 30 observations (ramped weights).
        let c = [
            0., 3., 1., 0., 3., 3., 3., 3., 1., 3., 1., 2., 0., 3., 2., 0., 0., 0., 2., 1., 2., 3., 3., 2., 0., 1., 1.,
            1., 1., 0.,
        ];
        let f = [
            -0.826, -0.96, 0.665, 0.556, 0.74, 0.957, 0.598, -0.077, 0.561, -0.763, 0.28, -0.713, 0.889, 0.044, -0.171,
            -0.471, 0.548, -0.088, 0.137, -0.962, 0.235, 0.224, 0.234, 0.887, 0.364, -0.281, -0.126, 0.395, -0.88,
            0.334,
        ];
        // Distinct numeric values: Optuna gives tied observations their bandwidths in numpy's
        // (unstable) argsort order, promptsmith in trial order, so ties are left out here.
        let k = [
            16., 76., 88., 48., 80., 50., 2., 96., 14., 68., 20., 56., 64., 94., 58., 4., 74., 38., 44., 98., 62., 18.,
            10., 34., 32., 60., 42., 26., 66., 46.,
        ];
        let (cat, fl, st) = (Dimension::categorical(4), Dimension::float(-1.0, 1.0), Dimension::int(0, 100).step(2.0));
        let pe = ParzenEstimator::new(&rows(&[&c, &f, &k]), &[&cat, &fl, &st], &p);
        let want = [-4.940262445811744, -8.972564902723551, -8.692320991738518];
        assert_log_pdfs(&pe, &[&[0.0, 1.0, 3.0], &[-0.5, 0.0, 0.99], &[0.0, 4.0, 100.0]], &want);

        let (cat3, fl) = (Dimension::categorical(3), Dimension::float(-1.0, 1.0));
        let pe = ParzenEstimator::new(&[], &[&cat3, &fl], &p);
        assert_log_pdfs(&pe, &[&[0.0, 2.0], &[0.0, 0.9]], &[-1.7507816687371056, -1.8520316687371055]);
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn gamma_is_optunas_default() {
        let gamma = Gamma::default();
        let got: Vec<usize> =
            [0, 1, 9, 10, 11, 20, 29, 30, 31, 100, 240, 250, 251, 1000].map(|n| gamma.n_below(n)).into();
        assert_eq!(got, vec![0, 1, 1, 1, 2, 2, 3, 3, 4, 10, 24, 25, 25, 25]);
    }

    #[test]
    fn weights_are_flat_for_recent_and_ramped_for_old() {
        let w = Weights::default();
        assert!(w.weights(0).is_empty());
        assert_eq!(w.weights(24), vec![1.0; 24]);
        assert_eq!(w.weights(25), vec![1.0; 25]);
        // 26 observations: a one-point ramp at 1/26, then 25 ones.
        let w26 = w.weights(26);
        assert_eq!(w26.len(), 26);
        assert!(close(w26[0], 1.0 / 26.0));
        assert!(w26[1..].iter().all(|&x| x == 1.0));
        // 30 observations: ramp over 5 points from 1/30 to 1: step (1 - 1/30)/4 = 29/120.
        let w30 = w.weights(30);
        let want_ramp =
            [1.0 / 30.0, 1.0 / 30.0 + 29.0 / 120.0, 1.0 / 30.0 + 58.0 / 120.0, 1.0 / 30.0 + 87.0 / 120.0, 1.0];
        for (got, want) in w30[..5].iter().zip(want_ramp) {
            assert!(close(*got, want), "{got} vs {want}");
        }
        assert!(w30[5..].iter().all(|&x| x == 1.0));
        assert_eq!(Weights::Uniform.weights(30), vec![1.0; 30]);
    }

    #[test]
    fn categorical_kernels_match_hand_computed_probabilities() {
        // Three choices, observations 0, 0, 2 and prior weight 1: four kernels, each row
        // 1/4 everywhere plus 1 on its observation, normalized by 1.75; the prior row is 1/3.
        let dim = Dimension::categorical(3);
        let obs = vec![vec![0.0], vec![0.0], vec![2.0]];
        let pe = ParzenEstimator::new(&obs, &[&dim], &params());
        assert_eq!(pe.component_weights(), &[0.25; 4]);
        let Kernels::Categorical(c) = &pe.kernels[0] else { panic!("categorical") };
        let want_rows = [
            [5.0 / 7.0, 1.0 / 7.0, 1.0 / 7.0],
            [5.0 / 7.0, 1.0 / 7.0, 1.0 / 7.0],
            [1.0 / 7.0, 1.0 / 7.0, 5.0 / 7.0],
            [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
        ];
        for (got, want) in c.probs.iter().zip(want_rows.iter().flatten()) {
            assert!(close(*got, *want), "{got} vs {want}");
        }
        // Mixture: P(0) = (5/7 + 5/7 + 1/7 + 1/3)/4 = 10/21, P(1) = 4/21, P(2) = 7/21.
        for (x, want) in [(0.0, 10.0 / 21.0), (1.0, 4.0 / 21.0), (2.0, 7.0 / 21.0)] {
            assert!(close(pe.log_pdf(&[x]).exp(), want), "P({x})");
        }
    }

    #[test]
    fn prior_weight_and_observation_weights_shape_the_mixture() {
        // Prior weight 2 with one observation (choice 1 of 2): kernels 2/2 = 1 on each choice plus
        // 1 on choice 1 -> [1/3, 2/3]; prior [1/2, 1/2]; component weights [1, 2]/3.
        let dim = Dimension::categorical(2);
        let p = EstimatorParams { prior_weight: 2.0, ..params() };
        let pe = ParzenEstimator::new(&[vec![1.0]], &[&dim], &p);
        assert!(close(pe.log_pdf(&[0.0]).exp(), (1.0 / 3.0) * (1.0 / 3.0) + (2.0 / 3.0) * 0.5));
        // 26 observations: the oldest gets weight 1/26 before normalization.
        let obs: Vec<Vec<f64>> = (0..26).map(|i| vec![f64::from(i % 2)]).collect();
        let pe = ParzenEstimator::new(&obs, &[&dim], &params());
        let total = 1.0 / 26.0 + 25.0 + 1.0;
        assert!(close(pe.component_weights()[0], (1.0 / 26.0) / total));
        assert!(close(pe.component_weights()[26], 1.0 / total));
    }

    #[test]
    fn no_observations_is_uniform() {
        let dim = Dimension::categorical(4);
        let pe = ParzenEstimator::new(&[], &[&dim], &params());
        assert_eq!(pe.component_weights(), &[1.0]);
        assert!(close(pe.log_pdf(&[3.0]).exp(), 0.25));
        let num = Dimension::float(0.0, 1.0);
        let pe = ParzenEstimator::new(&[], &[&num], &params());
        // Only the prior kernel: N(0.5, 1) truncated to [0, 1].
        let want = log_normal_pdf(0.0) - log_gauss_mass(-0.5, 0.5);
        assert!(close(pe.log_pdf(&[0.5]), want));
    }

    #[test]
    fn bandwidths_follow_optunas_neighbour_rule() {
        // Range [0, 1], observations 0.9 and 0.2: sorted points 0 | 0.2 0.9 | 1. With endpoints
        // each takes its larger gap: 0.2 -> max(0.2, 0.7), 0.9 -> max(0.7, 0.1).
        let s = neighbour_bandwidths(&[0.9, 0.2], 0.0, 1.0, true);
        assert!(close(s[0], 0.7) && close(s[1], 0.7), "{s:?}");
        // 0 | 0.1 0.15 0.8 | 1: 0.1 -> max(0.1, 0.05), 0.15 -> max(0.05, 0.65), 0.8 -> max(0.65, 0.2).
        let s = neighbour_bandwidths(&[0.1, 0.15, 0.8], 0.0, 1.0, true);
        assert!(close(s[0], 0.1) && close(s[1], 0.65) && close(s[2], 0.65), "{s:?}");
        // Without endpoints the extremes use their inner gap: 0.1 -> 0.05, 0.8 -> 0.65.
        let s = neighbour_bandwidths(&[0.1, 0.15, 0.8], 0.0, 1.0, false);
        assert!(close(s[0], 0.05) && close(s[1], 0.65) && close(s[2], 0.65), "{s:?}");
        // A single observation always sees both ends: max(0.3, 0.7).
        assert!(close(neighbour_bandwidths(&[0.3], 0.0, 1.0, false)[0], 0.7));
        assert!(neighbour_bandwidths(&[], 0.0, 1.0, false).is_empty());
    }

    #[test]
    fn numeric_kernels_use_magic_clip_and_a_prior_kernel() {
        let dim = Dimension::float(0.0, 10.0);
        // Observations 5.0 and 5.01 are 0.01 apart: magic clip lifts that to
        // 10 / min(100, 1 + 3) = 2.5; the prior kernel is N(5, 10).
        let pe = ParzenEstimator::new(&[vec![5.0], vec![5.01]], &[&dim], &params());
        let Kernels::Numeric(k) = &pe.kernels[0] else { panic!("numeric") };
        assert!(close(k.sigmas[0], 2.5) && close(k.sigmas[1], 2.5), "{:?}", k.sigmas);
        assert!(close(k.sigmas[2], 10.0) && close(k.mus[2], 5.0));
        // Stepped ints widen the range by half a step: [-0.5, 10.5], so the prior sigma is 11.
        let int = Dimension::int(0, 10);
        let pe = ParzenEstimator::new(&[vec![3.0]], &[&int], &params());
        let Kernels::Numeric(k) = &pe.kernels[0] else { panic!("numeric") };
        assert!(close(k.sigmas[1], 11.0) && close(k.mus[1], 5.0) && close(k.sigmas[0], 7.5), "{:?}", k.sigmas);
    }

    #[test]
    fn stepped_and_log_dimensions_integrate_to_one() {
        // Grid 0..=10: masses over the cells sum to 1 for any fit.
        let int = Dimension::int(0, 10);
        let pe = ParzenEstimator::new(&[vec![2.0], vec![3.0], vec![9.0]], &[&int], &params());
        let total: f64 = (0..=10).map(|v| pe.log_pdf(&[f64::from(v)]).exp()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        // Log-scale float [1, 100]: the density (taken in log space) integrates to 1 over ln x.
        let log = Dimension::float(1.0, 100.0).log();
        let pe = ParzenEstimator::new(&[vec![2.0], vec![50.0]], &[&log], &params());
        let n = 20_000;
        let (a, b) = (0.0_f64, 100.0_f64.ln());
        let h = (b - a) / f64::from(n);
        let total: f64 = (0..n)
            .map(|i| {
                let t = a + (f64::from(i) + 0.5) * h;
                pe.log_pdf(&[t.exp()]).exp() * h
            })
            .sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn samples_follow_the_mixture() {
        let dim = Dimension::categorical(3);
        let obs = vec![vec![0.0], vec![0.0], vec![2.0]];
        let pe = ParzenEstimator::new(&obs, &[&dim], &params());
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let n = 21_000;
        let mut counts = [0usize; 3];
        for s in pe.sample(&mut rng, n) {
            counts[s[0] as usize] += 1;
        }
        // Expected 10000, 4000, 7000; sd <= ~72.
        for (got, want) in counts.iter().zip([10_000.0, 4_000.0, 7_000.0]) {
            assert!((*got as f64 - want).abs() < 400.0, "{counts:?}");
        }
        let int = Dimension::int(1, 1000).log();
        let pe = ParzenEstimator::new(&[vec![3.0], vec![700.0]], &[&int], &params());
        for s in pe.sample(&mut rng, 500) {
            assert!((1.0..=1000.0).contains(&s[0]) && s[0].fract() == 0.0, "{}", s[0]);
        }
    }

    #[test]
    fn single_valued_dimensions_do_not_disturb_the_density() {
        let (cat, fixed) = (Dimension::categorical(3), Dimension::float(2.0, 2.0));
        let obs = vec![vec![0.0, 2.0], vec![0.0, 2.0], vec![2.0, 2.0]];
        let pe = ParzenEstimator::new(&obs, &[&cat, &fixed], &params());
        assert!(close(pe.log_pdf(&[0.0, 2.0]).exp(), 10.0 / 21.0));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(pe.sample(&mut rng, 10).iter().all(|s| s[1] == 2.0));
    }

    #[test]
    fn pick_and_log_sum_exp() {
        assert_eq!(pick(&[0.2, 0.3, 0.5], 0.0), 0);
        assert_eq!(pick(&[0.2, 0.3, 0.5], 0.2), 1);
        assert_eq!(pick(&[0.2, 0.3, 0.5], 0.999_999_999), 2);
        assert!(close(log_sum_exp(&[0.0_f64.ln(), 2.0_f64.ln(), 3.0_f64.ln()]), 5.0_f64.ln()));
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 2]), f64::NEG_INFINITY);
    }
}
