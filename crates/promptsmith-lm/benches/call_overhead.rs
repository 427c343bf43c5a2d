//! The framework's own cost per LM call: format the prompt, hash the request, hit the
//! in-memory cache, parse the completion (3 fields, 4 demos). The goal is under 20 µs.
//! Also the on-disk (SQLite) cache lookup on its own.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use promptsmith_core::{AdapterKind, Demo, Predictor, Signature};
use promptsmith_lm::{CachedLm, ScriptedLm};
use serde_json::{json, Map, Value};
use std::hint::black_box;

const COMPLETION: &str = "[[ ## reasoning ## ]]\nThe text praises the battery and the screen, so it is positive.\n\n[[ ## label ## ]]\npositive\n\n[[ ## confidence ## ]]\n0.92\n\n[[ ## completed ## ]]\n";

fn predictor(adapter: AdapterKind) -> Predictor {
    let sig =
        Signature::parse("text -> reasoning, label: enum(positive, negative, neutral), confidence: float").unwrap();
    let demos: Vec<Demo> = (0..4)
        .map(|i| {
            json!({
                "text": format!("Demo review number {i}: the product works as described and arrived on time."),
                "reasoning": "It is satisfied with the product.",
                "label": "positive",
                "confidence": 0.8,
            })
            .as_object()
            .cloned()
            .unwrap()
        })
        .collect();
    Predictor::new("classify", sig).with_demos(demos).with_adapter(adapter)
}

fn inputs() -> Map<String, Value> {
    json!({"text": "Great phone: the battery lasts two days and the screen is sharp."}).as_object().cloned().unwrap()
}

fn bench_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let p = predictor(AdapterKind::Chat);
    let inputs = inputs();
    let lm = CachedLm::memory_only(ScriptedLm::from_fn(|_| COMPLETION.to_string()));
    let (out, _, _) = rt.block_on(p.call(&lm, &inputs)).unwrap();
    assert_eq!(out.get("label"), Some(&json!("positive")));
    c.bench_function("call_overhead/chat_3_fields_4_demos_memory_cache_hit", |b| {
        b.iter(|| rt.block_on(p.call(black_box(&lm), black_box(&inputs))).unwrap())
    });
    c.bench_function("call_overhead/format_only", |b| b.iter(|| p.request(black_box(&inputs))));
    // The same work DSPy's ChatAdapter.format + parse does (scripts/dspy/bench_format_parse.py).
    let sig = p.effective_signature();
    let adapter = p.adapter.adapter();
    c.bench_function("call_overhead/chat_format_and_parse", |b| {
        b.iter(|| {
            let messages = adapter.format(black_box(&sig), &p.demos, black_box(&inputs));
            let parsed = adapter.parse(&sig, black_box(COMPLETION)).unwrap();
            (messages, parsed)
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let disk = rt
        .block_on(CachedLm::open(ScriptedLm::from_fn(|_| COMPLETION.to_string()), dir.path().join("c.sqlite")))
        .unwrap();
    rt.block_on(p.call(&disk, &inputs)).unwrap();
    let key = disk.key(&p.request(&inputs));
    c.bench_function("cache/disk_lookup_sqlite", |b| {
        b.iter(|| rt.block_on(disk.disk_lookup(black_box(&key))).unwrap().unwrap())
    });
}

criterion_group!(benches, bench_call);
criterion_main!(benches);
