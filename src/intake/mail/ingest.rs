//! What an inbound e-mail does to the CRM: an INCOMING EMAIL activity on whoever sent it (or on
//! whatever the message it answers landed on), a new lead for a person nobody knows yet, and a
//! record of the message so that a mail server's retry changes nothing.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Jsonb, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::activity::rules::{self as activities, ActivityPatch};
use crate::crm::lead::api::LeadInput;
use crate::crm::shared::duplicates::{self, Probe};
use crate::intake::mail::parse::InboundMail;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::Lead;
use crate::kernel::validate::{MAX_LONG_TEXT_CHARS, MAX_TEXT_CHARS};
use crate::kernel::write::{self, Ctx, Op};
use crate::kernel::{Actor, ElementRef, ElementType};

/// More messages than this from one address within [`LOOP_WINDOW`] look like two machines
/// answering each other: no further leads from it until it calms down.
const LOOP_LIMIT: i64 = 20;
const LOOP_WINDOW: &str = "2 hours";

/// An activity binds its owner and at most this many further elements.
const MAX_BINDINGS: usize = 50;

/// What became of one message; also the answer of `POST /mail/inbound` and `kontor mail ingest`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingested {
    /// `mail_messages.id`.
    pub message_id: i64,
    /// The message had been stored before (a retry): nothing was written this time.
    pub duplicate: bool,
    pub activity_id: Option<i64>,
    pub created_lead_id: Option<i64>,
    #[serde(serialize_with = "public_refs")]
    pub elements: Vec<ElementRef>,
}

fn public_refs<S: serde::Serializer>(refs: &[ElementRef], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(refs.len()))?;
    for r in refs {
        seq.serialize_element(
            &json!({ "type": r.element_type.as_str(), "id": ids::encode(r.element_type.id_kind(), r.id) }),
        )?;
    }
    seq.end()
}

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    activity_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    created_lead_id: Option<i64>,
    #[diesel(sql_type = Jsonb)]
    elements: Json,
}

impl StoredRow {
    fn into_duplicate(self) -> Ingested {
        Ingested {
            message_id: self.id,
            duplicate: true,
            activity_id: self.activity_id,
            created_lead_id: self.created_lead_id,
            elements: refs_from_json(&self.elements),
        }
    }
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn refs_from_json(value: &Json) -> Vec<ElementRef> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let element_type = ElementType::parse(e["type"].as_str()?)?;
            Some(ElementRef { element_type, id: e["id"].as_i64()? })
        })
        .collect()
}

fn refs_to_json(refs: &[ElementRef]) -> Json {
    Json::Array(refs.iter().map(|r| json!({ "type": r.element_type.as_str(), "id": r.id })).collect())
}

/// Stores `mail` and files it in the CRM as `actor`, in one transaction.
pub async fn ingest(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    mail: &InboundMail,
    attachment_limit: usize,
    region: phonenumber::country::Id,
) -> DomainResult<Ingested> {
    let ctx = Ctx { actor: actor.clone(), phone_region: region };
    conn.transaction::<_, DomainError, _>(async |conn| {
        if let Some(stored) = stored_by_message_id(conn, mail.message_id.as_deref()).await? {
            return Ok(stored.into_duplicate());
        }
        let flooding = recent_from(conn, &mail.from.email).await? > LOOP_LIMIT;
        // Inserted first: a concurrent delivery of the same message waits on the unique index
        // here and then finds this one stored, instead of creating a second lead.
        let Some(row_id) = insert_message(conn, mail).await? else {
            let stored = stored_by_message_id(conn, mail.message_id.as_deref()).await?;
            return stored.map(StoredRow::into_duplicate).ok_or_else(|| anyhow::anyhow!("message vanished").into());
        };
        let mut elements = replied_elements(conn, mail).await?;
        if elements.is_empty() {
            elements = sender_matches(conn, actor, mail, region).await?;
        }
        let mut created_lead_id = None;
        if elements.is_empty() && !mail.is_automatic() && !flooding {
            let lead = create_lead(conn, &ctx, mail).await?;
            created_lead_id = Some(lead);
            elements.push(ElementRef { element_type: ElementType::Lead, id: lead });
        }
        let activity_id =
            if elements.is_empty() { None } else { Some(add_activity(conn, &ctx, mail, &elements).await?) };
        finish_message(conn, row_id, activity_id, created_lead_id, &elements).await?;
        store_attachments(conn, row_id, mail, attachment_limit).await?;
        Ok(Ingested { message_id: row_id, duplicate: false, activity_id, created_lead_id, elements })
    })
    .await
}

async fn stored_by_message_id(
    conn: &mut AsyncPgConnection,
    message_id: Option<&str>,
) -> DomainResult<Option<StoredRow>> {
    let Some(message_id) = message_id else {
        return Ok(None);
    };
    let rows: Vec<StoredRow> =
        diesel::sql_query("SELECT id, activity_id, created_lead_id, elements FROM mail_messages WHERE message_id = $1")
            .bind::<Text, _>(message_id)
            .load(conn)
            .await?;
    Ok(rows.into_iter().next())
}

