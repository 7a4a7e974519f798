//! Lead conversion: one transaction turns a lead into a contact, a company and a deal (each
//! created or an existing one filled), links them, hands over the lead's open activities
//! and product rows, and marks the lead CONVERTED.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::activity::rules as activities;
use crate::crm::shared::communications as comms;
use crate::crm::shared::communications::{CommKind, CommSet, CommValue};
use crate::crm::shared::custom_fields;
use crate::crm::shared::products;
use crate::db::schema::{contact_companies, lead_conversions};
use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::Action;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::history::{self, Change};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::{Communication, Company, Contact, Deal, Lead};
use crate::kernel::write::{self as elements, Ctx, Op, Write};
use crate::kernel::{ElementRef, ElementType, ids, outbox};
use crate::settings::rules as settings;

/// Create a new element from the lead, or use an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Create,
    Existing(i64),
}

#[derive(Clone, Debug, Default)]
pub struct DealTarget {
    pub pipeline_id: Option<i64>,
    pub title: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Conversion {
    pub lead_id: i64,
    pub contact: Option<Target>,
    pub company: Option<Target>,
    pub deal: Option<DealTarget>,
    pub complete_activities: bool,
}

#[derive(Clone, Debug)]
pub struct Converted {
    pub lead: Lead,
    pub contact: Option<Contact>,
    pub company: Option<Company>,
    pub deal: Option<Deal>,
}

fn from_lead(lead_id: i64) -> Op {
    Op::created(Some(format!("from lead {}", ids::encode(ids::IdKind::Lead, lead_id))))
}

/// The lead's communications as input for a new element.
fn comm_set(list: &[Communication]) -> CommSet {
    let mut set = CommSet::default();
    for kind in CommKind::ALL {
        let values: Vec<CommValue> = list
            .iter()
            .filter(|c| c.kind == kind.as_str())
            .map(|c| CommValue { value: c.value.clone(), value_type: Some(c.value_type.clone()) })
            .collect();
        if !values.is_empty() {
            set.0.push((kind, values));
        }
    }
    set
}

/// Adds the lead's communications an existing element lacks (compared normalised).
async fn merge_comms(
    conn: &mut AsyncPgConnection,
    element: ElementRef,
    lead_comms: &[Communication],
) -> DomainResult<Vec<Change>> {
    let existing =
        comms::load(conn, element.element_type, &[element.id]).await?.remove(&element.id).unwrap_or_default();
    let mut sets = Vec::new();
    for kind in CommKind::ALL {
        let have: Vec<&Communication> = existing.iter().filter(|c| c.kind == kind.as_str()).collect();
        let add: Vec<&Communication> = lead_comms
            .iter()
            .filter(|c| c.kind == kind.as_str() && !have.iter().any(|h| h.normalized == c.normalized))
            .collect();
        if add.is_empty() {
            continue;
        }
        let all = have
            .into_iter()
            .chain(add)
            .map(|c| comms::CleanComm {
                kind,
                value_type: c.value_type.clone(),
                value: c.value.clone(),
                normalized: c.normalized.clone(),
            })
            .collect();
        sets.push((kind, all));
    }
    let changed = comms::replace(conn, element.element_type, element.id, sets).await?;
    Ok(changed.into_iter().map(|(k, o, n)| history::list_change(k.field(), &o, &n)).collect())
}

/// Links an existing element: fills its empty fields and adds missing communications.
async fn fill_existing<T: elements::Element + serde::de::DeserializeOwned>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    field: &str,
    values: Vec<(&'static str, serde_json::Value)>,
    lead_comms: &[Communication],
) -> DomainResult<T> {
    let old: T = match elements::lock::<T>(conn, &ctx.actor, id).await {
        Ok(v) => v,
        Err(DomainError::NotFound(_)) => {
            return Err(DomainError::bad_input(
                field,
                format!("`{field}` names no {}", T::TYPE.as_str().to_lowercase()),
            ));
        }
        Err(e) => return Err(e),
    };
    let extra = if T::TYPE == ElementType::Deal {
        Vec::new()
    } else {
        merge_comms(conn, ElementRef { element_type: T::TYPE, id }, lead_comms).await?
    };
    let mut map = elements::to_map(&old)?;
    // Linking an existing element only fills its empty fields.
    for (k, v) in &values {
        elements::fill_empty(&mut map, k, v);
    }
    let filled: T = serde_json::from_value(serde_json::Value::Object(map)).map_err(anyhow::Error::from)?;
    elements::update_locked(
        conn,
        ctx,
        old,
        Write::fields(move |row: &mut T| {
            *row = filled;
            Ok(())
        }),
        Op::updated(),
        extra,
    )
    .await
}

/// Conversion writes the lead, creates some elements and fills others: before any of it, the
/// caller needs ADD for each element it creates (judged on the row it would create: the
/// lead's assignee, `opened`, the deal's pipeline) and WRITE on each existing one it fills.
async fn check_conversion_rights(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    lead: &Lead,
    contact: Option<Target>,
    company: Option<Target>,
    deal: Option<&DealTarget>,
) -> DomainResult<()> {
    let rights = &actor.rights;
    // What `blank` and the conversion give a new element.
    let assignee = lead.assigned_to_id.or(Some(actor.user_id));
    let new_row = |pipeline_id: Option<i64>| serde_json::json!({ "assigned_to_id": assignee, "opened": true, "pipeline_id": pipeline_id });
    match company {
        Some(Target::Create) => rights.check(ElementType::Company, Action::Add, &new_row(None))?,
        Some(Target::Existing(id)) => existing_writable::<Company>(conn, actor, id, "company.existingId").await?,
        None => {}
    }
    match contact {
        Some(Target::Create) => rights.check(ElementType::Contact, Action::Add, &new_row(None))?,
        Some(Target::Existing(id)) => existing_writable::<Contact>(conn, actor, id, "contact.existingId").await?,
        None => {}
    }
    if let Some(d) = deal {
        let pipeline_id = match d.pipeline_id {
            Some(p) => p,
            None => settings::default_pipeline(conn).await?.id,
        };
        rights.check(ElementType::Deal, Action::Add, &new_row(Some(pipeline_id)))?;
    }
    Ok(())
}

/// WRITE on an existing conversion target; one the caller cannot read names nothing.
async fn existing_writable<T: elements::Element>(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: i64,
    field: &str,
) -> DomainResult<()> {
    match elements::get_writable::<T>(conn, actor, id).await {
        Err(DomainError::NotFound(_)) => {
            Err(DomainError::bad_input(field, format!("`{field}` names no {}", T::TYPE.as_str().to_lowercase())))
        }
        other => other.map(drop),
    }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// `convertLead`: one transaction creates or fills the targets, links them, marks the lead
/// CONVERTED and records history and events. Concurrent conversions of one lead queue on
/// the lead's row lock; all but the first then find it converted (CONFLICT).
pub async fn convert(conn: &mut AsyncPgConnection, ctx: &Ctx, req: Conversion) -> DomainResult<Converted> {
    use diesel_async::AsyncConnection;
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let lead: Lead = elements::lock(conn, &ctx.actor, req.lead_id).await?;
        ctx.actor.rights.check(ElementType::Lead, Action::Write, &elements::snapshot(&lead)?)?;
        check_convertible(conn, &lead).await?;
        // A repeat lead already points at its contact and company.
        let contact_target = req.contact.or(lead.contact_id.map(Target::Existing));
        let company_target = req.company.or(lead.company_id.map(Target::Existing));
        if contact_target.is_none() && company_target.is_none() && req.deal.is_none() {
            return Err(DomainError::bad_input("input", "name at least one of contact, company or deal"));
        }
        check_conversion_rights(conn, &ctx.actor, &lead, contact_target, company_target, req.deal.as_ref()).await?;
        let lead_comms = comms::load(conn, ElementType::Lead, &[lead.id]).await?.remove(&lead.id).unwrap_or_default();
        // Without a contact, the company takes the lead's communications.
        let company_comms = if contact_target.is_none() { &lead_comms[..] } else { &[] };
        let company = match company_target {
            None => None,
            Some(target) => Some(company_from(conn, &ctx, &lead, target, company_comms).await?),
        };
        let contact = match contact_target {
            None => None,
            Some(target) => Some(contact_from(conn, &ctx, &lead, target, &lead_comms, company.as_ref()).await?),
        };
        let deal = match &req.deal {
            None => None,
            Some(target) => Some(deal_from(conn, &ctx, &lead, target, company.as_ref(), contact.as_ref()).await?),
        };
        let saved = mark_converted(conn, &ctx, &lead, contact.as_ref(), company.as_ref(), deal.as_ref()).await?;
        hand_over_activities(
            conn,
            &ctx,
            &lead,
            [
                contact.as_ref().map(|c| ElementRef { element_type: ElementType::Contact, id: c.id }),
                company.as_ref().map(|c| ElementRef { element_type: ElementType::Company, id: c.id }),
                deal.as_ref().map(|d| ElementRef { element_type: ElementType::Deal, id: d.id }),
            ],
            req.complete_activities,
        )
        .await?;
        Ok(Converted { lead: saved, contact, company, deal })
    })
    .await
}

