//! `POST /mail/inbound`: a mail server (or a script behind the mailbox) hands over one message
//! as `message/rfc822`. The status tells a pipe transport what to do with it: 2xx delivered,
//! 4xx bounce (retrying changes nothing), 503 try again later.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::AppState;
use crate::intake::mail::{ingest, parse};
use crate::kernel::access::permissions::Action;
use crate::kernel::{Actor, DomainError, ElementType};

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn unavailable(e: &DomainError) -> Response {
    tracing::warn!(error = ?e, "inbound mail not stored");
    error(StatusCode::SERVICE_UNAVAILABLE, "the database is not available; try again later")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn is_rfc822(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("message/rfc822"))
}

async fn authorise(state: &AppState, headers: &HeaderMap) -> Result<Actor, Response> {
    let Some(token) = bearer(headers) else {
        return Err(error(StatusCode::UNAUTHORIZED, "an API token is required (Authorization: Bearer <token>)"));
    };
    let mut conn = state.pool.get().await.map_err(|e| unavailable(&e.into()))?;
    let actor = match crate::org::auth::actor_for_token(&mut conn, token).await {
        Ok(actor) => actor,
        Err(e @ DomainError::Unauthenticated(_)) => return Err(error(StatusCode::UNAUTHORIZED, e.message())),
        Err(e) => return Err(unavailable(&e)),
    };
    actor.rights.check_may(ElementType::Lead, Action::Add).map_err(|e| error(StatusCode::FORBIDDEN, e.message()))?;
    Ok(actor)
}

pub async fn inbound(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let actor = match authorise(&state, &headers).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    if !is_rfc822(&headers) {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body must be one e-mail message as message/rfc822");
    }
    let mail = match parse::parse(&body) {
        Ok(mail) => mail,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    let mut conn = match state.pool.get().await {
        Ok(conn) => conn,
        Err(e) => return unavailable(&e.into()),
    };
    let settings = &state.settings;
    match ingest::ingest(&mut conn, &actor, &mail, settings.mail_attachment_limit, settings.phone_region).await {
        Ok(done) => {
            state.wake.notify_one();
            (StatusCode::ACCEPTED, axum::Json(done)).into_response()
        }
        // A concurrent change (serialization failure) is gone when the mail server retries.
        Err(e @ (DomainError::Internal(_) | DomainError::Conflict { .. })) => unavailable(&e),
        Err(e @ DomainError::Forbidden(_)) => error(StatusCode::FORBIDDEN, e.message()),
        // The lead's or activity's own rules refused something in the message: a retry would too.
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.message()),
    }
}
