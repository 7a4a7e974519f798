//! What a submission does: spam is quarantined (answered like success), answers the form
//! refuses are recorded as REJECTED, and an accepted one creates a lead (and, for "call me
//! back", a CALL activity) in one transaction with the submission's record.
//!
//! The lead is written by the form's creator (their rights apply, like a webhook's) and
//! assigned to the form's assignee, else to the creator: one responsible person per form is
//! what a team sets up first; round-robin can come later without changing the API.

use chrono::{Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{Map, Value as Json, json};

use crate::activity::rules::{self as activities, ActivityPatch};
use crate::crm::lead::api::LeadInput;
use crate::crm::shared::duplicates::{self, Probe};
use crate::import::mapping::CustomFieldInfo;
use crate::intake::forms::rules::{self, FieldDef};
use crate::intake::forms::store::{self, NewSubmission, WebFormRow};
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::Lead;
use crate::kernel::write::{self, Ctx, Op};
use crate::kernel::{ElementRef, ElementType};

/// Which way in a submission came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The form's own fields.
    Form,
    /// "Call me back": a name and a phone number.
    Callback,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Form => "FORM",
            Kind::Callback => "CALLBACK",
        }
    }
}

/// A submission as the public endpoint received it.
#[derive(Clone, Debug, Default)]
pub struct Submission {
    pub answers: Map<String, Json>,
    pub consent: bool,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    /// `source`, `medium`, `campaign`, `content`, `term`, as given.
    pub utm: Map<String, Json>,
    pub honeypot: Option<String>,
    /// When the visitor's page opened the form (ms since the epoch), if it says.
    pub opened_ms: Option<i64>,
    pub ip: Option<String>,
    pub idempotency_key: Option<String>,
}

/// The answer the visitor gets.
#[derive(Debug)]
pub enum Answer {
    Accepted { message: String, redirect_url: Option<String> },
    Invalid(Vec<(String, String)>),
}

const THANKS: &str = "Thank you! We will get back to you soon.";
const UTM_KEYS: [&str; 5] = ["source", "medium", "campaign", "content", "term"];
/// The longest page address, referrer or UTM value kept.
const MAX_URL: usize = 2_000;

/// How soon a "call me back" request is due.
const CALLBACK_WITHIN_MINUTES: i64 = 5;

fn accepted(form: &WebFormRow) -> Answer {
    Answer::Accepted {
        message: form.success_message.clone().unwrap_or_else(|| THANKS.to_owned()),
        redirect_url: form.redirect_url.clone(),
    }
}

fn clip(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().chars().take(MAX_URL).collect::<String>()).filter(|s| !s.is_empty())
}

/// The UTM values kept: the five known keys, as text.
fn clean_utm(utm: &Map<String, Json>) -> Map<String, Json> {
    UTM_KEYS
        .iter()
        .filter_map(|k| {
            let v = utm.get(*k).and_then(Json::as_str).map(str::to_owned);
            clip(v).map(|v| ((*k).to_owned(), json!(v)))
        })
        .collect()
}

/// The fields of a "call me back" request.
pub fn callback_fields() -> Vec<FieldDef> {
    use rules::FieldKind;
    vec![
        FieldDef {
            key: "name".into(),
            label: "Name".into(),
            kind: FieldKind::String,
            required: false,
            target: "lastName".into(),
            items: vec![],
        },
        FieldDef {
            key: "phone".into(),
            label: "Phone".into(),
            kind: FieldKind::Phone,
            required: true,
            target: "phone".into(),
            items: vec![],
        },
    ]
}

