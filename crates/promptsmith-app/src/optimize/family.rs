//! Prompt families: one optimization over a directory of related programs (the four judges, say)
//! under one shared budget, with one report. Each subdirectory holding a `program.json` is a
//! member; its data is `data/train.jsonl` (required), with `data/val.jsonl` and
//! `data/test.jsonl` when present. Every member gets the same optimizer, metric and settings;
//! all are checked before the first model call; they run in turn, each under an equal share of
//! what is left of the budget (what one leaves unspent goes to the next).

use super::request::OptimizeRequest;
use super::service::{OptimizeOutcome, OptimizeService, RunContext};
use crate::data::DataRequest;
use crate::error::{AppError, Result};
use promptsmith_eval::stats::{compare_paired_at, PairedComparison};
use promptsmith_lm::LmStack;
use promptsmith_optimize::budget::{Budget, RoleSpend};
use promptsmith_optimize::events::EventSink;
use promptsmith_optimize::run::RunReport;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The report's file name in the family's run directory.
pub const FAMILY_REPORT: &str = "family-report.json";

/// One program of a family.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its subdirectory's name.
    pub name: String,
    /// Its request (the base request with its program and data).
    pub request: OptimizeRequest,
}

/// The members of the family in `dir`, in name order, each `base` with its own program and data.
pub fn members(dir: &Path, base: &OptimizeRequest) -> Result<Vec<Member>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| crate::error::io_error(format!("--program {}: cannot read the directory", dir.display()), &e))?;
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let mut out = Vec::new();
    for sub in dirs.into_iter().filter(|d| d.join("program.json").is_file()) {
        let name = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let train = sub.join("data").join("train.jsonl");
        if !train.is_file() {
            return Err(AppError::invalid(format!(
                "--program {}: member '{name}' has no data/train.jsonl (each member needs its training data there)",
                dir.display()
            )));
        }
        let mut request = base.clone();
        request.program = sub.join("program.json").display().to_string();
        request.data = DataRequest { data: train.display().to_string(), ..base.data.clone() };
        let optional = |file: &str| Some(sub.join("data").join(file)).filter(|p| p.is_file());
        request.splits.val_data = optional("val.jsonl").map(|p| p.display().to_string());
        request.splits.test_data = optional("test.jsonl").map(|p| p.display().to_string());
        request.register = base.register.as_ref().map(|r| super::RegisterRequest { name: name.clone(), ..r.clone() });
        out.push(Member { name, request });
    }
    if out.is_empty() {
        return Err(AppError::invalid(format!(
            "--program {}: no subdirectory holds a program.json (a family is a directory of program directories)",
            dir.display()
        )));
    }
    Ok(out)
}

/// `total` less `spent`, divided among `remaining` members (unlimited stays unlimited).
pub fn budget_share(total: &Budget, spent: &RoleSpend, seconds: f64, remaining: usize) -> Budget {
    let n = remaining.max(1) as u64;
    let left = |cap: Option<u64>, used: u64| cap.map(|c| (c.saturating_sub(used) / n).max(1));
    let left_f = |cap: Option<f64>, used: f64| cap.map(|c| ((c - used) / n as f64).max(f64::MIN_POSITIVE));
    Budget {
        max_calls: left(total.max_calls, spent.calls),
        max_tokens: left(total.max_tokens, spent.tokens()),
        max_cost_usd: left_f(total.max_cost_usd, spent.cost_usd),
        max_seconds: left_f(total.max_seconds, seconds),
    }
}

/// Baseline and result on the held-out split (the test split when there is one, else
/// validation), with the paired test of result against baseline.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    /// `test` or `validation`.
    pub split: &'static str,
    /// The program as written.
    pub baseline: f64,
    /// The kept result.
    pub result: f64,
    /// Examples.
    pub n: usize,
    /// Result against baseline (`a` is the result, so a positive difference is a gain).
    pub comparison: Option<PairedComparison>,
}

/// The held-out comparison of a run, when it scored a split both ways.
pub fn held_out(report: &RunReport) -> Option<HeldOut> {
    let (split, b, f) = match (&report.baseline_test, &report.final_test) {
        (Some(b), Some(f)) => ("test", b, f),
        _ => ("validation", report.baseline_val.as_ref()?, report.final_val.as_ref()?),
    };
    let comparison = (b.scores.len() == f.scores.len() && !b.scores.is_empty())
        .then(|| compare_paired_at(&f.scores, &b.scores, 0.95, report.seed).ok())
        .flatten();
    Some(HeldOut { split, baseline: b.score, result: f.score, n: f.n, comparison })
}

