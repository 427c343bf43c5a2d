//! The OpenAI-compatible gateway: `POST /v1/chat/completions` with `model:
//! "promptsmith/NAME"` (or `NAME@ALIAS`) runs that program version on the inputs in the last
//! user message (a JSON object, or plain text for a program with one input) and answers in
//! the chat-completions shape; the call is stored like a predict.

use super::bodies::{ChatChoice, ChatCompletion, ChatReply, ChatUsage, GatewayPrediction};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::{Extension, State};
use promptsmith_app::keys::Principal;
use promptsmith_app::predict::PredictRequest;
use promptsmith_store::Role;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The parts of a chat-completions request the gateway reads (others are accepted and ignored,
/// as OpenAI SDKs send many).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ChatBody {
    /// `promptsmith/NAME` or `promptsmith/NAME@ALIAS`.
    model: String,
    /// The last user message holds the program's inputs (a JSON object, or the text itself for
    /// a program with one input).
    messages: Vec<ChatMessage>,
    /// The caller (stored like a predict's `caller_key`).
    #[serde(default)]
    user: Option<String>,
}

/// One chat message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ChatMessage {
    /// `system`, `user` or `assistant`.
    role: String,
    /// Text, or a list of parts with `text`.
    #[serde(default)]
    content: Value,
}

/// Runs the program the model names.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "serving", request_body = ChatBody,
    responses((status = 200, body = ChatCompletion)))]
pub(super) async fn chat_completions(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Json(body): Json<ChatBody>,
) -> ApiResult<axum::Json<ChatCompletion>> {
    who.require(Role::Write)?;
    let target = body.model.strip_prefix("promptsmith/").ok_or_else(|| {
        ApiError::invalid(format!("model '{}': use 'promptsmith/NAME' or 'promptsmith/NAME@ALIAS'", body.model))
    })?;
    let (name, version) = match target.split_once('@') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (target, None),
    };
    let text = last_user_text(&body.messages)?;
    let (_, program) = state.predict.resolve(&who.tenant, name, version.as_deref()).await?;
    let inputs = inputs_from(&text, &program.input_fields())?;
    let req = PredictRequest { inputs, caller_key: body.user, version };
    let lm = state.lm.task();
    let out = state.predict.predict(&who.tenant, name, req, lm.as_ref(), &state.lm.pricing).await?;
    let content = match out.outputs.len() {
        1 => out.outputs.values().next().map(promptsmith_core::value_to_text).unwrap_or_default(),
        _ => Value::Object(out.outputs.clone()).to_string(),
    };
    let usage = ChatUsage {
        prompt_tokens: out.prompt_tokens,
        completion_tokens: out.completion_tokens,
        total_tokens: out.prompt_tokens + out.completion_tokens,
    };
    Ok(axum::Json(ChatCompletion {
        id: format!("chatcmpl-{}", out.prediction_id),
        object: "chat.completion".into(),
        created: promptsmith_core::clock::now_ms() / 1000,
        model: body.model,
        choices: vec![ChatChoice {
            index: 0,
            message: ChatReply { role: "assistant".into(), content },
            finish_reason: "stop".into(),
        }],
        usage,
        promptsmith: GatewayPrediction { prediction_id: out.prediction_id, version: out.version, outputs: out.outputs },
    }))
}

fn last_user_text(messages: &[ChatMessage]) -> ApiResult<String> {
    let m = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .ok_or_else(|| ApiError::invalid("messages: no user message"))?;
    match &m.content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            Ok(parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"))
        }
        _ => Err(ApiError::invalid("messages: the user message has no text content")),
    }
}

/// The program's inputs from the message: a JSON object, or the text itself for a program
/// with one input field.
fn inputs_from(text: &str, fields: &[String]) -> ApiResult<Map<String, Value>> {
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
        return Ok(map);
    }
    match fields {
        [only] => Ok(Map::from_iter([(only.clone(), Value::String(text.to_string()))])),
        _ => Err(ApiError::invalid(format!(
            "the user message must be a JSON object with the program's inputs ({})",
            fields.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_come_from_json_or_the_only_field() {
        let one = vec!["question".to_string()];
        assert_eq!(inputs_from("What is 2+2?", &one).unwrap()["question"], "What is 2+2?");
        assert_eq!(inputs_from(r#"{"question": "q"}"#, &one).unwrap()["question"], "q");
        let two = vec!["a".to_string(), "b".to_string()];
        assert!(inputs_from("plain", &two).is_err());
    }
}
