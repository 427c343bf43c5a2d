//! Inference-time modules that wrap one predictor and change only how it is called:
//! [`WrapKind::BestOfN`], [`WrapKind::Refine`] and [`WrapKind::MajorityVote`] (after DSPy's
//! `BestOfN`, `Refine` and `majority`). The predictor keeps its name, instruction and demos, so
//! optimizers tune it exactly as an unwrapped one; its trace records the attempt that was kept.
//!
//! ```json
//! {"name": "solve", "signature": "question -> answer: int",
//!  "wrap": {"module": "refine", "n": 3},
//!  "constraints": {"answer": {"min": 0}}}
//! ```
//! - `best_of_n`: up to `n` attempts, the first at the predictor's own temperature, the others
//!   at `temperature` (default 1.0) with rollout ids 1, 2, ...; keeps the first whose reward
//!   reaches `threshold` (default 1.0), else the best.
//! - `refine`: the same, and each retry's prompt carries the previous attempt's failure (a
//!   constraint violation, a parse error or a reward below the threshold) as feedback.
//! - `majority_vote`: `n` samples (drawn like `best_of_n`'s attempts), a vote over the
//!   normalised values of `fields` (default: every output but `reasoning`); ties go to the
//!   answer seen first, and the kept sample is the first that gave the winning answer.
//!
//! Constraints are hard: an attempt that breaks one is never kept. The built-in reward
//! `constraints` scores every valid attempt 1.0 (so the first valid attempt is kept); the
//! built-in `judge` asks the same model to rate each valid attempt against the wrapper's
//! `rubric` from 0 to 1 (one more call per attempt, counted with the predictor's); a
//! [`Reward`] written in Rust ranks them otherwise ([`crate::Predictor::with_reward`]).

use crate::constraint::{violations_feedback, Violation};
use crate::error::PredictError;
use crate::lm::{ChatMessage, ChatRequest, LanguageModel, Role, Usage};
use crate::numeric::format_number;
use crate::predict::{Answer, Predictor, REASONING_FIELD};
use crate::signature::Signature;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The most attempts or samples a wrapper may make per call.
pub const MAX_N: u32 = 64;

/// Temperature of the attempts after the first when the wrapper names none.
pub const DEFAULT_RESAMPLE_TEMPERATURE: f32 = 1.0;

/// Rewards a spec may name.
pub const BUILTIN_REWARDS: [&str; 2] = ["constraints", "judge"];

/// The line that opens the feedback added to a retry's prompt.
pub const FEEDBACK_HEADER: &str = "Your previous attempt was rejected:";

/// Which inference-time module wraps a predictor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WrapKind {
    /// Several attempts; the first reaching the threshold, else the best by reward.
    BestOfN,
    /// Like best-of-n, with the previous failure as feedback in each retry's prompt.
    Refine,
    /// Several samples and a vote over the normalised outputs.
    MajorityVote,
}

impl WrapKind {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            WrapKind::BestOfN => "best_of_n",
            WrapKind::Refine => "refine",
            WrapKind::MajorityVote => "majority_vote",
        }
    }
}

/// A predictor's wrapper and its settings, as written in a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wrap {
    /// `best_of_n`, `refine` or `majority_vote`.
    pub module: WrapKind,
    /// Attempts (best-of-n, refine) or samples (majority vote), 1 to [`MAX_N`].
    pub n: u32,
    /// Reward that ranks attempts (best-of-n, refine): `constraints` (default) or `judge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<String>,
    /// What the `judge` reward rates attempts against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
    /// Reward at which an attempt is kept at once, in [0, 1] (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Temperature of every attempt or sample after the first (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Output fields voted on (majority vote; default every output but `reasoning`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// A wrapper setting that does not fit: the setting's key and what is wrong.
pub type WrapError = crate::constraint::RuleError;

fn wrap_err(rule: &str, message: impl Into<String>) -> WrapError {
    WrapError { rule: rule.to_string(), message: message.into() }
}

