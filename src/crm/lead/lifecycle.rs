//! The lead lifecycle: status moves, junk, conversion into contact, company and deal (one
//! transaction), and the lead conversion report.

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::crm::shared::communications as comms;
use crate::crm::shared::communications::{CommKind, CommSet, CommValue};
use crate::crm::shared::custom_fields;
use crate::crm::shared::products;
use crate::db::schema::{contact_companies, lead_conversions};
use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::Action;
use crate::kernel::access::visibility::element_predicate;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::history::{self, Change};
use crate::kernel::models::{Communication, Company, Contact, Deal, Lead, LeadConversion};
use crate::kernel::write::{self as elements, Ctx, Op, Write};
use crate::kernel::{ElementRef, ElementType, ids, outbox};
use crate::settings::rules as settings;

pub const STATUS_CHANGED: &str = "STATUS_CHANGED";
pub const JUNKED: &str = "JUNKED";
pub const CONVERTED: &str = "CONVERTED";

/// Moves a lead between statuses. The lead rules refuse SUCCESS (conversion only) and any
/// move away from CONVERTED; a junk lead is reopened by moving it to a PROCESS status.
pub async fn set_status(conn: &mut AsyncPgConnection, ctx: &Ctx, id: i64, status_id: i64) -> DomainResult<Lead> {
    elements::get_writable::<Lead>(conn, &ctx.actor, id).await?;
    let status = settings::check_status(conn, "STATUS", status_id, "statusId").await?;
    let op = Op { kind: STATUS_CHANGED, action: outbox::UPDATED, text: Some(format!("status {}", status.name)) };
    elements::update_as(
        conn,
        ctx,
        id,
        None,
        Write::fields(move |l: &mut Lead| {
            l.status_id = status_id;
            Ok(())
        }),
        op,
    )
    .await
}

