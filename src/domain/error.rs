//! Domain errors. Each maps to one GraphQL `extensions.code`; the GraphQL layer does the
//! mapping, the domain only says what went wrong and where.

use serde_json::Value as Json;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    BadInput { field: String, message: String },
    #[error("{message}")]
    Conflict { message: String, details: Json },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
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
                DomainError::conflict(
                    format!("concurrent update, retry: {}", info.message()),
                    Json::Null,
                )
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
