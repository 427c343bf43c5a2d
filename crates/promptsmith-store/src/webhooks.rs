//! Webhooks: URLs a tenant registers for event types, and an outbox of deliveries. Emitting an
//! event only inserts delivery rows (one per matching webhook), so it never waits on a
//! receiver; a sender claims due deliveries, posts them, and records every attempt. A failed
//! attempt is retried at a later time until the attempts run out. Secrets are sealed with the
//! store's keyring like other stored values (they must be readable again to sign).

use crate::db::{now_ms, parse_json, to_json, with_pool, BeginWrite, RowExt, Store};
use crate::error::{Result, StoreError};
use serde::{Deserialize, Serialize};

/// A registered webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id.
    pub id: String,
    /// Owner.
    pub tenant: String,
    /// Where events are posted.
    pub url: String,
    /// Event types it receives (`*` for all).
    pub events: Vec<String>,
    /// The signing secret (plain text here; sealed in the database).
    #[serde(skip_serializing)]
    pub secret: String,
    /// Unix ms.
    pub created_at: i64,
}

impl Webhook {
    /// Whether it receives events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// A delivery of one event to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// The webhook.
    pub webhook_id: String,
    /// The event's id (the same for every webhook it goes to).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The JSON body posted.
    pub body: String,
    /// `pending`, `delivered` or `failed` (attempts ran out).
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (Unix ms).
    pub next_attempt_at: i64,
    /// HTTP status of the last attempt, when it got an answer.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub delivered_at: Option<i64>,
}

/// One attempt's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptResult {
    /// When it was made (Unix ms).
    pub at: i64,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why it failed (`None` when the receiver answered 2xx).
    pub error: Option<String>,
    /// How long it took, ms.
    pub duration_ms: i64,
    /// When to try again; `None` to give up (on failure) or when it succeeded.
    pub retry_at: Option<i64>,
}

fn webhook_from_row(r: &impl RowExt, store: &Store) -> Result<Webhook> {
    Ok(Webhook {
        id: r.string("id")?,
        tenant: r.string("tenant")?,
        url: r.string("url")?,
        events: parse_json(&r.string("events_json")?, "webhook events")?,
        secret: store.keyring.open(&r.string("secret")?)?,
        created_at: r.i64("created_at")?,
    })
}

fn delivery_from_row(r: &impl RowExt) -> Result<Delivery> {
    Ok(Delivery {
        id: r.i64("id")?,
        webhook_id: r.string("webhook_id")?,
        event_id: r.string("event_id")?,
        event_type: r.string("event_type")?,
        body: r.string("body")?,
        status: r.string("status")?,
        attempts: r.i64("attempts")?,
        next_attempt_at: r.i64("next_attempt_at")?,
        last_status_code: r.opt_i64("last_status_code")?,
        last_error: r.opt_string("last_error")?,
        created_at: r.i64("created_at")?,
        delivered_at: r.opt_i64("delivered_at")?,
    })
}

impl Store {
    /// Registers a webhook (`created_at` is set here).
    pub async fn insert_webhook(&self, w: &Webhook) -> Result<Webhook> {
        let events = to_json(&w.events, "webhook events")?;
        let secret = self.keyring.seal(&w.secret)?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO webhooks (id, tenant, url, events_json, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&w.id)
            .bind(&w.tenant)
            .bind(&w.url)
            .bind(&events)
            .bind(&secret)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        self.webhook(&w.id).await
    }