/// Junks a lead: a FAILURE status (default JUNK) with the reason in history.
pub async fn junk(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    status_id: Option<i64>,
    reason: Option<String>,
) -> DomainResult<Lead> {
    elements::get_writable::<Lead>(conn, &ctx.actor, id).await?;
    let status = match status_id {
        Some(s) => settings::check_status(conn, "STATUS", s, "statusId").await?,
        None => settings::status_by_code(conn, "STATUS", "JUNK").await?,
    };
    if status.semantics != settings::FAILURE {
        return Err(DomainError::bad_input("statusId", "junk a lead into a FAILURE status"));
    }
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let text = match &reason {
        Some(r) => format!("junk ({}): {r}", status.name),
        None => format!("junk ({})", status.name),
    };
    let op = Op { kind: JUNKED, action: outbox::UPDATED, text: Some(text) };
    elements::update_as(
        conn,
        ctx,
        id,
        None,
        Write::fields(move |l: &mut Lead| {
            l.status_id = status.id;
            l.status_description = reason;
            Ok(())
        }),
        op,
    )
    .await
}

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
        let status = settings::status_items_by_id(conn, &[lead.status_id]).await?;
        match status.into_iter().next().map(|s| s.semantics).as_deref() {
            Some(settings::SUCCESS) => {
                return Err(DomainError::conflict("the lead is already converted", serde_json::Value::Null));
            }
            Some(settings::FAILURE) => {
                return Err(DomainError::conflict("a junk lead cannot be converted; reopen it first", serde_json::Value::Null));
            }
            _ => {}
        }
        // A repeat lead already points at its contact and company.
        let contact_target = req.contact.or(lead.contact_id.map(Target::Existing));
        let company_target = req.company.or(lead.company_id.map(Target::Existing));
        if contact_target.is_none() && company_target.is_none() && req.deal.is_none() {
            return Err(DomainError::bad_input("input", "name at least one of contact, company or deal"));
        }
        check_conversion_rights(conn, &ctx.actor, &lead, contact_target, company_target, req.deal.as_ref()).await?;
        let lead_comms = comms::load(conn, ElementType::Lead, &[lead.id]).await?.remove(&lead.id).unwrap_or_default();

        let company = match company_target {
            None => None,
            Some(Target::Existing(id)) => Some(
                fill_existing::<Company>(
                    conn,
                    &ctx,
                    id,
                    "company.existingId",
                    vec![("address", json(&lead.address)), ("assigned_to_id", json(&lead.assigned_to_id))],
                    if contact_target.is_none() { &lead_comms } else { &[] },
                )
                .await?,
            ),
            Some(Target::Create) => {
                let title = lead.company_title.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                    DomainError::bad_input("company.create", "the lead has no company title to create a company from")
                })?;
                let l = lead.clone();
                let comms = if contact_target.is_none() { comm_set(&lead_comms) } else { CommSet::default() };
                let custom = custom_fields::matching(conn, ElementType::Lead, &lead.custom, ElementType::Company).await?;
                Some(
                    elements::create_in_tx::<Company>(
                        conn,
                        &ctx,
                        Write {
                            custom,
                            apply: Box::new(move |c: &mut Company| {
                                c.title = title;
                                c.address = l.address.clone();
                                c.assigned_to_id = l.assigned_to_id.or(c.assigned_to_id);
                                c.origin_lead_id = Some(l.id);
                                Ok(())
                            }),
                            comms,
                            links: None,
                            reject_duplicates: false,
                        },
                        from_lead(lead.id),
                    )
                    .await?,
                )
            }
        };

        let contact = match contact_target {
            None => None,
            Some(Target::Existing(id)) => {
                let c = fill_existing::<Contact>(
                    conn,
                    &ctx,
                    id,
                    "contact.existingId",
                    vec![
                        ("honorific", json(&lead.honorific)),
                        ("first_name", json(&lead.first_name)),
                        ("middle_name", json(&lead.middle_name)),
                        ("last_name", json(&lead.last_name)),
                        ("birthdate", json(&lead.birthdate)),
                        ("position", json(&lead.position)),
                        ("address", json(&lead.address)),
                        ("source_id", json(&lead.source_id)),
                        ("source_description", json(&lead.source_description)),
                    ],
                    &lead_comms,
                )
                .await?;
                Some(c)
            }
            Some(Target::Create) => {
                let l = lead.clone();
                let links = company.as_ref().map(|c| vec![c.id]);
                let custom = custom_fields::matching(conn, ElementType::Lead, &lead.custom, ElementType::Contact).await?;
                Some(
                    elements::create_in_tx::<Contact>(
                        conn,
                        &ctx,
                        Write {
                            custom,
                            apply: Box::new(move |c: &mut Contact| {
                                c.honorific = l.honorific.clone();
                                c.first_name = l.first_name.clone();
                                c.middle_name = l.middle_name.clone();
                                // A contact needs a name; a lead may only have a title.
                                c.last_name = l.last_name.clone().or_else(|| {
                                    l.first_name.is_none().then(|| l.title.clone().unwrap_or_else(|| "Contact".into()))
                                });
                                c.birthdate = l.birthdate;
                                c.position = l.position.clone();
                                c.address = l.address.clone();
                                c.source_id = l.source_id;
                                c.source_description = l.source_description.clone();
                                c.assigned_to_id = l.assigned_to_id.or(c.assigned_to_id);
                                c.origin_lead_id = Some(l.id);
                                Ok(())
                            }),
                            comms: comm_set(&lead_comms),
                            links,
                            reject_duplicates: false,
                        },
                        from_lead(lead.id),
                    )
                    .await?,
                )
            }
        };
        // An existing contact gets linked to the (new or existing) company too.
        if let (Some(c), Some(co), Some(Target::Existing(_))) = (&contact, &company, contact_target) {
            diesel::insert_into(contact_companies::table)
                .values((
                    contact_companies::contact_id.eq(c.id),
                    contact_companies::company_id.eq(co.id),
                    contact_companies::is_primary.eq(false),
                    contact_companies::sort.eq(100),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }

        let deal = match &req.deal {
            None => None,
            Some(target) => {
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
                let company_id = company.as_ref().map(|c| c.id);
                let contact_ids = contact.as_ref().map(|c| vec![c.id]);
                let custom = custom_fields::matching(conn, ElementType::Lead, &lead.custom, ElementType::Deal).await?;
                let deal = elements::create_in_tx::<Deal>(
                    conn,
                    &ctx,
                    Write {
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
                        links: contact_ids,
                        reject_duplicates: false,
                    },
                    from_lead(lead.id),
                )
                .await?;
                // The deal takes over the lead's product rows as they are.
                let rows = products::rows_of(conn, ElementType::Lead, &[lead.id]).await?.remove(&lead.id).unwrap_or_default();
                if !rows.is_empty() {
                    let mut q = Sql::new(
                        "INSERT INTO product_rows (owner_type, owner_id, product_id, name, unit_price, quantity, discount_percent, \
                         discount_amount, tax_rate, tax_included, unit, sort, line_net, line_tax, line_gross) \
                         SELECT 'DEAL', ",
                    );
                    q.bind(Bind::Int8(deal.id)).push(
                        ", product_id, name, unit_price, quantity, discount_percent, discount_amount, tax_rate, tax_included, \
                         unit, sort, line_net, line_tax, line_gross FROM product_rows WHERE owner_type = 'LEAD' AND owner_id = ",
                    );
                    q.bind(Bind::Int8(lead.id)).push(" ORDER BY sort, id");
                    q.execute(conn).await?;
                }
                Some(deal)
            }
        };

        diesel::insert_into(lead_conversions::table)
            .values((
                lead_conversions::lead_id.eq(lead.id),
                lead_conversions::converted_at.eq(Utc::now()),
                lead_conversions::contact_id.eq(contact.as_ref().map(|c| c.id)),
                lead_conversions::company_id.eq(company.as_ref().map(|c| c.id)),
                lead_conversions::deal_id.eq(deal.as_ref().map(|d| d.id)),
                lead_conversions::converted_by_id.eq(ctx.actor.user_id),
            ))
            .execute(conn)
            .await?;
        let converted = settings::status_by_code(conn, "STATUS", "CONVERTED").await?;
        let mut results = Vec::new();
        if let Some(c) = &contact {
            results.push(ids::encode(ids::IdKind::Contact, c.id));
        }
        if let Some(c) = &company {
            results.push(ids::encode(ids::IdKind::Company, c.id));
        }
        if let Some(d) = &deal {
            results.push(ids::encode(ids::IdKind::Deal, d.id));
        }
        let mut new_lead = lead.clone();
        new_lead.status_id = converted.id;
        new_lead.contact_id = contact.as_ref().map(|c| c.id).or(lead.contact_id);
        new_lead.company_id = company.as_ref().map(|c| c.id).or(lead.company_id);
        let mut changes = history::diff(&elements::to_map(&lead)?, &elements::to_map(&new_lead)?);
        new_lead.version = lead.version + 1;
        new_lead.updated_at = Utc::now();
        new_lead.updated_by_id = Some(ctx.actor.user_id);
        // Conversion is the one way into SUCCESS, so it stores the lead past the lead rules.
        let saved = elements::store(conn, &new_lead).await?;
        changes.push(Change { field: "convertedTo".into(), old_value: None, new_value: Some(results.join(", ")) });
        let r = ElementRef { element_type: ElementType::Lead, id: lead.id };
        history::record(conn, ctx.actor.user_id, r, CONVERTED, Some(format!("converted into {}", results.join(", "))), &changes)
            .await?;
        outbox::append(
            conn,
            ctx.actor.user_id,
            r,
            CONVERTED,
            changes.iter().map(|c| c.field.clone()).collect(),
            serde_json::to_value(&saved).map_err(anyhow::Error::from)?,
        )
        .await?;
        // The lead's open activities follow it to what it became, completed by default.
        let open = crate::activity::rules::open_of(conn, r).await?;
        if !open.is_empty() {
            let ids: Vec<i64> = open.iter().map(|a| a.id).collect();
            let targets = [
                contact.as_ref().map(|c| ElementRef { element_type: ElementType::Contact, id: c.id }),
                company.as_ref().map(|c| ElementRef { element_type: ElementType::Company, id: c.id }),
                deal.as_ref().map(|d| ElementRef { element_type: ElementType::Deal, id: d.id }),
            ];
            for t in targets.into_iter().flatten() {
                crate::activity::rules::bind(conn, &ids, t).await?;
            }
            if req.complete_activities {
                crate::activity::rules::complete_in_tx(conn, &ctx, open).await?;
            }
        }
        Ok(Converted { lead: saved, contact, company, deal })
    })
    .await
}

