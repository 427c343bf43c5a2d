//! Reference values come from SciPy 1.17 (`scipy.stats`), as noted beside each test.

use super::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

const A: [f64; 7] = [0.2, 0.5, 0.9, 0.4, 0.7, 0.1, 0.8];
const B: [f64; 9] = [0.3, 0.1, 0.4, 0.2, 0.0, 0.5, 0.35, 0.25, 0.15];

#[test]
fn summary_matches_scipy() {
    // x.mean(), x.std(ddof=1), stats.sem(x), stats.t.interval(0.95, n-1, loc=mean, scale=sem)
    let s = summarize(&A);
    assert_eq!(s.n, 7);
    assert!(close(s.mean, 0.5142857142857143, 1e-12));
    assert!(close(s.std, 0.30237157840738177, 1e-12));
    assert!(close(s.std_error, 0.11428571428571428, 1e-12));
    let ci = s.ci95.unwrap();
    assert!(close(ci.low, 0.23463864558343112, 1e-9), "{ci:?}");
    assert!(close(ci.high, 0.7939327829879976, 1e-9), "{ci:?}");
    assert_eq!(ci.confidence, 0.95);
    let ci99 = t_interval(&A, 0.99).unwrap();
    assert!(close(ci99.low, 0.09057965470573648, 1e-9), "{ci99:?}");
    assert!(close(ci99.high, 0.9379917738656922, 1e-9), "{ci99:?}");
}

#[test]
fn summary_of_binary_scores_matches_scipy() {
    let x = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0];
    let s = summarize(&x);
    assert!(close(s.mean, 0.7, 1e-12));
    assert!(close(s.std, 0.4830458915396479, 1e-12));
    assert!(close(s.std_error, 0.15275252316519464, 1e-12));
    // Student's t (SciPy) runs past 1 on 0/1 scores ...
    let t = t_interval(&x, 0.95).unwrap();
    assert!(close(t.low, 0.3544497855863562, 1e-9));
    assert!(close(t.high, 1.0455502144136437, 1e-9));
    // ... so the summary gives Wilson's interval (statsmodels proportion_confint(7, 10,
    // method="wilson"), the closed form with NormalDist().inv_cdf(0.975) in Python).
    let ci = s.ci95.unwrap();
    assert!(close(ci.low, 0.39677814746114537, 1e-9), "{ci:?}");
    assert!(close(ci.high, 0.8922087325936989, 1e-9), "{ci:?}");
    let few = score_interval(
        &[
            0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ],
        0.95,
    )
    .unwrap();
    assert!(close(few.low, 0.013820667386148358, 1e-9) && close(few.high, 0.16503877369140957, 1e-9), "{few:?}");
    let all = score_interval(&[1.0; 3], 0.95).unwrap();
    assert!(close(all.low, 0.4385029682449546, 1e-9) && all.high == 1.0, "{all:?}");
    // Scores that are not 0/1 keep Student's t, cut to [0, 1].
    let high = score_interval(&[1.0, 1.0, 0.9, 1.0], 0.95).unwrap();
    assert_eq!(high.high, 1.0);
    assert!(close(high.low, t_interval(&[1.0, 1.0, 0.9, 1.0], 0.95).unwrap().low, 1e-12));
}

