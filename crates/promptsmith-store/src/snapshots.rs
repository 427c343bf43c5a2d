//! Performance history: snapshots of a version over time (score, latency p50/p95, cost per
//! call), the trend across snapshots, and degradation detection: a drop beyond a threshold that
//! is also statistically significant (Welch's t-test between a baseline and a recent window).

use crate::db::{now_ms, with_pool, RowExt, Store};
use crate::error::{Result, StoreError};
use crate::evaluations::{version_from_db, version_to_db};
use promptsmith_eval::stats::{mean, welch_t_test};
use serde::{Deserialize, Serialize};

/// A version's performance over one time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfSnapshot {
    /// Row id.
    pub id: i64,
    /// Program.
    pub program: String,
    /// Version (`None`: unregistered).
    pub version: Option<i64>,
    /// When it was taken (Unix ms).
    pub at: i64,
    /// Window start (Unix ms, inclusive).
    pub window_start: i64,
    /// Window end (Unix ms, exclusive).
    pub window_end: i64,
    /// Evaluations in the window.
    pub n: i64,
    /// Mean score.
    pub mean_score: f64,
    /// Median latency (ms).
    pub latency_p50_ms: f64,
    /// 95th percentile latency (ms).
    pub latency_p95_ms: f64,
    /// Mean cost per call (USD).
    pub cost_per_call: f64,
}

/// Direction of the score over snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// Snapshots used.
    pub points: usize,
    /// Least-squares slope of the mean score, per day.
    pub score_slope_per_day: f64,
    /// First snapshot's mean score.
    pub first_score: f64,
    /// Last snapshot's mean score.
    pub last_score: f64,
}

/// When a drop counts as degradation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DegradationPolicy {
    /// Minimum relative drop of the mean score (0.05 = 5%).
    pub min_relative_drop: f64,
    /// Significance level of the two-sided Welch test.
    pub alpha: f64,
}

impl Default for DegradationPolicy {
    fn default() -> Self {
        DegradationPolicy { min_relative_drop: 0.05, alpha: 0.05 }
    }
}

/// Fewest evaluations in each window for Welch's t-test to run.
pub const MIN_EVALUATIONS_PER_WINDOW: usize = 2;

/// What a degradation check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegradationVerdict {
    /// The score dropped beyond the threshold and the drop is significant.
    Degraded,
    /// The test ran and found no qualifying drop.
    NotDegraded,
    /// A window holds fewer than [`MIN_EVALUATIONS_PER_WINDOW`] evaluations, so Welch's
    /// t-test cannot run: no conclusion either way (never a silent "not degraded").
    InsufficientData,
}

/// Baseline against recent window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DegradationReport {
    /// Baseline evaluations.
    pub baseline_n: usize,
    /// Recent evaluations.
    pub recent_n: usize,
    /// Baseline mean score.
    pub baseline_mean: f64,
    /// Recent mean score.
    pub recent_mean: f64,
    /// `(baseline − recent) / baseline` (positive: worse now).
    pub relative_drop: f64,
    /// Welch test p-value (`None` when the test could not run: insufficient data).
    pub p_value: Option<f64>,
    /// The conclusion; [`DegradationVerdict::InsufficientData`] when a window is too small.
    pub verdict: DegradationVerdict,
    /// Whether the drop is beyond the threshold and significant (the verdict is `Degraded`).
    pub degraded: bool,
}

/// Percentile `q` in `[0, 1]` of sorted values, by linear interpolation between ranks.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Compares recent scores with baseline scores under `policy`.
pub fn degradation(baseline: &[f64], recent: &[f64], policy: &DegradationPolicy) -> DegradationReport {
    let (b, r) = (mean(baseline), mean(recent));
    let relative_drop = if b > 0.0 { (b - r) / b } else { 0.0 };
    let enough = baseline.len() >= MIN_EVALUATIONS_PER_WINDOW && recent.len() >= MIN_EVALUATIONS_PER_WINDOW;
    let p_value = if enough { welch_t_test(baseline, recent).ok().map(|t| t.p_value) } else { None };
    let verdict = match p_value {
        None => DegradationVerdict::InsufficientData,
        Some(p) if relative_drop >= policy.min_relative_drop && p < policy.alpha => DegradationVerdict::Degraded,
        Some(_) => DegradationVerdict::NotDegraded,
    };
    DegradationReport {
        baseline_n: baseline.len(),
        recent_n: recent.len(),
        baseline_mean: b,
        recent_mean: r,
        relative_drop,
        p_value,
        verdict,
        degraded: verdict == DegradationVerdict::Degraded,
    }
}

