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
pub(crate) struct RateLimiter {
    max: u32,
    window: Duration,
    windows: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    counts: HashMap<[u8; 16], (Instant, u32)>,
    last_sweep: Option<Instant>,
    /// Where live windows evicted from `counts` keep their counts, [`SPILL_CELLS`] cells indexed
    /// by key hash; allocated on the first eviction.
    spill: Vec<(Instant, u32)>,
}

/// Keys tracked before expired windows are swept (at most once a second).
const SWEEP_AT: usize = 10_000;
/// The most keys one limiter holds (about 3 MB). Past it, after a sweep, the older half of the
/// windows leaves the table for the spill cells, which keep each one's count until its window
/// ends: flooding the table with fresh keys cannot reset a key's count (a password guesser's
/// email would otherwise start afresh). Keys sharing a cell share its highest count, so a flood
/// can only make the limit stricter for some keys, never looser.
pub(crate) const MAX_KEYS: usize = 100_000;
/// Spill cells: 65,536 of 24 bytes, 1.5 MB once allocated.
const SPILL_CELLS: usize = 1 << 16;

fn spill_cell(hash: &[u8; 16]) -> usize {
    usize::from(u16::from_le_bytes([hash[0], hash[1]]))
}

fn key_hash(key: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&digest[..16]);
    hash
}

