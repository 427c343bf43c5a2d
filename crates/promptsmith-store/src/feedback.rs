//! Human feedback on evaluations: a review queue (pending → received), ratings, corrected
//! outputs, labels and comments; statistics (agreement between the judge and people); and
//! corrected outputs as labelled training examples.

use crate::crypto::Keyring;
use crate::db::{now_ms, parse_json, to_json, with_pool, BeginWrite, RowExt, Store};
use crate::error::{Result, StoreError};
use crate::evaluations::{evaluation_from_row, Evaluation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a feedback item is in the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackStatus {
    /// Waiting for a person.
    Pending,
    /// A person answered.
    Received,
}

impl FeedbackStatus {
    fn parse(s: &str) -> Result<FeedbackStatus> {
        match s {
            "pending" => Ok(FeedbackStatus::Pending),
            "received" => Ok(FeedbackStatus::Received),
            other => Err(StoreError::Invalid(format!("unknown feedback status '{other}'"))),
        }
    }
}

/// What a person said about one evaluation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FeedbackInput {
    /// Rating in `[0, 1]` (1: the output is right).
    pub rating: Option<f64>,
    /// The output it should have given (output field -> value).
    pub corrected: Option<Map<String, Value>>,
    /// A label (category, tag).
    pub label: Option<String>,
    /// A comment.
    pub comment: Option<String>,
    /// Who.
    pub reviewer: Option<String>,
}

/// A feedback item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Feedback {
    /// Row id.
    pub id: i64,
    /// The evaluation it is about.
    pub evaluation_id: i64,
    /// Queue state.
    pub status: FeedbackStatus,
    /// Why it was sent for review.
    pub reason: Option<String>,
    /// When it was queued (Unix ms).
    pub requested_at: i64,
    /// Rating in `[0, 1]`.
    pub rating: Option<f64>,
    /// Corrected output.
    pub corrected: Option<Map<String, Value>>,
    /// Label.
    pub label: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Reviewer.
    pub reviewer: Option<String>,
    /// When the answer came (Unix ms).
    pub received_at: Option<i64>,
}

/// A pending review with the evaluation to look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// The queue entry.
    pub feedback: Feedback,
    /// The evaluation.
    pub evaluation: Evaluation,
}

/// Review-queue statistics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FeedbackStats {
    /// Waiting for review.
    pub pending: i64,
    /// Answered.
    pub received: i64,
    /// Answers with a rating.
    pub rated: i64,
    /// Answers with a corrected output.
    pub corrected: i64,
    /// Answers with a label.
    pub labelled: i64,
    /// Share of rated items where the judge (score ≥ 0.5) and the person (rating ≥ 0.5) agree.
    pub agreement: Option<f64>,
    /// Mean |judge score − rating| over rated items.
    pub mean_abs_difference: Option<f64>,
}

/// A labelled training example made from feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackExample {
    /// The evaluation it came from.
    pub evaluation_id: i64,
    /// Program name.
    pub program: String,
    /// Inputs plus the corrected outputs (or `label` when only a label was given).
    pub example: Map<String, Value>,
}

fn feedback_from_row(r: &impl RowExt, prefix: &str, keyring: &Keyring) -> Result<Feedback> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(Feedback {
        id: r.i64(&c("id"))?,
        evaluation_id: r.i64(&c("evaluation_id"))?,
        status: FeedbackStatus::parse(&r.string(&c("status"))?)?,
        reason: r.opt_string(&c("reason"))?,
        requested_at: r.i64(&c("requested_at"))?,
        rating: r.opt_f64(&c("rating"))?,
        corrected: r
            .opt_string(&c("corrected_json"))?
            .map(|t| parse_json(&keyring.open(&t)?, "corrected output"))
            .transpose()?,
        label: r.opt_string(&c("label"))?,
        comment: r.opt_string(&c("comment"))?,
        reviewer: r.opt_string(&c("reviewer"))?,
        received_at: r.opt_i64(&c("received_at"))?,
    })
}

/// Columns of a feedback row aliased with an `f_` prefix, to join with evaluations.
const FEEDBACK_AS_F: &str = "f.id AS f_id, f.evaluation_id AS f_evaluation_id, f.status AS f_status, \
     f.reason AS f_reason, f.requested_at AS f_requested_at, f.rating AS f_rating, \
     f.corrected_json AS f_corrected_json, f.label AS f_label, f.comment AS f_comment, f.reviewer AS f_reviewer, \
     f.received_at AS f_received_at";