/// Least-squares trend of the mean score over snapshots (`None` with fewer than two).
pub fn trend(snapshots: &[PerfSnapshot]) -> Option<Trend> {
    if snapshots.len() < 2 {
        return None;
    }
    let day = 86_400_000.0;
    let xs: Vec<f64> = snapshots.iter().map(|s| s.window_end as f64 / day).collect();
    let ys: Vec<f64> = snapshots.iter().map(|s| s.mean_score).collect();
    let (mx, my) = (mean(&xs), mean(&ys));
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    Some(Trend {
        points: snapshots.len(),
        score_slope_per_day: if sxx > 0.0 { sxy / sxx } else { 0.0 },
        first_score: ys[0],
        last_score: ys[ys.len() - 1],
    })
}

fn snapshot_from_row(r: &impl RowExt) -> Result<PerfSnapshot> {
    Ok(PerfSnapshot {
        id: r.i64("id")?,
        program: r.string("program")?,
        version: version_from_db(r.i64("version")?),
        at: r.i64("at")?,
        window_start: r.i64("window_start")?,
        window_end: r.i64("window_end")?,
        n: r.i64("n")?,
        mean_score: r.f64("mean_score")?,
        latency_p50_ms: r.f64("latency_p50_ms")?,
        latency_p95_ms: r.f64("latency_p95_ms")?,
        cost_per_call: r.f64("cost_per_call")?,
    })
}

impl Store {
    /// Computes and stores a snapshot of a version's evaluations in `[start, end)`.
    pub async fn take_snapshot(
        &self,
        program: &str,
        version: Option<i64>,
        start: i64,
        end: i64,
    ) -> Result<PerfSnapshot> {
        if end <= start {
            return Err(StoreError::Invalid(format!("snapshot window [{start}, {end}) is empty")));
        }
        let samples = self.eval_samples(program, version, start, end).await?;
        if samples.is_empty() {
            return Err(StoreError::NotFound(format!(
                "no evaluations of '{program}' version {} between {start} and {end}",
                version.map(|v| v.to_string()).unwrap_or_else(|| "(unregistered)".into())
            )));
        }
        let scores: Vec<f64> = samples.iter().map(|s| s.score).collect();
        let mut latencies: Vec<f64> = samples.iter().map(|s| s.latency_ms as f64).collect();
        latencies.sort_by(f64::total_cmp);
        let cost: f64 = samples.iter().map(|s| s.cost_usd).sum();
        let mut snap = PerfSnapshot {
            id: 0,
            program: program.to_string(),
            version,
            at: now_ms(),
            window_start: start,
            window_end: end,
            n: samples.len() as i64,
            mean_score: mean(&scores),
            latency_p50_ms: percentile_sorted(&latencies, 0.5),
            latency_p95_ms: percentile_sorted(&latencies, 0.95),
            cost_per_call: cost / samples.len() as f64,
        };
        snap.id = with_pool!(self, pool => {
            let row = sqlx::query(
                "INSERT INTO perf_snapshots (program, version, at, window_start, window_end, n, mean_score, \
                 latency_p50_ms, latency_p95_ms, cost_per_call) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 RETURNING id",
            )
            .bind(&snap.program)
            .bind(version_to_db(version))
            .bind(snap.at)
            .bind(start)
            .bind(end)
            .bind(snap.n)
            .bind(snap.mean_score)
            .bind(snap.latency_p50_ms)
            .bind(snap.latency_p95_ms)
            .bind(snap.cost_per_call)
            .fetch_one(pool)
            .await?;
            row.i64("id")?
        });
        Ok(snap)
    }