    /// The webhook `id`.
    pub async fn webhook(&self, id: &str) -> Result<Webhook> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM webhooks WHERE id = $1").bind(id).fetch_optional(pool).await?;
            match row {
                Some(r) => webhook_from_row(&r, self),
                None => Err(StoreError::NotFound(format!("no webhook '{id}'"))),
            }
        })
    }

    /// The tenant's webhooks, oldest first.
    pub async fn webhooks(&self, tenant: &str) -> Result<Vec<Webhook>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM webhooks WHERE tenant = $1 ORDER BY created_at, id")
                .bind(tenant)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| webhook_from_row(r, self)).collect()
        })
    }

    /// Removes a webhook and its pending deliveries; false when there was none.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        let n = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'pending'")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n == 1)
    }

    /// Queues `body` for every webhook of `tenant` that wants `event_type`; returns how many
    /// deliveries were queued. Only inserts rows: no receiver is contacted here.
    pub async fn enqueue_event(&self, tenant: &str, event_id: &str, event_type: &str, body: &str) -> Result<usize> {
        let targets: Vec<Webhook> = self.webhooks(tenant).await?.into_iter().filter(|w| w.wants(event_type)).collect();
        if targets.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for w in &targets {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body, status, attempts, \
                     next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
                )
                .bind(&w.id)
                .bind(event_id)
                .bind(event_type)
                .bind(body)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(targets.len())
    }

    /// Pending deliveries due at `now`, oldest first, at most `limit`.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Delivery>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
            )
            .bind(now)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?;
            rows.iter().map(delivery_from_row).collect()
        })
    }

    /// Claims pending delivery `id` that was due at `due` by moving its due time to
    /// `lease_until`; false when another sender claimed it first.
    pub async fn claim_delivery(&self, id: i64, due: i64, lease_until: i64) -> Result<bool> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 \
                 AND status = 'pending'",
            )
            .bind(lease_until)
            .bind(id)
            .bind(due)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The earliest time a pending delivery is due, if any.
    pub async fn next_delivery_due(&self) -> Result<Option<i64>> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(pool)
                .await?)
        })
    }

    /// Records an attempt at delivery `id` and moves it on: delivered, due again at `retry_at`,
    /// or failed for good.
    pub async fn record_attempt(&self, id: i64, a: &AttemptResult) -> Result<Delivery> {
        let (status, next, delivered) = match (&a.error, a.retry_at) {
            (None, _) => ("delivered", a.at, Some(a.at)),
            (Some(_), Some(at)) => ("pending", at, None),
            (Some(_), None) => ("failed", a.at, None),
        };
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let attempt: i64 =
                sqlx::query_scalar("UPDATE webhook_deliveries SET attempts = attempts + 1, status = $1, \
                     next_attempt_at = $2, last_status_code = $3, last_error = $4, delivered_at = $5 \
                     WHERE id = $6 RETURNING attempts")
                    .bind(status)
                    .bind(next)
                    .bind(a.status_code)
                    .bind(&a.error)
                    .bind(delivered)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("no webhook delivery {id}")))?;
            sqlx::query(
                "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(attempt)
            .bind(a.at)
            .bind(a.status_code)
            .bind(&a.error)
            .bind(a.duration_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.delivery(id).await
    }

    /// Delivery `id`.
    pub async fn delivery(&self, id: i64) -> Result<Delivery> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT * FROM webhook_deliveries WHERE id = $1").bind(id).fetch_optional(pool).await?;
            match row {
                Some(r) => delivery_from_row(&r),
                None => Err(StoreError::NotFound(format!("no webhook delivery {id}"))),
            }
        })
    }

    /// A webhook's deliveries, newest first, at most `limit`.
    pub async fn deliveries(&self, webhook_id: &str, limit: i64) -> Result<Vec<Delivery>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2")
                .bind(webhook_id)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?;
            rows.iter().map(delivery_from_row).collect()
        })
    }

    /// The attempts made at delivery `id`, in order.
    pub async fn delivery_attempts(&self, id: i64) -> Result<Vec<AttemptResult>> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt")
                .bind(id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(AttemptResult {
                        at: r.i64("at")?,
                        status_code: r.opt_i64("status_code")?,
                        error: r.opt_string("error")?,
                        duration_ms: r.i64("duration_ms")?,
                        retry_at: None,
                    })
                })
                .collect()
        })
    }
}