/// Handles one submission of `form` (which the caller has found active).
pub async fn submit(
    conn: &mut AsyncPgConnection,
    form: &WebFormRow,
    kind: Kind,
    mut sub: Submission,
    custom: &[CustomFieldInfo],
    region: phonenumber::country::Id,
) -> DomainResult<Answer> {
    if let Some(key) = sub.idempotency_key.as_deref()
        && store::by_idempotency_key(conn, form.id, key).await?.is_some()
    {
        return Ok(accepted(form));
    }
    sub.page_url = clip(sub.page_url.take());
    sub.referrer = clip(sub.referrer.take());
    sub.utm = clean_utm(&sub.utm);
    if let Some(reason) = rules::spam_reason(sub.honeypot.as_deref(), sub.opened_ms, Utc::now().timestamp_millis()) {
        // Quarantined, and answered like success: a program learns nothing to adapt to.
        record(conn, form, kind, &sub, Outcome::refused("SPAM", reason.to_owned())).await?;
        return Ok(accepted(form));
    }
    let fields = if kind == Kind::Form { form.field_defs() } else { callback_fields() };
    let mut checked = rules::answers_to_input(&fields, &sub.answers, custom, region);
    if kind == Kind::Form && form.consent_text.is_some() && !sub.consent {
        let mut errors = checked.err().unwrap_or_default();
        errors.push(("consent".to_owned(), "consent is required".to_owned()));
        checked = Err(errors);
    }
    let input = match checked {
        Ok(input) => input,
        Err(errors) => return rejected(conn, form, kind, &sub, errors).await,
    };
    let result = conn
        .transaction::<_, DomainError, _>(async |conn| {
            let (lead, activity) = create_lead(conn, form, kind, &sub, input, region).await?;
            let outcome = Outcome { status: "ACCEPTED", reason: None, lead_id: Some(lead), activity_id: activity };
            match record(conn, form, kind, &sub, outcome).await? {
                Some(_) => Ok(()),
                // The same submission, retried, was stored first: this one's lead goes.
                None => Err(DomainError::conflict(DUPLICATE, Json::Null)),
            }
        })
        .await;
    match result {
        Ok(()) => Ok(accepted(form)),
        Err(DomainError::Conflict { message, .. }) if message == DUPLICATE => Ok(accepted(form)),
        Err(e @ (DomainError::BadInput { .. } | DomainError::Conflict { .. } | DomainError::NotFound(_))) => {
            // The lead's own rules refused the answers (a custom field's format, ...).
            let field = match &e {
                DomainError::BadInput { field, .. } => key_of(&fields, field),
                _ => String::new(),
            };
            rejected(conn, form, kind, &sub, vec![(field, e.message())]).await
        }
        Err(e) => Err(e),
    }
}

const DUPLICATE: &str = "a retried submission was stored first";

/// The form field whose target a lead field error names ("" when none does).
fn key_of(fields: &[FieldDef], lead_field: &str) -> String {
    let base = lead_field.split(['[', '.']).next().unwrap_or(lead_field);
    fields
        .iter()
        .find(|f| f.target.eq_ignore_ascii_case(base) || format!("{}s", f.target).eq_ignore_ascii_case(base))
        .map(|f| f.key.clone())
        .unwrap_or_default()
}

async fn rejected(
    conn: &mut AsyncPgConnection,
    form: &WebFormRow,
    kind: Kind,
    sub: &Submission,
    errors: Vec<(String, String)>,
) -> DomainResult<Answer> {
    let reason = errors.iter().map(|(k, m)| format!("{k}: {m}")).collect::<Vec<_>>().join("; ");
    record(conn, form, kind, sub, Outcome::refused("REJECTED", reason)).await?;
    Ok(Answer::Invalid(errors))
}

/// What became of a submission.
struct Outcome {
    status: &'static str,
    reason: Option<String>,
    lead_id: Option<i64>,
    activity_id: Option<i64>,
}

impl Outcome {
    fn refused(status: &'static str, reason: String) -> Outcome {
        Outcome { status, reason: Some(reason), lead_id: None, activity_id: None }
    }
}

async fn record(
    conn: &mut AsyncPgConnection,
    form: &WebFormRow,
    kind: Kind,
    sub: &Submission,
    outcome: Outcome,
) -> DomainResult<Option<i64>> {
    let consent = form
        .consent_text
        .as_deref()
        .filter(|_| sub.consent && outcome.status == "ACCEPTED" && kind == Kind::Form)
        .map(rules::consent_hash);
    let fields = Json::Object(sub.answers.clone());
    let utm = Json::Object(sub.utm.clone());
    store::record(
        conn,
        &NewSubmission {
            form_id: form.id,
            kind: kind.as_str(),
            status: outcome.status,
            reason: outcome.reason.as_deref(),
            fields: &fields,
            page_url: sub.page_url.as_deref(),
            referrer: sub.referrer.as_deref(),
            utm: &utm,
            ip: sub.ip.as_deref(),
            // Only an accepted submission answers a retry; a rejected one may be corrected.
            idempotency_key: sub.idempotency_key.as_deref().filter(|_| outcome.status == "ACCEPTED"),
            lead_id: outcome.lead_id,
            activity_id: outcome.activity_id,
            consent_hash: consent.as_deref(),
        },
    )
    .await
}