/// One member's line in the family report.
#[derive(Debug, Clone, Serialize)]
pub struct MemberSummary {
    /// The member.
    pub name: String,
    /// Its run directory.
    pub run_dir: PathBuf,
    /// The budget it was given.
    pub budget: Budget,
    /// Held-out baseline and result.
    pub held_out: Option<HeldOut>,
    /// What it spent.
    pub spent: RoleSpend,
    /// Why it stopped early, if it did.
    pub stopped: Option<String>,
}

/// The family's report.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    /// Every member, in order.
    pub members: Vec<MemberSummary>,
    /// All members' spending together.
    pub spent: RoleSpend,
    /// The budget they shared.
    pub budget: Budget,
}

impl OptimizeService {
    /// Checks every member (before any model call), then optimizes them in turn under shares
    /// of `budget`, each in `run_dir/<name>`, and writes [`FAMILY_REPORT`] in `run_dir`.
    pub async fn run_family(
        &self,
        members: Vec<Member>,
        budget: Budget,
        lm: &LmStack,
        run_dir: &Path,
        events: Arc<dyn EventSink>,
        cancel: CancellationToken,
    ) -> Result<(FamilyReport, Vec<OptimizeOutcome>)> {
        for m in &members {
            self.prepare(m.request.clone()).await.map_err(|e| e.context(format!("family member '{}'", m.name)))?;
        }
        let started = std::time::Instant::now();
        let mut spent = RoleSpend::default();
        let (mut summaries, mut outcomes) = (Vec::new(), Vec::new());
        let count = members.len();
        for (i, m) in members.into_iter().enumerate() {
            if cancel.is_cancelled() {
                break;
            }
            let mut request = m.request;
            request.budget = budget_share(&budget, &spent, started.elapsed().as_secs_f64(), count - i);
            let share = request.budget;
            let prepared = self.prepare(request).await?;
            let dir = run_dir.join(&m.name);
            let ctx = RunContext { lm, run_dir: dir.clone(), events: events.clone(), cancel: cancel.clone() };
            let outcome =
                self.run(prepared, ctx).await.map_err(|e| e.context(format!("family member '{}'", m.name)))?;
            let used = outcome.report.spent.total();
            spent += used;
            summaries.push(MemberSummary {
                name: m.name,
                run_dir: dir,
                budget: share,
                held_out: held_out(&outcome.report),
                spent: used,
                stopped: outcome.report.stopped.as_ref().map(ToString::to_string),
            });
            outcomes.push(outcome);
        }
        let report = FamilyReport { members: summaries, spent, budget };
        crate::rundir::write_json(run_dir, FAMILY_REPORT, &report)?;
        Ok((report, outcomes))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_member_gets_an_equal_share_of_what_is_left() {
        let total = Budget { max_calls: Some(100), max_seconds: Some(60.0), ..Budget::default() };
        let first = budget_share(&total, &RoleSpend::default(), 0.0, 4);
        assert_eq!(first.max_calls, Some(25));
        assert_eq!(first.max_tokens, None, "no cap stays no cap");
        // The first spent only 10 of its 25: the other three share the 90 left.
        let spent = RoleSpend { calls: 10, ..RoleSpend::default() };
        assert_eq!(budget_share(&total, &spent, 15.0, 3).max_calls, Some(30));
        assert_eq!(budget_share(&total, &spent, 15.0, 3).max_seconds, Some(15.0));
    }

    #[test]
    fn members_are_the_subdirectories_with_a_program_and_training_data() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b_judge", "a_judge"] {
            std::fs::create_dir_all(dir.path().join(name).join("data")).unwrap();
            std::fs::write(dir.path().join(name).join("program.json"), "{}").unwrap();
            std::fs::write(dir.path().join(name).join("data/train.jsonl"), "{}\n").unwrap();
        }
        std::fs::write(dir.path().join("a_judge/data/test.jsonl"), "{}\n").unwrap();
        std::fs::create_dir_all(dir.path().join("notes")).unwrap();
        let base = OptimizeRequest::new("x", DataRequest::named("x"), super::super::OptimizerSpec::Labeled { k: 2 });
        let m = members(dir.path(), &base).unwrap();
        assert_eq!(m.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a_judge", "b_judge"]);
        assert!(m[0].request.splits.test_data.as_deref().unwrap().ends_with("a_judge/data/test.jsonl"));
        assert!(m[1].request.splits.test_data.is_none());
        std::fs::remove_file(dir.path().join("b_judge/data/train.jsonl")).unwrap();
        let err = members(dir.path(), &base).unwrap_err();
        assert!(err.message.contains("member 'b_judge' has no data/train.jsonl"), "{}", err.message);
    }
}