#[test]
fn degenerate_summaries() {
    let empty = summarize(&[]);
    assert_eq!((empty.n, empty.mean, empty.std, empty.std_error, empty.ci95), (0, 0.0, 0.0, 0.0, None));
    let one = summarize(&[0.5]);
    assert_eq!((one.mean, one.std, one.ci95), (0.5, 0.0, None));
    let constant = summarize(&[0.5, 0.5, 0.5]);
    let ci = constant.ci95.unwrap();
    assert_eq!((ci.low, ci.high), (0.5, 0.5));
    assert!(t_interval(&A, 1.0).is_err());
    assert!(t_interval(&A, 0.0).is_err());
    // Serializes without NaN (JSON has none).
    let json = serde_json::to_string(&one).unwrap();
    assert_eq!(json, r#"{"n":1,"mean":0.5,"std":0.0,"std_error":0.0}"#);
}

#[test]
fn welch_matches_scipy() {
    // stats.ttest_ind(a, b, equal_var=False)
    let w = welch_t_test(&A, &B).unwrap();
    assert!(close(w.t, 2.1045726897697477, 1e-9), "{w:?}");
    assert!(close(w.df, 8.473027245799633, 1e-9), "{w:?}");
    assert!(close(w.p_value, 0.06653117537716927, 1e-9), "{w:?}");
    let c = [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    let d = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let w = welch_t_test(&c, &d).unwrap();
    assert!(close(w.t, 2.7595986330233995, 1e-9), "{w:?}");
    assert!(close(w.df, 20.88764044943821, 1e-9), "{w:?}");
    assert!(close(w.p_value, 0.011781420035135213, 1e-9), "{w:?}");
    // Swapping the groups flips the sign only.
    let w2 = welch_t_test(&d, &c).unwrap();
    assert!(close(w2.t, -w.t, 1e-12) && close(w2.p_value, w.p_value, 1e-12));
}

#[test]
fn welch_edge_cases() {
    let same = welch_t_test(&[1.0, 1.0], &[1.0, 1.0, 1.0]).unwrap();
    assert_eq!((same.t, same.p_value, same.df), (0.0, 1.0, 3.0));
    let apart = welch_t_test(&[1.0, 1.0], &[0.0, 0.0]).unwrap();
    assert_eq!((apart.t, apart.p_value), (f64::INFINITY, 0.0));
    assert_eq!(
        welch_t_test(&[1.0], &[0.0, 1.0]).unwrap_err().to_string(),
        "statistics: Welch's t-test needs at least 2 scores per group, got 1 and 2"
    );
}

#[test]
fn sign_test_matches_scipy_binomtest() {
    // stats.binomtest(k, n, 0.5).pvalue
    let cases: &[(usize, usize, f64)] = &[
        (8, 2, 0.109375),
        (2, 8, 0.109375),
        (5, 5, 1.0),
        (15, 3, 0.007537841796875),
        (0, 5, 0.0625),
        (40, 60, 0.05688793364098089),
        (20, 10, 0.09873714670538905),
        (0, 1, 1.0),
    ];
    for &(wins, losses, p) in cases {
        let mut a = vec![1.0; wins];
        a.extend(vec![0.0; losses]);
        let mut b = vec![0.0; wins];
        b.extend(vec![1.0; losses]);
        // Ties do not change the test.
        a.extend([0.5, 0.5]);
        b.extend([0.5, 0.5]);
        let s = sign_test(&a, &b).unwrap();
        assert_eq!((s.wins, s.losses, s.ties), (wins, losses, 2));
        assert!(close(s.p_value, p, 1e-12), "{wins}/{losses}: {} vs {p}", s.p_value);
    }
    let all_ties = sign_test(&[1.0, 0.0], &[1.0, 0.0]).unwrap();
    assert_eq!((all_ties.ties, all_ties.p_value), (2, 1.0));
    assert_eq!(
        sign_test(&[1.0], &[1.0, 0.0]).unwrap_err().to_string(),
        "statistics: paired comparison needs score lists of equal length, got 1 and 2"
    );
    // Large n stays accurate: binomtest(400, 1000).pvalue = 2.728464156065947e-10.
    let big = binomial_cdf_half(400, 1000) * 2.0;
    assert!(close(big / 2.728464156065947e-10, 1.0, 1e-9), "{big}");
}

#[test]
fn bootstrap_is_deterministic_and_close_to_scipy() {
    let mut x = vec![1.0; 70];
    x.extend(vec![0.0; 30]);
    let ci = bootstrap_mean_ci(&x, 20_000, 0.95, 7).unwrap();
    assert_eq!(ci, bootstrap_mean_ci(&x, 20_000, 0.95, 7).unwrap());
    // scipy.stats.bootstrap(..., method='percentile') gives (0.61, 0.79); resampling noise
    // between generators is about one step of 1/n.
    assert!(close(ci.low, 0.61, 0.0101), "{ci:?}");
    assert!(close(ci.high, 0.79, 0.0101), "{ci:?}");
    assert!(ci.contains(0.7));
    let constant = bootstrap_mean_ci(&[0.4; 5], 100, 0.9, 1).unwrap();
    assert!(close(constant.low, 0.4, 1e-12) && close(constant.high, 0.4, 1e-12));
    assert!(bootstrap_mean_ci(&[], 100, 0.95, 1).is_err());
    assert!(bootstrap_mean_ci(&x, 0, 0.95, 1).is_err());
}

#[test]
fn paired_bootstrap_close_to_scipy() {
    let a: Vec<f64> = (0..100).map(|i| if i % 10 < 7 { 1.0 } else { 0.0 }).collect();
    let b: Vec<f64> = (0..100).map(|i| if i % 10 < 5 || i % 10 == 9 { 1.0 } else { 0.0 }).collect();
    let r = paired_bootstrap_diff_ci(&a, &b, 20_000, 0.95, 3).unwrap();
    assert_eq!(r.n, 100);
    assert!(close(r.mean_diff, 0.1, 1e-12));
    // scipy.stats.bootstrap on the differences, percentile: (0.0, 0.2).
    assert!(close(r.ci.low, 0.0, 0.0101), "{r:?}");
    assert!(close(r.ci.high, 0.2, 0.0101), "{r:?}");
    assert!(r.share_above_zero > 0.9 && r.share_above_zero < 1.0, "{r:?}");
    let swapped = paired_bootstrap_diff_ci(&b, &a, 20_000, 0.95, 3).unwrap();
    assert!(close(swapped.mean_diff, -0.1, 1e-12));
    assert!(paired_bootstrap_diff_ci(&a, &b[..10], 100, 0.95, 3).is_err());
}

#[test]
fn quantiles_interpolate_like_numpy() {
    let sorted = [1.0, 2.0, 3.0, 4.0];
    // numpy.quantile([1,2,3,4], [0, 0.25, 0.5, 1]) = [1, 1.75, 2.5, 4]
    assert_eq!(quantile_sorted(&sorted, 0.0), 1.0);
    assert_eq!(quantile_sorted(&sorted, 0.25), 1.75);
    assert_eq!(quantile_sorted(&sorted, 0.5), 2.5);
    assert_eq!(quantile_sorted(&sorted, 1.0), 4.0);
}

#[test]
fn compare_bundles_everything() {
    let c = compare_paired(&A, &A.map(|x| x * 0.5), 1).unwrap();
    assert_eq!(c.sign.wins, 7);
    assert!(c.bootstrap.ci.low > 0.0);
    assert!(c.welch.is_some());
    let json = serde_json::to_value(c).unwrap();
    assert!(json["bootstrap"]["ci"]["low"].is_number());
}

fn err(r: Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn paired_tests_reject_bad_input_with_clear_errors() {
    assert_eq!(
        err(wilcoxon_signed_rank(&[1.0, 0.5], &[1.0])),
        "statistics: paired comparison needs score lists of equal length, got 2 and 1"
    );
    assert_eq!(
        err(wilcoxon_signed_rank(&[], &[])),
        "statistics: Wilcoxon signed-rank test needs at least one pair, got none"
    );
    assert_eq!(
        err(wilcoxon_signed_rank(&[0.5, 0.25, 1.0], &[0.5, 0.25, 1.0])),
        "statistics: Wilcoxon signed-rank test: all 3 differences are zero (the two score lists are identical), \
         so there is nothing to rank"
    );
    assert_eq!(
        err(wilcoxon_signed_rank(&[0.5, f64::NAN], &[0.5, 0.25])),
        "statistics: Wilcoxon signed-rank test, first list: score 1 is NaN, expected a finite number"
    );
    assert_eq!(
        err(mcnemar(&[1.0], &[])),
        "statistics: paired comparison needs score lists of equal length, got 1 and 0"
    );
    assert_eq!(err(mcnemar(&[], &[])), "statistics: McNemar's test needs at least one pair, got none");
    assert_eq!(
        err(mcnemar(&[1.0, 0.0], &[1.0, 0.5])),
        "statistics: McNemar's test needs 0/1 scores, but score 1 of the second list is 0.5"
    );
    assert_eq!(
        err(mcnemar(&[1.0, 0.0, 1.0], &[1.0, 0.0, 1.0])),
        "statistics: McNemar's test: no discordant pairs (the two agree on all 3 examples), so there is nothing to test"
    );
    assert_eq!(
        err(mann_whitney_u(&[], &[1.0])),
        "statistics: Mann-Whitney U test needs at least one score on each side, got 0 and 1"
    );
    assert_eq!(
        err(mann_whitney_u(&[1.0], &[f64::INFINITY])),
        "statistics: Mann-Whitney U test, second sample: score 0 is inf, expected a finite number"
    );
    assert_eq!(
        err(compare_paired(&[], &[], 1)),
        "statistics: paired comparison needs at least one pair of scores, got none"
    );
    assert!(err(compare_paired_at(&A, &A, 1.0, 1)).contains("confidence must be between 0 and 1"));
}

#[test]
fn compare_picks_mcnemar_for_binary_scores() {
    // 40 both right, 15 only a, 5 only b, 40 neither: exact p = 0.0414 (scipy binomtest(5, 20)).
    let mut a = vec![1.0; 55];
    a.extend(vec![0.0; 45]);
    let mut b = vec![1.0; 40];
    b.extend(vec![0.0; 15]);
    b.extend(vec![1.0; 5]);
    b.extend(vec![0.0; 40]);
    let c = compare_paired(&a, &b, 7).unwrap();
    let PairedTest::McNemar(m) = c.test else { panic!("expected McNemar, got {:?}", c.test) };
    assert_eq!((m.a_only, m.b_only), (15, 5));
    assert!(close(c.p_value(), 0.04138946533203125, 1e-12));
    assert!(c.significant());
    assert_eq!(c.winner(), Some(Side::A));
    // mcnemar_sample_size(0.2, 0.1, 0.05, 0.8): (1.96·√0.2 + 0.8416·√0.19)² / 0.01 = 154.6 -> 155.
    assert_eq!(c.needed.unwrap().n, 155);
    let v = c.verdict("new", "old");
    assert!(v.starts_with("new is better than old by 10.0 points (95% CI "), "{v}");
    assert!(v.contains("McNemar's exact test p = 0.041 < 0.05)."), "{v}");
    assert!(v.contains("new ahead in 9"), "{v}");

    // The same data the other way round: b wins, and the verdict says so from b's side.
    let swapped = compare_paired(&b, &a, 7).unwrap();
    assert_eq!(swapped.winner(), Some(Side::B));
    let v = swapped.verdict("old", "new");
    assert!(v.starts_with("new is better than old by 10.0 points"), "{v}");

    // At 99% confidence the same difference is not significant.
    let strict = compare_paired_at(&a, &b, 0.99, 7).unwrap();
    assert!(!strict.significant());
    assert_eq!(strict.winner(), None);
    let v = strict.verdict("new", "old");
    assert!(
        v.starts_with(
            "No significant difference (McNemar's exact test p = 0.041 >= 0.01): new - old = +10.0 points (99% CI"
        ),
        "{v}"
    );
    assert!(v.ends_with(&format!("would take about {} examples (have 100).", strict.needed.unwrap().n)), "{v}");
}

#[test]
fn compare_picks_wilcoxon_for_graded_scores() {
    let a = [0.5, 0.75, 1.0, 0.25, 0.5, 1.0, 0.75, 0.5];
    let b = [0.5, 0.5, 0.75, 0.5, 0.25, 1.0, 0.5, 0.5];
    let c = compare_paired(&a, &b, 3).unwrap();
    let PairedTest::Wilcoxon(w) = c.test else { panic!("expected Wilcoxon, got {:?}", c.test) };
    // Zeros and ties with 8 pairs: exact over sign flips. scipy.stats.wilcoxon(a, b) = (3.0, 0.375).
    assert_eq!(w.method, WilcoxonMethod::SignFlip);
    assert_eq!(w.statistic, 3.0);
    assert!(close(w.p_value, 0.375, 1e-12), "{w:?}");
    assert!(!c.significant());
    // d = a - b has mean 0.09375 and sd 0.186 -> paired_sample_size.
    let diffs: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    let want = paired_sample_size(mean(&diffs), sample_std(&diffs), 0.05, 0.8).unwrap();
    assert_eq!(c.needed, Some(want));
    let v = c.verdict("A", "B");
    assert!(v.starts_with("No significant difference (Wilcoxon signed-rank test (exact over sign flips) p = 0.375 >= 0.05): A - B = +9.4 points"), "{v}");
    assert!(
        v.ends_with(&format!(
            "detecting a difference of 9.4 points with 80% power would take about {} examples (have 8).",
            want.n
        )),
        "{v}"
    );
}

#[test]
fn compare_of_identical_scores_says_so() {
    let c = compare_paired(&A, &A, 3).unwrap();
    assert_eq!(c.test, PairedTest::Identical);
    assert_eq!((c.p_value(), c.winner(), c.needed), (1.0, None, None));
    assert_eq!(c.verdict("x", "y"), "No difference: x and y score the same on all 7 examples.");
    let json = serde_json::to_value(c).unwrap();
    assert_eq!(json["test"]["kind"], "identical");
}

#[test]
fn compare_with_zero_mean_difference_needs_no_sample_size() {
    // One win and one loss of the same size: the mean difference is exactly zero.
    let c = compare_paired(&[1.0, 0.0, 1.0], &[0.0, 1.0, 1.0], 3).unwrap();
    assert_eq!(c.needed, None);
    assert!(c.verdict("a", "b").ends_with("the observed mean difference is zero."), "{}", c.verdict("a", "b"));
    let json = serde_json::to_value(c).unwrap();
    assert_eq!(json["test"]["kind"], "mc_nemar");
}