async fn recent_from(conn: &mut AsyncPgConnection, email: &str) -> DomainResult<i64> {
    let rows: Vec<Count> = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM mail_messages WHERE from_email = $1 AND received_at > now() - interval '{LOOP_WINDOW}'"
    ))
    .bind::<Text, _>(email)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map_or(0, |c| c.n))
}

/// The new row's id; None when the same Message-ID was stored meanwhile.
async fn insert_message(conn: &mut AsyncPgConnection, mail: &InboundMail) -> DomainResult<Option<i64>> {
    let rows: Vec<Id> = diesel::sql_query(
        "INSERT INTO mail_messages (message_id, from_email, from_name, subject, automatic) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING RETURNING id",
    )
    .bind::<Nullable<Text>, _>(mail.message_id.as_deref())
    .bind::<Text, _>(&mail.from.email)
    .bind::<Nullable<Text>, _>(mail.from.name.as_deref())
    .bind::<Text, _>(&mail.subject)
    .bind::<Bool, _>(mail.is_automatic())
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(|r| r.id))
}

async fn finish_message(
    conn: &mut AsyncPgConnection,
    id: i64,
    activity_id: Option<i64>,
    created_lead_id: Option<i64>,
    elements: &[ElementRef],
) -> DomainResult<()> {
    diesel::sql_query("UPDATE mail_messages SET activity_id = $2, created_lead_id = $3, elements = $4 WHERE id = $1")
        .bind::<BigInt, _>(id)
        .bind::<Nullable<BigInt>, _>(activity_id)
        .bind::<Nullable<BigInt>, _>(created_lead_id)
        .bind::<Jsonb, _>(refs_to_json(elements))
        .execute(conn)
        .await?;
    Ok(())
}

