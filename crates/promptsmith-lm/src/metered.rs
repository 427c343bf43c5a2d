//! [`MeteredLm`]: counts the calls a role makes through a model, with their tokens and cost
//! (cache hits counted apart), into that role's [`LmStats`]. The stack hands out every role's
//! model wrapped in one, so per-role figures exist even where roles share one client.

use crate::stats::LmStats;
use async_trait::async_trait;
use promptsmith_core::{ChatRequest, ChatResponse, LanguageModel, LmError};
use std::sync::Arc;

/// A model whose calls count into `stats`.
#[derive(Clone)]
pub struct MeteredLm {
    inner: Arc<dyn LanguageModel>,
    stats: Arc<LmStats>,
}

impl std::fmt::Debug for MeteredLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredLm").field("model", &self.inner.model_name()).finish()
    }
}

impl MeteredLm {
    /// `inner` counted into `stats`.
    pub fn new(inner: Arc<dyn LanguageModel>, stats: Arc<LmStats>) -> Self {
        Self { inner, stats }
    }
}

#[async_trait]
impl LanguageModel for MeteredLm {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LmError> {
        self.stats.record_call();
        match self.inner.chat(request).await {
            Ok(response) => {
                if response.cached {
                    self.stats.record_cache_hit();
                } else {
                    self.stats.record_usage(response.usage, response.cost_usd);
                }
                Ok(response)
            }
            Err(e) => {
                self.stats.record_error();
                Err(e)
            }
        }
    }

    fn model_name(&self) -> String {
        self.inner.model_name()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ScriptedLm;

    #[tokio::test]
    async fn counts_calls_and_tokens_of_its_role_only() {
        let inner: Arc<dyn LanguageModel> = Arc::new(ScriptedLm::from_fn(|_| "[[ ## answer ## ]]\n1".into()));
        let (a, b) = (Arc::new(LmStats::default()), Arc::new(LmStats::default()));
        let (ma, mb) = (MeteredLm::new(inner.clone(), a.clone()), MeteredLm::new(inner, b.clone()));
        let req = ChatRequest::new(vec![promptsmith_core::ChatMessage::user("q")]);
        ma.chat(&req).await.unwrap();
        ma.chat(&req).await.unwrap();
        mb.chat(&req).await.unwrap();
        assert_eq!((a.snapshot().calls, b.snapshot().calls), (2, 1));
    }
}
