//! The public side of web forms, reached without a token: the hosted page, the widget and
//! its configuration, submissions (JSON from the widget or an integration, an HTML form post
//! from the hosted page) and "call me back" requests.
//!
//! Cross-origin access is decided per form (`allowedOrigins`), not by the server-wide CORS
//! setting, so these routes sit outside that layer. Rate limits are per IP address (all
//! forms) and per form (all senders).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use crate::http::AppState;
use crate::intake::forms::page::{self, PageField, PageForm};
use crate::intake::forms::rules;
use crate::intake::forms::store::{self, WebFormRow};
use crate::intake::forms::submit::{self, Answer, Kind, Submission};

/// The widget, served from the binary.
const WIDGET_JS: &str = include_str!("../../../assets/widget.js");

/// The largest submission body: a form's answers are a few kilobytes.
pub const SUBMISSION_LIMIT: usize = 64 * 1024;

/// The longest Idempotency-Key kept.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Per-IP and per-form rate limits of submissions.
#[derive(Clone)]
pub struct Limits {
    per_ip: Arc<DefaultKeyedRateLimiter<String>>,
    per_form: Arc<DefaultKeyedRateLimiter<i64>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limits")
    }
}

impl Limits {
    /// `per_ip` and `per_form` submissions a minute (at least one), each allowed in a burst.
    pub fn new(per_ip: u32, per_form: u32) -> Limits {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Limits {
            per_ip: Arc::new(RateLimiter::keyed(quota(per_ip))),
            per_form: Arc::new(RateLimiter::keyed(quota(per_form))),
        }
    }

    /// How long the sender must wait, if they must.
    fn check(&self, ip: &str, form: i64) -> Option<Duration> {
        use governor::clock::{Clock, DefaultClock};
        // Addresses seen once a long time ago need no state.
        if self.per_ip.len() > 100_000 {
            self.per_ip.retain_recent();
        }
        let now = DefaultClock::default().now();
        if let Err(until) = self.per_ip.check_key(&ip.to_owned()) {
            return Some(until.wait_time_from(now));
        }
        if let Err(until) = self.per_form.check_key(&form) {
            return Some(until.wait_time_from(now));
        }
        None
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/widget.js", get(widget))
        .route("/forms/{key}", get(form_page))
        .route("/forms/{key}/config", get(config).options(preflight))
        .route("/forms/{key}/submit", axum::routing::post(post_form).options(preflight))
        .route("/forms/{key}/callback", axum::routing::post(post_callback).options(preflight))
        .layer(DefaultBodyLimit::max(SUBMISSION_LIMIT))
}

async fn widget() -> Response {
    crate::http::pages::file(crate::http::pages::JS, "public, max-age=3600", WIDGET_JS.as_bytes())
}

/// Who is asking, by the Origin header: a page of the form's own server or a tool without a
/// browser (no Origin), a website the form allows, or another website.
enum Caller {
    Same,
    Allowed(HeaderValue),
    Refused,
}

fn caller(headers: &HeaderMap, form: &WebFormRow) -> Caller {
    let Some(origin) = headers.get(header::ORIGIN) else { return Caller::Same };
    let Some(normalised) = origin.to_str().ok().and_then(rules::origin) else { return Caller::Refused };
    if form.allowed_origins.contains(&normalised) {
        return Caller::Allowed(origin.clone());
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if !host.is_empty() && url::Url::parse(&normalised).is_ok_and(|u| authority(&u) == host) {
        return Caller::Same;
    }
    Caller::Refused
}

fn authority(u: &url::Url) -> String {
    match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
        None => u.host_str().unwrap_or_default().to_owned(),
    }
}

/// Adds the CORS headers an allowed website's page needs.
fn with_cors(mut response: Response, caller: &Caller) -> Response {
    if let Caller::Allowed(origin) = caller {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Retry-After"));
    }
    response
}

fn json_error(status: StatusCode, key: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "ok": false, "errors": [{ "key": key, "message": message }] }))).into_response()
}

fn no_such_form() -> Response {
    json_error(StatusCode::NOT_FOUND, "", "this form does not exist or is closed")
}

fn unavailable(e: &crate::kernel::DomainError) -> Response {
    e.log_internal("a web form request failed");
    json_error(StatusCode::SERVICE_UNAVAILABLE, "", "the form cannot take submissions right now; please try again")
}

