//! Sign-in attempts per account, so that guessing a password takes time (pupils have every
//! reason to try their teacher's).
//!
//! After [`SignInThrottle::FREE_ATTEMPTS`] wrong passwords an account refuses sign-in for
//! [`SignInThrottle::FIRST_LOCK`], twice as long after each further failure, at most
//! [`SignInThrottle::MAX_LOCK`]; a success clears the count, failures older than `MAX_LOCK` are
//! forgotten, and an admin lifting the lock or setting a new password clears it too.
//!
//! A check in flight uses up one of the free attempts until it ends, so that parallel guesses
//! cannot slip past the count; but it is not a failure. A sign-in that finds the free attempts
//! taken by checks in flight waits for one of them to end (one account signing in on a class's
//! devices at once is ordinary) instead of being refused as if it had failed. Once the account
//! is locked, waiting sign-ins are refused with the time left. Sessions already open are not
//! affected. Kept in memory: a restart forgets the counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct SignInThrottle {
    accounts: Mutex<HashMap<String, Attempts>>,
    /// Woken whenever a check ends, for the sign-ins waiting for a free attempt.
    check_ended: tokio::sync::Notify,
    /// Sign-ins refused with a wrong username or password, since start (for `/metrics`).
    wrong_credentials: AtomicU64,
    /// Sign-ins refused unchecked because the account was locked, since start.
    refused_while_locked: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attempts {
    /// Wrong passwords since the last success (or since they were forgotten).
    failed: u32,
    /// When the last of them was found wrong.
    last_failure: Instant,
    /// Checks started and not yet ended.
    in_flight: u32,
}

/// Whether a sign-in may have its password checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Check it; the check is counted as in flight until [`SignInThrottle::ended`].
    Check,
    /// The account is locked for this long.
    Locked(Duration),
    /// The attempts the account has left are all being checked; wait for one to end.
    Wait,
}

/// How a password check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    Right,
    Wrong,
    /// It could not be decided (a database error): neither a success nor a failure.
    Undecided,
}

/// Why a sign-in was not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Locked(Duration),
    /// Waited [`SignInThrottle::LONGEST_WAIT`] for a free attempt without getting one.
    Busy,
}

impl SignInThrottle {
    pub const FREE_ATTEMPTS: u32 = 5;
    pub const FIRST_LOCK: Duration = Duration::from_secs(60);
    pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
    /// How long a sign-in waits for a check in flight on its account to end. A check takes
    /// tens of milliseconds; this only runs out when the server is overwhelmed.
    pub const LONGEST_WAIT: Duration = Duration::from_secs(10);
    /// Accounts tracked before stale entries are dropped (unknown usernames count too).
    const MAX_TRACKED: usize = 10_000;

    /// Usernames compare without case, as the users table does.
    pub(crate) fn key(username: &str) -> String {
        username.trim().to_ascii_lowercase()
    }

