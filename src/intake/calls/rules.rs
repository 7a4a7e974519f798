//! Calls a telephone system (PBX) reports: registering one matches the number against
//! contacts, companies and leads, makes a lead for an unknown caller, and puts a CALL
//! activity in front of the responsible user (INCOMING ones count in the counters until
//! completed). Registering is idempotent by the PBX's own call id; finishing completes the
//! activity of an answered call and leaves a missed one open as a call-back with a deadline.

use chrono::{DateTime, Duration, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Int4, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value as Json, json};

use crate::activity::rules::{self as activities, ActivityPatch};
use crate::crm::lead::api::LeadInput;
use crate::crm::shared::communications::CommKind;
use crate::crm::shared::duplicates::{self, Probe};
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::Lead;
use crate::kernel::write::{self, Ctx, Op};
use crate::kernel::{ElementRef, ElementType};

/// How soon a missed call should be returned.
pub const CALL_BACK_WITHIN_MINUTES: i64 = 30;
/// The longest call id, line number and recording address kept.
const MAX_TEXT: usize = 500;

#[derive(QueryableByName, Clone, Debug)]
pub struct CallRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub external_call_id: String,
    #[diesel(sql_type = Text)]
    pub direction: String,
    #[diesel(sql_type = Text)]
    pub phone: String,
    #[diesel(sql_type = Text)]
    pub normalized: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub line_number: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Int4>)]
    pub duration_seconds: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub recording_url: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub activity_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub created_lead_id: Option<i64>,
    #[diesel(sql_type = Jsonb)]
    pub matches: Json,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl CallRow {
    /// The elements the number belonged to when the call came in.
    pub fn matched(&self) -> Vec<ElementRef> {
        self.matches
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some(ElementRef { element_type: ElementType::parse(m["type"].as_str()?)?, id: m["id"].as_i64()? })
            })
            .collect()
    }
}

/// What a PBX reports when a call starts.
#[derive(Clone, Debug)]
pub struct Registration {
    pub external_call_id: String,
    pub incoming: bool,
    pub phone: String,
    pub user_id: Option<i64>,
    pub line_number: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub create_lead: bool,
}

pub async fn by_external_id(conn: &mut AsyncPgConnection, external: &str) -> DomainResult<Option<CallRow>> {
    let rows: Vec<CallRow> = diesel::sql_query("SELECT * FROM calls WHERE external_call_id = $1")
        .bind::<Text, _>(external)
        .load(conn)
        .await?;
    Ok(rows.into_iter().next())
}

pub async fn by_id(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Option<CallRow>> {
    let rows: Vec<CallRow> =
        diesel::sql_query("SELECT * FROM calls WHERE id = $1").bind::<BigInt, _>(id).load(conn).await?;
    Ok(rows.into_iter().next())
}

fn bounded(field: &str, value: &str) -> DomainResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::bad_input(field, format!("`{field}` is required")));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(DomainError::bad_input(field, format!("`{field}` holds at most {MAX_TEXT} characters")));
    }
    Ok(v.to_owned())
}

