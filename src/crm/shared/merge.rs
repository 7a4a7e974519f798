//! Merging duplicates: the kept element takes the first non-empty value of each field (and
//! of each custom field code) and every communication, link, deal, product row, activity,
//! activity binding and history entry of the others, which are then deleted. A kept company
//! fills its empty requisites from the merged ones and gains their bank accounts; leads
//! converted into a merged element point at the kept one, and a kept lead takes over a merged
//! lead's conversion when it has none. One transaction, no orphans.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;

use crate::crm::company::requisites;
use crate::crm::lead::lifecycle as leads;
use crate::crm::shared::custom_fields;
use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::Action;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::history::Change;
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::write::{self as elements, Ctx, Element, Op, Write};
use crate::kernel::{ElementRef, ElementType, ids, outbox};

/// Bookkeeping fields the kept element never takes from others.
const KEEP_OWN: &[&str] =
    &["id", "created_at", "updated_at", "created_by_id", "updated_by_id", "version", "is_my_company"];

/// Columns elsewhere that point at an element of this type: (table, column).
fn references(t: ElementType) -> &'static [(&'static str, &'static str)] {
    match t {
        ElementType::Lead => {
            &[("deals", "origin_lead_id"), ("contacts", "origin_lead_id"), ("companies", "origin_lead_id")]
        }
        ElementType::Contact => &[("leads", "contact_id"), ("lead_conversions", "contact_id")],
        ElementType::Company => &[("leads", "company_id"), ("deals", "company_id"), ("lead_conversions", "company_id")],
        ElementType::Deal => &[("lead_conversions", "deal_id")],
    }
}

/// Link tables keyed by (element, other): (table, own column, other column).
fn links(t: ElementType) -> &'static [(&'static str, &'static str, &'static str)] {
    match t {
        ElementType::Contact => {
            &[("contact_companies", "contact_id", "company_id"), ("deal_contacts", "contact_id", "deal_id")]
        }
        ElementType::Company => &[("contact_companies", "company_id", "contact_id")],
        ElementType::Deal => &[("deal_contacts", "deal_id", "contact_id")],
        ElementType::Lead => &[],
    }
}

async fn exec(conn: &mut AsyncPgConnection, q: Sql) -> DomainResult<()> {
    q.execute(conn).await?;
    Ok(())
}

pub async fn merge<T: Element + DeserializeOwned>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    keep_id: i64,
    merge_ids: Vec<i64>,
) -> DomainResult<T> {
    let others = distinct_others(keep_id, merge_ids)?;
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let (mut keep, merged) = lock_checked::<T>(conn, &ctx, keep_id, &others).await?;
        let et = T::TYPE;
        let mut map = combined(&keep, &merged)?;
        let mut extra = Vec::new();
        if et == ElementType::Lead
            && let Some(status_id) = take_conversion(conn, keep_id, &merged, &mut extra).await?
        {
            keep = take_converted_status(keep, &mut map, status_id, &mut extra)?;
        }
        if et == ElementType::Company {
            extra.extend(merge_requisites(conn, ctx.actor.user_id, keep_id, &others).await?);
        }
        let filled: T = serde_json::from_value(serde_json::Value::Object(map)).map_err(anyhow::Error::from)?;
        move_related(conn, &ctx, et, keep_id, &others).await?;
        for m in &merged {
            let r = ElementRef { element_type: et, id: m.id() };
            let payload = serde_json::to_value(m).map_err(anyhow::Error::from)?;
            outbox::append(conn, ctx.actor.user_id, r, EventAction::Deleted, vec![], payload).await?;
        }
        let names: Vec<String> = others.iter().map(|i| ids::encode(et.id_kind(), *i)).collect();
        let text = format!("merged {}", names.join(", "));
        let merged_from = Change { field: "mergedFrom".into(), old_value: None, new_value: Some(names.join(", ")) };
        elements::update_locked(
            conn,
            &ctx,
            keep,
            Write::fields(move |row: &mut T| {
                *row = filled;
                Ok(())
            }),
            Op::new(HistoryKind::Merged, EventAction::Merged, text),
            std::iter::once(merged_from).chain(extra).collect(),
        )
        .await
    })
    .await
}

/// The merged ids without repeats; the kept one may not be among them.
fn distinct_others(keep_id: i64, merge_ids: Vec<i64>) -> DomainResult<Vec<i64>> {
    // Before anything else: the duplicate check below is quadratic in the list.
    crate::kernel::limits::check_len("mergeIds", merge_ids.len(), crate::kernel::limits::MAX_MERGE_IDS)?;
    let mut others: Vec<i64> = Vec::new();
    for id in merge_ids {
        if !others.contains(&id) {
            others.push(id);
        }
    }
    if others.is_empty() {
        return Err(DomainError::bad_input("mergeIds", "name at least one element to merge"));
    }
    if others.contains(&keep_id) {
        return Err(DomainError::bad_input("mergeIds", "an element cannot be merged with itself"));
    }
    Ok(others)
}

