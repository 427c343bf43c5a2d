//! Configs as they appear in `promptsmith.toml`.
#![allow(clippy::unwrap_used)]

use promptsmith_lm::{LmConfig, LmRole, LmRoles};
use std::time::Duration;

#[test]
fn lm_config_from_toml() {
    let c: LmConfig = toml::from_str(
        r#"
        base_url = "https://api.openai.com/v1"
        model = "gpt-4o-mini"
        api_key_env = "MY_KEY"
        temperature = 0.7
        max_tokens = 256
        connect_timeout = 5
        read_timeout = 60.5
        max_retries = 2
        concurrency = 16
        rpm = 500
        tpm = 200000
        price_per_1m_prompt = 0.15
        price_per_1m_completion = 0.6
        supports_n = true
        context_window = 128000
        check_context = false
        history_file = "calls.jsonl"
        "#,
    )
    .unwrap();
    assert_eq!(c.chat_url(), "https://api.openai.com/v1/chat/completions");
    assert_eq!(c.read_timeout, Duration::from_secs_f64(60.5));
    assert_eq!(c.connect_timeout, Duration::from_secs(5));
    assert_eq!((c.concurrency, c.rpm, c.tpm), (Some(16), Some(500), Some(200_000)));
    assert!(c.supports_n && !c.context_check_enabled());
    let back: LmConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);

    let d: LmConfig = toml::from_str("").unwrap();
    assert_eq!(d, LmConfig::default());
    assert_eq!(d.read_timeout, Duration::from_secs(300));
    assert!(d.context_check_enabled());
}

#[test]
fn roles_from_toml() {
    let roles: LmRoles = toml::from_str(
        r#"
        [task]
        base_url = "http://127.0.0.1:8088"
        model = "qwen0.5b"
        [teacher]
        model = "qwen1.5b"
        max_tokens = 2048
        "#,
    )
    .unwrap();
    assert_eq!(roles.get(LmRole::Teacher).model, "qwen1.5b");
    assert_eq!(roles.get(LmRole::Teacher).base_url, "http://127.0.0.1:8088");
    assert_eq!(roles.get(LmRole::Proposer).model, "qwen0.5b");
    let empty: LmRoles = toml::from_str("").unwrap();
    assert_eq!(empty.get(LmRole::Judge), &LmConfig::default());
}