impl Wrap {
    /// A wrapper of `module` with `n` attempts and default settings.
    pub fn new(module: WrapKind, n: u32) -> Self {
        Self { module, n, reward: None, rubric: None, threshold: None, temperature: None, fields: Vec::new() }
    }

    /// The threshold (default 1.0).
    pub fn threshold(&self) -> f64 {
        self.threshold.unwrap_or(1.0)
    }

    /// The temperature of the attempts after the first (default 1.0).
    pub fn temperature(&self) -> f32 {
        self.temperature.unwrap_or(DEFAULT_RESAMPLE_TEMPERATURE)
    }

    /// Checks the settings against the predictor's effective signature.
    pub fn validate(&self, signature: &Signature) -> Result<(), WrapError> {
        if self.n == 0 || self.n > MAX_N {
            return Err(wrap_err("n", format!("expected 1 to {MAX_N}, got {}", self.n)));
        }
        if self.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(wrap_err("temperature", "expected 0 to 2"));
        }
        let voting = self.module == WrapKind::MajorityVote;
        let only = |rule: &str, given: bool, for_vote: bool| {
            if given && voting != for_vote {
                let which = if for_vote { "majority_vote" } else { "best_of_n and refine" };
                return Err(wrap_err(rule, format!("applies to {which}, not {}", self.module.name())));
            }
            Ok(())
        };
        only("reward", self.reward.is_some(), false)?;
        only("threshold", self.threshold.is_some(), false)?;
        only("fields", !self.fields.is_empty(), true)?;
        if self.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(wrap_err("threshold", "expected 0 to 1"));
        }
        if let Some(r) = self.reward.as_deref().filter(|r| !BUILTIN_REWARDS.contains(r)) {
            return Err(wrap_err(
                "reward",
                format!(
                    "unknown reward '{r}' (built in: {}; a Rust program sets its own with Predictor::with_reward)",
                    BUILTIN_REWARDS.join(", ")
                ),
            ));
        }
        let judge = self.reward.as_deref() == Some("judge");
        match &self.rubric {
            Some(r) if !judge => return Err(wrap_err("rubric", format!("needs \"reward\": \"judge\" (rubric: {r})"))),
            Some(r) if r.trim().is_empty() => return Err(wrap_err("rubric", "expected a non-empty rubric")),
            None if judge => return Err(wrap_err("rubric", "the judge reward needs a rubric")),
            _ => {}
        }
        for (i, f) in self.fields.iter().enumerate() {
            if signature.outputs.iter().all(|o| &o.name != f) {
                let outs = signature.outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ");
                return Err(wrap_err(&format!("fields[{i}]"), format!("no output field '{f}' (outputs: {outs})")));
            }
        }
        Ok(())
    }
}

/// A reward's verdict on one attempt.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scored {
    /// Score in [0, 1]; higher is better.
    pub score: f64,
    /// Why the score is not higher, for a refine retry's prompt.
    pub feedback: Option<String>,
    /// Tokens the reward spent (a judge's calls), added to the predictor's.
    pub usage: Usage,
    /// Model calls the reward made.
    pub lm_calls: u32,
}

impl Scored {
    /// A verdict that spent no model calls.
    pub fn new(score: f64, feedback: Option<String>) -> Self {
        Self { score, feedback, ..Self::default() }
    }
}

/// The built-in `judge` reward: the model rates the outputs against a rubric from 0 to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeReward {
    /// What the outputs are rated against.
    pub rubric: String,
}

/// Signature of the judge's call.
pub const JUDGE_SIGNATURE: &str = "task: str, response: str, rubric: str -> score: float";

#[async_trait]
impl Reward for JudgeReward {
    fn name(&self) -> String {
        "judge".into()
    }

