//! The pieces of the normal distribution the Parzen estimator needs: the error function, the
//! log of a standard normal's mass on an interval (stable in the tails) and truncated sampling.

use rand::Rng;
use std::f64::consts::{FRAC_2_SQRT_PI, LN_2, SQRT_2, TAU};

/// ln(√π).
const LN_SQRT_PI: f64 = 0.572_364_942_924_700_1;
/// ln(√(2π)).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
/// Below this argument erf comes from its power series, above it erfc from a continued fraction.
const SERIES_LIMIT: f64 = 2.5;
/// Draws tried by [`sample_truncated`] before it gives up and returns the clamped mean.
const MAX_REJECTIONS: usize = 10_000;

/// erf(x) for 0 <= x < [`SERIES_LIMIT`], from the Maclaurin series
/// erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)).
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0_f64;
    while n < 200.0 {
        n += 1.0;
        term *= -x2 / n;
        let add = term / (2.0 * n + 1.0);
        sum += add;
        if add.abs() <= 1e-17 * sum.abs() {
            break;
        }
    }
    sum * FRAC_2_SQRT_PI
}

/// K(x) with erfc(x) = exp(-x²) / (√π K(x)) for x >= [`SERIES_LIMIT`]: Laplace's continued
/// fraction K = x + (1/2)/(x + (2/2)/(x + (3/2)/(x + ...))), evaluated by the modified Lentz method.
fn erfc_continued_fraction(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0_f64;
    for n in 1..=5000 {
        let a = f64::from(n) * 0.5;
        d = x + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        d = 1.0 / d;
        c = x + a / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    f
}

/// The error function.
pub(crate) fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let value = if ax < SERIES_LIMIT { erf_series(ax) } else { 1.0 - erfc(ax) };
    value.copysign(x)
}

/// The complementary error function 1 - erf(x), with full relative precision for large x.
pub(crate) fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        2.0 - erfc(-x)
    } else if x < SERIES_LIMIT {
        1.0 - erf_series(x)
    } else {
        (-x * x).exp() / (erfc_continued_fraction(x) * std::f64::consts::PI.sqrt())
    }
}

/// ln(erfc(x)), finite far into the upper tail where erfc(x) itself underflows.
pub(crate) fn log_erfc(x: f64) -> f64 {
    if x < SERIES_LIMIT {
        erfc(x).ln()
    } else if x.is_infinite() {
        f64::NEG_INFINITY
    } else {
        -x * x - LN_SQRT_PI - erfc_continued_fraction(x).ln()
    }
}

/// ln of the standard normal density at z.
pub(crate) fn log_normal_pdf(z: f64) -> f64 {
    -0.5 * z * z - LN_SQRT_2PI
}

/// ln(Φ(b) - Φ(a)): the log of a standard normal's mass on `[a, b]`, accurate in both tails
/// (where Φ(b) - Φ(a) would cancel or underflow). `-inf` when the interval is empty.
pub(crate) fn log_gauss_mass(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() || a >= b {
        return f64::NEG_INFINITY;
    }
    if a >= 0.0 {
        // The upper tail mirrored onto the lower one.
        return log_gauss_mass(-b, -a);
    }
    if b <= 0.0 {
        // Both ends in the lower tail: Φ(z) = erfc(-z/√2)/2, and -a/√2 >= -b/√2 >= 0.
        let log_upper = log_erfc(-b / SQRT_2);
        let log_lower = log_erfc(-a / SQRT_2);
        return -LN_2 + log_upper + (-(log_lower - log_upper).exp_m1()).ln();
    }
    // a < 0 < b: two positive halves, no cancellation.
    (0.5 * (erf(b / SQRT_2) + erf(-a / SQRT_2))).ln()
}

/// A standard normal draw (Box-Muller, two uniforms per draw).
pub(crate) fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = 1.0 - rng.gen::<f64>();
    let u2 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
}

