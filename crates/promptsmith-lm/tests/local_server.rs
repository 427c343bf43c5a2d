//! Against a real llama-server and model installed by `scripts/install-local-lm.sh`
//! (`scripts/test.sh` installs them before running the suite). Never skipped: without the
//! installed model these tests fail and say so.
#![allow(clippy::unwrap_used)]

use promptsmith_core::lm::{ChatMessage, ChatRequest, LanguageModel, LmError, ResponseFormat};
use promptsmith_lm::local::{cache_dir, stop_recorded, PidFile};
use promptsmith_lm::{LocalServer, OpenAiClient, ServerOptions};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn real_llama_server_end_to_end() {
    let opts = ServerOptions { port: free_port(), ..Default::default() };
    let server = LocalServer::start(&opts).await.unwrap();
    assert!(server.is_owned());
    assert_eq!(server.sha256().map(str::len), Some(64));

    // Reuse while it runs.
    let reused = LocalServer::connect_or_start(&opts).await.unwrap();
    assert!(!reused.is_owned());
    drop(reused);

    let client = OpenAiClient::new(server.lm_config()).unwrap();
    let props = client.server_props().await.unwrap().clone();
    assert_eq!(props.total_slots, Some(2));
    assert_eq!(props.n_ctx, Some(4096));
    assert_eq!(client.concurrency().await, 2);
    let tokens = client.count_prompt_tokens(&[ChatMessage::user("Hello there")]).await.unwrap().unwrap();
    assert!(tokens > 3 && tokens < 40, "{tokens}");

    let mut req = ChatRequest::new(vec![ChatMessage::user("Say hi.")]);
    req.max_tokens = Some(8);
    let r = client.chat(&req).await.unwrap();
    assert!(!r.text().is_empty());
    assert!(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);

    req.n = 2;
    req.seed = Some(1);
    req.temperature = Some(1.0);
    assert_eq!(client.chat(&req).await.unwrap().choices.len(), 2);

    let mut req = ChatRequest::new(vec![ChatMessage::user("Give the answer 4 as JSON.")]);
    req.max_tokens = Some(32);
    req.temperature = Some(0.0);
    req.response_format = Some(ResponseFormat::JsonSchema {
        name: "answer".into(),
        schema: json!({"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}),
    });
    let r = client.chat(&req).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(r.text()).unwrap();
    // The grammar forces `{"answer": <integer>}`, so the shape proves little: check the value.
    assert_eq!(v, json!({"answer": 4}), "{}", r.text());

    // Refused before sending: ~6000 tokens do not fit a 4096-token slot.
    let sent = client.stats().snapshot().http_requests;
    let long = ChatRequest::new(vec![ChatMessage::user("apple ".repeat(6000))]);
    let err = client.chat(&long).await.unwrap_err();
    assert!(matches!(err, LmError::ContextTooLong { context: 4096, .. }), "{err}");
    assert_eq!(client.stats().snapshot().http_requests, sent);

    // The server itself refuses too (check off).
    let mut config = server.lm_config();
    config.check_context = Some(false);
    config.max_retries = 0;
    let unchecked = OpenAiClient::new(config).unwrap();
    let err = unchecked.chat(&long).await.unwrap_err();
    assert!(matches!(err, LmError::ContextTooLong { .. }), "{err}");
    eprintln!("server's refusal: {err}");

    server.stop().await.unwrap();
    assert!(!promptsmith_lm::local::is_healthy(&format!("http://127.0.0.1:{}", opts.port)).await);
}

#[tokio::test]
async fn detached_server_is_stopped_from_its_pid_file() {
    let opts = ServerOptions { port: free_port(), detach: true, ..Default::default() };
    let server = LocalServer::start(&opts).await.unwrap();
    let pid = server.pid().unwrap();
    drop(server); // detached: keeps running
    let base = format!("http://127.0.0.1:{}", opts.port);
    assert!(promptsmith_lm::local::is_healthy(&base).await);
    let cache = cache_dir().unwrap();
    assert_eq!(PidFile::read(&cache, opts.port).unwrap().unwrap().pid, pid);
    let stopped = stop_recorded(&cache, opts.port).await.unwrap();
    assert_eq!(stopped.map(|r| r.pid), Some(pid));
    assert!(!promptsmith_lm::local::is_healthy(&base).await);
    assert!(PidFile::read(&cache, opts.port).unwrap().is_none());
}