/// Locks the kept and the merged elements, and checks WRITE on the kept one and DELETE on
/// each merged one, before anything moves.
async fn lock_checked<T: Element + DeserializeOwned>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    keep_id: i64,
    others: &[i64],
) -> DomainResult<(T, Vec<T>)> {
    let keep: T = elements::lock(conn, &ctx.actor, keep_id).await?;
    ctx.actor.rights.check(T::TYPE, Action::Write, &elements::snapshot(&keep)?)?;
    T::check_rights(&ctx.actor, &keep)?;
    let mut merged: Vec<T> = Vec::with_capacity(others.len());
    for id in others {
        merged.push(elements::lock(conn, &ctx.actor, *id).await?);
    }
    for m in &merged {
        ctx.actor.rights.check(T::TYPE, Action::Delete, &elements::snapshot(m)?)?;
        T::check_rights(&ctx.actor, m)?;
    }
    for m in &merged {
        T::check_delete(m)?;
    }
    Ok((keep, merged))
}

/// The kept element's fields, its empty ones filled from the merged elements in order.
fn combined<T: Element>(keep: &T, merged: &[T]) -> DomainResult<serde_json::Map<String, serde_json::Value>> {
    let mut map = elements::to_map(keep)?;
    // Bank fields stored before they were checked would fail the kept company's write:
    // those are not carried over.
    let unchecked_bank = |k: &str, v: &serde_json::Value| {
        requisites::bank_field_check(k).zip(v.as_str()).is_some_and(|(check, s)| check(k, s).is_err())
    };
    for m in merged {
        for (k, v) in elements::to_map(m)? {
            if k == "custom" {
                custom_fields::fill_empty(map.entry(k).or_insert_with(custom_fields::empty), &v);
            } else if !KEEP_OWN.contains(&k.as_str()) && !unchecked_bank(&k, &v) {
                elements::fill_empty(&mut map, &k, &v);
            }
        }
    }
    Ok(map)
}

/// Conversion is the one way into SUCCESS, so the kept lead takes the merged lead's
/// converted status past the lead rules, as `convertLead` stores it.
fn take_converted_status<T: Element + DeserializeOwned>(
    keep: T,
    map: &mut serde_json::Map<String, serde_json::Value>,
    status_id: i64,
    extra: &mut Vec<Change>,
) -> DomainResult<T> {
    let mut old = elements::to_map(&keep)?;
    let status = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_i64).map(|s| ids::encode(ids::IdKind::StatusItem, s))
    };
    extra.push(Change {
        field: "statusId".into(),
        old_value: status(old.get("status_id")),
        new_value: status(Some(&status_id.into())),
    });
    map.insert("status_id".into(), status_id.into());
    old.insert("status_id".into(), status_id.into());
    Ok(serde_json::from_value(serde_json::Value::Object(old)).map_err(anyhow::Error::from)?)
}

/// Moves what belongs to the merged elements to the kept one (communications without
/// repeats, references, links, product rows, activities and their bindings, history) and
/// deletes the merged rows.
async fn move_related(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    et: ElementType,
    keep_id: i64,
    others: &[i64],
) -> DomainResult<()> {
    let ids_bind = || Bind::Int8s(others.to_vec());
    let e = et.as_str();
    // Communications: move, then drop values the kept element already had.
    let mut q = Sql::new("UPDATE communications SET element_id = ");
    q.bind(Bind::Int8(keep_id)).push(format!(" WHERE element_type = '{e}' AND element_id = ANY("));
    q.bind(ids_bind()).push(")");
    exec(conn, q).await?;
    let mut q = Sql::new(include_str!("merge_comms_dedupe.sql").replace("{e}", e));
    q.bind(Bind::Int8(keep_id)).push(include_str!("merge_comms_dedupe_tail.sql"));
    exec(conn, q).await?;
    for (table, col) in references(et) {
        let mut q = Sql::new(format!("UPDATE {table} SET {col} = "));
        q.bind(Bind::Int8(keep_id)).push(format!(" WHERE {col} = ANY(")).bind(ids_bind()).push(")");
        exec(conn, q).await?;
    }
    for (table, own, other) in links(et) {
        let mut q = Sql::new(format!("INSERT INTO {table} ({own}, {other}, is_primary, sort) SELECT "));
        q.bind(Bind::Int8(keep_id)).push(format!(", {other}, false, max(sort) + 100 FROM {table} WHERE {own} = ANY("));
        q.bind(ids_bind()).push(format!(") GROUP BY {other} ON CONFLICT DO NOTHING"));
        exec(conn, q).await?;
    }
    if matches!(et, ElementType::Lead | ElementType::Deal) {
        let mut q = Sql::new("UPDATE product_rows SET owner_id = ");
        q.bind(Bind::Int8(keep_id)).push(format!(" WHERE owner_type = '{e}' AND owner_id = ANY("));
        q.bind(ids_bind()).push(")");
        exec(conn, q).await?;
    }
    // Activities owned by a merged element belong to the kept one; bindings to a merged
    // element bind the kept one (once).
    let mut q = Sql::new("UPDATE activities SET version = version + 1, updated_at = now(), owner_id = ");
    q.bind(Bind::Int8(keep_id)).push(", updated_by_id = ").bind(Bind::Int8(ctx.actor.user_id));
    q.push(format!(" WHERE owner_type = '{e}' AND owner_id = ANY(")).bind(ids_bind()).push(")");
    exec(conn, q).await?;
    let mut q = Sql::new(format!(
        "INSERT INTO activity_bindings (activity_id, element_type, element_id) SELECT DISTINCT activity_id, '{e}', "
    ));
    q.bind(Bind::Int8(keep_id));
    q.push(format!(" FROM activity_bindings WHERE element_type = '{e}' AND element_id = ANY("));
    q.bind(ids_bind()).push(") ON CONFLICT DO NOTHING");
    exec(conn, q).await?;
    let mut q = Sql::new(format!("DELETE FROM activity_bindings WHERE element_type = '{e}' AND element_id = ANY("));
    q.bind(ids_bind()).push(")");
    exec(conn, q).await?;
    // History moves to the kept element.
    let mut q = Sql::new("UPDATE timeline_entries SET element_id = ");
    q.bind(Bind::Int8(keep_id)).push(format!(" WHERE element_type = '{e}' AND element_id = ANY("));
    q.bind(ids_bind()).push(")");
    exec(conn, q).await?;
    let mut q = Sql::new(format!("DELETE FROM {} WHERE id = ANY(", et.table()));
    q.bind(ids_bind()).push(")");
    exec(conn, q).await
}