/// A converted lead stays converted, and a junk lead must be reopened first (CONFLICT).
async fn check_convertible(conn: &mut AsyncPgConnection, lead: &Lead) -> DomainResult<()> {
    let status = settings::status_items_by_id(conn, &[lead.status_id]).await?;
    match status.into_iter().next().map(|s| s.semantics).as_deref() {
        Some(settings::SUCCESS) => Err(DomainError::conflict("the lead is already converted", serde_json::Value::Null)),
        Some(settings::FAILURE) => {
            Err(DomainError::conflict("a junk lead cannot be converted; reopen it first", serde_json::Value::Null))
        }
        _ => Ok(()),
    }
}

/// The company the lead becomes: an existing one filled from the lead, or a new one from
/// the lead's company title.
async fn company_from(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    lead: &Lead,
    target: Target,
    lead_comms: &[Communication],
) -> DomainResult<Company> {
    if let Target::Existing(id) = target {
        let fields = vec![("address", json(&lead.address)), ("assigned_to_id", json(&lead.assigned_to_id))];
        return fill_existing::<Company>(conn, ctx, id, "company.existingId", fields, lead_comms).await;
    }
    let title = lead.company_title.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        DomainError::bad_input("company.create", "the lead has no company title to create a company from")
    })?;
    let l = lead.clone();
    let custom = custom_fields::matching(conn, ElementType::Lead, &lead.custom, ElementType::Company).await?;
    let write = Write {
        custom,
        apply: Box::new(move |c: &mut Company| {
            c.title = title;
            c.address = l.address.clone();
            c.assigned_to_id = l.assigned_to_id.or(c.assigned_to_id);
            c.origin_lead_id = Some(l.id);
            Ok(())
        }),
        comms: comm_set(lead_comms),
        links: None,
        reject_duplicates: false,
    };
    elements::create_in_tx::<Company>(conn, ctx, write, from_lead(lead.id)).await
}