/// A draw from the normal `N(mu, sigma²)` truncated to `[low, high]`, by rejection.
///
/// The Parzen kernels always have `mu` inside `[low, high]` and `sigma <= high - low`, so at least
/// a third of the draws land inside; after [`MAX_REJECTIONS`] misses (only possible for states
/// that break that rule) the mean clamped into the interval is returned.
pub(crate) fn sample_truncated<R: Rng + ?Sized>(rng: &mut R, mu: f64, sigma: f64, low: f64, high: f64) -> f64 {
    if low >= high {
        return low;
    }
    for _ in 0..MAX_REJECTIONS {
        let x = mu + sigma * standard_normal(rng);
        if (low..=high).contains(&x) {
            return x;
        }
    }
    mu.clamp(low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn erf_matches_reference_values() {
        // Reference values from mpmath at 30 digits.
        let cases = [
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (2.4, 0.999_311_486_103_354_9),
            (3.0, 0.999_977_909_503_001_4),
        ];
        for (x, want) in cases {
            assert!(close(erf(x), want, 1e-14), "erf({x}) = {} want {want}", erf(x));
            assert!(close(erf(-x), -want, 1e-14));
        }
        assert_eq!(erf(0.0), 0.0);
    }

    #[test]
    fn erfc_keeps_relative_precision_in_the_tail() {
        let cases = [
            (0.5, 0.479_500_122_186_953_5),
            (2.0, 4.677_734_981_047_266e-3),
            (2.5, 4.069_520_174_449_589e-4),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
            (10.0, 2.088_487_583_762_545e-45),
        ];
        for (x, want) in cases {
            assert!(close(erfc(x), want, 1e-11), "erfc({x}) = {} want {want}", erfc(x));
            assert!(close(log_erfc(x), want.ln(), 1e-12));
        }
        // Far beyond underflow (reference: ln(scipy.special.erfcx(40)) - 1600).
        assert!(close(log_erfc(40.0), -1_604.261_556_653_273_6, 1e-13), "{}", log_erfc(40.0));
        assert!(close(erfc(-1.0), 1.0 + 0.842_700_792_949_714_9, 1e-14));
    }

    #[test]
    fn gauss_mass_in_the_middle_and_in_both_tails() {
        // Φ(1) - Φ(-1)
        assert!(close(log_gauss_mass(-1.0, 1.0), 0.682_689_492_137_085_9_f64.ln(), 1e-13));
        // Φ(0) - Φ(-∞) style half mass
        assert!(close(log_gauss_mass(-40.0, 0.0), 0.5_f64.ln(), 1e-13));
        // Φ(-3) - Φ(-4) = 1.3498980316301e-3 - 3.1671241833120e-5
        let want = (1.349_898_031_630_094_6e-3 - 3.167_124_183_311_992e-5_f64).ln();
        assert!(close(log_gauss_mass(-4.0, -3.0), want, 1e-12));
        // Mirror image in the upper tail.
        assert!(close(log_gauss_mass(3.0, 4.0), want, 1e-12));
        // Deep tail where the masses underflow (reference: scipy's log_ndtr).
        let deep = log_gauss_mass(-41.0, -40.0);
        assert!(close(deep, -804.608_442_013_753_9, 1e-13), "{deep}");
        // A narrow interval around 0 is its width times the density.
        let narrow = log_gauss_mass(-1e-9, 1e-9);
        assert!(close(narrow, (2e-9 * log_normal_pdf(0.0).exp()).ln(), 1e-9));
        assert_eq!(log_gauss_mass(1.0, 1.0), f64::NEG_INFINITY);
    }

    #[test]
    fn truncated_samples_stay_inside_and_have_the_right_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = sample_truncated(&mut rng, 0.0, 1.0, 0.0, 10.0);
            assert!((0.0..=10.0).contains(&x));
            sum += x;
        }
        // Half-normal mean √(2/π) ≈ 0.7979; standard error ≈ 0.6/√20000 ≈ 0.0043.
        let mean = sum / f64::from(n);
        assert!((mean - 0.797_884_560_802_865_4).abs() < 0.02, "{mean}");
        assert_eq!(sample_truncated(&mut rng, 5.0, 1.0, 2.0, 2.0), 2.0);
    }
}
