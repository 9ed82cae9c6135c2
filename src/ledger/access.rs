//! Sign-in: password hashes and tokens (server only). Verifying is a read; issuing and revoking
//! tokens and setting passwords are writes and go through the writer like every other write.

use super::throttle::{CheckOutcome, Refusal};
use super::{Actor, clock, ids::new_id, roster::require_admin};
use crate::{
    error::{AppError, Problem},
    model::Role,
};
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;

/// Shortest password accepted for a new account.
pub const MIN_PASSWORD_LEN: usize = 8;
/// How long a browser session lasts.
pub const SESSION_DAYS: i64 = 30;

/// Hashes a password with Argon2id (PHC string). Slow on purpose: run it off the async threads.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::invalid(
            "password",
            Problem::TooShort {
                min_chars: MIN_PASSWORD_LEN,
            },
        ));
    }
    if password.len() > 1024 {
        return Err(AppError::validation(
            "password",
            "must be at most 1024 bytes",
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal(format!("cannot hash password: {e}")))
}

/// [`hash_password`] on a blocking thread, for async callers.
pub async fn hash_password_off_thread(password: String) -> Result<String, AppError> {
    PASSWORD_WORK.run(move || hash_password(&password)).await?
}

/// Password hashes and checks running at once, and waiting to run.
///
/// Each takes a core and a 19 MiB block for ~20 ms, and sign-in takes them from anyone: a
/// check runs for an unknown username too (so that it costs the same time as a wrong
/// password), which the per-account throttle cannot count. Unbounded, 64 sign-ins with
/// made-up usernames at once took the release server from 26 to 848 – 1 057 MB resident
/// (BENCHMARKS.md); a few hundred would run a small school server out of memory. Running more
/// at once than there are cores buys nothing but memory, so that many run and the rest wait
/// their turn; past [`PasswordWork::MAX_WAITING`] waiting, a sign-in is refused at once (503,
/// try again).
pub struct PasswordWork {
    running: std::sync::Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

/// The process's one queue for password work (it shares the machine's cores and memory).
static PASSWORD_WORK: std::sync::LazyLock<PasswordWork> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    PasswordWork::new(cores, PasswordWork::MAX_WAITING)
});

impl PasswordWork {
    /// At ~20 ms a check, a few seconds' wait on two cores.
    pub const MAX_WAITING: usize = 256;

    fn new(at_once: usize, max_waiting: usize) -> Self {
        Self {
            running: std::sync::Arc::new(tokio::sync::Semaphore::new(at_once.max(1))),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// Runs `work` on a blocking thread once its turn comes (then returns the memory it
    /// freed, see [`with_memory_returned`]); `Unavailable` if too many are waiting already.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let turn = match self.running.clone().try_acquire_owned() {
            Ok(turn) => turn,
            Err(_) => self.wait_for_turn().await?,
        };
        // The turn moves into the thread: a sign-in abandoned meanwhile does not free it while
        // its hash still runs.
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            with_memory_returned(work)
        })
        .await
        .map_err(|e| AppError::internal(format!("password work failed: {e}")))
    }

    async fn wait_for_turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        use std::sync::atomic::Ordering;
        /// Counts a waiter until it gets its turn or gives up (a closed connection).
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let waiting = Waiting(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            drop(waiting);
            return Err(AppError::Unavailable {
                message: "too many sign-ins at once; try again in a moment".into(),
            });
        }
        let turn = self.running.clone().acquire_owned().await;
        drop(waiting);
        // The semaphore is never closed.
        turn.map_err(|_| AppError::internal("password work queue closed"))
    }
}

/// Runs `work` (a password hash or check), then returns the memory it freed to the system.
///
/// Argon2 fills a 19 MiB block for every hash. The server's allocator (mimalloc) keeps what a
/// thread frees for that thread's next allocations, and a blocking thread can sit idle for
/// minutes after a sign-in: each thread that had checked a password kept ~19 MB resident (the
/// demo school's three accounts alone left the idle server at 53 MB instead of 32). A forced
/// collection on the same thread hands it back at once. Its price, with the pages the next hash
/// touches afresh, is within the noise of a sign-in (median 17 – 24 ms before, 21 – 26 after).
///
/// Collections take turns: mimalloc hands freed memory back on one thread at a time, and a
/// collection that finds another one doing so skips it, so of several sign-ins at once the
/// block of one could stay resident until the server next got busy.
fn with_memory_returned<T>(work: impl FnOnce() -> T) -> T {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let result = work();
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // SAFETY: a plain call into the allocator, valid on any thread at any time; without
    // mimalloc as the global allocator (tests) it only tidies mimalloc's own empty heap.
    unsafe { libmimalloc_sys::mi_collect(true) };
    result
}

