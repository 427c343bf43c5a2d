//! `promptsmith monitor`: a version's quality over time, from the evaluations `eval` records in
//! the store: snapshots of a time window (mean score, latency p50/p95, cost per call), their
//! trend, and a degradation check (a drop beyond a threshold that Welch's t-test also finds
//! significant).

use super::registry::{format_time, StoreArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use promptsmith_store::snapshots::MIN_EVALUATIONS_PER_WINDOW;
use promptsmith_store::{
    trend, DegradationPolicy, DegradationReport, DegradationVerdict, PerfSnapshot, ProgramRef, Store,
};
use serde_json::json;
use std::process::ExitCode;

/// `monitor` subcommands.
#[derive(Debug, Subcommand)]
#[command(after_help = "\
VERSION is NAME@NUMBER or NAME@ALIAS (e.g. gsm8k@production); NAME@unregistered means the
evaluations of the program run from a spec file. A window is START..END, each end `now`, a time
ago (30m, 6h, 7d) or Unix milliseconds: `24h..now` is the last day. Times print in UTC.")]
pub(crate) enum MonitorCommand {
    /// Record a snapshot of a version's evaluations in a time window.
    Snapshot(SnapshotArgs),
    /// List a version's snapshots, oldest first, and the trend of their scores.
    Snapshots(SnapshotsArgs),
    /// Compare a version's recent evaluations with a baseline window.
    Degradation(DegradationArgs),
}

/// Arguments of `monitor snapshot`.
#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    /// The version: NAME@NUMBER, NAME@ALIAS or NAME@unregistered.
    version: String,
    /// The window: START..END.
    #[arg(long, default_value = "24h..now")]
    window: String,
    /// Print the snapshot as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `monitor snapshots`.
#[derive(Debug, Args)]
pub(crate) struct SnapshotsArgs {
    /// The version: NAME@NUMBER, NAME@ALIAS or NAME@unregistered.
    version: String,
    /// Print the snapshots and the trend as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `monitor degradation`.
#[derive(Debug, Args)]
pub(crate) struct DegradationArgs {
    /// The version: NAME@NUMBER, NAME@ALIAS or NAME@unregistered.
    version: String,
    /// The baseline window: START..END.
    #[arg(long, default_value = "8d..1d")]
    baseline: String,
    /// The recent window: START..END.
    #[arg(long, default_value = "1d..now")]
    recent: String,
    /// Smallest relative drop of the mean score that counts (0.05 = 5%).
    #[arg(long, default_value_t = 0.05)]
    min_drop: f64,
    /// Significance level of the two-sided Welch test.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Exit with status 1 when the version has degraded (for cron jobs and CI).
    #[arg(long)]
    fail_on_degradation: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

use promptsmith_core::clock::now_ms;

/// One end of a window: `now`, a time ago (`30m`, `6h`, `7d`, `90s`) or Unix milliseconds.
fn instant(text: &str, now: i64) -> Option<i64> {
    let t = text.trim();
    if t == "now" {
        return Some(now);
    }
    if let Ok(ms) = t.parse::<i64>() {
        return Some(ms);
    }
    let unit = match t.chars().last()? {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    let n: f64 = t[..t.len() - 1].parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    Some(now - (n * unit as f64) as i64)
}

/// A `START..END` window as Unix milliseconds, `[start, end)`.
fn window(flag: &str, text: &str, now: i64) -> Result<(i64, i64)> {
    let bad = || {
        anyhow::anyhow!(
            "--{flag} {text}: expected START..END, each end `now`, a time ago (30m, 6h, 7d) or Unix milliseconds, \
             e.g. 24h..now"
        )
    };
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let (start, end) = (instant(a, now).ok_or_else(bad)?, instant(b, now).ok_or_else(bad)?);
    if end <= start {
        bail!(
            "--{flag} {text}: the window ends before it starts ({start} ms = {} UTC to {end} ms = {} UTC)",
            format_time(start),
            format_time(end)
        );
    }
    Ok((start, end))
}

/// The program name and version a `NAME@NUMBER|ALIAS|unregistered` argument names.
async fn version(store: &Store, text: &str) -> Result<(String, Option<i64>)> {
    if let Some(name) = text.strip_suffix("@unregistered") {
        return Ok((name.to_string(), None));
    }
    let Some(reference) = ProgramRef::parse(text) else {
        bail!("'{text}': expected NAME@NUMBER, NAME@ALIAS or NAME@unregistered (e.g. gsm8k@production)");
    };
    let v = store.resolve(&reference).await?;
    Ok((v.program, Some(v.version)))
}

fn label(program: &str, version: Option<i64>) -> String {
    match version {
        Some(v) => format!("{program}@{v}"),
        None => format!("{program} (unregistered)"),
    }
}

fn snapshot_line(s: &PerfSnapshot) -> String {
    format!(
        "{} .. {}  n={:<5} score {:>5.1}%  latency p50 {:.0} ms, p95 {:.0} ms  cost/call ${:.6}",
        format_time(s.window_start),
        format_time(s.window_end),
        s.n,
        s.mean_score * 100.0,
        s.latency_p50_ms,
        s.latency_p95_ms,
        s.cost_per_call
    )
}

/// Runs a `monitor` subcommand.
/// The verdict line's text when Welch's t-test could not run.
fn insufficient_data_verdict(r: &DegradationReport) -> String {
    format!(
        "insufficient data: not enough evaluations to tell (Welch's t-test needs at least \
         {MIN_EVALUATIONS_PER_WINDOW} in each window; the baseline has {}, the recent window {})",
        r.baseline_n, r.recent_n
    )
}

pub(crate) async fn monitor(command: MonitorCommand) -> Result<ExitCode> {
    let now = now_ms();
    match command {
        MonitorCommand::Snapshot(a) => {
            let (start, end) = window("window", &a.window, now)?;
            let store = a.store.open_existing().await?;
            let (program, v) = version(&store, &a.version).await?;
            let snap = store.take_snapshot(&program, v, start, end).await?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&snap)?);
            } else {
                println!("snapshot {} of {}: {}", snap.id, label(&program, v), snapshot_line(&snap));
            }
        }
        MonitorCommand::Snapshots(a) => snapshots(a).await?,
        MonitorCommand::Degradation(a) => return degradation(a, now).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// `monitor snapshots`: a version's snapshots and their trend.
async fn snapshots(a: SnapshotsArgs) -> Result<()> {
    let store = a.store.open_existing().await?;
    let (program, v) = version(&store, &a.version).await?;
    let snaps = store.snapshots(&program, v).await?;
    let t = trend(&snaps);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json!({"snapshots": snaps, "trend": t}))?);
        return Ok(());
    }
    if snaps.is_empty() {
        println!("no snapshots of {} (take one with `monitor snapshot`)", label(&program, v));
    }
    for s in &snaps {
        println!("{:>5}  {}", s.id, snapshot_line(s));
    }
    if let Some(t) = t {
        println!(
            "trend over {} snapshots: {:+.2} points per day ({:.1}% -> {:.1}%)",
            t.points,
            t.score_slope_per_day * 100.0,
            t.first_score * 100.0,
            t.last_score * 100.0
        );
    }
    Ok(())
}

