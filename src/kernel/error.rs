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

/// What each unique constraint or unique index means, in the words a client understands. A
/// violation of one of them is a CONFLICT with this message; the constraint's name and the
/// database's text stay in the server.
const UNIQUE_CONFLICTS: &[(&str, &str)] = &[
    ("users_email_key", "a user with this e-mail already exists"),
    ("roles_name_key", "a role with this name already exists"),
    ("role_permissions_key", "the role already has a line for this element type, pipeline and action"),
    ("user_roles_pkey", "the user already has this role"),
    ("status_items_list_kind_code_key", "another item of this list already has this code"),
    ("stages_pipeline_id_code_key", "another stage of this pipeline already has this code"),
    ("pipelines_one_default", "another pipeline is already the default"),
    ("custom_fields_element_type_code_key", "this element type already has a field with this code"),
    ("products_sku_key", "another product has this SKU"),
    ("companies_one_my_company", "another company is already marked as our own company"),
    ("contact_companies_pkey", "the contact is already linked to this company"),
    ("deal_contacts_pkey", "the contact is already linked to this deal"),
    ("lead_conversions_pkey", "the lead is already converted"),
    ("requisites_pkey", "the company already has requisites"),
    ("activity_bindings_pkey", "the activity is already bound to this element"),
    ("api_tokens_token_hash_key", "a token with this value already exists"),
];

/// The message for a violated unique constraint (a generic one for constraints not listed).
pub fn unique_conflict_message(constraint: Option<&str>) -> &'static str {
    constraint
        .and_then(|c| UNIQUE_CONFLICTS.iter().find(|(name, _)| *name == c))
        .map_or("this conflicts with an existing record", |(_, message)| message)
}

impl DomainError {
    /// Logs an internal error with its whole chain; clients see only "internal error".
    pub fn log_internal(&self, context: &str) {
        if let DomainError::Internal(e) = self {
            tracing::error!(error = ?e, "{context}");
        }
    }

    /// The error as an `anyhow::Error` for the log: an internal error keeps its whole chain
    /// (the database's text included); others say their code and message.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            DomainError::Internal(e) => e,
            other => anyhow::anyhow!("{}: {}", other.code(), other.message()),
        }
    }
}

impl From<diesel::result::Error> for DomainError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => DomainError::NotFound("not found".into()),
            // The database's text names tables and rows; it goes to the log at debug level
            // only, the client learns what to do.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                tracing::debug!(detail = info.message(), "serialization failure");
                DomainError::conflict("a concurrent change got in the way; retry the request", Json::Null)
            }
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::debug!(constraint = info.constraint_name(), "unique violation");
                DomainError::conflict(unique_conflict_message(info.constraint_name()), Json::Null)
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
        DomainError::Internal(anyhow::Error::new(e).context("database pool"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

    struct Info(&'static str, Option<&'static str>);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            Some("leads")
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.1
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn db(kind: DatabaseErrorKind, message: &'static str, constraint: Option<&'static str>) -> DomainError {
        DomainError::from(Error::DatabaseError(kind, Box::new(Info(message, constraint))))
    }

    #[test]
    fn serialization_failures_carry_no_database_text() {
        let e = db(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize access due to read/write dependencies among transactions",
            None,
        );
        assert_eq!(e.code(), "CONFLICT");
        assert!(!e.message().contains("serialize access"), "{}", e.message());
        assert!(!e.message().contains("transactions"), "{}", e.message());
    }

    #[test]
    fn unique_violations_speak_domain_words() {
        let e = db(
            DatabaseErrorKind::UniqueViolation,
            "duplicate key value violates unique constraint \"users_email_key\"",
            Some("users_email_key"),
        );
        assert_eq!(e.code(), "CONFLICT");
        assert_eq!(e.message(), "a user with this e-mail already exists");
        let unknown = db(DatabaseErrorKind::UniqueViolation, "duplicate key value", Some("some_new_key"));
        assert_eq!(unknown.code(), "CONFLICT");
        assert!(!unknown.message().contains("some_new_key") && !unknown.message().contains("duplicate"));
    }

    #[test]
    fn every_unique_constraint_has_one_message() {
        let mut names: Vec<&str> = UNIQUE_CONFLICTS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), UNIQUE_CONFLICTS.len());
        for (name, message) in UNIQUE_CONFLICTS {
            assert!(!message.contains(name), "{name}");
        }
    }

    #[test]
    fn internal_errors_keep_their_cause_for_the_log_only() {
        let e = db(DatabaseErrorKind::Unknown, "relation \"nope\" does not exist", None);
        assert_eq!(e.message(), "internal error");
        assert!(format!("{:?}", e.into_anyhow()).contains("relation \"nope\" does not exist"));
    }
}
