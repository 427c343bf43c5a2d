//! Checks against SciPy 1.17: `scipy_fixture.json` holds inputs and SciPy's outputs, written by
//! `scripts/stats/scipy_fixture.py` (re-run it to regenerate). Every value must match to 1e-6:
//! p-values relative to their size, other values absolutely (or relatively when large).

use super::*;
use serde::Deserialize;

const TOL: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixture {
    scipy_version: String,
    wilcoxon: Vec<WilcoxonCase>,
    mann_whitney: Vec<MannWhitneyCase>,
    mcnemar: Vec<McNemarCase>,
    welch: Vec<WelchCase>,
    paired_sample_size: Vec<PairedSizeCase>,
    two_proportion_sample_size: Vec<ProportionSizeCase>,
    mcnemar_sample_size: Vec<McNemarSizeCase>,
}

#[derive(Deserialize)]
struct WilcoxonCase {
    name: String,
    a: Vec<f64>,
    b: Vec<f64>,
    statistic: f64,
    p_value: f64,
    n_nonzero: usize,
    method: WilcoxonMethod,
    z: Option<f64>,
}

#[derive(Deserialize)]
struct MannWhitneyCase {
    name: String,
    a: Vec<f64>,
    b: Vec<f64>,
    statistic: f64,
    p_value: f64,
    method: MannWhitneyMethod,
}

#[derive(Deserialize)]
struct McNemarCase {
    name: String,
    a: Vec<f64>,
    b: Vec<f64>,
    a_only: usize,
    b_only: usize,
    exact_p_value: f64,
    chi2: f64,
    chi2_p_value: f64,
}

#[derive(Deserialize)]
struct WelchCase {
    name: String,
    a: Vec<f64>,
    b: Vec<f64>,
    t: f64,
    df: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct PairedSizeCase {
    effect: f64,
    sd_of_diff: f64,
    alpha: f64,
    power: f64,
    n_raw: f64,
    n: u64,
}

#[derive(Deserialize)]
struct ProportionSizeCase {
    p1: f64,
    p2: f64,
    alpha: f64,
    power: f64,
    n_raw: f64,
    n: u64,
}

#[derive(Deserialize)]
struct McNemarSizeCase {
    discordant: f64,
    diff: f64,
    alpha: f64,
    power: f64,
    n_raw: f64,
    n: u64,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("scipy_fixture.json")).unwrap()
}

/// Absolute difference within 1e-6, or relative within 1e-6 for large values (sample sizes).
fn assert_close(name: &str, what: &str, got: f64, want: f64) {
    let ok = (got - want).abs() <= TOL || (got - want).abs() <= TOL * want.abs();
    assert!(ok, "{name}: {what} = {got}, SciPy says {want}");
}

/// Below this a p-value is compared absolutely: SciPy and we may underflow differently there.
const P_FLOOR: f64 = 1e-300;

/// Whether a p-value is within 1e-6 of SciPy's *relative* to its size, so that small p-values
/// (1e-7, 1e-20) are checked as closely as large ones; only values below 1e-300 are compared
/// absolutely.
fn p_close(got: f64, want: f64) -> bool {
    let err = (got - want).abs();
    if want.abs() < P_FLOOR {
        err <= P_FLOOR
    } else {
        err <= TOL * want.abs()
    }
}

fn assert_p_close(name: &str, what: &str, got: f64, want: f64) {
    let rel = (got - want).abs() / want.abs();
    assert!(p_close(got, want), "{name}: {what} = {got:e}, SciPy says {want:e} (relative error {rel:.2e})");
}

#[test]
fn p_values_are_compared_relatively() {
    assert!(p_close(1.0e-7 * (1.0 + 5e-7), 1.0e-7));
    assert!(!p_close(1.5e-7, 1.0e-7), "passed by the old absolute 1e-6");
    assert!(!p_close(0.0, 1e-20));
    assert!(!p_close(0.3 + 1e-6, 0.3));
    assert!(p_close(0.0, 1e-310) && p_close(1e-305, 0.0));
}

#[test]
fn fixture_was_written_by_scipy_1_17() {
    let f = fixture();
    assert!(f.scipy_version.starts_with("1.17"), "{}", f.scipy_version);
}