/// A kept lead without a conversion takes over the first merged lead's (in `mergeIds` order)
/// and, with it, that lead's converted status (returned). Every other
/// merged conversion is written into the kept lead's history before its record goes with its
/// lead; what those leads became already points at the kept lead (`origin_lead_id`).
async fn take_conversion<T: Element>(
    conn: &mut AsyncPgConnection,
    keep_id: i64,
    merged: &[T],
    history_out: &mut Vec<Change>,
) -> DomainResult<Option<i64>> {
    let ids: Vec<i64> = std::iter::once(keep_id).chain(merged.iter().map(Element::id)).collect();
    let conversions = leads::conversions_of(conn, &ids).await?;
    let mut taken = conversions.iter().any(|c| c.lead_id == keep_id);
    let mut out = None;
    for m in merged {
        let Some(c) = conversions.iter().find(|c| c.lead_id == m.id()) else { continue };
        let lead = ids::encode(ids::IdKind::Lead, c.lead_id);
        if !taken {
            let mut q = Sql::new("UPDATE lead_conversions SET lead_id = ");
            q.bind(Bind::Int8(keep_id)).push(" WHERE lead_id = ").bind(Bind::Int8(c.lead_id));
            exec(conn, q).await?;
            out = elements::to_map(m)?.get("status_id").and_then(serde_json::Value::as_i64);
            history_out.push(Change { field: "conversionFrom".into(), old_value: None, new_value: Some(lead) });
            taken = true;
        } else {
            let became: Vec<String> = [
                c.contact_id.map(|i| ids::encode(ids::IdKind::Contact, i)),
                c.company_id.map(|i| ids::encode(ids::IdKind::Company, i)),
                c.deal_id.map(|i| ids::encode(ids::IdKind::Deal, i)),
            ]
            .into_iter()
            .flatten()
            .collect();
            history_out.push(Change {
                field: format!("mergedConversion.{lead}"),
                old_value: None,
                new_value: Some(format!("converted {} into {}", c.converted_at.to_rfc3339(), became.join(", "))),
            });
        }
    }
    Ok(out)
}

/// Fills the kept company's empty requisites from the merged companies' (`requisites::
/// fill_from`); the merged companies' requisites go with them. The changes, for history.
async fn merge_requisites(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    keep_id: i64,
    others: &[i64],
) -> DomainResult<Vec<Change>> {
    let ids: Vec<i64> = std::iter::once(keep_id).chain(others.iter().copied()).collect();
    let found = requisites::of(conn, &ids).await?;
    let kept = found.iter().find(|r| r.company_id == keep_id).cloned().unwrap_or_else(|| requisites::none_for(keep_id));
    let merged: Vec<requisites::Requisites> =
        others.iter().filter_map(|id| found.iter().find(|r| r.company_id == *id).cloned()).collect();
    let new = requisites::fill_from(&kept, &merged)?;
    let changes = requisites::changes(&kept, &new);
    if !changes.is_empty() {
        requisites::upsert(conn, user_id, &new).await?;
    }
    Ok(changes)
}
