//! Encryption at rest on SQLite and PostgreSQL: with a key, every value that holds program
//! state or data (version states, datasets, trial states, run artifacts, job payloads, results,
//! journals and events, evaluation inputs, outputs and labels, feedback corrections) is stored sealed (the raw column holds no plain text) and reads back
//! plain; `reseal_all` moves them all to a new key, after which the old key alone opens nothing.

#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, Engine};
use promptsmith_store::{FeedbackInput, Keyring, NewDataset, NewEvaluation, NewJob, NewRun, Store, Trial};
use serde_json::json;

const OLD: &str = "old:00000000000000000000000000000000000000000000000000000000000000aa";
const NEW: &str = "new:00000000000000000000000000000000000000000000000000000000000000bb";
const SECRET: &str = "the-secret-customer-row";

/// Every sealed column, read raw: (what, value).
async fn raw_values(url: &str) -> Vec<(String, String)> {
    let queries = [
        ("state", "SELECT state_json FROM program_versions"),
        ("dataset", "SELECT content FROM datasets"),
        ("trial", "SELECT state_json FROM trials"),
        ("artifact", "SELECT content FROM artifacts"),
        ("payload", "SELECT payload_json FROM jobs"),
        ("result", "SELECT result_json FROM jobs"),
        ("journal", "SELECT entry_json FROM job_journal"),
        ("event", "SELECT data_json FROM job_events"),
        ("inputs", "SELECT inputs_json FROM evaluations"),
        ("outputs", "SELECT outputs_json FROM evaluations"),
        ("labels", "SELECT labels_json FROM evaluations"),
        ("correction", "SELECT corrected_json FROM feedback"),
    ];
    let mut out = Vec::new();
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for (what, q) in queries {
            for (v,) in sqlx::query_as::<_, (Option<String>,)>(q).fetch_all(&pool).await.unwrap() {
                out.push((what.to_string(), v.unwrap_or_default()));
            }
        }
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for (what, q) in queries {
            for (v,) in sqlx::query_as::<_, (Option<String>,)>(q).fetch_all(&pool).await.unwrap() {
                out.push((what.to_string(), v.unwrap_or_default()));
            }
        }
    }
    out
}

/// One of each sealed thing, each holding SECRET.
async fn write_everything(store: &Store) {
    let mut v = common::new_version("qa", SECRET);
    v.state = common::state(SECRET, 1);
    store.register_version(&v).await.unwrap();
    let content = format!("{{\"question\": \"{SECRET}\", \"answer\": \"a\"}}\n");
    let d = NewDataset {
        id: "ds_1".into(),
        tenant: "default".into(),
        name: "d".into(),
        format: "jsonl".into(),
        rows: 1,
        columns: vec!["question".into(), "answer".into()],
        content,
        sha256: "x".into(),
    };
    store.insert_dataset(&d).await.unwrap();
    let run = NewRun {
        kind: "optimize".into(),
        program: "qa".into(),
        optimizer: None,
        params: json!({}),
        metadata: json!({}),
    };
    let run = store.create_run(&run).await.unwrap();
    let trial = Trial {
        trial: 0,
        candidate: "c".into(),
        parent_candidate: None,
        score: Some(1.0),
        params: json!({}),
        state: Some(json!({"instruction": SECRET})),
        created_at: 0,
    };
    store.add_trial(run.id, &trial).await.unwrap();
    store.put_artifact(run.id, "state.json", "state", &json!({"instruction": SECRET}).to_string()).await.unwrap();
    let job = NewJob {
        id: "job_1".into(),
        tenant: "default".into(),
        kind: "optimize".into(),
        program: "qa".into(),
        payload: json!({"dataset": [{"question": SECRET}]}),
        plan: json!({}),
    };
    store.enqueue_job(&job).await.unwrap();
    let claimed = store.claim_job("w", 60_000).await.unwrap().unwrap();
    store.append_job_journal(&claimed.id, &[json!({"prompt": SECRET}).to_string()]).await.unwrap();
    store.append_job_events(&claimed.id, &[("result".into(), json!({"state": SECRET}))]).await.unwrap();
    let result = json!({"state": {"instruction": SECRET}});
    store.finish_job(&claimed.id, "w", promptsmith_store::JobStatus::Completed, Some(&result), None).await.unwrap();
    let map = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let eval = NewEvaluation {
        program: "qa".into(),
        inputs: map(json!({"question": SECRET})),
        outputs: Some(map(json!({"answer": SECRET}))),
        labels: Some(map(json!({"answer": SECRET}))),
        score: 1.0,
        ..NewEvaluation::default()
    };
    let id = store.insert_predictions(&[eval]).await.unwrap()[0];
    let correction = FeedbackInput { corrected: Some(map(json!({"answer": SECRET}))), ..FeedbackInput::default() };
    store.record_feedback(id, &correction).await.unwrap();
}