/// Agreement statistics from `(judge score, human rating)` pairs.
pub fn agreement(pairs: &[(f64, f64)]) -> (Option<f64>, Option<f64>) {
    if pairs.is_empty() {
        return (None, None);
    }
    let n = pairs.len() as f64;
    let agree = pairs.iter().filter(|(s, r)| (*s >= 0.5) == (*r >= 0.5)).count() as f64;
    let mad = pairs.iter().map(|(s, r)| (s - r).abs()).sum::<f64>() / n;
    (Some(agree / n), Some(mad))
}

impl Store {
    /// Puts an evaluation in the review queue (pending). Asking again for one already queued or
    /// answered changes nothing and returns the existing item.
    pub async fn request_review(&self, evaluation_id: i64, reason: Option<&str>) -> Result<Feedback> {
        self.evaluation(evaluation_id).await?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO feedback (evaluation_id, status, reason, requested_at) VALUES ($1, 'pending', $2, $3) \
                 ON CONFLICT (evaluation_id) DO NOTHING",
            )
            .bind(evaluation_id)
            .bind(reason)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query("SELECT * FROM feedback WHERE evaluation_id = $1")
                .bind(evaluation_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            feedback_from_row(&row, "", &self.keyring)
        })
    }

    /// Records a person's answer for an evaluation (queued or not); a second answer replaces the
    /// first. At least one of rating, corrected output, label or comment is needed; a corrected
    /// output must name only the program's output fields seen in the evaluation.
    pub async fn record_feedback(&self, evaluation_id: i64, input: &FeedbackInput) -> Result<Feedback> {
        if input.rating.is_none() && input.corrected.is_none() && input.label.is_none() && input.comment.is_none() {
            return Err(StoreError::Invalid(
                "feedback needs at least one of a rating, a corrected output, a label or a comment".into(),
            ));
        }
        if let Some(r) = input.rating {
            if !(0.0..=1.0).contains(&r) {
                return Err(StoreError::Invalid(format!("rating {r} is outside [0, 1]")));
            }
        }
        let eval = self.evaluation(evaluation_id).await?;
        if let (Some(corrected), Some(outputs)) = (&input.corrected, &eval.outputs) {
            let unknown: Vec<&String> = corrected.keys().filter(|k| !outputs.contains_key(*k)).collect();
            if !unknown.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "corrected output names field(s) {} that evaluation {evaluation_id} of '{}' does not output (it outputs: {})",
                    unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    eval.program,
                    outputs.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        // Corrected outputs are data: sealed like datasets.
        let corrected =
            input.corrected.as_ref().map(|c| self.keyring.seal(&to_json(c, "corrected output")?)).transpose()?;
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO feedback (evaluation_id, status, requested_at, rating, corrected_json, label, comment, \
                 reviewer, received_at) VALUES ($1, 'received', $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (evaluation_id) DO UPDATE SET status = 'received', rating = excluded.rating, \
                 corrected_json = excluded.corrected_json, label = excluded.label, comment = excluded.comment, \
                 reviewer = excluded.reviewer, received_at = excluded.received_at",
            )
            .bind(evaluation_id)
            .bind(now)
            .bind(input.rating)
            .bind(corrected.as_deref())
            .bind(input.label.as_deref())
            .bind(input.comment.as_deref())
            .bind(input.reviewer.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query("SELECT * FROM feedback WHERE evaluation_id = $1")
                .bind(evaluation_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            feedback_from_row(&row, "", &self.keyring)
        })
    }

    /// The feedback on one evaluation, if any.
    pub async fn feedback_for(&self, evaluation_id: i64) -> Result<Option<Feedback>> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM feedback WHERE evaluation_id = $1")
                .bind(evaluation_id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(|r| feedback_from_row(r, "", &self.keyring)).transpose()
        })
    }

    /// Pending reviews, oldest request first, optionally for one program.
    pub async fn pending_reviews(&self, program: Option<&str>, limit: i64) -> Result<Vec<ReviewItem>> {
        let sql = format!(
            "SELECT {FEEDBACK_AS_F}, e.* FROM feedback f JOIN evaluations e ON e.id = f.evaluation_id \
             WHERE f.status = 'pending' AND ($1 = '' OR e.program = $1) ORDER BY f.requested_at, f.id LIMIT $2"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(program.unwrap_or("")).bind(limit.max(0)).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok(ReviewItem { feedback: feedback_from_row(r, "f_", &self.keyring)?,
                        evaluation: evaluation_from_row(r, &self.keyring)?,
                    }))
                .collect()
        })
    }

    /// Review-queue statistics, optionally for one program.
    pub async fn feedback_stats(&self, program: Option<&str>) -> Result<FeedbackStats> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT f.status, f.rating, f.corrected_json, f.label, e.score FROM feedback f \
                 JOIN evaluations e ON e.id = f.evaluation_id WHERE ($1 = '' OR e.program = $1)",
            )
            .bind(program.unwrap_or(""))
            .fetch_all(pool)
            .await?;
            let mut stats = FeedbackStats::default();
            let mut pairs = Vec::new();
            for r in &rows {
                match FeedbackStatus::parse(&r.string("status")?)? {
                    FeedbackStatus::Pending => stats.pending += 1,
                    FeedbackStatus::Received => {
                        stats.received += 1;
                        if let Some(rating) = r.opt_f64("rating")? {
                            stats.rated += 1;
                            pairs.push((r.f64("score")?, rating));
                        }
                        stats.corrected += i64::from(r.opt_string("corrected_json")?.is_some());
                        stats.labelled += i64::from(r.opt_string("label")?.is_some());
                    }
                }
            }
            (stats.agreement, stats.mean_abs_difference) = agreement(&pairs);
            Ok(stats)
        })
    }

    /// Training examples from feedback: the evaluation's inputs plus the corrected outputs; an
    /// answer with only a label gives the inputs plus `label`. Oldest first.
    pub async fn feedback_examples(&self, program: Option<&str>) -> Result<Vec<FeedbackExample>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT e.id, e.program, e.inputs_json, f.corrected_json, f.label FROM feedback f \
                 JOIN evaluations e ON e.id = f.evaluation_id \
                 WHERE f.status = 'received' AND (f.corrected_json IS NOT NULL OR f.label IS NOT NULL) \
                 AND ($1 = '' OR e.program = $1) ORDER BY f.received_at, f.id",
            )
            .bind(program.unwrap_or(""))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let inputs = self.keyring.open(&r.string("inputs_json")?)?;
                    let mut example: Map<String, Value> = parse_json(&inputs, "evaluation inputs")?;
                    match r.opt_string("corrected_json")? {
                        Some(c) => {
                            let corrected: Map<String, Value> = parse_json(&self.keyring.open(&c)?, "corrected output")?;
                            example.extend(corrected);
                        }
                        None => {
                            if let Some(label) = r.opt_string("label")? {
                                example.insert("label".into(), Value::String(label));
                            }
                        }
                    }
                    Ok(FeedbackExample { evaluation_id: r.i64("id")?, program: r.string("program")?, example })
                })
                .collect()
        })
    }

    /// Predictions of `program` rated at least `min_rating` without a correction or label, as
    /// examples: their inputs plus their own outputs. Oldest first.
    pub async fn approved_examples(&self, program: &str, min_rating: f64) -> Result<Vec<FeedbackExample>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT e.id, e.program, e.inputs_json, e.outputs_json FROM feedback f \
                 JOIN evaluations e ON e.id = f.evaluation_id \
                 WHERE f.status = 'received' AND f.corrected_json IS NULL AND f.label IS NULL \
                 AND f.rating IS NOT NULL AND f.rating >= $1 AND e.outputs_json IS NOT NULL AND e.program = $2 \
                 ORDER BY f.received_at, f.id",
            )
            .bind(min_rating)
            .bind(program)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let mut example: Map<String, Value> =
                        parse_json(&self.keyring.open(&r.string("inputs_json")?)?, "evaluation inputs")?;
                    if let Some(o) = r.opt_string("outputs_json")? {
                        let outputs: Map<String, Value> = parse_json(&self.keyring.open(&o)?, "evaluation outputs")?;
                        example.extend(outputs);
                    }
                    Ok(FeedbackExample { evaluation_id: r.i64("id")?, program: r.string("program")?, example })
                })
                .collect()
        })
    }

    /// The last `limit` ratings given to predictions of `program`'s `version`, newest first,
    /// with their feedback ids.
    pub async fn recent_ratings(&self, program: &str, version: i64, limit: i64) -> Result<Vec<(i64, f64)>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT f.id AS id, f.rating AS rating FROM feedback f JOIN evaluations e ON f.evaluation_id = e.id \
                 WHERE e.program = $1 AND e.version = $2 AND f.rating IS NOT NULL ORDER BY f.id DESC LIMIT $3",
            )
            .bind(program)
            .bind(version)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok((r.i64("id")?, r.f64("rating")?))).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_pass_fail_matches() {
        assert_eq!(agreement(&[]), (None, None));
        let (a, mad) = agreement(&[(1.0, 1.0), (0.0, 0.0), (1.0, 0.0), (0.8, 0.6)]);
        assert_eq!(a, Some(0.75));
        assert!((mad.unwrap() - (0.0 + 0.0 + 1.0 + 0.2) / 4.0).abs() < 1e-12);
    }
}