/// The contact the lead becomes: an existing one filled from the lead (and linked to the
/// company), or a new one with the lead's name and communications.
async fn contact_from(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    lead: &Lead,
    target: Target,
    lead_comms: &[Communication],
    company: Option<&Company>,
) -> DomainResult<Contact> {
    if let Target::Existing(id) = target {
        let fields = vec![
            ("honorific", json(&lead.honorific)),
            ("first_name", json(&lead.first_name)),
            ("middle_name", json(&lead.middle_name)),
            ("last_name", json(&lead.last_name)),
            ("birthdate", json(&lead.birthdate)),
            ("position", json(&lead.position)),
            ("address", json(&lead.address)),
            ("source_id", json(&lead.source_id)),
            ("source_description", json(&lead.source_description)),
        ];
        let contact = fill_existing::<Contact>(conn, ctx, id, "contact.existingId", fields, lead_comms).await?;
        if let Some(company) = company {
            link_contact_to_company(conn, contact.id, company.id).await?;
        }
        return Ok(contact);
    }
    let l = lead.clone();
    let custom = custom_fields::matching(conn, ElementType::Lead, &lead.custom, ElementType::Contact).await?;
    let write = Write {
        custom,
        apply: Box::new(move |c: &mut Contact| {
            c.honorific = l.honorific.clone();
            c.first_name = l.first_name.clone();
            c.middle_name = l.middle_name.clone();
            // A contact needs a name; a lead may only have a title.
            c.last_name = l
                .last_name
                .clone()
                .or_else(|| l.first_name.is_none().then(|| l.title.clone().unwrap_or_else(|| "Contact".into())));
            c.birthdate = l.birthdate;
            c.position = l.position.clone();
            c.address = l.address.clone();
            c.source_id = l.source_id;
            c.source_description = l.source_description.clone();
            c.assigned_to_id = l.assigned_to_id.or(c.assigned_to_id);
            c.origin_lead_id = Some(l.id);
            Ok(())
        }),
        comms: comm_set(lead_comms),
        links: company.map(|c| vec![c.id]),
        reject_duplicates: false,
    };
    elements::create_in_tx::<Contact>(conn, ctx, write, from_lead(lead.id)).await
}