/// Reads every sealed thing back through the store and checks it is plain.
async fn read_everything(store: &Store) {
    let v = store.version("qa", &promptsmith_store::VersionSelector::Latest).await.unwrap();
    assert!(serde_json::to_string(&v.state).unwrap().contains(SECRET));
    assert!(store.dataset_content("ds_1").await.unwrap().contains(SECRET));
    let run = store.list_runs(None, 10).await.unwrap().remove(0);
    assert!(store.trials(run.id).await.unwrap()[0].state.as_ref().unwrap().to_string().contains(SECRET));
    assert!(store.artifacts(run.id).await.unwrap()[0].content.contains(SECRET));
    let job = store.job("job_1").await.unwrap();
    assert!(job.payload.to_string().contains(SECRET) && job.result.unwrap().to_string().contains(SECRET));
    assert!(store.job_journal("job_1").await.unwrap()[0].contains(SECRET));
    assert!(store.job_events("job_1", 0, 10).await.unwrap()[0].data.to_string().contains(SECRET));
    let eval = store.query_evaluations(&Default::default()).await.unwrap().remove(0);
    assert!(eval.inputs["question"] == SECRET && eval.outputs.unwrap()["answer"] == SECRET);
    assert_eq!(eval.labels.unwrap()["answer"], SECRET);
    let fb = store.feedback_for(eval.id).await.unwrap().unwrap();
    assert_eq!(fb.corrected.unwrap()["answer"], SECRET);
    assert!(store.feedback_examples(Some("qa")).await.unwrap()[0].example.values().any(|v| v == SECRET));
}

async fn sealed_at_rest_and_rotated(engine: Engine) {
    let db = fresh(engine).await;
    let old = Store::open(&db.url).await.unwrap().with_keyring(Keyring::from_keys(&[OLD]).unwrap());
    write_everything(&old).await;
    let raw = raw_values(&db.url).await;
    assert_eq!(raw.len(), 12, "{raw:?}");
    for (what, value) in &raw {
        assert!(value.starts_with("psenc1:old:") && !value.contains(SECRET), "{what} is not sealed: {value}");
    }
    read_everything(&old).await;
    // Rotation: the new key seals, the old one still opens, until everything is re-sealed.
    let both = Store::open(&db.url).await.unwrap().with_keyring(Keyring::from_keys(&[NEW, OLD]).unwrap());
    let n = both.reseal_all().await.unwrap();
    assert_eq!((n.states, n.datasets, n.runs, n.jobs, n.evaluations), (1, 1, 2, 4, 4), "{n:?}");
    assert_eq!(both.reseal_all().await.unwrap().total(), 0, "a second rotation has nothing to do");
    for (what, value) in raw_values(&db.url).await {
        assert!(value.starts_with("psenc1:new:"), "{what} was not re-sealed: {value}");
    }
    let new = Store::open(&db.url).await.unwrap().with_keyring(Keyring::from_keys(&[NEW]).unwrap());
    read_everything(&new).await;
    assert!(old.job("job_1").await.is_err(), "the old key alone opens nothing any more");
}

#[tokio::test]
async fn sqlite_seals_every_state_and_data_value_and_rotates() {
    sealed_at_rest_and_rotated(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_seals_every_state_and_data_value_and_rotates() {
    sealed_at_rest_and_rotated(Engine::Postgres).await;
}