    fn lock_after(failed: u32) -> Option<Duration> {
        let doublings = failed.checked_sub(Self::FREE_ATTEMPTS)?;
        Some(
            Self::FIRST_LOCK
                .saturating_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX))
                .min(Self::MAX_LOCK),
        )
    }

    fn accounts(&self) -> MutexGuard<'_, HashMap<String, Attempts>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `username` may have a password checked, and counts the check as in flight:
    /// end it with [`CheckInFlight::ended`]. Refused while the account is locked, or when no
    /// attempt came free within [`Self::LONGEST_WAIT`].
    pub async fn begin_check(&self, username: &str) -> Result<CheckInFlight<'_>, Refusal> {
        let deadline = tokio::time::Instant::now() + Self::LONGEST_WAIT;
        loop {
            // Registered before looking, so that a check ending in between still wakes us.
            let check_ended = self.check_ended.notified();
            tokio::pin!(check_ended);
            check_ended.as_mut().enable();
            match self.admit(username, Instant::now()) {
                Admission::Check => {
                    return Ok(CheckInFlight {
                        throttle: self,
                        username: username.to_owned(),
                        ended: false,
                    });
                }
                Admission::Locked(left) => return Err(Refusal::Locked(left)),
                Admission::Wait => {
                    if tokio::time::timeout_at(deadline, check_ended)
                        .await
                        .is_err()
                    {
                        return Err(Refusal::Busy);
                    }
                }
            }
        }
    }

    /// Decides whether `username` may have a password checked at `now`; a check is counted as
    /// in flight.
    fn admit(&self, username: &str, now: Instant) -> Admission {
        let mut accounts = self.accounts();
        if accounts.len() >= Self::MAX_TRACKED {
            Self::make_room(&mut accounts, now);
        }
        let entry = accounts.entry(Self::key(username)).or_insert(Attempts {
            failed: 0,
            last_failure: now,
            in_flight: 0,
        });
        if now.saturating_duration_since(entry.last_failure) >= Self::MAX_LOCK {
            entry.failed = 0;
        }
        // While unlocked: the free attempts left; once a lock has run out: one try at a time.
        let attempts_left = match Self::lock_after(entry.failed) {
            None => Self::FREE_ATTEMPTS - entry.failed,
            Some(lock) => {
                let waited = now.saturating_duration_since(entry.last_failure);
                if waited < lock {
                    self.refused_while_locked.fetch_add(1, Relaxed);
                    return Admission::Locked(lock - waited);
                }
                1
            }
        };
        if entry.in_flight >= attempts_left {
            return Admission::Wait;
        }
        entry.in_flight += 1;
        Admission::Check
    }

    /// Forgets stale counts first, then those that lock nothing yet, so that memory stays
    /// bounded even when someone tries thousands of usernames. Checks in flight are kept.
    fn make_room(accounts: &mut HashMap<String, Attempts>, now: Instant) {
        accounts.retain(|_, a| {
            a.in_flight > 0 || now.saturating_duration_since(a.last_failure) < Self::MAX_LOCK
        });
        if accounts.len() >= Self::MAX_TRACKED {
            accounts.retain(|_, a| a.in_flight > 0 || a.failed >= Self::FREE_ATTEMPTS);
        }
        if accounts.len() >= Self::MAX_TRACKED {
            accounts.retain(|_, a| a.in_flight > 0);
        }
    }

    /// Ends a check [`Self::admit`] let through, and wakes the sign-ins waiting for it.
    fn ended(&self, username: &str, outcome: CheckOutcome, now: Instant) {
        {
            let mut accounts = self.accounts();
            let key = Self::key(username);
            if let Some(entry) = accounts.get_mut(&key) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
                match outcome {
                    CheckOutcome::Right => entry.failed = 0,
                    CheckOutcome::Wrong => {
                        entry.failed += 1;
                        entry.last_failure = now;
                    }
                    CheckOutcome::Undecided => {}
                }
                if entry.failed == 0 && entry.in_flight == 0 {
                    accounts.remove(&key);
                }
            }
        }
        if outcome == CheckOutcome::Wrong {
            self.wrong_credentials.fetch_add(1, Relaxed);
        }
        self.check_ended.notify_waiters();
    }

    /// The accounts refusing sign-in at `now`: (username key, failed attempts, time left).
    pub fn locked(&self, now: Instant) -> Vec<(String, u32, Duration)> {
        self.accounts()
            .iter()
            .filter_map(|(key, attempts)| {
                let lock = Self::lock_after(attempts.failed)?;
                let left =
                    lock.checked_sub(now.saturating_duration_since(attempts.last_failure))?;
                (!left.is_zero()).then(|| (key.clone(), attempts.failed, left))
            })
            .collect()
    }

    /// (sign-ins refused for wrong credentials, sign-ins refused while locked) since start.
    pub fn refusals(&self) -> (u64, u64) {
        (
            self.wrong_credentials.load(Relaxed),
            self.refused_while_locked.load(Relaxed),
        )
    }

    /// An admin lifting the lock, or a new password: the account starts afresh (checks in
    /// flight still end as they end).
    pub fn clear(&self, username: &str) {
        let mut accounts = self.accounts();
        let key = Self::key(username);
        if let Some(entry) = accounts.get_mut(&key) {
            entry.failed = 0;
            if entry.in_flight == 0 {
                accounts.remove(&key);
            }
        }
        drop(accounts);
        self.check_ended.notify_waiters();
    }
}

