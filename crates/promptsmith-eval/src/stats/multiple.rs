//! Corrections for several tests at once (an experiment's arms, its guardrail metrics): adjusted
//! p-values whose rejections at level `alpha` keep the family-wise error rate at `alpha`.
//! Checked against statsmodels 0.15's `multipletests` in `statsmodels_fixture.json` (written by
//! `scripts/stats/statsmodels_fixture.py`).

/// Bonferroni: each p-value times the number of tests, capped at 1.
pub fn bonferroni(p: &[f64]) -> Vec<f64> {
    let m = p.len() as f64;
    p.iter().map(|x| (x * m).min(1.0)).collect()
}

/// Holm's step-down method: sorted ascending, the i-th smallest (from 0) is multiplied by
/// `m − i`, then made non-decreasing along the order and capped at 1; returned in input order.
/// Uniformly more powerful than Bonferroni with the same guarantee.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        p: Vec<f64>,
        bonferroni: Vec<f64>,
        holm: Vec<f64>,
    }

    #[test]
    fn matches_statsmodels_multipletests() {
        let cases: Vec<Case> = serde_json::from_str(include_str!("statsmodels_fixture.json")).unwrap();
        assert!(cases.len() >= 5);
        for c in &cases {
            for (got, want) in bonferroni(&c.p).iter().zip(&c.bonferroni).chain(holm(&c.p).iter().zip(&c.holm)) {
                assert!((got - want).abs() < 1e-12, "{:?}: got {got}, statsmodels {want}", c.p);
            }
        }
    }

    #[test]
    fn holm_is_never_above_bonferroni() {
        let p = [0.01, 0.04, 0.03, 0.005];
        assert_eq!(holm(&p), vec![0.03, 0.06, 0.06, 0.02]);
        assert!(holm(&p).iter().zip(bonferroni(&p)).all(|(h, b)| *h <= b));
        assert!(holm(&[]).is_empty());
    }
}