/// Registers a call, or returns the one registered under the same id (a PBX retries).
/// The second value says whether this registration is new.
pub async fn register(conn: &mut AsyncPgConnection, ctx: &Ctx, r: Registration) -> DomainResult<(CallRow, bool)> {
    // A telephone system's user makes leads of unknown callers; without that right it may
    // write nothing, not even a call no element is bound to.
    ctx.actor.rights.check_may(ElementType::Lead, crate::kernel::access::permissions::Action::Add)?;
    let external = bounded("externalCallId", &r.external_call_id)?;
    if let Some(call) = by_external_id(conn, &external).await? {
        return Ok((call, false));
    }
    let normalized = CommKind::Phone.normalize("phone", &r.phone, ctx.phone_region)?;
    let line = r.line_number.as_deref().map(|l| bounded("lineNumber", l)).transpose()?;
    if let Some(u) = r.user_id {
        crate::org::auth::check_user(conn, u, "userId").await?;
    }
    let ctx = ctx.clone();
    let result = conn
        .transaction::<_, DomainError, _>(async |conn| {
            let probe = Probe { phones: vec![normalized.clone()], ..Probe::default() };
            let types = [ElementType::Contact, ElementType::Company, ElementType::Lead];
            let found = duplicates::find_among(conn, &ctx.actor, &probe, &types).await?;
            let mut matches: Vec<ElementRef> = Vec::new();
            for et in types {
                matches.extend(found.iter().filter(|m| m.element.element_type == et).map(|m| m.element));
            }
            let user = match (r.user_id, <[ElementRef]>::first(&matches)) {
                (Some(u), _) => u,
                (None, Some(first)) => crate::intake::assignee_of(conn, *first).await?.unwrap_or(ctx.actor.user_id),
                (None, None) => ctx.actor.user_id,
            };
            let mut created_lead = None;
            if matches.is_empty() && r.create_lead && r.incoming {
                let lead = new_lead(conn, &ctx, &r.phone, user, &external).await?;
                created_lead = Some(lead);
                matches.push(ElementRef { element_type: ElementType::Lead, id: lead });
            }
            let started = r.started_at.unwrap_or_else(Utc::now);
            let activity = match <[ElementRef]>::first(&matches) {
                Some(owner) => Some(call_activity(conn, &ctx, &r, *owner, &matches[1..], user, started).await?),
                None => None,
            };
            let list: Vec<Json> =
                matches.iter().map(|m| json!({ "type": m.element_type.as_str(), "id": m.id })).collect();
            let inserted: Vec<CallRow> = diesel::sql_query(
                "INSERT INTO calls (external_call_id, direction, phone, normalized, line_number, started_at, user_id, \
                 activity_id, created_lead_id, matches, registered_by_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (external_call_id) DO NOTHING RETURNING *",
            )
            .bind::<Text, _>(&external)
            .bind::<Text, _>(if r.incoming { "INCOMING" } else { "OUTGOING" })
            .bind::<Text, _>(r.phone.trim())
            .bind::<Text, _>(&normalized)
            .bind::<Nullable<Text>, _>(line.as_deref())
            .bind::<Timestamptz, _>(started)
            .bind::<BigInt, _>(user)
            .bind::<Nullable<BigInt>, _>(activity)
            .bind::<Nullable<BigInt>, _>(created_lead)
            .bind::<Jsonb, _>(Json::Array(list))
            .bind::<BigInt, _>(ctx.actor.user_id)
            .load(conn)
            .await?;
            // Two registrations of one call at once: the first one stored wins, this one's
            // lead and activity go with its transaction.
            let call = inserted.into_iter().next().ok_or_else(|| DomainError::conflict(RACE, Json::Null))?;
            announce(conn, &ctx, &call).await?;
            Ok(call)
        })
        .await;
    match result {
        Ok(call) => Ok((call, true)),
        Err(DomainError::Conflict { message, .. }) if message == RACE => by_external_id(conn, &external)
            .await?
            .map(|c| (c, false))
            .ok_or_else(|| anyhow::anyhow!("a call vanished after a concurrent registration").into()),
        Err(e) => Err(e),
    }
}

const RACE: &str = "registered concurrently";