/// The active form with `key`, or the response that ends the request.
async fn active_form(state: &AppState, key: &str) -> Result<WebFormRow, Response> {
    let mut conn = state.pool.get().await.map_err(|e| unavailable(&e.into()))?;
    match store::by_key(&mut conn, key).await {
        Ok(Some(form)) if form.active => Ok(form),
        Ok(_) => Err(no_such_form()),
        Err(e) => Err(unavailable(&e)),
    }
}

async fn preflight(State(state): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    let form = match active_form(&state, &key).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    match caller(&headers, &form) {
        c @ Caller::Allowed(_) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type, Idempotency-Key"));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            with_cors(r, &c)
        }
        Caller::Same => StatusCode::NO_CONTENT.into_response(),
        Caller::Refused => json_error(StatusCode::FORBIDDEN, "", "this website may not send the form"),
    }
}

fn page_form(form: &WebFormRow) -> PageForm {
    PageForm {
        key: form.public_key.clone(),
        name: form.name.clone(),
        fields: form
            .field_defs()
            .into_iter()
            .map(|f| PageField {
                key: f.key,
                label: f.label,
                kind: f.kind.as_str().to_owned(),
                required: f.required,
                items: f.items,
            })
            .collect(),
        consent_text: form.consent_text.clone(),
        submit_url: format!("/forms/{}/submit", form.public_key),
        opened_ms: chrono::Utc::now().timestamp_millis(),
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    // The page is the form's own; no other site may frame it (clickjacking a consent box).
    r.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

async fn form_page(State(state): State<AppState>, Path(key): Path<String>) -> Response {
    match active_form(&state, &key).await {
        Ok(form) => html(StatusCode::OK, page::form_page(&page_form(&form), &[], &HashMap::new())),
        Err(_) => html(
            StatusCode::NOT_FOUND,
            page::result_page("Form not found", "This form does not exist or is closed.", None),
        ),
    }
}

/// What the widget needs to draw the form.
async fn config(State(state): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    let form = match active_form(&state, &key).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let who = caller(&headers, &form);
    if matches!(who, Caller::Refused) {
        return json_error(StatusCode::FORBIDDEN, "", "this website may not show the form");
    }
    let fields: Vec<Json> = form
        .field_defs()
        .iter()
        .map(|f| json!({ "key": f.key, "label": f.label, "type": f.kind.as_str(), "required": f.required, "items": f.items }))
        .collect();
    let body = json!({
        "key": form.public_key, "name": form.name, "fields": fields, "consentText": form.consent_text,
        "successMessage": form.success_message, "callback": true,
    });
    with_cors(axum::Json(body).into_response(), &who)
}

/// A submission as JSON (the widget, integrations).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsonBody {
    #[serde(default)]
    fields: Map<String, Json>,
    #[serde(default)]
    consent: bool,
    page_url: Option<String>,
    referrer: Option<String>,
    #[serde(default)]
    utm: Map<String, Json>,
    #[serde(rename = "_hp")]
    honeypot: Option<String>,
    #[serde(rename = "_ts")]
    opened_ms: Option<i64>,
    // The call-back request's two fields sit at the top level.
    name: Option<String>,
    phone: Option<String>,
}

async fn post_form(
    state: State<AppState>,
    addr: ConnectInfo<SocketAddr>,
    key: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post(state, addr, key, headers, body, Kind::Form).await
}

async fn post_callback(
    state: State<AppState>,
    addr: ConnectInfo<SocketAddr>,
    key: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post(state, addr, key, headers, body, Kind::Callback).await
}

async fn post(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    kind: Kind,
) -> Response {
    let form = match active_form(&state, &key).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let who = caller(&headers, &form);
    if matches!(who, Caller::Refused) {
        return json_error(StatusCode::FORBIDDEN, "", "this website may not send the form");
    }
    let ip = addr.ip().to_string();
    if let Some(wait) = state.settings.forms.check(&ip, form.id) {
        let secs = wait.as_secs().max(1).to_string();
        let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, "", "too many submissions; please try again later");
        if let Ok(v) = HeaderValue::from_str(&secs) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return with_cors(r, &who);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let is_json = content_type.starts_with("application/json");
    let sub = if is_json {
        match serde_json::from_slice::<JsonBody>(&body) {
            Ok(b) => from_json(b, kind),
            Err(e) => {
                return with_cors(json_error(StatusCode::BAD_REQUEST, "", &format!("not a submission: {e}")), &who);
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        from_form_post(&body, &headers)
    } else {
        return with_cors(
            json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "", "send application/json or a form post"),
            &who,
        );
    };
    let sub = Submission {
        ip: Some(ip),
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(|k| k.trim().chars().take(MAX_IDEMPOTENCY_KEY).collect::<String>())
            .filter(|k| !k.is_empty()),
        ..sub
    };
    let values: HashMap<String, String> =
        sub.answers.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect();
    let answer = handle(&state, &form, kind, sub).await;
    let response = match (answer, is_json) {
        (Err(r), _) => r,
        (Ok(a), true) => json_answer(a),
        (Ok(a), false) => html_answer(&form, a, &values),
    };
    with_cors(response, &who)
}

async fn handle(state: &AppState, form: &WebFormRow, kind: Kind, sub: Submission) -> Result<Answer, Response> {
    let mut conn = state.pool.get().await.map_err(|e| unavailable(&e.into()))?;
    let custom = crate::intake::forms::api::lead_custom_fields(&mut conn).await.map_err(|_| {
        json_error(StatusCode::SERVICE_UNAVAILABLE, "", "the form cannot take submissions right now; please try again")
    })?;
    let answer = submit::submit(&mut conn, form, kind, sub, &custom, state.settings.phone_region)
        .await
        .map_err(|e| unavailable(&e))?;
    if matches!(answer, Answer::Accepted { .. }) {
        state.wake.notify_one();
    }
    Ok(answer)
}

fn json_answer(answer: Answer) -> Response {
    match answer {
        Answer::Accepted { message, redirect_url } => {
            axum::Json(json!({ "ok": true, "message": message, "redirectUrl": redirect_url })).into_response()
        }
        Answer::Invalid(errors) => {
            let errors: Vec<Json> = errors.into_iter().map(|(k, m)| json!({ "key": k, "message": m })).collect();
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({ "ok": false, "errors": errors }))).into_response()
        }
    }
}