/// Checks a password against a stored hash; a missing or unreadable hash never matches.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    // Compare against a throwaway hash when the user has none, so an unknown username costs
    // the same time as a wrong password.
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        hash_password("no such user, no such password").expect("hashing a fixed password")
    });
    let parsed = PasswordHash::new(stored.unwrap_or(DUMMY.as_str()));
    match parsed {
        Ok(hash) => {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
                && stored.is_some()
        }
        Err(_) => false,
    }
}

/// [`verify_password`] on a blocking thread, for async callers.
async fn verify_password_off_thread(
    password: &str,
    stored: Option<String>,
) -> Result<bool, AppError> {
    let password = password.to_owned();
    PASSWORD_WORK
        .run(move || verify_password(&password, stored.as_deref()))
        .await
}

/// Whether `password` is the account's (false for an unknown account or one without one).
pub async fn password_matches(
    pool: &SqlitePool,
    user_id: &str,
    password: &str,
) -> Result<bool, AppError> {
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    match stored.flatten() {
        Some(stored) => verify_password_off_thread(password, Some(stored)).await,
        None => Ok(false),
    }
}

/// A new random token (shown to its owner once) and the hash that is stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("cp_{token}");
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Session,
    Api,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }
}

/// Issue a token for `user_id`; only the hash travels to the writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub user_id: String,
    pub token_hash: String,
    pub kind: TokenKind,
    pub name: String,
    pub expires_at: Option<String>,
}

/// A signed-in user as the adapters see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub id: String,
    pub username: String,
    pub name: String,
    pub role: Role,
}

impl SignedIn {
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.id.clone(),
            role: self.role,
        }
    }
}

/// The user behind a token, if the token is known, unrevoked, unexpired and its user active.
/// Answers from `cache` when it can; see [`TokenCache`].
pub async fn user_for_token(
    pool: &SqlitePool,
    cache: &TokenCache,
    token: &str,
) -> Result<Option<SignedIn>, AppError> {
    let hash = token_hash(token);
    let now = clock::now();
    if let Some(user) = cache.get(&hash, &now) {
        return Ok(Some(user));
    }
    let generation = cache.generation();
    let row: Option<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT u.id, u.username, u.name, u.role, t.expires_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.active = 1 \
         AND (t.expires_at IS NULL OR t.expires_at > ?)",
    )
    .bind(&hash)
    .bind(&now)
    .fetch_optional(pool)
    .await?;
    let Some((id, username, name, role, expires_at)) = row else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&role) else {
        return Ok(None);
    };
    let user = SignedIn {
        id,
        username,
        name,
        role,
    };
    cache.put(hash, user.clone(), expires_at, generation);
    Ok(Some(user))
}

/// Signed-in users by token hash, so checking a token usually costs no database round trip
/// (at high request rates that lookup was the largest cost of a request).
///
/// Correctness: the writer calls [`TokenCache::invalidate`] after committing any change to
/// tokens or accounts (a revoke, a deactivation, a new password) and before acknowledging
/// it, so no request that starts after the acknowledgement sees a stale entry. An entry
/// filled from a read that began before an invalidation carries the older generation and is
/// ignored. Entries also lapse after [`TokenCache::TTL`], and never outlive the token.
#[derive(Debug, Default)]
pub struct TokenCache {
    generation: std::sync::atomic::AtomicU64,
    entries: std::sync::Mutex<std::collections::HashMap<String, CachedUser>>,
}

#[derive(Debug, Clone)]
struct CachedUser {
    user: SignedIn,
    expires_at: Option<String>,
    cached_at: std::time::Instant,
    generation: u64,
}