impl RateLimiter {
    /// `max` events per minute per key; `0` turns the limit off.
    pub(crate) fn per_minute(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(60),
            windows: Mutex::new(Windows::default()),
        }
    }

    /// How many keys it holds now.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .counts
            .len()
    }

    /// Counts one event for `key`; `Err(retry_after)` when the key is over its limit.
    pub(crate) fn check(&self, key: &str) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Windows {
            counts,
            last_sweep,
            spill,
        } = &mut *windows;
        let due = last_sweep.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
        if (counts.len() >= SWEEP_AT && due) || counts.len() >= MAX_KEYS {
            *last_sweep = Some(now);
            counts.retain(|_, (start, _)| now.duration_since(*start) < self.window);
            if counts.len() >= MAX_KEYS {
                let mut starts: Vec<Instant> = counts.values().map(|(start, _)| *start).collect();
                let (_, median, _) = starts.select_nth_unstable(MAX_KEYS / 2);
                let median = *median;
                if spill.is_empty() {
                    spill.resize(SPILL_CELLS, (now, 0));
                }
                counts.retain(|hash, &mut (start, count)| {
                    if start > median {
                        return true;
                    }
                    let cell = &mut spill[spill_cell(hash)];
                    let live = now.duration_since(cell.0) < self.window;
                    // The later start and the higher count: never less than the evicted window.
                    *cell = if live {
                        (cell.0.max(start), cell.1.max(count))
                    } else {
                        (start, count)
                    };
                    false
                });
            }
        }
        let hash = key_hash(key);
        let spilled = spill
            .get(spill_cell(&hash))
            .copied()
            .filter(|(start, count)| *count > 0 && now.duration_since(*start) < self.window);
        let (start, count) = counts.entry(hash).or_insert(spilled.unwrap_or((now, 0)));
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
pub(crate) fn check_password_attempt(
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
        // A fresh key gets its allowance (but for the one event of an evicted key whose spill
        // cell it shares), then stays limited.
        let allowed = (0..20).take_while(|_| limiter.check("victim").is_ok()).count();
        assert!((9..=10).contains(&allowed), "{allowed}");
        assert!(limiter.check("victim").is_err());
    }

    /// Counts one event for each of `keys` fresh keys; returns how many were refused (a fresh key
    /// sharing a spill cell with a limited one).
    fn flood(limiter: &RateLimiter, label: &str, keys: usize) -> usize {
        (0..keys)
            .filter(|i| limiter.check(&format!("{label}{i}")).is_err())
            .count()
    }

    #[test]
    fn clean_ups_keep_every_live_window_and_its_count() {
        let limiter = RateLimiter::per_minute(10);
        // An old key at its limit, and one part-way, tracked before a flood of fresh keys.
        for _ in 0..10 {
            limiter.check("victim").unwrap();
        }
        for _ in 0..4 {
            limiter.check("partway").unwrap();
        }
        // Past the sweep threshold (nothing has expired) and twice past the key bound.
        assert_eq!(flood(&limiter, "a", MAX_KEYS + 10), 0);
        assert!(
            flood(&limiter, "b", MAX_KEYS) < 10,
            "only keys sharing the victim's cell"
        );
        assert!(limiter.keys() <= MAX_KEYS, "{}", limiter.keys());
        assert!(limiter.check("victim").is_err(), "still limited");
        // Never more than the 6 left of its allowance (a flood key that shared its cell and was
        // counted once more may have raised the cell's count by one).
        let allowed = (0..20).take_while(|_| limiter.check("partway").is_ok()).count();
        assert!((5..=6).contains(&allowed), "its count was kept: {allowed} more allowed");
        // A flood key evicted early keeps its count too.
        let evicted = (0..MAX_KEYS)
            .map(|i| format!("a{i}"))
            .find(|key| {
                let hash = key_hash(key);
                // Not sharing a cell with the two above (whose counts it would share).
                let shared = ["victim", "partway"]
                    .map(|k| spill_cell(&key_hash(k)))
                    .contains(&spill_cell(&hash));
                !shared && !limiter.windows.lock().unwrap().counts.contains_key(&hash)
            })
            .expect("evicted keys");
        let allowed = (0..20).take_while(|_| limiter.check(&evicted).is_ok()).count();
        assert!(
            (8..=9).contains(&allowed),
            "{evicted} was counted before: {allowed} more allowed"
        );
    }

    #[test]
    fn a_sweep_drops_expired_windows_only() {
        let limiter = RateLimiter {
            max: 2,
            window: Duration::from_millis(300),
            windows: Mutex::new(Windows::default()),
        };
        assert_eq!(flood(&limiter, "old", SWEEP_AT), 0);
        std::thread::sleep(Duration::from_millis(350));
        limiter.check("live").unwrap();
        limiter.check("live").unwrap();
        // The next check sweeps: the expired windows go, the live one stays at its limit.
        assert!(limiter.check("live").is_err());
        assert_eq!(limiter.keys(), 1);
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

    #[test]
    fn keys_counts_every_tracked_key_and_expired_ones_stay_until_a_sweep() {
        let limiter = RateLimiter {
            max: 2,
            window: Duration::from_millis(20),
            windows: Mutex::new(Windows::default()),
        };
        for key in ["a", "b", "c"] {
            limiter.check(key).unwrap();
        }
        assert_eq!(limiter.keys(), 3);
        // Their windows end, but below the sweep threshold nothing is swept (a sweep walks the
        // whole table): expired windows restart when their key comes back.
        std::thread::sleep(Duration::from_millis(1100));
        limiter.check("d").unwrap();
        assert_eq!(limiter.keys(), 4);
    }

    #[test]
    fn sweeps_recur_once_a_second_at_most() {
        let limiter = RateLimiter {
            max: 2,
            window: Duration::from_millis(100),
            windows: Mutex::new(Windows::default()),
        };
        // A first sweep at the threshold drops the expired windows.
        assert_eq!(flood(&limiter, "old", SWEEP_AT), 0);
        std::thread::sleep(Duration::from_millis(150));
        limiter.check("first").unwrap();
        assert_eq!(limiter.keys(), 1);
        // Back at the threshold within the second: no sweep yet.
        assert_eq!(flood(&limiter, "again", SWEEP_AT), 0);
        assert_eq!(limiter.keys(), SWEEP_AT + 1);
        // A second later, the next check sweeps again.
        std::thread::sleep(Duration::from_millis(1100));
        limiter.check("second").unwrap();
        assert_eq!(limiter.keys(), 1);
    }

    /// A limiter of `max` per `window` that has just evicted: `MAX_KEYS` live keys `k0`, `k1`, …
    /// (oldest first), then one more.
    fn evicted(max: u32, window: Duration) -> RateLimiter {
        let limiter = RateLimiter {
            max,
            window,
            windows: Mutex::new(Windows::default()),
        };
        assert_eq!(flood(&limiter, "k", MAX_KEYS), 0);
        limiter.check("trigger").unwrap();
        assert!(
            !limiter.windows.lock().unwrap().spill.is_empty(),
            "an eviction happened"
        );
        limiter
    }

    #[test]
    fn an_eviction_moves_the_older_half_to_the_spill_cells() {
        let limiter = evicted(10, Duration::from_secs(60));
        let windows = limiter.windows.lock().unwrap();
        let kept = windows.counts.len();
        assert!(
            (MAX_KEYS / 2 - 10..=MAX_KEYS / 2 + 10).contains(&kept),
            "about half kept: {kept}"
        );
        for i in [MAX_KEYS - 1, MAX_KEYS - 2, MAX_KEYS / 2 + 100] {
            assert!(
                windows.counts.contains_key(&key_hash(&format!("k{i}"))),
                "newer k{i} kept"
            );
        }
        for i in [0, 1, MAX_KEYS / 2 - 100] {
            assert!(
                !windows.counts.contains_key(&key_hash(&format!("k{i}"))),
                "older k{i} spilled"
            );
        }
    }

    #[test]
    fn a_fresh_key_in_an_unused_spill_cell_starts_its_own_window() {
        let window = Duration::from_secs(10);
        let limiter = evicted(2, window);
        std::thread::sleep(Duration::from_secs(2));
        // A key never seen, whose spill cell no evicted window went to (the cell still holds its
        // initial empty value, stamped at the eviction).
        let fresh = (0..)
            .map(|i| format!("fresh{i}"))
            .find(|key| {
                let windows = limiter.windows.lock().unwrap();
                windows.spill[spill_cell(&key_hash(key))].1 == 0
            })
            .unwrap();
        limiter.check(&fresh).unwrap();
        limiter.check(&fresh).unwrap();
        let retry = limiter.check(&fresh).unwrap_err();
        // Its window began with its first event, not at the eviction two seconds before.
        assert!(retry > window - Duration::from_secs(1), "{retry:?}");
    }
}
