//! `ScriptedLm`: a `LanguageModel` with canned answers, for unit tests of program logic.
//!
//! Answers come from a closure or from a queue of texts; every request seen is recorded.
//! Token usage is a deterministic estimate (bytes / 4, rounded up).

use async_trait::async_trait;
use promptsmith_core::lm::{ChatRequest, ChatResponse, Choice, LanguageModel, LmError, Usage};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

type ResponseFn = dyn Fn(&ChatRequest) -> Result<ChatResponse, LmError> + Send + Sync;
type TextFn = dyn Fn(&ChatRequest) -> Result<String, LmError> + Send + Sync;

enum Source {
    Response(Box<ResponseFn>),
    Text(Box<TextFn>),
    Queue(Mutex<VecDeque<String>>),
}

/// A model that answers from a script.
pub struct ScriptedLm {
    source: Source,
    model: String,
    delay: Option<Duration>,
    seen: Mutex<Vec<ChatRequest>>,
}

impl std::fmt::Debug for ScriptedLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedLm").field("model", &self.model).field("calls", &self.calls()).finish()
    }
}

impl ScriptedLm {
    fn with_source(source: Source) -> Self {
        Self { source, model: "scripted".to_string(), delay: None, seen: Mutex::new(Vec::new()) }
    }

    /// Answers each choice with `f(request)`.
    pub fn from_fn(f: impl Fn(&ChatRequest) -> String + Send + Sync + 'static) -> Self {
        Self::with_source(Source::Text(Box::new(move |r| Ok(f(r)))))
    }

    /// Answers each choice with `f(request)`, which may fail.
    pub fn from_result_fn(f: impl Fn(&ChatRequest) -> Result<String, LmError> + Send + Sync + 'static) -> Self {
        Self::with_source(Source::Text(Box::new(f)))
    }

    /// Answers with whatever response (or error) `f` builds.
    pub fn from_response_fn(f: impl Fn(&ChatRequest) -> Result<ChatResponse, LmError> + Send + Sync + 'static) -> Self {
        Self::with_source(Source::Response(Box::new(f)))
    }

    /// Answers each choice with the next text of `texts`; fails once they run out.
    pub fn from_texts<S: Into<String>>(texts: impl IntoIterator<Item = S>) -> Self {
        Self::with_source(Source::Queue(Mutex::new(texts.into_iter().map(Into::into).collect())))
    }

    /// Reports `name` as the model name (default `scripted`).
    pub fn with_model_name(mut self, name: impl Into<String>) -> Self {
        self.model = name.into();
        self
    }

    /// Sleeps `delay` before each answer (to exercise concurrency).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Appends more texts to a queue script (no effect on closure scripts).
    pub fn push_texts<S: Into<String>>(&self, texts: impl IntoIterator<Item = S>) {
        if let Source::Queue(q) = &self.source {
            q.lock().unwrap_or_else(|p| p.into_inner()).extend(texts.into_iter().map(Into::into));
        }
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<ChatRequest> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).last().cloned()
    }

    /// Number of requests received.
    pub fn calls(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn next_text(&self, request: &ChatRequest) -> Result<String, LmError> {
        match &self.source {
            Source::Text(f) => f(request),
            Source::Queue(q) => {
                q.lock().unwrap_or_else(|p| p.into_inner()).pop_front().ok_or_else(|| {
                    LmError::Other(format!("ScriptedLm: no scripted answer left (call {})", self.calls()))
                })
            }
            Source::Response(_) => Err(LmError::Other("ScriptedLm: response script has no texts".into())),
        }
    }

    fn answer(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        if let Source::Response(f) = &self.source {
            return f(request);
        }
        let mut choices = Vec::with_capacity(request.n.max(1) as usize);
        for _ in 0..request.n.max(1) {
            choices.push(Choice { text: self.next_text(request)?, finish_reason: Some("stop".into()) });
        }
        let prompt_bytes: usize = request.messages.iter().map(|m| m.content.len()).sum();
        let completion_bytes: usize = choices.iter().map(|c| c.text.len()).sum();
        Ok(ChatResponse {
            choices,
            usage: Usage {
                prompt_tokens: (prompt_bytes as u64).div_ceil(4),
                completion_tokens: (completion_bytes as u64).div_ceil(4),
            },
            model: self.model.clone(),
            cached: false,
            cost_usd: None,
        })
    }
}

#[async_trait]
impl LanguageModel for ScriptedLm {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(request.clone());
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        self.answer(request)
    }

    fn model_name(&self) -> String {
        self.model.clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_core::lm::ChatMessage;

    #[tokio::test]
    async fn queue_and_closure() {
        let lm = ScriptedLm::from_texts(["a", "b", "c"]).with_model_name("s");
        let mut req = ChatRequest::new(vec![ChatMessage::user("q")]);
        assert_eq!(lm.chat(&req).await.unwrap().text(), "a");
        req.n = 2;
        let r = lm.chat(&req).await.unwrap();
        assert_eq!(r.choices.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        assert!(lm.chat(&req).await.is_err());
        assert_eq!(lm.calls(), 3);
        assert_eq!(lm.model_name(), "s");

        let lm = ScriptedLm::from_fn(|r| r.messages.last().map(|m| m.content.to_uppercase()).unwrap_or_default());
        let r = lm.chat(&ChatRequest::new(vec![ChatMessage::user("hey")])).await.unwrap();
        assert_eq!(r.text(), "HEY");
        assert_eq!(r.usage, Usage { prompt_tokens: 1, completion_tokens: 1 });
        assert_eq!(lm.last_request().unwrap().messages[0].content, "hey");
    }
}