impl TokenCache {
    /// Longest an entry is trusted without asking the database again.
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(60);
    /// Entries kept at most; past this the cache starts over.
    const CAPACITY: usize = 10_000;

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, CachedUser>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, hash: &str, now: &str) -> Option<SignedIn> {
        let generation = self.generation();
        let entries = self.entries();
        let cached = entries.get(hash)?;
        let fresh = cached.generation == generation
            && cached.cached_at.elapsed() < Self::TTL
            && cached.expires_at.as_deref().is_none_or(|at| at > now);
        fresh.then(|| cached.user.clone())
    }

    fn put(&self, hash: String, user: SignedIn, expires_at: Option<String>, generation: u64) {
        let mut entries = self.entries();
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(
            hash,
            CachedUser {
                user,
                expires_at,
                cached_at: std::time::Instant::now(),
                generation,
            },
        );
    }

    /// Forgets every entry; called when tokens or accounts changed.
    pub fn invalidate(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.entries().clear();
    }
}

/// Username and password check; `None` for an unknown user, a wrong password or an inactive
/// account (the caller answers all three the same way).
pub async fn check_credentials(
    pool: &SqlitePool,
    username: &str,
    password: &str,
) -> Result<Option<SignedIn>, AppError> {
    let row: Option<(String, String, String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT id, username, name, role, password_hash, active FROM users WHERE username = ?",
    )
    .bind(username.trim())
    .fetch_optional(pool)
    .await?;
    let stored = row.as_ref().and_then(|r| r.4.clone());
    let matches = verify_password_off_thread(password, stored).await?;
    Ok(match row {
        Some((id, username, name, role, _, true)) if matches => {
            Role::parse(&role).map(|role| SignedIn {
                id,
                username,
                name,
                role,
            })
        }
        _ => None,
    })
}

/// Checks a username and password and issues a browser session token for them.
/// Returns the token (to set as a cookie) and the user; 401 on bad credentials, 429 while the
/// account is locked after failed attempts ([`super::throttle::SignInThrottle`]).
pub async fn sign_in(
    ledger: &super::Ledger,
    username: &str,
    password: &str,
) -> Result<(String, SignedIn), AppError> {
    let check = match ledger.sign_in_throttle().begin_check(username).await {
        Ok(check) => check,
        Err(Refusal::Locked(wait)) => {
            let seconds = wait.as_secs().max(1);
            return Err(AppError::TooManyAttempts {
                message: format!(
                    "too many failed sign-ins for this account; try again in {}",
                    if seconds < 90 {
                        format!("{seconds} s")
                    } else {
                        format!("{} min", seconds.div_ceil(60))
                    }
                ),
                retry_after_seconds: seconds,
            });
        }
        Err(Refusal::Busy) => {
            return Err(AppError::Unavailable {
                message: "too many sign-ins to this account at once; try again".into(),
            });
        }
    };
    let Some(user) = check_credentials(ledger.db().pool(), username, password).await? else {
        check.ended(CheckOutcome::Wrong);
        return Err(AppError::unauthorized("wrong username or password"));
    };
    check.ended(CheckOutcome::Right);
    let (token, token_hash) = new_token();
    let expires = chrono::Utc::now() + chrono::Duration::days(SESSION_DAYS);
    ledger
        .run(
            user.actor(),
            super::Command::IssueToken(NewToken {
                user_id: user.id.clone(),
                token_hash,
                kind: TokenKind::Session,
                name: "browser session".into(),
                expires_at: Some(clock::format(expires)),
            }),
        )
        .await?;
    Ok((token, user))
}

/// Writer side: store a token. Users may issue tokens for themselves; admins for anyone.
pub(crate) fn issue_token(
    conn: &Connection,
    actor: &Actor,
    token: &NewToken,
) -> Result<String, AppError> {
    let own = matches!(actor, Actor::User { id, .. } if *id == token.user_id);
    if !own {
        require_admin(actor, "issue tokens for other users")?;
    }
    let name = token.name.trim();
    if name.chars().count() > 100 {
        return Err(AppError::invalid(
            "name",
            Problem::TooLong { max_chars: 100 },
        ));
    }
    let active: Option<bool> = conn
        .prepare_cached("SELECT active FROM users WHERE id = ?")?
        .query_row([&token.user_id], |r| r.get(0))
        .optional()?;
    match active {
        None => {
            return Err(AppError::not_found(
                crate::error::Record::User,
                &token.user_id,
            ));
        }
        Some(false) => {
            return Err(AppError::forbidden("this account is deactivated"));
        }
        Some(true) => {}
    }
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO api_tokens (id, user_id, token_hash, kind, name, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        id,
        token.user_id,
        token.token_hash,
        token.kind.as_str(),
        name,
        clock::now(),
        token.expires_at
    ])?;
    Ok(id)
}

