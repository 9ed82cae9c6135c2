//! The one error type that crosses the server/browser boundary.
//!
//! Server functions return `Result<T, AppError>`; the REST layer maps the same variants to HTTP
//! status codes and its own `{code, message, …}` objects (`AppError::body`). Database and other
//! internal failures are logged in full on the server and reach clients only as a generic
//! message.

use serde::{Deserialize, Serialize};

/// Serde's default (externally tagged) form: page data carries errors in postcard, which cannot
/// read an internally tagged enum back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(test, derive(strum::EnumDiscriminants))]
#[cfg_attr(test, strum_discriminants(name(ErrorKind), derive(strum::EnumIter)))]
#[serde(rename_all = "snake_case")]
pub enum AppError {
    /// Input that cannot be accepted; `field` names what to fix. `problem` says why in a form
    /// the interface can word in its own language, for the common problems (`message` is the
    /// same in English).
    #[error("{field}: {message}")]
    Validation {
        field: String,
        message: String,
        #[serde(default)]
        problem: Option<Problem>,
    },
    /// `missing` names the record for the interface to word, where it is one of ours.
    #[error("not found: {what}")]
    NotFound {
        what: String,
        #[serde(default)]
        missing: Option<Missing>,
    },
    #[error("{message}")]
    Unauthorized { message: String },
    /// `denial` is the common reason, for the interface to word in its own language.
    #[error("not allowed: {message}")]
    Forbidden {
        message: String,
        #[serde(default)]
        denial: Option<Denial>,
    },
    /// `clash` is what clashed, for the interface to word in its own language.
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        #[serde(default)]
        clash: Option<Clash>,
    },
    /// A configured rule refused the operation; `rule` names it, `details` holds its figures
    /// so that the interface can say the same in the teacher's language.
    #[error("rule {rule} refused the operation: {message}")]
    RuleViolation {
        rule: String,
        message: String,
        #[serde(default)]
        details: RuleDetails,
    },
    /// Too many failed sign-ins for an account: it is locked for `retry_after_seconds`.
    #[error("{message}")]
    TooManyAttempts {
        message: String,
        retry_after_seconds: u64,
    },
    /// Temporarily unable to serve (for example the database stayed busy after retries).
    #[error("temporarily unavailable: {message}")]
    Unavailable { message: String },
    /// Something failed on the server; details are in the server log.
    #[error("internal error: {message}")]
    Internal { message: String },
}

/// Why a field's value was refused, for the problems many fields share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(strum::EnumDiscriminants))]
#[cfg_attr(test, strum_discriminants(name(ProblemKind), derive(strum::EnumIter)))]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    Empty,
    TooLong {
        max_chars: usize,
    },
    TooShort {
        min_chars: usize,
    },
    ControlCharacters,
    Zero,
    OutOfRange {
        min: i64,
        max: i64,
    },
    /// A list with fewer or more entries than it may have.
    TooFew {
        min_items: usize,
    },
    TooMany {
        max_items: usize,
    },
    /// A bound that may also be left unset (null: no bound).
    OutOfRangeOrNull {
        min: i64,
        max: i64,
    },
    /// Text where a whole number belongs (a form's number field).
    NotWholeNumber,
    /// The same, for a field that may also be left empty.
    NotWholeNumberOrEmpty,
    /// Not one of our ids (`len` lowercase letters and digits): a mistyped or cut-off link.
    NotAnId {
        len: usize,
    },
    /// A username with characters or a length sign-in names may not have.
    NotAUsername,
    /// An upload larger than the server takes.
    TooLarge {
        max_kib: usize,
    },
    /// A roster file whose header names no class or no name column.
    NoRosterColumns,
    /// The student was archived (perhaps on another device since the page was loaded).
    Archived,
    /// A whole-class or group award that reaches no student.
    NoStudents,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "must not be empty"),
            Self::TooLong { max_chars } => write!(f, "must be at most {max_chars} characters"),
            Self::TooShort { min_chars } => write!(f, "must be at least {min_chars} characters"),
            Self::ControlCharacters => write!(f, "must not contain control characters"),
            Self::Zero => write!(f, "must not be zero"),
            Self::TooFew { min_items } => write!(f, "must have {min_items} or more entries"),
            Self::TooMany { max_items } => write!(f, "must have at most {max_items} entries"),
            Self::OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            Self::OutOfRangeOrNull { min, max } => {
                write!(f, "must be between {min} and {max}, or null for none")
            }
            Self::NotWholeNumber => write!(f, "must be a whole number"),
            Self::NotWholeNumberOrEmpty => write!(f, "must be a whole number or empty"),
            Self::NotAnId { len } => {
                write!(
                    f,
                    "must be a {len}-character id of lowercase letters and digits"
                )
            }
            Self::NotAUsername => write!(f, "must be 1–64 letters, digits or . _ - @"),
            Self::TooLarge { max_kib } => write!(f, "must be at most {max_kib} KiB"),
            Self::NoRosterColumns => write!(
                f,
                "the header must name a class column (class or 班级) and a name column (name or 姓名)"
            ),
            Self::Archived => write!(f, "is archived"),
            Self::NoStudents => write!(f, "selects no students"),
        }
    }
}