    /// A version's snapshots, oldest window first.
    pub async fn snapshots(&self, program: &str, version: Option<i64>) -> Result<Vec<PerfSnapshot>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM perf_snapshots WHERE program = $1 AND version = $2 ORDER BY window_end, id",
            )
            .bind(program)
            .bind(version_to_db(version))
            .fetch_all(pool)
            .await?;
            rows.iter().map(snapshot_from_row).collect()
        })
    }

    /// The last `limit` predictions of `program`'s `version`, newest first: latency (ms),
    /// whether it failed, and cost (USD).
    pub async fn recent_serving(&self, program: &str, version: i64, limit: i64) -> Result<Vec<(i64, bool, f64)>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT latency_ms, CASE WHEN error IS NULL THEN 0 ELSE 1 END AS failed, cost_usd FROM evaluations \
                 WHERE program = $1 AND version = $2 AND run_id IS NULL ORDER BY id DESC LIMIT $3",
            )
            .bind(program)
            .bind(version)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok((r.i64("latency_ms")?, r.i64("failed")? == 1, r.f64("cost_usd")?))).collect()
        })
    }

    /// The last `limit` scored evaluations of `program`'s `version` (scored predictions and
    /// `eval` runs alike), newest first, with their ids.
    pub async fn recent_scores(&self, program: &str, version: i64, limit: i64) -> Result<Vec<(i64, f64)>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, score FROM evaluations WHERE program = $1 AND version = $2 AND unscored = 0 \
                 AND error IS NULL ORDER BY id DESC LIMIT $3",
            )
            .bind(program)
            .bind(version)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok((r.i64("id")?, r.f64("score")?))).collect()
        })
    }

    /// Compares a version's scores in a recent window with a baseline window.
    pub async fn detect_degradation(
        &self,
        program: &str,
        version: Option<i64>,
        baseline: (i64, i64),
        recent: (i64, i64),
        policy: &DegradationPolicy,
    ) -> Result<DegradationReport> {
        let b: Vec<f64> =
            self.eval_samples(program, version, baseline.0, baseline.1).await?.iter().map(|s| s.score).collect();
        let r: Vec<f64> =
            self.eval_samples(program, version, recent.0, recent.1).await?.iter().map(|s| s.score).collect();
        Ok(degradation(&b, &r, policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let v = [10.0, 20.0, 30.0, 40.0, 50.0];
        assert_eq!(percentile_sorted(&v, 0.5), 30.0);
        assert_eq!(percentile_sorted(&v, 0.95), 48.0);
        assert_eq!(percentile_sorted(&v, 0.0), 10.0);
        assert_eq!(percentile_sorted(&[], 0.5), 0.0);
        assert_eq!(percentile_sorted(&[7.0], 0.95), 7.0);
    }

    #[test]
    fn degradation_needs_size_and_significance() {
        let p = DegradationPolicy::default();
        let baseline: Vec<f64> = (0..200).map(|i| if i % 10 < 8 { 1.0 } else { 0.0 }).collect();
        let recent: Vec<f64> = (0..200).map(|i| if i % 10 < 6 { 1.0 } else { 0.0 }).collect();
        let d = degradation(&baseline, &recent, &p);
        assert!(d.degraded && (d.relative_drop - 0.25).abs() < 1e-9 && d.p_value.unwrap() < 0.001, "{d:?}");
        assert_eq!(d.verdict, DegradationVerdict::Degraded);
        // Same drop on 5 examples each: not significant.
        let d = degradation(&[1.0, 1.0, 1.0, 1.0, 0.0], &[1.0, 1.0, 1.0, 0.0, 0.0], &p);
        assert!(!d.degraded && d.relative_drop > 0.05 && d.p_value.unwrap() > 0.05, "{d:?}");
        assert_eq!(d.verdict, DegradationVerdict::NotDegraded);
        // Significant but tiny drop.
        let base: Vec<f64> = (0..100_000).map(|i| if i % 1000 < 800 { 1.0 } else { 0.0 }).collect();
        let rec: Vec<f64> = (0..100_000).map(|i| if i % 1000 < 780 { 1.0 } else { 0.0 }).collect();
        let d = degradation(&base, &rec, &p);
        assert!(!d.degraded && d.p_value.unwrap() < 0.05, "{d:?}");
        assert_eq!(d.verdict, DegradationVerdict::NotDegraded);
    }

    #[test]
    fn too_few_evaluations_is_insufficient_data_not_a_pass() {
        let p = DegradationPolicy::default();
        let many: Vec<f64> = (0..200).map(|i| if i % 10 < 8 { 1.0 } else { 0.0 }).collect();
        // A total collapse on one recent evaluation, an empty window, an empty baseline.
        for (baseline, recent) in
            [(&many[..], &[0.0][..]), (&many[..], &[][..]), (&[][..], &many[..]), (&[1.0][..], &[0.0][..])]
        {
            let d = degradation(baseline, recent, &p);
            assert_eq!(d.verdict, DegradationVerdict::InsufficientData, "{d:?}");
            assert_eq!((d.p_value, d.degraded), (None, false), "{d:?}");
            assert_eq!((d.baseline_n, d.recent_n), (baseline.len(), recent.len()));
        }
        // Two in each window is enough for the test to run.
        let d = degradation(&[1.0, 1.0], &[0.0, 0.0], &p);
        assert_eq!((d.verdict, d.p_value), (DegradationVerdict::Degraded, Some(0.0)), "{d:?}");
        // The JSON says so explicitly: no p-value, the verdict by name.
        let json = serde_json::to_value(degradation(&many, &[0.0], &p)).unwrap();
        assert_eq!(json["verdict"], "insufficient_data");
        assert!(json["p_value"].is_null(), "{json}");
    }

    #[test]
    fn trend_is_a_least_squares_slope() {
        let snap = |day: i64, score: f64| PerfSnapshot {
            id: 0,
            program: "p".into(),
            version: Some(1),
            at: 0,
            window_start: 0,
            window_end: day * 86_400_000,
            n: 1,
            mean_score: score,
            latency_p50_ms: 0.0,
            latency_p95_ms: 0.0,
            cost_per_call: 0.0,
        };
        assert!(trend(&[snap(1, 0.5)]).is_none());
        let t = trend(&[snap(1, 0.9), snap(2, 0.8), snap(3, 0.7)]).unwrap();
        assert!((t.score_slope_per_day + 0.1).abs() < 1e-9, "{t:?}");
        assert_eq!((t.first_score, t.last_score, t.points), (0.9, 0.7, 3));
    }
}