/// Writer side: revoke a token by its hash. Users may revoke their own; admins any.
pub(crate) fn revoke_token(
    conn: &Connection,
    actor: &Actor,
    token_hash: &str,
) -> Result<String, AppError> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT id, user_id FROM api_tokens WHERE token_hash = ?")?
        .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (id, owner) = row.ok_or_else(|| AppError::NotFound {
        what: "token".into(),
        missing: None,
    })?;
    if !matches!(actor, Actor::User { id, .. } if *id == owner) {
        require_admin(actor, "revoke other users' tokens")?;
    }
    conn.prepare_cached("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")?
        .execute(params![clock::now(), id])?;
    Ok(id)
}

/// Whether any active admin exists (the first one comes from the environment or the demo).
pub async fn has_admin(pool: &SqlitePool) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND active = 1)",
    )
    .fetch_one(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&hash)));
        assert!(!verify_password("wrong horse", Some(&hash)));
        assert!(!verify_password("correct horse", None));
        assert!(!verify_password("correct horse", Some("not a hash")));
        assert!(matches!(
            hash_password("short"),
            Err(AppError::Validation { field, .. }) if field == "password"
        ));
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("cp_") && a.len() == 67);
        assert_eq!(hash_a, token_hash(&a));
        assert_eq!(hash_a.len(), 64);
        assert!(!hash_a.contains(&a[3..]));
    }

    /// Runs work on `work` that holds its turn until the returned barrier is passed; returns
    /// once that work has started.
    fn holding_a_turn(
        work: &std::sync::Arc<PasswordWork>,
    ) -> (
        tokio::task::JoinHandle<Result<(), AppError>>,
        std::sync::Arc<std::sync::Barrier>,
    ) {
        let release = std::sync::Arc::new(std::sync::Barrier::new(2));
        let (started, started_seen) = std::sync::mpsc::channel();
        let holding = tokio::spawn({
            let (work, release) = (work.clone(), release.clone());
            async move {
                work.run(move || {
                    started.send(()).unwrap();
                    release.wait();
                })
                .await
            }
        });
        started_seen.recv().unwrap();
        (holding, release)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_work_runs_no_more_at_once_than_it_may() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let work = std::sync::Arc::new(PasswordWork::new(2, 100));
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let most = std::sync::Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (work, running, most) = (work.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    work.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_work_past_its_queue_is_refused_at_once_and_the_queue_goes_on() {
        let work = std::sync::Arc::new(PasswordWork::new(1, 2));
        let (holding, release) = holding_a_turn(&work);
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let work = work.clone();
                tokio::spawn(async move { work.run(|| 7).await })
            })
            .collect();
        while work.waiting.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let refused = work.run(|| 7).await;
        let busy = |message: &str| message.contains("too many sign-ins at once");
        assert!(
            matches!(&refused, Err(AppError::Unavailable { message }) if busy(message)),
            "{refused:?}"
        );
        release.wait();
        holding.await.unwrap().unwrap();
        for task in queued {
            assert_eq!(task.await.unwrap().unwrap(), 7);
        }
        assert_eq!(work.waiting.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sign_in_given_up_while_waiting_leaves_its_place_in_the_queue() {
        let work = std::sync::Arc::new(PasswordWork::new(1, 1));
        let (holding, release) = holding_a_turn(&work);
        let abandoned = tokio::spawn({
            let work = work.clone();
            async move { work.run(|| ()).await }
        });
        while work.waiting.load(std::sync::atomic::Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(work.waiting.load(std::sync::atomic::Ordering::SeqCst), 0);
        let next = tokio::spawn({
            let work = work.clone();
            async move { work.run(|| 7).await }
        });
        release.wait();
        holding.await.unwrap().unwrap();
        assert_eq!(next.await.unwrap().unwrap(), 7, "queued, not refused");
    }
}