    async fn score(
        &self,
        lm: &dyn LanguageModel,
        inputs: &Map<String, Value>,
        outputs: &Map<String, Value>,
    ) -> Result<Scored, String> {
        let sig = Signature::parse(JUDGE_SIGNATURE).map_err(|e| e.to_string())?.with_instruction(
            "Rate how well the response to the task meets the rubric, from 0.0 (not at all) to 1.0 (fully).",
        );
        let mut judge = Predictor::new("judge", sig);
        judge.options.temperature = Some(0.0);
        let lines = |m: &Map<String, Value>| {
            m.iter().map(|(k, v)| format!("{k}: {}", crate::value_to_text(v))).collect::<Vec<_>>().join("\n")
        };
        let mut args = Map::new();
        args.insert("task".into(), Value::String(lines(inputs)));
        args.insert("response".into(), Value::String(lines(outputs)));
        args.insert("rubric".into(), Value::String(self.rubric.clone()));
        let (out, usage, lm_calls) = judge.call(lm, &args).await.map_err(|e| e.to_string())?;
        let score = out.get("score").and_then(Value::as_f64).ok_or("the judge gave no score")?.clamp(0.0, 1.0);
        let feedback =
            Some(format!("the judge rated it {} against the rubric \"{}\"", format_number(score), self.rubric));
        Ok(Scored { score, feedback, usage, lm_calls })
    }
}

/// Ranks a predictor's (or an ensemble member's) outputs without labels.
#[async_trait]
pub trait Reward: Send + Sync {
    /// Name, for messages.
    fn name(&self) -> String;
    /// Scores `outputs` given `inputs`; `Err(reason)` when it cannot (the call fails).
    async fn score(
        &self,
        lm: &dyn LanguageModel,
        inputs: &Map<String, Value>,
        outputs: &Map<String, Value>,
    ) -> Result<Scored, String>;
}

/// A shared [`Reward`], compared by identity.
#[derive(Clone)]
pub struct SharedReward(pub Arc<dyn Reward>);

impl std::fmt::Debug for SharedReward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reward({})", self.0.name())
    }
}

impl PartialEq for SharedReward {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// How one attempt differs from a plain call.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Attempt {
    /// Feedback on the previous attempt, added to the prompt.
    pub(crate) feedback: Option<String>,
    /// Temperature instead of the predictor's.
    pub(crate) temperature: Option<f32>,
    /// Rollout id, so caches tell resamples apart.
    pub(crate) rollout_id: Option<u64>,
}

impl Attempt {
    /// Attempt `i` of a wrapper: the first is a plain call, later ones resample.
    fn resample(w: &Wrap, i: u32) -> Self {
        if i == 0 {
            return Attempt::default();
        }
        Attempt { feedback: None, temperature: Some(w.temperature()), rollout_id: Some(u64::from(i)) }
    }

    /// Applies the attempt to a request.
    pub(crate) fn apply(&self, req: &mut ChatRequest) {
        if let Some(t) = self.temperature {
            req.temperature = Some(t);
        }
        if self.rollout_id.is_some() {
            req.rollout_id = self.rollout_id;
        }
        if let Some(fb) = &self.feedback {
            add_feedback(&mut req.messages, fb);
        }
    }
}