/// The event that pops the call up on its user's screen, on every instance.
async fn announce(conn: &mut AsyncPgConnection, ctx: &Ctx, call: &CallRow) -> DomainResult<()> {
    use crate::db::schema::events;
    use diesel::ExpressionMethods;
    let payload = json!({ "callId": call.id, "userId": call.user_id, "direction": call.direction });
    diesel::insert_into(events::table)
        .values((
            events::element_type.eq("CALL"),
            events::element_id.eq(call.id),
            events::action.eq(EventAction::Call.as_str()),
            events::changed.eq(Vec::<String>::new()),
            events::payload.eq(payload),
            events::actor_id.eq(ctx.actor.user_id),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn new_lead(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    phone: &str,
    user: i64,
    external: &str,
) -> DomainResult<i64> {
    let source = crate::settings::rules::status_by_code(conn, "SOURCE", "CALL").await?.id;
    let input = json!({
        "title": format!("Call from {}", phone.trim()),
        "phones": [{ "value": phone.trim(), "valueType": "WORK" }],
        "sourceId": ids::encode(IdKind::StatusItem, source),
        "assignedToId": ids::encode(IdKind::User, user),
    });
    let write = crate::api::input::from_json::<LeadInput>(input)
        .map_err(|m| DomainError::bad_input("phone", m))?
        .into_write()?;
    let op = Op::new(HistoryKind::Created, EventAction::Created, format!("incoming call {external}"));
    Ok(write::create_in_tx::<Lead>(conn, ctx, write, op).await?.id)
}

async fn call_activity(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    r: &Registration,
    owner: ElementRef,
    others: &[ElementRef],
    user: i64,
    started: DateTime<Utc>,
) -> DomainResult<i64> {
    let subject = if r.incoming {
        format!("Incoming call from {}", r.phone.trim())
    } else {
        format!("Call to {}", r.phone.trim())
    };
    let patch = ActivityPatch {
        activity_type: Some("CALL".into()),
        subject: Some(subject),
        direction: Some(Some(if r.incoming { "INCOMING" } else { "OUTGOING" }.into())),
        start_at: Some(Some(started)),
        responsible_id: Some(user),
        owner: Some(owner),
        bindings: Some(others.iter().take(crate::kernel::limits::MAX_BINDINGS - 1).copied().collect()),
        ..ActivityPatch::default()
    };
    Ok(activities::create(conn, ctx, patch).await?.id)
}

/// How a call ended, as the PBX reports it.
#[derive(Clone, Debug)]
pub struct Finish {
    pub external_call_id: String,
    /// ANSWERED, MISSED, BUSY or FAILED.
    pub status: &'static str,
    pub duration_seconds: Option<i32>,
    pub recording_url: Option<String>,
}

/// Records how a call ended. An answered call completes its activity; any other end leaves
/// it open as a call-back due soon. Finishing twice changes nothing the second time.
pub async fn finish(conn: &mut AsyncPgConnection, ctx: &Ctx, f: Finish) -> DomainResult<CallRow> {
    let external = bounded("externalCallId", &f.external_call_id)?;
    if f.duration_seconds.is_some_and(|d| d < 0) {
        return Err(DomainError::bad_input("durationSeconds", "`durationSeconds` must not be negative"));
    }
    let recording = match f.recording_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(u) => Some(crate::kernel::validate::web("recordingUrl", &bounded("recordingUrl", u)?)?),
        None => None,
    };
    let ctx = ctx.clone();
    conn.transaction::<_, DomainError, _>(async |conn| {
        let rows: Vec<CallRow> = diesel::sql_query("SELECT * FROM calls WHERE external_call_id = $1 FOR UPDATE")
            .bind::<Text, _>(&external)
            .load(conn)
            .await?;
        let call = rows.into_iter().next().ok_or_else(|| DomainError::not_found(format!("call `{external}`")))?;
        if call.finished_at.is_some() {
            return Ok(call);
        }
        if let Some(activity) = call.activity_id {
            if f.status == "ANSWERED" {
                activities::set_completed(conn, &ctx, activity, true).await?;
            } else {
                let deadline = Utc::now() + Duration::minutes(CALL_BACK_WITHIN_MINUTES);
                let patch = ActivityPatch {
                    subject: Some(format!("Call back {} (missed call)", call.phone)),
                    deadline: Some(Some(deadline)),
                    ..ActivityPatch::default()
                };
                activities::update(conn, &ctx, activity, None, patch).await?;
            }
        }
        let rows: Vec<CallRow> = diesel::sql_query(
            "UPDATE calls SET status = $2, duration_seconds = $3, recording_url = $4, finished_at = now() \
             WHERE id = $1 RETURNING *",
        )
        .bind::<BigInt, _>(call.id)
        .bind::<Text, _>(f.status)
        .bind::<Nullable<Int4>, _>(f.duration_seconds)
        .bind::<Nullable<Text>, _>(recording.as_deref())
        .load(conn)
        .await?;
        let done = rows.into_iter().next().ok_or_else(|| anyhow::anyhow!("the call vanished"))?;
        if done.direction == "INCOMING" && done.status.as_deref() != Some("ANSWERED") {
            let about = done
                .created_lead_id
                .map(|id| ElementRef { element_type: crate::kernel::ElementType::Lead, id })
                .or_else(|| done.matched().into_iter().next());
            crate::notifications::sources::call_missed(conn, done.user_id, &done.phone, about).await?;
        }
        Ok(done)
    })
    .await
}