/// The lead (and for a call-back its CALL activity) a submission creates.
async fn create_lead(
    conn: &mut AsyncPgConnection,
    form: &WebFormRow,
    kind: Kind,
    sub: &Submission,
    mut input: Map<String, Json>,
    region: phonenumber::country::Id,
) -> DomainResult<(i64, Option<i64>)> {
    let actor = crate::org::auth::actor_for_user(conn, form.created_by_id)
        .await
        .map_err(|_| DomainError::conflict("the form's owner is no longer active", Json::Null))?;
    let ctx = Ctx { actor, phone_region: region };
    let assignee = form.assigned_to_id.unwrap_or(form.created_by_id);
    input.insert("assignedToId".into(), json!(ids::encode(IdKind::User, assignee)));
    let source = match form.source_id {
        Some(s) => s,
        None => {
            let code = if kind == Kind::Callback { "CALL" } else { "WEB" };
            crate::settings::rules::status_by_code(conn, "SOURCE", code).await?.id
        }
    };
    input.insert("sourceId".into(), json!(ids::encode(IdKind::StatusItem, source)));
    for (k, v) in &sub.utm {
        let mut name = String::from("utm");
        name.extend(k.chars().take(1).flat_map(char::to_uppercase).chain(k.chars().skip(1)));
        input.insert(name, v.clone());
    }
    if ["title", "firstName", "lastName", "companyTitle"].iter().all(|f| !input.contains_key(*f)) {
        let title = if kind == Kind::Callback { "Call-back request".to_owned() } else { form.name.clone() };
        input.insert("title".into(), json!(title));
    }
    repeat_of(conn, &ctx, &mut input).await?;
    let write = crate::api::input::from_json::<LeadInput>(Json::Object(input))
        .map_err(|m| DomainError::bad_input("fields", m))?
        .into_write()?;
    let op = Op::new(HistoryKind::Created, EventAction::Created, describe(form, kind, sub));
    let lead = write::create_in_tx::<Lead>(conn, &ctx, write, op).await?;
    let r = ElementRef { element_type: ElementType::Lead, id: lead.id };
    crate::notifications::sources::form_submitted(conn, assignee, &form.name, r, &write::snapshot(&lead)?).await?;
    let activity = if kind == Kind::Callback {
        let phone = sub.answers.get("phone").and_then(Json::as_str).unwrap_or_default().trim();
        Some(callback_activity(conn, &ctx, &lead, assignee, phone).await?)
    } else {
        None
    };
    Ok((lead.id, activity))
}

/// A visitor whose e-mail or phone belongs to a contact or company makes a repeat lead,
/// linked to them as conversion expects.
async fn repeat_of(conn: &mut AsyncPgConnection, ctx: &Ctx, input: &mut Map<String, Json>) -> DomainResult<()> {
    let values = |list: &str| crate::crm::shared::communications::values_in(input, list);
    let Ok(probe) = Probe::from_raw(&values("phones"), &values("emails"), &[], &[], ctx.phone_region) else {
        return Ok(());
    };
    let found = duplicates::find_among(conn, &ctx.actor, &probe, &[ElementType::Contact, ElementType::Company]).await?;
    for (et, field, kind) in
        [(ElementType::Contact, "contactId", IdKind::Contact), (ElementType::Company, "companyId", IdKind::Company)]
    {
        if let Some(m) = found.iter().find(|m| m.element.element_type == et) {
            input.insert(field.into(), json!(ids::encode(kind, m.element.id)));
        }
    }
    Ok(())
}

async fn callback_activity(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    lead: &Lead,
    assignee: i64,
    phone: &str,
) -> DomainResult<i64> {
    let patch = ActivityPatch {
        activity_type: Some("CALL".into()),
        subject: Some(format!("Call back: {phone}")),
        direction: Some(Some("INCOMING".into())),
        deadline: Some(Some(Utc::now() + Duration::minutes(CALLBACK_WITHIN_MINUTES))),
        responsible_id: Some(assignee),
        owner: Some(ElementRef { element_type: ElementType::Lead, id: lead.id }),
        ..ActivityPatch::default()
    };
    Ok(activities::create(conn, ctx, patch).await?.id)
}

/// The history text of the lead: which form, from which page, with which campaign.
fn describe(form: &WebFormRow, kind: Kind, sub: &Submission) -> String {
    let mut parts = vec![match kind {
        Kind::Form => format!("web form \u{201c}{}\u{201d} ({})", form.name, ids::encode(IdKind::WebForm, form.id)),
        Kind::Callback => format!("call-back request on web form {}", ids::encode(IdKind::WebForm, form.id)),
    }];
    if let Some(p) = &sub.page_url {
        parts.push(format!("page {p}"));
    }
    if let Some(r) = &sub.referrer {
        parts.push(format!("referrer {r}"));
    }
    if !sub.utm.is_empty() {
        let utm: Vec<String> =
            sub.utm.iter().map(|(k, v)| format!("utm_{k}={}", v.as_str().unwrap_or_default())).collect();
        parts.push(utm.join(" "));
    }
    if let Some(text) = form.consent_text.as_deref().filter(|_| sub.consent && kind == Kind::Form) {
        parts.push(format!("consent sha256:{} at {}", rules::consent_hash(text), Utc::now().to_rfc3339()));
    }
    parts.join("; ")
}