fn html_answer(form: &WebFormRow, answer: Answer, values: &HashMap<String, String>) -> Response {
    match answer {
        Answer::Accepted { message, redirect_url } => {
            html(StatusCode::OK, page::result_page(&form.name, &message, redirect_url.as_deref()))
        }
        Answer::Invalid(errors) => {
            html(StatusCode::UNPROCESSABLE_ENTITY, page::form_page(&page_form(form), &errors, values))
        }
    }
}

fn from_json(b: JsonBody, kind: Kind) -> Submission {
    let mut answers = b.fields;
    if kind == Kind::Callback {
        for (k, v) in [("name", b.name), ("phone", b.phone)] {
            if let Some(v) = v {
                answers.entry(k).or_insert(Json::String(v));
            }
        }
    }
    Submission {
        answers,
        consent: b.consent,
        page_url: b.page_url,
        referrer: b.referrer,
        utm: b.utm,
        honeypot: b.honeypot,
        opened_ms: b.opened_ms,
        ..Submission::default()
    }
}

/// The hosted page's post: its own fields, the honeypot and the time it was made; the page
/// it came from (with any `utm_*` in its address) is the Referer.
fn from_form_post(body: &[u8], headers: &HeaderMap) -> Submission {
    let mut sub = Submission::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "_hp" => sub.honeypot = Some(v.into_owned()),
            "_ts" => sub.opened_ms = v.trim().parse().ok(),
            "consent" => sub.consent = matches!(v.as_ref(), "true" | "on" | "1" | "yes"),
            _ => {
                sub.answers.insert(k.into_owned(), Json::String(v.into_owned()));
            }
        }
    }
    if let Some(referer) = headers.get(header::REFERER).and_then(|v| v.to_str().ok()) {
        sub.page_url = Some(referer.to_owned());
        if let Ok(u) = url::Url::parse(referer) {
            for (k, v) in u.query_pairs() {
                if let Some(name) = k.strip_prefix("utm_") {
                    sub.utm.insert(name.to_owned(), Json::String(v.into_owned()));
                }
            }
        }
    }
    sub
}
