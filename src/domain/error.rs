//! Domain errors. Each maps to one GraphQL `extensions.code`; the GraphQL layer does the
//! mapping, the domain only says what went wrong and where.

use serde_json::Value as Json;

///
/// Deliberately not `Display`: async-graphql converts any `Display` error into a GraphQL
/// error without a code, and every domain error must carry one.
#[derive(Debug)]
pub enum DomainError {
    NotFound(String),
    BadInput { field: String, message: String },
    Conflict { message: String, details: Json },
    Forbidden(String),
    Unauthenticated(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for DomainError {
    fn from(e: anyhow::Error) -> Self {
        DomainError::Internal(e)
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    /// The GraphQL `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::NotFound(_) => "NOT_FOUND",
            DomainError::BadInput { .. } => "BAD_USER_INPUT",
            DomainError::Conflict { .. } => "CONFLICT",
            DomainError::Forbidden(_) => "FORBIDDEN",
            DomainError::Unauthenticated(_) => "UNAUTHENTICATED",
            DomainError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message shown to clients; internal details stay in the log.
    pub fn message(&self) -> String {
        match self {
            DomainError::NotFound(m) | DomainError::Forbidden(m) | DomainError::Unauthenticated(m) => m.clone(),
            DomainError::BadInput { message, .. } | DomainError::Conflict { message, .. } => message.clone(),
            DomainError::Internal(_) => "internal error".into(),
        }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::BadInput { field: field.into(), message: message.into() }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        DomainError::NotFound(format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<String>, details: Json) -> Self {
        DomainError::Conflict { message: message.into(), details }
    }
}

impl From<diesel::result::Error> for DomainError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => DomainError::NotFound("not found".into()),
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                DomainError::conflict(format!("concurrent update, retry: {}", info.message()), Json::Null)
            }
            // PostgreSQL text cannot hold NUL characters; that is the client's input.
            Error::DatabaseError(_, info) if info.message().contains("invalid byte sequence") => {
                DomainError::bad_input("input", "text must not contain NUL (\\u0000) characters")
            }
            other => DomainError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for DomainError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        DomainError::Internal(anyhow::anyhow!("database pool: {e}"))
    }
}