/// Adds feedback on the previous attempt to the last user message.
fn add_feedback(messages: &mut [ChatMessage], feedback: &str) {
    if let Some(m) = messages.iter_mut().rev().find(|m| m.role == Role::User) {
        m.content.push_str(&format!("\n\n{FEEDBACK_HEADER}\n{feedback}\nAnswer again and fix this."));
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Spend {
    usage: Usage,
    calls: u32,
}

impl Spend {
    fn add(&mut self, usage: Usage, calls: u32) {
        self.usage += usage;
        self.calls += calls;
    }

    fn onto(self, mut a: Answer) -> Answer {
        a.usage = self.usage;
        a.calls = self.calls;
        a
    }

    /// `e` reporting this spend (which includes its own) and `attempts` attempts.
    fn onto_err(self, mut e: PredictError, attempts: u32) -> PredictError {
        e.set_spent(self.usage, self.calls);
        if let PredictError::Constraint { attempts: a, .. } = &mut e {
            *a = attempts;
        }
        e
    }
}

/// One attempt's result: kept, or failed with feedback for the next.
enum Tried {
    Valid(Answer),
    Failed { feedback: String, error: PredictError },
}

/// Makes one attempt and checks the constraints; parse failures and violations are
/// [`Tried::Failed`], other errors end the call.
async fn try_once(
    p: &Predictor,
    lm: &dyn LanguageModel,
    inputs: &Map<String, Value>,
    attempt: &Attempt,
    spend: &mut Spend,
) -> Result<Tried, PredictError> {
    let answer = match p.attempt(lm, inputs, attempt).await {
        Ok(a) => a,
        Err(e @ PredictError::Parse { .. }) => {
            let (usage, calls) = e.spent();
            spend.add(usage, calls);
            let feedback = match &e {
                PredictError::Parse { source, .. } => format!("- {source}"),
                _ => String::new(),
            };
            return Ok(Tried::Failed { feedback, error: e });
        }
        Err(e) => return Err(e),
    };
    spend.add(answer.usage, answer.calls);
    Ok(check(p, answer))
}

fn check(p: &Predictor, mut answer: Answer) -> Tried {
    let violations: Vec<Violation> = p.constraints.check(&mut answer.outputs);
    if violations.is_empty() {
        return Tried::Valid(answer);
    }
    let feedback = violations_feedback(&violations);
    let error = PredictError::Constraint {
        predictor: p.name.clone(),
        violations,
        attempts: 1,
        raw: answer.raw,
        usage: answer.usage,
        lm_calls: answer.calls,
    };
    Tried::Failed { feedback, error }
}

/// Runs a predictor as its wrapper and constraints say.
pub(crate) async fn run(
    p: &Predictor,
    lm: &dyn LanguageModel,
    inputs: &Map<String, Value>,
) -> Result<Answer, PredictError> {
    match &p.wrap {
        None if p.constraints.is_empty() => p.attempt(lm, inputs, &Attempt::default()).await,
        None => retry(p, lm, inputs).await,
        Some(w) if w.module == WrapKind::MajorityVote => vote(p, w, lm, inputs).await,
        Some(w) => attempts(p, w, lm, inputs).await,
    }
}

/// Constraints without a wrapper: retry with the violations as feedback, up to
/// `max_retries` times; a parse failure ends the call as it does unconstrained.
async fn retry(p: &Predictor, lm: &dyn LanguageModel, inputs: &Map<String, Value>) -> Result<Answer, PredictError> {
    let mut spend = Spend::default();
    let mut attempt = Attempt::default();
    let tries = p.constraints.max_retries.saturating_add(1);
    for i in 1..=tries {
        match try_once(p, lm, inputs, &attempt, &mut spend).await? {
            Tried::Valid(a) => return Ok(spend.onto(a)),
            Tried::Failed { error: e @ PredictError::Parse { .. }, .. } => return Err(spend.onto_err(e, i)),
            Tried::Failed { error, .. } if i == tries => return Err(spend.onto_err(error, i)),
            Tried::Failed { feedback, .. } => attempt.feedback = Some(feedback),
        }
    }
    Err(PredictError::Program(format!("predictor '{}': no attempt was made", p.name)))
}

/// Best-of-n and refine.
async fn attempts(
    p: &Predictor,
    w: &Wrap,
    lm: &dyn LanguageModel,
    inputs: &Map<String, Value>,
) -> Result<Answer, PredictError> {
    let mut spend = Spend::default();
    let mut best: Option<(f64, Answer)> = None;
    let mut last_error = None;
    let mut feedback = None;
    for i in 0..w.n {
        let mut attempt = Attempt::resample(w, i);
        if w.module == WrapKind::Refine {
            attempt.feedback = feedback.take();
        }
        let answer = match try_once(p, lm, inputs, &attempt, &mut spend).await? {
            Tried::Valid(a) => a,
            Tried::Failed { feedback: f, error } => {
                feedback = Some(f);
                last_error = Some(error);
                continue;
            }
        };
        let scored = score(p, w, lm, inputs, &answer.outputs).await.map_err(|e| spend.onto_err(e, i + 1))?;
        spend.add(scored.usage, scored.lm_calls);
        if scored.score >= w.threshold() {
            return Ok(spend.onto(answer));
        }
        feedback = Some(format!(
            "- the answer scored {}, below the threshold {}{}",
            format_number((scored.score * 1000.0).round() / 1000.0),
            format_number(w.threshold()),
            scored.feedback.map(|f| format!(": {f}")).unwrap_or_default()
        ));
        if best.as_ref().is_none_or(|(b, _)| scored.score > *b) {
            best = Some((scored.score, answer));
        }
    }
    match (best, last_error) {
        (Some((_, a)), _) => Ok(spend.onto(a)),
        (None, Some(e)) => Err(spend.onto_err(e, w.n)),
        (None, None) => Err(PredictError::Program(format!("predictor '{}': no attempt was made", p.name))),
    }
}

/// The reward of a valid attempt: the predictor's own [`Reward`], else the wrapper's `judge`,
/// else 1.0 (`constraints`).
async fn score(
    p: &Predictor,
    w: &Wrap,
    lm: &dyn LanguageModel,
    inputs: &Map<String, Value>,
    outputs: &Map<String, Value>,
) -> Result<Scored, PredictError> {
    let judge;
    let reward: &dyn Reward = match (&p.reward, w.reward.as_deref(), &w.rubric) {
        (Some(r), _, _) => r.0.as_ref(),
        (None, Some("judge"), Some(rubric)) => {
            judge = JudgeReward { rubric: rubric.clone() };
            &judge
        }
        _ => return Ok(Scored::new(1.0, None)),
    };
    let mut s = reward.score(lm, inputs, outputs).await.map_err(|e| {
        PredictError::Program(format!("predictor '{}': reward '{}' failed: {e}", p.name, reward.name()))
    })?;
    if s.score.is_nan() {
        s.score = f64::NEG_INFINITY;
    }
    Ok(s)
}

/// Majority vote over `n` samples drawn at once.
async fn vote(
    p: &Predictor,
    w: &Wrap,
    lm: &dyn LanguageModel,
    inputs: &Map<String, Value>,
) -> Result<Answer, PredictError> {
    let runs = futures::future::join_all((0..w.n).map(|i| async move {
        let mut spend = Spend::default();
        let tried = try_once(p, lm, inputs, &Attempt::resample(w, i), &mut spend).await;
        (tried, spend)
    }))
    .await;
    let mut spend = Spend::default();
    let mut valid = Vec::new();
    let mut last_error = None;
    let mut fatal = None;
    for (tried, s) in runs {
        spend.add(s.usage, s.calls);
        match tried {
            Ok(Tried::Valid(a)) => valid.push(a),
            Ok(Tried::Failed { error, .. }) => last_error = Some(error),
            Err(e) => fatal = fatal.or(Some(e)),
        }
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    let fields = vote_fields(p, w);
    let keys: Vec<String> = valid.iter().map(|a| vote_key(&a.outputs, &fields)).collect();
    match majority(&keys) {
        Some(i) => Ok(spend.onto(valid.swap_remove(i))),
        None => Err(match last_error {
            Some(e) => spend.onto_err(e, w.n),
            None => PredictError::Program(format!("predictor '{}': no sample was drawn", p.name)),
        }),
    }
}

fn vote_fields(p: &Predictor, w: &Wrap) -> Vec<String> {
    if !w.fields.is_empty() {
        return w.fields.clone();
    }
    let outs = p.effective_signature().outputs;
    let named: Vec<String> = outs.iter().filter(|f| f.name != REASONING_FIELD).map(|f| f.name.clone()).collect();
    if named.is_empty() {
        outs.into_iter().map(|f| f.name).collect()
    } else {
        named
    }
}

/// Index of the first entry holding the most frequent key (ties: the key seen first).
pub(crate) fn majority(keys: &[String]) -> Option<usize> {
    let mut counts: Vec<(&str, usize, usize)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match counts.iter_mut().find(|(key, _, _)| *key == k.as_str()) {
            Some(c) => c.1 += 1,
            None => counts.push((k, 1, i)),
        }
    }
    let mut best: Option<(usize, usize)> = None;
    for &(_, n, first) in &counts {
        if best.is_none_or(|(bn, _)| n > bn) {
            best = Some((n, first));
        }
    }
    best.map(|(_, first)| first)
}

/// The vote key of some outputs: the normalised values of `fields`.
pub(crate) fn vote_key(outputs: &Map<String, Value>, fields: &[String]) -> String {
    fields.iter().map(|f| outputs.get(f).map(normalize).unwrap_or_default()).collect::<Vec<_>>().join("\u{1f}")
}

/// Normalises a value for voting: text lowercased without punctuation, articles and extra
/// space (as DSPy's `normalize_text`); numbers in one form (`4.0` and `4` agree).
pub fn normalize(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let lowered: String =
                s.to_lowercase().chars().map(|c| if c.is_ascii_punctuation() { ' ' } else { c }).collect();
            let words: Vec<&str> = lowered.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).collect();
            words.join(" ")
        }
        Value::Number(n) => n.as_f64().map(format_number).unwrap_or_else(|| n.to_string()),
        Value::Array(items) => format!("[{}]", items.iter().map(normalize).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn votes_normalise_and_ties_go_to_the_first() {
        assert_eq!(normalize(&json!("The  Paris.")), "paris");
        assert_eq!(normalize(&json!(4.0)), normalize(&json!(4)));
        let keys: Vec<String> = ["b", "a", "a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(majority(&keys), Some(0));
        let keys: Vec<String> = ["b", "a", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(majority(&keys), Some(1));
        assert_eq!(majority(&[]), None);
    }

    #[test]
    fn settings_are_checked() {
        let sig = Signature::parse("question -> answer").unwrap();
        let e = Wrap::new(WrapKind::Refine, 0).validate(&sig).unwrap_err();
        assert_eq!(e.to_string(), format!("n: expected 1 to {MAX_N}, got 0"));
        let mut w = Wrap::new(WrapKind::MajorityVote, 3);
        w.threshold = Some(0.5);
        assert_eq!(
            w.validate(&sig).unwrap_err().to_string(),
            "threshold: applies to best_of_n and refine, not majority_vote"
        );
        let mut w = Wrap::new(WrapKind::MajorityVote, 3);
        w.fields = vec!["answr".into()];
        assert_eq!(w.validate(&sig).unwrap_err().to_string(), "fields[0]: no output field 'answr' (outputs: answer)");
        let mut w = Wrap::new(WrapKind::BestOfN, 3);
        w.reward = Some("exact_match".into());
        assert!(w.validate(&sig).unwrap_err().to_string().starts_with("reward: unknown reward 'exact_match'"));
    }

    #[test]
    fn feedback_goes_to_the_last_user_message() {
        let mut req = ChatRequest::new(vec![ChatMessage::system("s"), ChatMessage::user("q")]);
        Attempt { feedback: Some("- too long".into()), temperature: Some(1.0), rollout_id: Some(2) }.apply(&mut req);
        assert_eq!(req.messages[1].content, format!("q\n\n{FEEDBACK_HEADER}\n- too long\nAnswer again and fix this."));
        assert_eq!((req.temperature, req.rollout_id), (Some(1.0), Some(2)));
    }
}
