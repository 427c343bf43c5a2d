//! Crash safety: a writer process (`store-crash-writer`) registers versions, moves aliases and
//! inserts evaluation batches, printing each write once it is committed; it is killed with
//! SIGKILL at a random moment, 20 times in a row on the same database. Afterwards the database
//! must pass its integrity check and hold every acknowledged write.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, Engine};
use promptsmith_store::{EvalQuery, Store, VersionSelector};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KILLS: usize = 20;

#[derive(Debug, Default)]
struct Acked {
    versions: BTreeMap<String, Vec<i64>>,
    aliases: Vec<(String, String, i64)>,
    evals: Vec<(i64, i64)>,
}

/// Runs the writer until it has acknowledged at least one write, waits a random while longer,
/// and kills it. Returns the complete (newline-terminated) lines it printed.
fn run_and_kill(url: &str, program: &str, rng: &mut impl Rng) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .args([url, program])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if buf.ends_with(b"\n") => {
                        lines.lock().unwrap().push(String::from_utf8_lossy(&buf[..buf.len() - 1]).to_string());
                    }
                    Ok(_) => break, // a line cut by the kill: not acknowledged
                }
            }
        })
    };
    let started = Instant::now();
    while lines.lock().unwrap().is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("the writer exited ({status}) before writing anything: {err}");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the writer acknowledged nothing in 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    let out = lines.lock().unwrap().clone();
    out
}

fn parse(lines: &[String], acked: &mut Acked) {
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["version", p, v] => acked.versions.entry(p.to_string()).or_default().push(v.parse().unwrap()),
            ["alias", p, a, v] => acked.aliases.push((p.to_string(), a.to_string(), v.parse().unwrap())),
            ["evals", first, last] => acked.evals.push((first.parse().unwrap(), last.parse().unwrap())),
            _ => panic!("unexpected line from the writer: {line}"),
        }
    }
}

async fn check_after_kills(store: &Store, acked: &Acked) {
    let problems = store.check_integrity().await.unwrap();
    assert!(problems.is_empty(), "integrity problems after {KILLS} kills: {problems:?}");
    for (program, versions) in &acked.versions {
        for v in versions {
            store.version(program, &VersionSelector::Number(*v)).await.unwrap();
        }
    }
    // Every acknowledged alias move is in the log, in order.
    let mut log_by_program: BTreeMap<String, Vec<(String, Option<i64>)>> = BTreeMap::new();
    for program in acked.versions.keys() {
        let log = store.alias_log(program).await.unwrap();
        log_by_program.insert(program.clone(), log.into_iter().map(|m| (m.alias, m.to_version)).collect());
    }
    let mut cursor: BTreeMap<String, usize> = BTreeMap::new();
    for (program, alias, version) in &acked.aliases {
        let log = &log_by_program[program];
        let start = cursor.entry(program.clone()).or_default();
        let pos = log[*start..].iter().position(|(a, v)| a == alias && *v == Some(*version));
        let pos = pos.unwrap_or_else(|| panic!("acknowledged move of {program}@{alias} to {version} is missing"));
        *start += pos + 1;
    }
    // Every acknowledged evaluation exists, and the per-version rollup counts every stored row.
    let mut expected = 0;
    for (first, last) in &acked.evals {
        for id in [*first, *last] {
            store.evaluation(id).await.unwrap();
        }
        expected += last - first + 1;
    }
    let total = store.count_evaluations().await.unwrap();
    assert!(total >= expected, "{total} evaluations stored, {expected} acknowledged");
    let mut rolled_up = 0;
    for program in acked.versions.keys() {
        rolled_up += store.program_stats(program).await.unwrap().iter().map(|s| s.n).sum::<i64>();
        let all = EvalQuery { program: Some(program.clone()), limit: Some(i64::MAX), ..EvalQuery::default() };
        assert!(!store.query_evaluations(&all).await.unwrap().is_empty());
    }
    assert_eq!(rolled_up, total, "rollup and rows disagree");
}

async fn survives_kills(engine: Engine) {
    let db = fresh(engine).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let mut acked = Acked::default();
    for k in 0..KILLS {
        // Two programs, so some kills land while a program is created and some mid-history.
        let program = if k % 2 == 0 { "alpha" } else { "beta" };
        let lines = run_and_kill(&db.url, program, &mut rng);
        parse(&lines, &mut acked);
    }
    let versions = acked.versions.values().map(Vec::len).sum::<usize>();
    eprintln!(
        "{engine:?}: {KILLS} kills; acknowledged {versions} versions, {} alias moves, {} evaluation batches",
        acked.aliases.len(),
        acked.evals.len()
    );
    assert!(versions >= KILLS);
    let store = db.open().await;
    check_after_kills(&store, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_20_sigkills() {
    survives_kills(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_20_sigkills() {
    survives_kills(Engine::Postgres).await;
}