pub async fn conversions_of(conn: &mut AsyncPgConnection, lead_ids: &[i64]) -> DomainResult<Vec<LeadConversion>> {
    Ok(lead_conversions::table
        .filter(lead_conversions::lead_id.eq_any(lead_ids))
        .select(LeadConversion::as_select())
        .load(conn)
        .await?)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Source,
    Assignee,
}

/// One group of the lead conversion report.
#[derive(Clone, Debug, PartialEq, diesel::QueryableByName)]
pub struct ConversionGroup {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub key: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
    #[diesel(sql_type = BigInt)]
    pub converted: i64,
    #[diesel(sql_type = BigInt)]
    pub junked: i64,
}

impl ConversionGroup {
    pub fn rate(&self) -> Option<f64> {
        (self.created > 0).then(|| self.converted as f64 / self.created as f64)
    }
}

/// Leads created between `from` and `to` (inclusive dates), grouped by source or assignee:
/// how many were created, converted and junked. One SQL statement.
pub async fn conversion_report(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    group_by: GroupBy,
) -> DomainResult<Vec<ConversionGroup>> {
    let key = match group_by {
        GroupBy::Source => "t.source_id",
        GroupBy::Assignee => "t.assigned_to_id",
    };
    let mut q = Sql::new(format!(
        "SELECT {key} AS key, count(*) AS created, \
         count(*) FILTER (WHERE s.semantics = 'SUCCESS') AS converted, \
         count(*) FILTER (WHERE s.semantics = 'FAILURE') AS junked \
         FROM leads t JOIN status_items s ON s.id = t.status_id WHERE TRUE"
    ));
    if let Some(f) = from {
        q.push(" AND t.created_at >= ").bind(Bind::Date(f)).push("::date");
    }
    if let Some(t) = to {
        q.push(" AND t.created_at < (").bind(Bind::Date(t)).push("::date + 1)");
    }
    q.push(" AND ").append(&element_predicate(actor, ElementType::Lead, "t"));
    q.push(format!(" GROUP BY {key} ORDER BY {key} NULLS LAST"));
    Ok(q.load(conn).await?)
}
