//! In-process rate limits: fixed one-minute windows per key (an address, an account, a credential).
//!
//! One instance serves one process; behind several replicas each enforces its own share, which is
//! enough to blunt password guessing and runaway scripts without another moving part.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A limit of `max` events per `window` for each key.
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Keys tracked before expired windows are swept.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    /// `max` events per minute per key; `0` turns the limit off.
    pub fn per_minute(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `key`; `Err(retry_after)` when the key is over its limit.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let (start, count) = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        if *count >= self.max {
            return Err(self.window.saturating_sub(now.duration_since(*start)));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_then_refuses_with_retry_after() {
        let limiter = RateLimiter::per_minute(3);
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let retry = limiter.check("a").unwrap_err();
        assert!(retry > Duration::from_secs(58) && retry <= Duration::from_secs(60));
        assert!(limiter.check("b").is_ok(), "keys are independent");
    }

    #[test]
    fn zero_means_off() {
        let limiter = RateLimiter::per_minute(0);
        for _ in 0..1000 {
            assert!(limiter.check("a").is_ok());
        }
    }

    #[test]
    fn windows_restart() {
        let limiter = RateLimiter {
            max: 1,
            window: Duration::from_millis(20),
            windows: Mutex::new(HashMap::new()),
        };
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_err());
        std::thread::sleep(Duration::from_millis(25));
        assert!(limiter.check("a").is_ok());
    }
}
