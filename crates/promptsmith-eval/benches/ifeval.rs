//! IFEval checks over the whole `input_data.jsonl` (541 rows), with each prompt standing in for
//! the response. Criterion reports the time for all rows; the time per row is printed as well.
//! First, the number of prompts following each instruction (strict and loose) is checked against
//! the counts computed independently with the reference's Python expressions
//! (`src/metric/ifeval/reference_counts.in`); the test suite checks a shipped sample only.
//!
//! Run: `cargo bench -p promptsmith-eval --bench ifeval`. The data is read from
//! `<workspace>/../shared/data/ifeval/input_data.jsonl`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use promptsmith_eval::metric::ifeval::{check_all, IfEvalRow, Instruction, Mode};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

fn load() -> Vec<(IfEvalRow, Vec<Instruction>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ifeval/input_data.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => panic!("IFEval data must be present at {}: {e}", path.display()),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let row: IfEvalRow = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(e) => panic!("bad row {line}: {e}"),
            };
            let instructions = match row.instructions() {
                Ok(i) => i,
                Err(e) => panic!("row {}: {e}", row.key),
            };
            (row, instructions)
        })
        .collect()
}

fn run_all(rows: &[(IfEvalRow, Vec<Instruction>)], mode: Mode) -> usize {
    rows.iter()
        .map(|(row, instructions)| check_all(instructions, &row.prompt, mode).iter().filter(|o| o.followed).count())
        .sum()
}

/// Panics unless the strict and loose counts per id match the reference's on the full data.
fn check_reference_counts(rows: &[(IfEvalRow, Vec<Instruction>)]) {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (row, instructions) in rows {
        let strict = check_all(instructions, &row.prompt, Mode::Strict);
        let loose = check_all(instructions, &row.prompt, Mode::Loose);
        for (s, l) in strict.iter().zip(&loose) {
            let entry = counts.entry(s.id).or_default();
            entry.0 += usize::from(s.followed);
            entry.1 += usize::from(l.followed);
        }
    }
    let expected: &[(&str, usize, usize)] = &include!("../src/metric/ifeval/reference_counts.in");
    for (id, strict, loose) in expected {
        let got = counts.get(id).copied().unwrap_or((0, 0));
        assert_eq!(got, (*strict, *loose), "strict and loose counts for {id} differ from the reference's");
    }
    println!("ifeval: the counts of {} ids match the reference's on all {} rows", expected.len(), rows.len());
}

fn bench(c: &mut Criterion) {
    let rows = load();
    check_reference_counts(&rows);
    let n = rows.len();
    for mode in [Mode::Strict, Mode::Loose] {
        // A plain timing too, so the per-row figure is printed whatever criterion's output format.
        let start = Instant::now();
        let followed = run_all(&rows, mode);
        let per_row = start.elapsed().as_secs_f64() / n as f64;
        println!(
            "ifeval {mode:?}: {n} rows, {followed} instructions followed, {:.1} µs per row (one pass)",
            per_row * 1e6
        );
    }
    let mut group = c.benchmark_group("ifeval");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("strict_all_rows", |b| b.iter(|| black_box(run_all(black_box(&rows), Mode::Strict))));
    group.bench_function("loose_all_rows", |b| b.iter(|| black_box(run_all(black_box(&rows), Mode::Loose))));
    group.bench_function("parse_all_rows", |b| {
        b.iter(|| rows.iter().map(|(row, _)| row.instructions().map(|i| i.len()).unwrap_or(0)).sum::<usize>())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
