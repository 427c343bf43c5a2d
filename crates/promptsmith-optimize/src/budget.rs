//! Budgets: caps on LM calls, tokens, cost and wall time, and the meter that counts spending by
//! role (task, teacher, proposer, judge).
//!
//! The call cap is exact: a call is admitted only while fewer calls than the cap have been
//! admitted. Token and cost caps stop admitting calls once reached (a call's tokens are known
//! only after it returns, so the calls in flight at that moment may go past the cap by their
//! own size). The wall-time cap stops admitting calls after the deadline.

use promptsmith_lm::LmRole;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Caps on spending; `None` means no cap.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Most LM calls, all roles together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u64>,
    /// Most tokens (prompt + completion), all roles together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Most cost in US dollars, at the configured prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// Most wall-clock seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<f64>,
}

/// What one role spent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RoleSpend {
    /// LM calls (including calls answered from the run's journal on resume).
    pub calls: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost in US dollars (0 when no price is configured).
    pub cost_usd: f64,
}

impl RoleSpend {
    /// Prompt plus completion tokens.
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl std::ops::AddAssign for RoleSpend {
    fn add_assign(&mut self, o: Self) {
        self.calls += o.calls;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cost_usd += o.cost_usd;
    }
}

/// Spending by role.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Spend {
    /// The program being optimized.
    pub task: RoleSpend,
    /// The teacher (bootstrapping).
    pub teacher: RoleSpend,
    /// The instruction proposer.
    pub proposer: RoleSpend,
    /// An LLM judge inside the metric.
    pub judge: RoleSpend,
}

impl Spend {
    /// All roles together.
    pub fn total(&self) -> RoleSpend {
        let mut t = self.task;
        t += self.teacher;
        t += self.proposer;
        t += self.judge;
        t
    }

    /// One role's spending.
    pub fn role(&self, role: LmRole) -> &RoleSpend {
        match role {
            LmRole::Task => &self.task,
            LmRole::Teacher => &self.teacher,
            LmRole::Proposer => &self.proposer,
            LmRole::Judge => &self.judge,
        }
    }
}

/// Why the budget refuses a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("budget exhausted: {0}")]
pub struct BudgetExhausted(pub String);

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    prompt: AtomicU64,
    completion: AtomicU64,
    nano_usd: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> RoleSpend {
        RoleSpend {
            calls: self.calls.load(Ordering::SeqCst),
            prompt_tokens: self.prompt.load(Ordering::SeqCst),
            completion_tokens: self.completion.load(Ordering::SeqCst),
            cost_usd: self.nano_usd.load(Ordering::SeqCst) as f64 / 1e9,
        }
    }
}

/// Counts spending by role and enforces a [`Budget`]; shared by every model wrapper of a run.
pub struct Meter {
    budget: Budget,
    started: Instant,
    admitted: AtomicU64,
    roles: [Counters; 4],
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter").field("budget", &self.budget).field("spent", &self.spent()).finish()
    }
}

fn index(role: LmRole) -> usize {
    match role {
        LmRole::Task => 0,
        LmRole::Teacher => 1,
        LmRole::Proposer => 2,
        LmRole::Judge => 3,
    }
}

impl Meter {
    /// A meter enforcing `budget`, its clock starting now.
    pub fn new(budget: Budget) -> Self {
        Meter { budget, started: Instant::now(), admitted: AtomicU64::new(0), roles: Default::default() }
    }

    /// The budget.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Admits one call, or says which cap refuses it.
    pub fn admit(&self) -> Result<(), BudgetExhausted> {
        if let Some(max) = self.budget.max_seconds {
            if self.started.elapsed() >= Duration::from_secs_f64(max.max(0.0)) {
                return Err(BudgetExhausted(format!("wall time cap of {max} s reached")));
            }
        }
        let total = self.spent().total();
        if let Some(max) = self.budget.max_tokens {
            if total.tokens() >= max {
                return Err(BudgetExhausted(format!("token cap of {max} reached ({} used)", total.tokens())));
            }
        }
        if let Some(max) = self.budget.max_cost_usd {
            if total.cost_usd >= max {
                return Err(BudgetExhausted(format!("cost cap of ${max} reached (${:.4} used)", total.cost_usd)));
            }
        }
        if let Some(max) = self.budget.max_calls {
            let ok = self.admitted.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1));
            if ok.is_err() {
                return Err(BudgetExhausted(format!("call cap of {max} reached")));
            }
        }
        Ok(())
    }

    /// Records a finished call of `role`.
    pub fn record(&self, role: LmRole, prompt_tokens: u64, completion_tokens: u64, cost_usd: Option<f64>) {
        let c = &self.roles[index(role)];
        c.calls.fetch_add(1, Ordering::SeqCst);
        c.prompt.fetch_add(prompt_tokens, Ordering::SeqCst);
        c.completion.fetch_add(completion_tokens, Ordering::SeqCst);
        if let Some(cost) = cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
            c.nano_usd.fetch_add((cost * 1e9).round() as u64, Ordering::SeqCst);
        }
    }

    /// Whether a cap has been reached (no further call would be admitted).
    pub fn exhausted(&self) -> Option<String> {
        let total = self.spent().total();
        if let Some(max) = self.budget.max_calls {
            if self.admitted.load(Ordering::SeqCst) >= max {
                return Some(format!("call cap of {max} reached"));
            }
        }
        if self.budget.max_tokens.is_some_and(|m| total.tokens() >= m) {
            return Some("token cap reached".into());
        }
        if self.budget.max_cost_usd.is_some_and(|m| total.cost_usd >= m) {
            return Some("cost cap reached".into());
        }
        if self.budget.max_seconds.is_some_and(|m| self.started.elapsed().as_secs_f64() >= m) {
            return Some("wall time cap reached".into());
        }
        None
    }

    /// Spending so far.
    pub fn spent(&self) -> Spend {
        Spend {
            task: self.roles[0].snapshot(),
            teacher: self.roles[1].snapshot(),
            proposer: self.roles[2].snapshot(),
            judge: self.roles[3].snapshot(),
        }
    }

    /// Seconds since the meter started.
    pub fn elapsed_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_cap_is_exact_and_roles_are_counted_apart() {
        let m = Meter::new(Budget { max_calls: Some(3), ..Budget::default() });
        for _ in 0..3 {
            m.admit().unwrap();
        }
        assert_eq!(m.admit().unwrap_err().to_string(), "budget exhausted: call cap of 3 reached");
        m.record(LmRole::Task, 10, 5, Some(0.5));
        m.record(LmRole::Proposer, 1, 1, None);
        let s = m.spent();
        assert_eq!((s.task.calls, s.task.tokens(), s.proposer.calls), (1, 15, 1));
        assert!((s.total().cost_usd - 0.5).abs() < 1e-9);
        assert!(m.exhausted().unwrap().contains("call cap"));
    }

    #[test]
    fn token_and_cost_caps_stop_admitting() {
        let m = Meter::new(Budget { max_tokens: Some(20), ..Budget::default() });
        m.admit().unwrap();
        m.record(LmRole::Task, 15, 10, None);
        assert!(m.admit().unwrap_err().0.contains("token cap of 20"));
        let m = Meter::new(Budget { max_cost_usd: Some(1.0), ..Budget::default() });
        m.record(LmRole::Judge, 1, 1, Some(1.5));
        assert!(m.admit().is_err());
        let m = Meter::new(Budget { max_seconds: Some(0.0), ..Budget::default() });
        assert!(m.admit().unwrap_err().0.contains("wall time"));
    }
}