/// The kinds of record a request can name by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(strum::EnumIter))]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Student,
    Class,
    Group,
    User,
    Transaction,
    Batch,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Student => "student",
            Self::Class => "class",
            Self::Group => "group",
            Self::User => "user",
            Self::Transaction => "transaction",
            Self::Batch => "batch",
        })
    }
}

/// A record that was asked for and is not there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    pub record: Record,
    pub id: String,
}

/// Why a signed-in user may not do something, for the refusals people meet in the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(strum::EnumIter))]
#[serde(rename_all = "snake_case")]
pub enum Denial {
    /// A teacher acting on a class they do not teach.
    NotClassTeacher,
    AdminOnly,
}

/// What a write clashed with, for the clashes people meet in the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(strum::EnumIter))]
#[serde(rename_all = "snake_case")]
pub enum Clash {
    /// A record with the id asked for exists already.
    IdTaken,
    /// Undone before (from another device, or a second tap).
    AlreadyUndone,
    /// The class has a group of that name.
    GroupNameTaken,
    /// The class has a student with that number.
    StudentNoTaken,
    UsernameTaken,
    /// Deactivating the last active admin would lock everyone out of the admin pages.
    LastActiveAdmin,
}

/// The figures behind a rule's refusal (which of them a rule fills depends on the rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDetails {
    /// The configured bound: the largest change, the daily cap, the lowest balance.
    pub limit: Option<i64>,
    /// The figure that broke it: the change asked for, the points awarded today, the balance
    /// the change would leave.
    pub actual: Option<i64>,
    /// In a batch, the student the refusal is about.
    pub student_id: Option<String>,
}

impl AppError {
    /// A refused field, with the reason in the server's words only.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
            problem: None,
        }
    }

    /// A refused field, for a problem the interface words in its own language.
    pub fn invalid(field: impl Into<String>, problem: Problem) -> Self {
        Self::Validation {
            field: field.into(),
            message: problem.to_string(),
            problem: Some(problem),
        }
    }

    /// A refused field, for a problem the interface words in its own language, where the
    /// server's words say more (which student, which value) than the problem alone.
    pub fn invalid_saying(
        field: impl Into<String>,
        problem: Problem,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
            problem: Some(problem),
        }
    }

    /// No `record` with this `id`.
    pub fn not_found(record: Record, id: &str) -> Self {
        Self::NotFound {
            what: format!("{record} {id}"),
            missing: Some(Missing {
                record,
                id: id.to_owned(),
            }),
        }
    }

    /// A refusal the interface shows in the server's words.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
            denial: None,
        }
    }

    /// A teacher acting on a class they do not teach.
    pub fn not_class_teacher(class_id: &str) -> Self {
        Self::Forbidden {
            message: format!("you are not a teacher of class {class_id}"),
            denial: Some(Denial::NotClassTeacher),
        }
    }

    /// Only an admin may `what` ("change the rules").
    pub fn admin_only(what: &str) -> Self {
        Self::Forbidden {
            message: format!("only an admin may {what}"),
            denial: Some(Denial::AdminOnly),
        }
    }

    /// A write that clashed with what is stored.
    pub fn clash(clash: Clash, message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            clash: Some(clash),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
        }
    }
}