/// A password check counted against its account until it ends; dropped without an outcome
/// (an error or a cancelled request) it ends undecided. A guess whose request was cancelled
/// need not count: nobody learns its answer.
#[derive(Debug)]
pub struct CheckInFlight<'a> {
    throttle: &'a SignInThrottle,
    username: String,
    ended: bool,
}

impl CheckInFlight<'_> {
    pub fn ended(mut self, outcome: CheckOutcome) {
        self.ended = true;
        self.throttle.ended(&self.username, outcome, Instant::now());
    }
}

impl Drop for CheckInFlight<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.throttle
                .ended(&self.username, CheckOutcome::Undecided, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckOutcome::{Right, Wrong};

    /// Fails `username`'s free attempts at `at`, each of them admitted and found wrong: the
    /// account is then locked.
    fn use_up_free_attempts(throttle: &SignInThrottle, username: &str, at: Instant) {
        for _ in 0..SignInThrottle::FREE_ATTEMPTS {
            assert_eq!(throttle.admit(username, at), Admission::Check);
            throttle.ended(username, Wrong, at);
        }
    }

    #[test]
    fn failed_sign_ins_lock_the_account_for_longer_each_time() {
        let throttle = SignInThrottle::default();
        let start = Instant::now();
        use_up_free_attempts(&throttle, "Wang", start);
        // Locked for a minute, whatever the case of the name; another account is not.
        assert_eq!(
            throttle.admit("wang", start + Duration::from_secs(10)),
            Admission::Locked(Duration::from_secs(50))
        );
        assert_eq!(throttle.admit("li", start), Admission::Check);
        // After the minute, one more try; failing it doubles the lock.
        let later = start + SignInThrottle::FIRST_LOCK;
        assert_eq!(throttle.admit("wang", later), Admission::Check);
        throttle.ended("wang", Wrong, later);
        assert_eq!(
            throttle.admit("wang", later),
            Admission::Locked(Duration::from_secs(120))
        );
        // The lock never exceeds MAX_LOCK.
        let mut now = later;
        for _ in 0..20 {
            now += SignInThrottle::MAX_LOCK - Duration::from_secs(1);
            if throttle.admit("wang", now) == Admission::Check {
                throttle.ended("wang", Wrong, now);
            }
        }
        let Admission::Locked(left) = throttle.admit("wang", now) else {
            panic!("not locked")
        };
        assert!(left <= SignInThrottle::MAX_LOCK, "{left:?}");
        // Clearing (an admin, a new password) lets the account in again.
        throttle.clear("WANG");
        assert_eq!(throttle.admit("wang", now), Admission::Check);
    }

    #[test]
    fn checks_in_flight_make_others_wait_but_are_not_failures() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..SignInThrottle::FREE_ATTEMPTS {
            assert_eq!(throttle.admit("wang", now), Admission::Check);
        }
        // Every free attempt is being checked: the next waits, and nothing is locked.
        assert_eq!(throttle.admit("wang", now), Admission::Wait);
        assert_eq!(throttle.locked(now), vec![]);
        // A right password frees its attempt and clears the failures.
        throttle.ended("wang", Right, now);
        assert_eq!(throttle.admit("wang", now), Admission::Check);
        // Wrong ones still count once they end: four wrong, one attempt left, taken.
        for _ in 0..4 {
            throttle.ended("wang", Wrong, now);
        }
        assert_eq!(throttle.admit("wang", now), Admission::Wait);
        throttle.ended("wang", Wrong, now);
        assert_eq!(
            throttle.admit("wang", now),
            Admission::Locked(SignInThrottle::FIRST_LOCK)
        );
        // A check dropped without an outcome counts as neither.
        throttle.clear("wang");
        let undecided = throttle.admit("wang", now);
        assert_eq!(undecided, Admission::Check);
        throttle.ended("wang", CheckOutcome::Undecided, now);
        assert!(throttle.accounts().is_empty());
    }

    #[tokio::test]
    async fn parallel_sign_ins_wait_for_a_free_attempt() {
        let throttle = std::sync::Arc::new(SignInThrottle::default());
        let held: Vec<_> = {
            let mut held = Vec::new();
            for _ in 0..SignInThrottle::FREE_ATTEMPTS {
                held.push(throttle.admit("wang", Instant::now()));
            }
            held
        };
        assert!(held.iter().all(|a| *a == Admission::Check));
        let waiting = tokio::spawn({
            let throttle = throttle.clone();
            async move {
                let check = throttle.begin_check("wang").await?;
                check.ended(Right);
                Ok::<_, Refusal>(())
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "went past five checks in flight");
        throttle.ended("wang", Right, Instant::now());
        assert_eq!(waiting.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn sign_ins_waiting_on_a_locking_failure_are_refused() {
        let throttle = std::sync::Arc::new(SignInThrottle::default());
        let now = Instant::now();
        for _ in 0..SignInThrottle::FREE_ATTEMPTS - 1 {
            throttle.admit("wang", now);
            throttle.ended("wang", Wrong, now);
        }
        assert_eq!(throttle.admit("wang", now), Admission::Check);
        let waiting = tokio::spawn({
            let throttle = throttle.clone();
            async move { throttle.begin_check("wang").await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        throttle.ended("wang", Wrong, Instant::now());
        assert!(matches!(
            waiting.await.unwrap(),
            Err(Refusal::Locked(left)) if left > Duration::from_secs(59)
        ));
    }

    #[test]
    fn locked_accounts_are_listed_with_the_time_left() {
        let throttle = SignInThrottle::default();
        let start = Instant::now();
        use_up_free_attempts(&throttle, "Wang", start);
        // Failures below the limit lock nothing.
        throttle.admit("li", start);
        throttle.ended("li", Wrong, start);
        assert_eq!(
            throttle.locked(start + Duration::from_secs(15)),
            vec![("wang".to_owned(), 5, Duration::from_secs(45))]
        );
        assert_eq!(throttle.locked(start + SignInThrottle::FIRST_LOCK), vec![]);
        throttle.clear("wang");
        assert_eq!(throttle.locked(start), vec![]);
    }

    #[test]
    fn thousands_of_usernames_keep_the_table_bounded() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        use_up_free_attempts(&throttle, "wang", now);
        for n in 0..3 * SignInThrottle::MAX_TRACKED {
            let name = format!("user{n}");
            assert_eq!(throttle.admit(&name, now), Admission::Check);
            throttle.ended(&name, Wrong, now);
        }
        let tracked = throttle.accounts().len();
        assert!(tracked <= SignInThrottle::MAX_TRACKED, "{tracked}");
        // The locked account stays locked.
        assert!(matches!(throttle.admit("wang", now), Admission::Locked(_)));
    }

    #[test]
    fn old_failures_are_forgotten() {
        let throttle = SignInThrottle::default();
        let start = Instant::now();
        use_up_free_attempts(&throttle, "wang", start);
        let much_later = start + SignInThrottle::MAX_LOCK;
        use_up_free_attempts(&throttle, "wang", much_later);
        assert!(matches!(
            throttle.admit("wang", much_later),
            Admission::Locked(_)
        ));
    }
}
