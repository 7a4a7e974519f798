//! What each cause writes: one function per notification kind, called by the code that makes
//! the change, inside its transaction.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value as Json;

use super::rules::{self, Kind};
use super::store::{New, notify};
use crate::db::sql::{Bind, Sql};
use crate::kernel::error::DomainResult;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::{ElementRef, ElementType};

fn label(t: ElementType) -> &'static str {
    match t {
        ElementType::Lead => "Lead",
        ElementType::Contact => "Contact",
        ElementType::Company => "Company",
        ElementType::Deal => "Deal",
    }
}

/// An element's name as people read it, from its stored row.
pub fn display_name(element: ElementRef, row: &Json) -> String {
    let text = |k: &str| row.get(k).and_then(Json::as_str).map(str::trim).filter(|s| !s.is_empty());
    let person: Vec<&str> = ["first_name", "last_name"].iter().filter_map(|k| text(k)).collect();
    match (text("title"), person.is_empty()) {
        (Some(t), _) if element.element_type != ElementType::Contact => t.to_owned(),
        (_, false) => person.join(" "),
        _ => ids::encode(
            match element.element_type {
                ElementType::Lead => IdKind::Lead,
                ElementType::Contact => IdKind::Contact,
                ElementType::Company => IdKind::Company,
                ElementType::Deal => IdKind::Deal,
            },
            element.id,
        ),
    }
}

fn assignee(row: &Json) -> Option<i64> {
    row.get("assigned_to_id").and_then(Json::as_i64)
}

/// ASSIGNED: the element's assignee is new (on creation, someone other than its author).
pub async fn assigned(
    conn: &mut AsyncPgConnection,
    actor_id: i64,
    element: ElementRef,
    before: Option<&Json>,
    after: &Json,
) -> DomainResult<()> {
    let Some(to) = assignee(after) else { return Ok(()) };
    if before.and_then(assignee) == Some(to) {
        return Ok(());
    }
    let t = element.element_type;
    let new = New {
        user_id: to,
        kind: Kind::Assigned,
        title: format!("{} assigned to you: {}", label(t), display_name(element, after)),
        body: None,
        element: Some(element),
        actor_id: Some(actor_id),
        tag: Some(format!("assigned:{}:{}", t.as_str(), element.id)),
    };
    notify(conn, new).await?;
    Ok(())
}

/// DEAL_WON / DEAL_LOST: to the deal's assignee.
pub async fn deal_closed(
    conn: &mut AsyncPgConnection,
    actor_id: i64,
    deal: ElementRef,
    row: &Json,
    won: bool,
) -> DomainResult<()> {
    let Some(to) = assignee(row) else { return Ok(()) };
    let lost_reason = row.get("lost_reason").and_then(Json::as_str).map(str::to_owned);
    let (kind, verb) = if won { (Kind::DealWon, "won") } else { (Kind::DealLost, "lost") };
    let new = New {
        user_id: to,
        kind,
        title: format!("Deal {verb}: {}", display_name(deal, row)),
        body: if won { None } else { lost_reason },
        element: Some(deal),
        actor_id: Some(actor_id),
        tag: Some(format!("closed:DEAL:{}", deal.id)),
    };
    notify(conn, new).await?;
    Ok(())
}

/// MENTIONED: every user a comment mentions.
pub async fn mentioned(
    conn: &mut AsyncPgConnection,
    actor_id: i64,
    element: ElementRef,
    text: &str,
) -> DomainResult<()> {
    for user in rules::mentions(text) {
        let new = New {
            user_id: user,
            kind: Kind::Mentioned,
            title: format!("You were mentioned in a comment on a {}", label(element.element_type).to_lowercase()),
            body: Some(rules::excerpt(text)),
            element: Some(element),
            actor_id: Some(actor_id),
            tag: None,
        };
        notify(conn, new).await?;
    }
    Ok(())
}

/// CALL_MISSED: to the user the call was for; missed calls from one number collapse.
pub async fn call_missed(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    phone: &str,
    element: Option<ElementRef>,
) -> DomainResult<()> {
    let new = New {
        user_id,
        kind: Kind::CallMissed,
        title: format!("Missed call from {phone}"),
        body: Some("A call-back activity is open.".into()),
        element,
        actor_id: None,
        tag: Some(format!("missed-call:{phone}")),
    };
    notify(conn, new).await?;
    Ok(())
}

/// FORM_SUBMITTED: to the new lead's assignee. A visitor sent it, so nobody is left out as
/// its author. It takes the place of the lead's ASSIGNED notice (the same tag).
pub async fn form_submitted(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    form_name: &str,
    lead: ElementRef,
    row: &Json,
) -> DomainResult<()> {
    let new = New {
        user_id,
        kind: Kind::FormSubmitted,
        title: format!("New lead from “{form_name}”: {}", display_name(lead, row)),
        body: None,
        element: Some(lead),
        actor_id: None,
        tag: Some(format!("assigned:{}:{}", lead.element_type.as_str(), lead.id)),
    };
    notify(conn, new).await?;
    Ok(())
}

/// IMPORT_FINISHED: to the user who started the import.
pub async fn import_finished(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    job_id: i64,
    title: String,
    body: Option<String>,
) -> DomainResult<()> {
    let new = New {
        user_id,
        kind: Kind::ImportFinished,
        title,
        body,
        element: None,
        actor_id: None,
        tag: Some(format!("import:{job_id}")),
    };
    notify(conn, new).await?;
    Ok(())
}

/// WEBHOOK_DISABLED: to the endpoint's creator.
pub async fn webhook_disabled(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    webhook_id: i64,
    name: &str,
    reason: &str,
) -> DomainResult<()> {
    let new = New {
        user_id,
        kind: Kind::WebhookDisabled,
        title: format!("Webhook disabled: {name}"),
        body: Some(reason.to_owned()),
        element: None,
        actor_id: None,
        tag: Some(format!("webhook:{webhook_id}")),
    };
    notify(conn, new).await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    responsible_id: i64,
    #[diesel(sql_type = Text)]
    owner_type: String,
    #[diesel(sql_type = BigInt)]
    owner_id: i64,
    #[diesel(sql_type = Text)]
    subject: String,
}

/// DEADLINE_REACHED: open activities whose deadline fell in (`last`, `now`], to their
/// responsible users. Run by the counter ticker at the deadline.
pub async fn deadlines_reached(
    conn: &mut AsyncPgConnection,
    last: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> DomainResult<usize> {
    let mut q = Sql::new(
        "SELECT id, responsible_id, owner_type, owner_id, subject FROM activities WHERE NOT completed AND deadline > ",
    );
    q.bind(Bind::Ts(last)).push(" AND deadline <= ").bind(Bind::Ts(now)).push(" ORDER BY deadline, id LIMIT 1000");
    let due: Vec<Due> = q.load(conn).await?;
    let n = due.len();
    for a in due {
        let element = ElementType::parse(&a.owner_type).map(|element_type| ElementRef { element_type, id: a.owner_id });
        let new = New {
            user_id: a.responsible_id,
            kind: Kind::DeadlineReached,
            title: format!("Deadline reached: {}", a.subject),
            body: None,
            element,
            actor_id: None,
            tag: Some(format!("deadline:activity:{}", a.id)),
        };
        notify(conn, new).await?;
    }
    Ok(n)
}
