//! Request keys: a SHA-256 over a canonical encoding of a request, shared by the cache and
//! by record/replay cassettes.
//!
//! The encoding is length-prefixed (no ambiguity between fields) and writes JSON schemas
//! with object keys sorted, so two semantically equal requests hash alike. It streams into
//! the hasher without building an intermediate string, which keeps a key under a few
//! microseconds for ordinary prompts.

use promptsmith_core::lm::{ChatRequest, ResponseFormat, Role};
use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of a normalized `(model, request)` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey(pub [u8; 32]);

impl RequestKey {
    /// The key of `request` sent to `model` (a model name or cache namespace).
    ///
    /// Covers model, messages, temperature, max_tokens, stop, n, seed, response_format and
    /// rollout_id.
    pub fn of(model: &str, request: &ChatRequest) -> Self {
        let mut h = Sha256::new();
        h.update(b"promptsmith-request-v1");
        put_str(&mut h, model);
        put_u64(&mut h, request.messages.len() as u64);
        for m in &request.messages {
            h.update([match m.role {
                Role::System => b's',
                Role::User => b'u',
                Role::Assistant => b'a',
            }]);
            put_str(&mut h, &m.content);
        }
        match request.temperature {
            // Normalize -0.0 to 0.0.
            Some(t) => put_opt(&mut h, Some(u64::from((t + 0.0).to_bits()))),
            None => put_opt(&mut h, None),
        }
        put_opt(&mut h, request.max_tokens.map(u64::from));
        put_u64(&mut h, request.stop.len() as u64);
        for s in &request.stop {
            put_str(&mut h, s);
        }
        put_u64(&mut h, u64::from(request.n));
        put_opt(&mut h, request.seed);
        match &request.response_format {
            None => h.update([0u8]),
            Some(ResponseFormat::JsonObject) => h.update([1u8]),
            Some(ResponseFormat::JsonSchema { name, schema }) => {
                h.update([2u8]);
                put_str(&mut h, name);
                put_json(&mut h, schema);
            }
        }
        put_opt(&mut h, request.rollout_id);
        Self(h.finalize().into())
    }

    /// Lowercase hex form (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn put_u64(h: &mut Sha256, v: u64) {
    h.update(v.to_le_bytes());
}

fn put_str(h: &mut Sha256, s: &str) {
    put_u64(h, s.len() as u64);
    h.update(s.as_bytes());
}

fn put_opt(h: &mut Sha256, v: Option<u64>) {
    match v {
        Some(v) => {
            h.update([1u8]);
            put_u64(h, v);
        }
        None => h.update([0u8]),
    }
}

/// Canonical JSON: objects with sorted keys, everything length- or tag-prefixed.
fn put_json(h: &mut Sha256, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => h.update([b'n']),
        Value::Bool(b) => h.update([if *b { b't' } else { b'f' }]),
        Value::Number(n) => {
            h.update([b'#']);
            put_str(h, &n.to_string());
        }
        Value::String(s) => {
            h.update([b'"']);
            put_str(h, s);
        }
        Value::Array(items) => {
            h.update([b'[']);
            put_u64(h, items.len() as u64);
            for item in items {
                put_json(h, item);
            }
        }
        Value::Object(map) => {
            h.update([b'{']);
            put_u64(h, map.len() as u64);
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in entries {
                put_str(h, k);
                put_json(h, v);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_core::lm::ChatMessage;
    use serde_json::json;

    fn req() -> ChatRequest {
        ChatRequest::new(vec![ChatMessage::system("s"), ChatMessage::user("hi")])
    }

    #[test]
    fn stable_and_sensitive() {
        let a = RequestKey::of("m", &req());
        assert_eq!(a, RequestKey::of("m", &req()));
        assert_ne!(a, RequestKey::of("m2", &req()));
        let mut r = req();
        r.rollout_id = Some(1);
        assert_ne!(a, RequestKey::of("m", &r));
        let mut r = req();
        r.temperature = Some(0.0);
        let mut r2 = req();
        r2.temperature = Some(-0.0);
        assert_eq!(RequestKey::of("m", &r), RequestKey::of("m", &r2));
        assert_ne!(a, RequestKey::of("m", &r));
        // Field boundaries are unambiguous.
        let x = ChatRequest::new(vec![ChatMessage::user("ab"), ChatMessage::user("c")]);
        let y = ChatRequest::new(vec![ChatMessage::user("a"), ChatMessage::user("bc")]);
        assert_ne!(RequestKey::of("m", &x), RequestKey::of("m", &y));
    }

    #[test]
    fn schema_key_order_does_not_matter() {
        let mut a = req();
        a.response_format = Some(ResponseFormat::JsonSchema {
            name: "o".into(),
            schema: serde_json::from_str(r#"{"type":"object","properties":{"a":{"type":"string"}}}"#).unwrap(),
        });
        let mut b = req();
        b.response_format = Some(ResponseFormat::JsonSchema {
            name: "o".into(),
            schema: serde_json::from_str(r#"{"properties":{"a":{"type":"string"}},"type":"object"}"#).unwrap(),
        });
        assert_eq!(RequestKey::of("m", &a), RequestKey::of("m", &b));
        let mut c = a.clone();
        c.response_format = Some(ResponseFormat::JsonSchema { name: "o".into(), schema: json!({"type": "array"}) });
        assert_ne!(RequestKey::of("m", &a), RequestKey::of("m", &c));
    }

    #[test]
    fn hex_roundtrip() {
        let k = RequestKey::of("m", &req());
        assert_eq!(k.to_hex(), k.to_string());
        assert_eq!(RequestKey::from_hex(&k.to_hex()), Some(k));
        assert_eq!(RequestKey::from_hex("zz"), None);
    }
}
