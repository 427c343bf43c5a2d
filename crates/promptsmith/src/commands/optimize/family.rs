//! `optimize --program DIR`: a prompt family, every program directory under DIR optimized in
//! turn under the one budget, with one report (the application layer's
//! [`promptsmith_app::optimize::family`]).

use super::{print_plan, OptimizeArgs, Progress};
use crate::lm_setup::{build_lm, LmArgs};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use promptsmith_app::optimize::family::{members, FamilyReport, FAMILY_REPORT};
use promptsmith_app::rundir::create_run_dir;
use promptsmith_app::OptimizeService;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Plans or runs the family in `dir` with the flags' settings.
pub(super) async fn optimize_family(
    args: &OptimizeArgs,
    lm_args: &LmArgs,
    service: &OptimizeService,
    dir: &Path,
) -> Result<ExitCode> {
    let base = args.request(dir, "family")?;
    let family = members(dir, &base)?;
    if args.dry_run {
        let pricing = crate::lm_setup::read_config(lm_args)?.roles.task;
        for m in &family {
            let prepared =
                service.prepare(m.request.clone()).await.map_err(|e| e.context(format!("member '{}'", m.name)))?;
            println!("== {} ({})", m.name, m.request.program);
            print_plan(&service.plan(&prepared, &pricing));
        }
        println!("the family shares one budget: each member gets an equal share of what the ones before left");
        return Ok(ExitCode::SUCCESS);
    }
    let name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let run_dir = create_run_dir(args.run_dir.as_deref(), "optimize", &name)?;
    let lm = build_lm(lm_args).await?;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix:>9} {bar:25} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let events =
        Arc::new(Progress { bar: bar.clone(), quiet: args.quiet, best: Default::default(), dir: run_dir.clone() });
    let result = service.run_family(family, base.budget, &lm, &run_dir, events, super::super::cancel_on_ctrl_c()).await;
    bar.finish_and_clear();
    lm.shutdown().await;
    let (report, _) = result?;
    print_family(&report, &run_dir);
    Ok(ExitCode::SUCCESS)
}

fn print_family(report: &FamilyReport, run_dir: &Path) {
    println!("{:<16} {:>10} {:>10} {:>5} {:>8} {:>7}  budget", "program", "baseline", "result", "n", "p", "calls");
    for m in &report.members {
        let (b, r, n, p, split) = match &m.held_out {
            Some(h) => (
                format!("{:.1}%", h.baseline * 100.0),
                format!("{:.1}%", h.result * 100.0),
                h.n.to_string(),
                h.comparison.as_ref().map_or("-".into(), |c| format!("{:.4}", c.test.p_value())),
                h.split,
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "-"),
        };
        let cap = m.budget.max_calls.map_or("no call cap".into(), |c| format!("at most {c} calls"));
        let stopped = m.stopped.as_ref().map_or(String::new(), |s| format!(", stopped: {s}"));
        println!("{:<16} {b:>10} {r:>10} {n:>5} {p:>8} {:>7}  {cap} ({split}){stopped}", m.name, m.spent.calls);
    }
    println!("all: {} calls, {} tokens", report.spent.calls, report.spent.tokens());
    println!("report: {}", run_dir.join(FAMILY_REPORT).display());
}