/// An existing contact is linked to the (new or existing) company too.
async fn link_contact_to_company(conn: &mut AsyncPgConnection, contact_id: i64, company_id: i64) -> DomainResult<()> {
    diesel::insert_into(contact_companies::table)
        .values((
            contact_companies::contact_id.eq(contact_id),
            contact_companies::company_id.eq(company_id),
            contact_companies::is_primary.eq(false),
            contact_companies::sort.eq(100),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The new deal: the lead's money, source and assignee, the company and contact the
/// conversion produced, and the lead's product rows as they are.
async fn deal_from(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    lead: &Lead,
    target: &DealTarget,
    company: Option<&Company>,
    contact: Option<&Contact>,
) -> DomainResult<Deal> {
    let pipeline_id = match target.pipeline_id {
        Some(p) => settings::pipeline(conn, p, "deal.pipelineId").await?.id,
        None => settings::default_pipeline(conn).await?.id,
    };
    let title = target
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| lead.title.clone())
        .unwrap_or_else(|| format!("Deal from lead {}", lead.id));
    let l = lead.clone();
    let company_id = company.map(|c| c.id);
    let custom = custom_fields::matching(conn, ElementType::Lead, &lead.custom, ElementType::Deal).await?;
    let write = Write {
        custom,
        apply: Box::new(move |d: &mut Deal| {
            d.title = title;
            d.pipeline_id = pipeline_id;
            d.opportunity = l.opportunity;
            d.currency = l.currency.clone();
            d.source_id = l.source_id;
            d.assigned_to_id = l.assigned_to_id.or(d.assigned_to_id);
            d.company_id = company_id;
            d.origin_lead_id = Some(l.id);
            Ok(())
        }),
        comms: CommSet::default(),
        links: contact.map(|c| vec![c.id]),
        reject_duplicates: false,
    };
    let deal = elements::create_in_tx::<Deal>(conn, ctx, write, from_lead(lead.id)).await?;
    copy_product_rows(conn, lead.id, deal.id).await?;
    Ok(deal)
}

/// The deal takes over the lead's product rows with their stored amounts.
async fn copy_product_rows(conn: &mut AsyncPgConnection, lead_id: i64, deal_id: i64) -> DomainResult<()> {
    let rows = products::rows_of(conn, ElementType::Lead, &[lead_id]).await?.remove(&lead_id).unwrap_or_default();
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = Sql::new(include_str!("copy_product_rows.sql"));
    q.bind(Bind::Int8(deal_id)).push(include_str!("copy_product_rows_from.sql"));
    q.bind(Bind::Int8(lead_id)).push(" ORDER BY sort, id");
    q.execute(conn).await?;
    Ok(())
}

/// Records the conversion, moves the lead to CONVERTED past the lead rules (conversion is
/// the one way into SUCCESS), and writes its history entry and event.
async fn mark_converted(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    lead: &Lead,
    contact: Option<&Contact>,
    company: Option<&Company>,
    deal: Option<&Deal>,
) -> DomainResult<Lead> {
    diesel::insert_into(lead_conversions::table)
        .values((
            lead_conversions::lead_id.eq(lead.id),
            lead_conversions::converted_at.eq(Utc::now()),
            lead_conversions::contact_id.eq(contact.map(|c| c.id)),
            lead_conversions::company_id.eq(company.map(|c| c.id)),
            lead_conversions::deal_id.eq(deal.map(|d| d.id)),
            lead_conversions::converted_by_id.eq(ctx.actor.user_id),
        ))
        .execute(conn)
        .await?;
    let converted = settings::status_by_code(conn, "STATUS", "CONVERTED").await?;
    let results: Vec<String> = [
        contact.map(|c| ids::encode(ids::IdKind::Contact, c.id)),
        company.map(|c| ids::encode(ids::IdKind::Company, c.id)),
        deal.map(|d| ids::encode(ids::IdKind::Deal, d.id)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut new_lead = lead.clone();
    new_lead.status_id = converted.id;
    new_lead.contact_id = contact.map(|c| c.id).or(lead.contact_id);
    new_lead.company_id = company.map(|c| c.id).or(lead.company_id);
    let mut changes = history::diff(&elements::to_map(lead)?, &elements::to_map(&new_lead)?);
    new_lead.version = lead.version + 1;
    new_lead.updated_at = Utc::now();
    new_lead.updated_by_id = Some(ctx.actor.user_id);
    let saved = elements::store(conn, &new_lead).await?;
    changes.push(Change { field: "convertedTo".into(), old_value: None, new_value: Some(results.join(", ")) });
    let r = ElementRef { element_type: ElementType::Lead, id: lead.id };
    let text = Some(format!("converted into {}", results.join(", ")));
    history::record(conn, ctx.actor.user_id, r, HistoryKind::Converted, text, &changes).await?;
    let fields = changes.iter().map(|c| c.field.clone()).collect();
    let payload = serde_json::to_value(&saved).map_err(anyhow::Error::from)?;
    outbox::append(conn, ctx.actor.user_id, r, EventAction::Converted, fields, payload).await?;
    Ok(saved)
}

/// The lead's open activities follow it to what it became, completed by default.
async fn hand_over_activities(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    lead: &Lead,
    targets: [Option<ElementRef>; 3],
    complete: bool,
) -> DomainResult<()> {
    let open = activities::open_of(conn, ElementRef { element_type: ElementType::Lead, id: lead.id }).await?;
    if open.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = open.iter().map(|a| a.id).collect();
    for t in targets.into_iter().flatten() {
        activities::bind(conn, &ids, t).await?;
    }
    if complete {
        activities::complete_in_tx(conn, ctx, open).await?;
    }
    Ok(())
}
