//! In-process rate limits: fixed one-minute windows per key (an address, an account, a credential).
//!
//! One instance serves one process; behind several replicas each enforces its own share, which is
//! enough to blunt password guessing and runaway scripts without another moving part.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A limit of `max` events per `window` for each key. Keys are kept as a 128-bit hash, whatever
/// their length (a megabyte "email" costs 16 bytes), and at most [`MAX_KEYS`] of them.
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window: Duration,
    windows: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    counts: HashMap<[u8; 16], (Instant, u32)>,
    last_sweep: Option<Instant>,
}

/// Keys tracked before expired windows are swept (at most once a second).
const SWEEP_AT: usize = 10_000;
/// The most keys one limiter holds: past it, after a sweep, the older half of the windows is
/// dropped (those keys start afresh). About 3 MB.
pub const MAX_KEYS: usize = 100_000;

fn key_hash(key: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    hash
}

impl RateLimiter {
    /// `max` events per minute per key; `0` turns the limit off.
    pub fn per_minute(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
            windows: Mutex::new(Windows::default()),
        }
    }

    /// How many keys it holds now.
    pub fn keys(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .counts
            .len()
    }

    /// Counts one event for `key`; `Err(retry_after)` when the key is over its limit.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Windows { counts, last_sweep } = &mut *windows;
        let due = last_sweep.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
        if (counts.len() >= SWEEP_AT && due) || counts.len() >= MAX_KEYS {
            *last_sweep = Some(now);
            counts.retain(|_, (start, _)| now.duration_since(*start) < self.window);
            if counts.len() >= MAX_KEYS {
                let mut starts: Vec<Instant> = counts.values().map(|(start, _)| *start).collect();
                let (_, median, _) = starts.select_nth_unstable(MAX_KEYS / 2);
                let median = *median;
                counts.retain(|_, (start, _)| *start > median);
            }
        }
        let (start, count) = counts.entry(key_hash(key)).or_insert((now, 0));
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

/// Counts one password check (signing in, or `current_password` when changing it) against the
/// per-email and per-address limits they share: a guess costs the same allowance wherever it is
/// made. `email` as entered (normalised when it is one).
pub fn check_password_attempt(
    limiter: &RateLimiter,
    email: &str,
    addr: Option<std::net::IpAddr>,
) -> Result<(), crate::error::ApiError> {
    let address_key = format!("addr:{}", addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string()));
    for key in [address_key, format!("email:{email}")] {
        limiter.check(&key).map_err(crate::error::ApiError::too_many_requests)?;
    }
    Ok(())
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
    fn memory_stays_bounded_whatever_the_keys() {
        let limiter = RateLimiter::per_minute(10);
        let huge = "x".repeat(1 << 20);
        for i in 0..(MAX_KEYS + 5000) {
            let key = format!("{i}{}", if i % 10_000 == 0 { huge.as_str() } else { "" });
            assert!(limiter.check(&key).is_ok());
        }
        assert!(limiter.keys() <= MAX_KEYS, "{}", limiter.keys());
        // A key over its limit stays limited through sweeps of other keys.
        for _ in 0..10 {
            limiter.check("victim").unwrap();
        }
        assert!(limiter.check("victim").is_err());
    }

    #[test]
    fn windows_restart() {
        let limiter = RateLimiter {
            max: 1,
            window: Duration::from_millis(20),
            windows: Mutex::new(Windows::default()),
        };
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_err());
        std::thread::sleep(Duration::from_millis(25));
        assert!(limiter.check("a").is_ok());
    }
}