/// `monitor degradation`: the recent window against the baseline window (exit 1 with
/// `--fail-on-degradation` when it degraded).
async fn degradation(a: DegradationArgs, now: i64) -> Result<ExitCode> {
    if !(a.alpha > 0.0 && a.alpha < 1.0) {
        bail!("--alpha {}: expected a level between 0 and 1 (exclusive), e.g. 0.05", a.alpha);
    }
    if !(0.0..=1.0).contains(&a.min_drop) {
        bail!("--min-drop {}: expected a share between 0 and 1, e.g. 0.05 for 5%", a.min_drop);
    }
    let baseline = window("baseline", &a.baseline, now)?;
    let recent = window("recent", &a.recent, now)?;
    if baseline.0 < recent.1 && recent.0 < baseline.1 {
        bail!(
            "--baseline {} and --recent {} overlap: an evaluation in both would be compared with itself",
            a.baseline,
            a.recent
        );
    }
    let store = a.store.open_existing().await?;
    let (program, v) = version(&store, &a.version).await?;
    let policy = DegradationPolicy { min_relative_drop: a.min_drop, alpha: a.alpha };
    let r = store
        .detect_degradation(&program, v, baseline, recent, &policy)
        .await
        .with_context(|| format!("reading the evaluations of {}", label(&program, v)))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{}", label(&program, v));
        let side = |name: &str, n: usize, mean: f64, (s, e): (i64, i64)| {
            println!("  {name:<9} {} .. {}  n={n:<5} score {:>5.1}%", format_time(s), format_time(e), mean * 100.0)
        };
        side("baseline", r.baseline_n, r.baseline_mean, baseline);
        side("recent", r.recent_n, r.recent_mean, recent);
        let verdict = match (r.verdict, r.p_value) {
            (DegradationVerdict::Degraded, Some(p)) => format!(
                "DEGRADED: the score dropped {:.1}% (at least {:.1}% counts), Welch p = {p:.4} < {}",
                r.relative_drop * 100.0,
                a.min_drop * 100.0,
                a.alpha
            ),
            (DegradationVerdict::NotDegraded, Some(p)) => format!(
                "no degradation: change {:+.1}% of the baseline score, Welch p = {p:.4} (needs a drop of at \
                 least {:.1}% and p < {})",
                -r.relative_drop * 100.0,
                a.min_drop * 100.0,
                a.alpha
            ),
            _ => insufficient_data_verdict(&r),
        };
        println!("verdict: {verdict}");
    }
    if r.degraded && a.fail_on_degradation {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn windows_read_now_ago_and_milliseconds() {
        let now = 10 * 86_400_000;
        assert_eq!(window("w", "24h..now", now).unwrap(), (now - 86_400_000, now));
        assert_eq!(window("w", "8d..1d", now).unwrap(), (2 * 86_400_000, 9 * 86_400_000));
        assert_eq!(window("w", "1000..2500", now).unwrap(), (1000, 2500));
        assert!(window("w", "90s..30m", now).unwrap_err().to_string().contains("ends before it starts"));
        for bad in ["24h", "x..now", "5w..now", "-3h..now", "..now"] {
            let e = window("window", bad, now).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--window {bad}: expected START..END")), "{e}");
        }
    }

    #[test]
    fn a_window_too_small_for_the_test_says_insufficient_data() {
        let r = promptsmith_store::snapshots::degradation(&[1.0; 50], &[0.0], &DegradationPolicy::default());
        assert_eq!(r.verdict, DegradationVerdict::InsufficientData);
        assert_eq!(
            insufficient_data_verdict(&r),
            "insufficient data: not enough evaluations to tell (Welch's t-test needs at least 2 in each window; \
             the baseline has 50, the recent window 1)"
        );
    }
}
