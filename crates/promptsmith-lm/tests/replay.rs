//! Record/replay cassettes.
#![allow(clippy::unwrap_used)]

mod common;

use common::FakeServer;
use promptsmith_core::lm::{ChatMessage, ChatRequest, LanguageModel, LmError};
use promptsmith_lm::{OpenAiClient, RecordingLm, ReplayLm, ScriptedLm};

fn req(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user(text)])
}

#[tokio::test]
async fn recorded_then_replayed_equal() {
    let fake = FakeServer::answering("live answer").await;
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("run.cassette.jsonl");
    let recorder = RecordingLm::create(OpenAiClient::new(fake.config()).unwrap(), &cassette).unwrap();
    let a = recorder.chat(&req("a")).await.unwrap();
    let mut rb = req("b");
    rb.n = 2;
    let b = recorder.chat(&rb).await.unwrap();
    assert_eq!(fake.chat_calls(), 3);
    drop(recorder);

    let replay = ReplayLm::load(&cassette).unwrap();
    assert_eq!(replay.len(), 2);
    assert_eq!(replay.model_name(), "test-model");
    assert_eq!(replay.chat(&req("a")).await.unwrap(), a);
    assert_eq!(replay.chat(&rb).await.unwrap(), b);
    assert_eq!(fake.chat_calls(), 3, "replay never calls the server");

    match replay.chat(&req("never recorded")).await.unwrap_err() {
        LmError::MissingRecording { key, cassette: c } => {
            assert_eq!(key.len(), 64);
            assert!(c.ends_with("run.cassette.jsonl"));
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn repeated_requests_replay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let recorder = RecordingLm::create(ScriptedLm::from_texts(["one", "two"]), &cassette).unwrap();
    recorder.chat(&req("q")).await.unwrap();
    recorder.chat(&req("q")).await.unwrap();
    let replay = ReplayLm::load(&cassette).unwrap();
    let texts: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(replay.chat(&req("q")).await.unwrap().text().to_string());
        }
        v
    };
    assert_eq!(texts, ["one", "two", "two"]);
}

#[tokio::test]
async fn cassettes_with_several_models() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let task = RecordingLm::create(ScriptedLm::from_fn(|_| "task".into()).with_model_name("small"), &cassette).unwrap();
    let teacher =
        RecordingLm::create(ScriptedLm::from_fn(|_| "teacher".into()).with_model_name("big"), &cassette).unwrap();
    task.chat(&req("q")).await.unwrap();
    teacher.chat(&req("q")).await.unwrap();
    drop((task, teacher));
    let replay = ReplayLm::load(&cassette).unwrap();
    assert_eq!(replay.chat(&req("q")).await.unwrap().text(), "task");
    let replay = ReplayLm::load(&cassette).unwrap().with_namespace("big");
    assert_eq!(replay.chat(&req("q")).await.unwrap().text(), "teacher");
}