async fn store_attachments(
    conn: &mut AsyncPgConnection,
    message: i64,
    mail: &InboundMail,
    limit: usize,
) -> DomainResult<()> {
    for a in &mail.attachments {
        let data = (a.size <= limit).then_some(a.data.as_slice());
        diesel::sql_query(
            "INSERT INTO mail_attachments (message_id, name, content_type, size, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind::<BigInt, _>(message)
        .bind::<Text, _>(&a.name)
        .bind::<Text, _>(&a.content_type)
        .bind::<BigInt, _>(i64::try_from(a.size).unwrap_or(i64::MAX))
        .bind::<Nullable<diesel::sql_types::Binary>, _>(data)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// The elements the earliest stored message this one answers landed on: a colleague replying
/// from another address belongs to the same conversation.
async fn replied_elements(conn: &mut AsyncPgConnection, mail: &InboundMail) -> DomainResult<Vec<ElementRef>> {
    let named: Vec<String> = mail.in_reply_to.iter().chain(&mail.references).cloned().collect();
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<StoredRow> = diesel::sql_query(
        "SELECT id, activity_id, created_lead_id, elements FROM mail_messages \
         WHERE message_id = ANY($1) AND elements <> '[]'::jsonb ORDER BY array_position($1, message_id) LIMIT 1",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(&named)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(|r| refs_from_json(&r.elements)).unwrap_or_default())
}

/// Contacts, companies and leads with the sender's address that the actor can see, contacts
/// first (the owner of the activity), then companies, then leads.
async fn sender_matches(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    mail: &InboundMail,
    region: phonenumber::country::Id,
) -> DomainResult<Vec<ElementRef>> {
    // An address the CRM would not accept as an e-mail matches nothing rather than failing the mail.
    let Ok(probe) = Probe::from_raw(&[], std::slice::from_ref(&mail.from.email), &[], &[], region) else {
        return Ok(Vec::new());
    };
    let types = [ElementType::Contact, ElementType::Company, ElementType::Lead];
    let found = duplicates::find_among(conn, actor, &probe, &types).await?;
    let mut refs: Vec<ElementRef> = Vec::new();
    for et in types {
        for m in found.iter().filter(|m| m.element.element_type == et) {
            if !refs.contains(&m.element) {
                refs.push(m.element);
            }
        }
    }
    refs.truncate(MAX_BINDINGS + 1);
    Ok(refs)
}

/// First and last name from a display name: the last word is the family name.
fn split_name(name: &str) -> (Option<String>, String) {
    let name = name.trim();
    match name.rsplit_once(char::is_whitespace) {
        Some((first, last)) => (Some(clip(first.trim(), MAX_TEXT_CHARS)), clip(last, MAX_TEXT_CHARS)),
        None => (None, clip(name, MAX_TEXT_CHARS)),
    }
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

async fn create_lead(conn: &mut AsyncPgConnection, ctx: &Ctx, mail: &InboundMail) -> DomainResult<i64> {
    let mut input = Map::new();
    let title = match mail.subject.trim() {
        "" => format!("E-mail from {}", mail.from.email),
        s => s.to_owned(),
    };
    input.insert("title".into(), json!(clip(&title, MAX_TEXT_CHARS)));
    if let Some(name) = mail.from.name.as_deref().filter(|n| !n.trim().is_empty()) {
        let (first, last) = split_name(name);
        if let Some(first) = first {
            input.insert("firstName".into(), json!(first));
        }
        input.insert("lastName".into(), json!(last));
    }
    input.insert("emails".into(), json!([{ "value": mail.from.email }]));
    let source = crate::settings::rules::status_by_code(conn, "SOURCE", "EMAIL").await?.id;
    input.insert("sourceId".into(), json!(ids::encode(IdKind::StatusItem, source)));
    input.insert("assignedToId".into(), json!(ids::encode(IdKind::User, ctx.actor.user_id)));
    let write = crate::api::input::from_json::<LeadInput>(Json::Object(input))
        .map_err(|m| DomainError::bad_input("mail", m))?
        .into_write()?;
    let text = match mail.message_id.as_deref() {
        Some(id) => format!("incoming e-mail from {} <{id}>", mail.from.email),
        None => format!("incoming e-mail from {}", mail.from.email),
    };
    let op = Op::new(HistoryKind::Created, EventAction::Created, text);
    Ok(write::create_in_tx::<Lead>(conn, ctx, write, op).await?.id)
}

async fn add_activity(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    mail: &InboundMail,
    elements: &[ElementRef],
) -> DomainResult<i64> {
    let Some((&owner, rest)) = elements.split_first() else {
        return Err(anyhow::anyhow!("an activity needs an element").into());
    };
    let responsible = crate::intake::assignee_of(conn, owner).await?.unwrap_or(ctx.actor.user_id);
    let subject = match mail.subject.trim() {
        "" => "(no subject)".to_owned(),
        s => clip(s, MAX_TEXT_CHARS),
    };
    let patch = ActivityPatch {
        activity_type: Some("EMAIL".into()),
        subject: Some(subject),
        description: Some(Some(describe(mail))),
        direction: Some(Some("INCOMING".into())),
        responsible_id: Some(responsible),
        owner: Some(owner),
        bindings: Some(rest.iter().take(MAX_BINDINGS).copied().collect()),
        ..ActivityPatch::default()
    };
    Ok(activities::create(conn, ctx, patch).await?.id)
}

fn address_list(list: &[crate::intake::mail::parse::Address]) -> String {
    list.iter().map(display_address).collect::<Vec<_>>().join(", ")
}

fn display_address(a: &crate::intake::mail::parse::Address) -> String {
    match &a.name {
        Some(n) => format!("{n} <{}>", a.email),
        None => a.email.clone(),
    }
}

/// The headers a person looks for in the timeline, then the text.
pub fn describe(mail: &InboundMail) -> String {
    let mut head = vec![format!("From: {}", display_address(&mail.from))];
    if !mail.to.is_empty() {
        head.push(format!("To: {}", address_list(&mail.to)));
    }
    if !mail.cc.is_empty() {
        head.push(format!("Cc: {}", address_list(&mail.cc)));
    }
    if let Some(id) = &mail.message_id {
        head.push(format!("Message-ID: <{id}>"));
    }
    if !mail.attachments.is_empty() {
        let files: Vec<String> = mail.attachments.iter().map(|a| format!("{} ({} bytes)", a.name, a.size)).collect();
        head.push(format!("Attachments: {}", files.join(", ")));
    }
    clip(&format!("{}\n\n{}", head.join("\n"), mail.text), MAX_LONG_TEXT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_split_at_the_last_space() {
        assert_eq!(split_name("Anna Maria Schmidt"), (Some("Anna Maria".to_owned()), "Schmidt".to_owned()));
        assert_eq!(split_name(" Cher "), (None, "Cher".to_owned()));
    }

    #[test]
    fn stored_elements_read_back() {
        let refs = vec![
            ElementRef { element_type: ElementType::Contact, id: 5 },
            ElementRef { element_type: ElementType::Lead, id: 7 },
        ];
        assert_eq!(refs_from_json(&refs_to_json(&refs)), refs);
    }

    #[test]
    fn long_text_is_cut_to_the_activity_limit() {
        let mut mail = crate::intake::mail::parse::parse(b"From: a@example.com\r\nSubject: x\r\n\r\nhi\r\n")
            .unwrap_or_else(|e| panic!("{e}"));
        mail.text = "x".repeat(MAX_LONG_TEXT_CHARS + 10);
        let d = describe(&mail);
        assert_eq!(d.chars().count(), MAX_LONG_TEXT_CHARS);
        assert!(d.starts_with("From: a@example.com\n\n"));
    }
}