#[test]
fn wilcoxon_matches_scipy_in_every_regime() {
    let f = fixture();
    let mut seen = std::collections::BTreeSet::new();
    for c in &f.wilcoxon {
        let w = wilcoxon_signed_rank(&c.a, &c.b).unwrap();
        assert_eq!(w.method, c.method, "{}", c.name);
        assert_eq!(w.n_nonzero, c.n_nonzero, "{}", c.name);
        assert_eq!(w.n, c.a.len(), "{}", c.name);
        assert_close(&c.name, "statistic", w.statistic, c.statistic);
        assert_p_close(&c.name, "p_value", w.p_value, c.p_value);
        match (w.z, c.z) {
            // SciPy reports -|z| for the two-sided test.
            (Some(z), Some(want)) => assert_close(&c.name, "z", -z.abs(), want),
            (None, None) => {}
            (got, want) => panic!("{}: z = {got:?}, SciPy says {want:?}", c.name),
        }
        // Swapping the sides swaps the rank sums and keeps the p-value.
        let s = wilcoxon_signed_rank(&c.b, &c.a).unwrap();
        assert_eq!((s.r_plus, s.r_minus), (w.r_minus, w.r_plus), "{}", c.name);
        assert_p_close(&c.name, "swapped p_value", s.p_value, c.p_value);
        seen.insert(format!("{:?}", w.method));
    }
    assert_eq!(seen.len(), 3, "the fixture should cover every method: {seen:?}");
}

#[test]
fn mann_whitney_matches_scipy_exact_and_normal() {
    let f = fixture();
    let mut seen = std::collections::BTreeSet::new();
    for c in &f.mann_whitney {
        let m = mann_whitney_u(&c.a, &c.b).unwrap();
        assert_eq!(m.method, c.method, "{}", c.name);
        assert_close(&c.name, "statistic", m.statistic, c.statistic);
        assert_p_close(&c.name, "p_value", m.p_value, c.p_value);
        let s = mann_whitney_u(&c.b, &c.a).unwrap();
        assert_close(&c.name, "swapped statistic", s.statistic, (c.a.len() * c.b.len()) as f64 - c.statistic);
        assert_p_close(&c.name, "swapped p_value", s.p_value, c.p_value);
        seen.insert(format!("{:?}", m.method));
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn mcnemar_matches_scipy() {
    let f = fixture();
    for c in &f.mcnemar {
        let m = mcnemar(&c.a, &c.b).unwrap();
        assert_eq!((m.a_only, m.b_only), (c.a_only, c.b_only), "{}", c.name);
        assert_eq!(m.both + m.a_only + m.b_only + m.neither, m.n, "{}", c.name);
        assert_p_close(&c.name, "exact_p_value", m.exact_p_value, c.exact_p_value);
        assert_close(&c.name, "chi2", m.chi2, c.chi2);
        assert_p_close(&c.name, "chi2_p_value", m.chi2_p_value, c.chi2_p_value);
        assert_eq!(m.p_value, m.exact_p_value, "{}: the headline p-value is the exact one", c.name);
    }
}

#[test]
fn welch_matches_scipy_fixture() {
    let f = fixture();
    for c in &f.welch {
        let w = welch_t_test(&c.a, &c.b).unwrap();
        assert_close(&c.name, "t", w.t, c.t);
        assert_close(&c.name, "df", w.df, c.df);
        assert_p_close(&c.name, "p_value", w.p_value, c.p_value);
    }
}

#[test]
fn sample_sizes_match_the_closed_forms_with_scipy_quantiles() {
    let f = fixture();
    for c in &f.paired_sample_size {
        let name = format!("paired {} / {}", c.effect, c.sd_of_diff);
        let s = paired_sample_size(c.effect, c.sd_of_diff, c.alpha, c.power).unwrap();
        assert_close(&name, "n_raw", s.fractional, c.n_raw);
        assert_eq!(s.n, c.n, "{name}");
    }
    for c in &f.two_proportion_sample_size {
        let name = format!("proportions {} vs {}", c.p1, c.p2);
        let s = two_proportion_sample_size(c.p1, c.p2, c.alpha, c.power).unwrap();
        assert_close(&name, "n_raw", s.fractional, c.n_raw);
        assert_eq!(s.n, c.n, "{name}");
    }
    for c in &f.mcnemar_sample_size {
        let name = format!("mcnemar {} / {}", c.discordant, c.diff);
        let s = mcnemar_sample_size(c.discordant, c.diff, c.alpha, c.power).unwrap();
        assert_close(&name, "n_raw", s.fractional, c.n_raw);
        assert_eq!(s.n, c.n, "{name}");
    }
}
