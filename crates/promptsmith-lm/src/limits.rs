//! Rate limits: a simple token bucket (used for requests-per-minute and tokens-per-minute)
//! and the jittered exponential backoff of retries.

use rand::Rng;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket refilled continuously at `capacity` tokens per `period`.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `capacity` per `period`.
    pub fn new(capacity: u64, period: Duration) -> Self {
        let capacity = capacity.max(1) as f64;
        let per_second = capacity / period.as_secs_f64().max(1e-9);
        Self { capacity, per_second, state: Mutex::new(BucketState { tokens: capacity, last: Instant::now() }) }
    }

    /// A bucket for a per-minute limit.
    pub fn per_minute(limit: u64) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    /// Takes `amount` tokens if available now; otherwise returns how long to wait first.
    /// Amounts above the capacity are clamped to it (they would never fit otherwise).
    pub fn try_take(&self, amount: u64) -> Result<(), Duration> {
        let amount = (amount as f64).min(self.capacity);
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.per_second).min(self.capacity);
        s.last = now;
        if s.tokens >= amount {
            s.tokens -= amount;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((amount - s.tokens) / self.per_second))
        }
    }

    /// Waits until `amount` tokens are available and takes them.
    pub async fn take(&self, amount: u64) {
        while let Err(wait) = self.try_take(amount) {
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

/// Exponential backoff with jitter: attempt `k` (0-based) waits a uniformly random time in
/// `[d/2, d]` where `d = min(max, initial * 2^k)`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay scale of the first retry.
    pub initial: Duration,
    /// Cap of any one delay (also caps a server's `Retry-After`).
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `retry` (0-based), honouring the server's `Retry-After`
    /// when given (capped at `max`).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max);
        }
        let factor = 2f64.powi(retry.min(30) as i32);
        let d = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        let jittered = d * rand::thread_rng().gen_range(0.5..=1.0);
        Duration::from_secs_f64(jittered)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills() {
        let b = TokenBucket::new(2, Duration::from_millis(100));
        assert!(b.try_take(1).is_ok());
        assert!(b.try_take(1).is_ok());
        let wait = b.try_take(1).unwrap_err();
        assert!(wait <= Duration::from_millis(51), "{wait:?}");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.try_take(1).is_ok());
        // Oversized requests are clamped to the capacity.
        std::thread::sleep(Duration::from_millis(110));
        assert!(b.try_take(100).is_ok());
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(300) };
        let d0 = b.delay(0, None);
        assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
        let d5 = b.delay(5, None);
        assert!(d5 >= Duration::from_millis(150) && d5 <= Duration::from_millis(300));
        assert_eq!(b.delay(0, Some(Duration::from_secs(9))), Duration::from_millis(300));
        assert_eq!(b.delay(0, Some(Duration::from_millis(20))), Duration::from_millis(20));
    }
}