/// The message a panic carried (`panic!` with a literal or a formatted string), for the log.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    // Postcard, like the replies (`crate::api::Reply`): a JSON error would keep a JSON
    // deserializer for every kind of error in the browser bundle.
    type Encoder = leptos::server_fn::codec::PostcardEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            // A body over the size limit ends in a read error, which reaches here as its words.
            E::Deserialization(message)
                if message == crate::api::request_too_large().to_string() =>
            {
                Self::invalid("request", crate::api::request_too_large())
            }
            E::Args(message) | E::MissingArg(message) | E::Deserialization(message) => {
                Self::validation("request", message)
            }
            E::Request(message) | E::Response(message) => Self::Unavailable { message },
            other => Self::internal(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<rusqlite::Error> for AppError {
    fn from(error: rusqlite::Error) -> Self {
        tracing::error!(%error, "database error in the writer");
        match error.sqlite_error_code() {
            // The disk refused the write (full, a size limit, a failing device): the
            // transaction is rolled back, and the same request can be sent again once the
            // server has room.
            Some(rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure) => {
                Self::Unavailable {
                    message: "the server cannot write to its database (disk full or failing); \
                              nothing was saved, try again later"
                        .into(),
                }
            }
            _ => Self::internal("database error"),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "database error");
        Self::internal("database error")
    }
}

/// A batch's overdraft refused by the lowest-balance rule, with all its figures (for tests).
#[cfg(test)]
pub(crate) fn refused_overdraft() -> AppError {
    AppError::RuleViolation {
        rule: "min_balance".into(),
        message: "balance -1 would fall below the minimum 0".into(),
        details: RuleDetails {
            limit: Some(0),
            actual: Some(-1),
            student_id: Some("s1".into()),
        },
    }
}

/// One error of each kind, with every field filled (for tests of how errors travel and read).
#[cfg(test)]
pub(crate) fn one_of_each_kind() -> Vec<AppError> {
    vec![
        AppError::invalid("points_change", Problem::Zero),
        AppError::validation("at", "must be an RFC 3339 timestamp"),
        AppError::not_found(Record::Student, "7"),
        AppError::NotFound {
            what: "API endpoint".into(),
            missing: None,
        },
        AppError::unauthorized("sign in first"),
        AppError::not_class_teacher("c1"),
        AppError::forbidden("this account is deactivated"),
        AppError::clash(Clash::UsernameTaken, "a user li already exists"),
        AppError::Conflict {
            message: "idempotency key k was already used".into(),
            clash: None,
        },
        refused_overdraft(),
        AppError::TooManyAttempts {
            message: "try again in 60 s".into(),
            retry_after_seconds: 60,
        },
        AppError::Unavailable {
            message: "busy".into(),
        },
        AppError::internal("database error"),
    ]
}

/// Fails naming each kind in `every` that no sample is of: tests that word or carry one
/// sample per kind call it with the enum's own list, so a kind added later cannot be missed.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_a_sample_of_each<K: PartialEq + std::fmt::Debug>(
    every: impl IntoIterator<Item = K>,
    samples: impl IntoIterator<Item = K>,
) {
    let samples: Vec<K> = samples.into_iter().collect();
    let missing: Vec<K> = every.into_iter().filter(|k| !samples.contains(k)).collect();
    assert!(missing.is_empty(), "no sample of {missing:?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use codee::{Decoder, Encoder, binary::PostcardCodec};
    use strum::IntoEnumIterator;

    #[test]
    fn one_of_each_kind_has_every_kind() {
        let errors = one_of_each_kind();
        assert_a_sample_of_each(ErrorKind::iter(), errors.iter().map(ErrorKind::from));
    }

    /// A server function's error reaches the browser as `FromServerFnError` encodes it, and
    /// an error inside a page's data (rendered into the HTML) as postcard.
    #[test]
    fn every_error_survives_both_transports() {
        use leptos::server_fn::error::FromServerFnError;
        for error in one_of_each_kind() {
            assert_eq!(AppError::de(error.ser()), error);
            let wrapped: Result<u32, AppError> = Err(error.clone());
            let bytes = PostcardCodec::encode(&wrapped).unwrap();
            let back: Result<u32, AppError> = PostcardCodec::decode(&bytes).unwrap();
            assert_eq!(back, wrapped);
        }
    }

    /// API clients read the message; the problem must not change what it says.
    #[test]
    fn a_problem_reads_as_the_messages_always_did() {
        let cases = [
            (Problem::Empty, "must not be empty"),
            (
                Problem::TooLong { max_chars: 100 },
                "must be at most 100 characters",
            ),
            (
                Problem::TooShort { min_chars: 8 },
                "must be at least 8 characters",
            ),
            (
                Problem::ControlCharacters,
                "must not contain control characters",
            ),
            (Problem::Zero, "must not be zero"),
            (
                Problem::OutOfRange {
                    min: -1000,
                    max: 1000,
                },
                "must be between -1000 and 1000",
            ),
            (
                Problem::TooFew { min_items: 1 },
                "must have 1 or more entries",
            ),
            (
                Problem::TooMany { max_items: 12 },
                "must have at most 12 entries",
            ),
            (
                Problem::OutOfRangeOrNull { min: 1, max: 1000 },
                "must be between 1 and 1000, or null for none",
            ),
        ];
        for (problem, message) in cases {
            assert_eq!(
                AppError::invalid("reason", problem).to_string(),
                format!("reason: {message}")
            );
        }
    }

    #[test]
    fn messages_name_the_field_and_the_rule() {
        let error = AppError::validation("points_change", "must not be zero");
        assert_eq!(error.to_string(), "points_change: must not be zero");
        let rule = refused_overdraft();
        assert!(
            rule.to_string().starts_with("rule min_balance refused"),
            "{rule}"
        );
        assert_eq!(
            AppError::not_found(Record::Group, "g1").to_string(),
            "not found: group g1"
        );
        assert_eq!(
            AppError::not_class_teacher("c1").to_string(),
            "not allowed: you are not a teacher of class c1"
        );
    }
}
