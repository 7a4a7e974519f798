//! Merging duplicates: the kept element takes the first non-empty value of each field and
//! every communication, link, deal, product row and history entry of the others, which are
//! then deleted. One transaction, no orphans.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::de::DeserializeOwned;

use super::elements::{self, Ctx, Element, Op, Write};
use super::error::{DomainError, DomainResult};
use super::history::Change;
use super::permissions::Action;
use super::{ElementRef, ElementType, ids, outbox};
use crate::db::sql::{Bind, Sql};

pub const MERGED: &str = "MERGED";

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
    // Before anything else: the duplicate check below is quadratic in the list.
    super::limits::check_len("mergeIds", merge_ids.len(), super::limits::MAX_MERGE_IDS)?;
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
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let keep: T = elements::lock(conn, &ctx.actor, keep_id).await?;
        let mut merged: Vec<T> = Vec::with_capacity(others.len());
        for id in &others {
            merged.push(elements::lock(conn, &ctx.actor, *id).await?);
        }
        for m in &merged {
            ctx.actor.rights.check(T::TYPE, Action::Delete, &elements::snapshot(m)?)?;
            T::check_delete(m)?;
        }
        let et = T::TYPE;
        let mut map = elements::to_map(&keep)?;
        // Bank fields stored before they were checked would fail the kept company's write:
        // those are not carried over.
        let unchecked_bank = |k: &str, v: &serde_json::Value| {
            super::requisites::bank_field_check(k).zip(v.as_str()).is_some_and(|(check, s)| check(k, s).is_err())
        };
        for m in &merged {
            for (k, v) in elements::to_map(m)? {
                if !KEEP_OWN.contains(&k.as_str()) && !unchecked_bank(&k, &v) {
                    elements::fill_empty(&mut map, &k, &v);
                }
            }
        }
        let filled: T = serde_json::from_value(serde_json::Value::Object(map)).map_err(anyhow::Error::from)?;

        let ids_bind = || Bind::Int8s(others.clone());
        // Communications: move, then drop values the kept element already had.
        let mut q = Sql::new("UPDATE communications SET element_id = ");
        q.bind(Bind::Int8(keep_id)).push(format!(" WHERE element_type = '{}' AND element_id = ANY(", et.as_str()));
        q.bind(ids_bind()).push(")");
        exec(conn, q).await?;
        let mut q = Sql::new(format!(
            "DELETE FROM communications a USING communications b WHERE a.element_type = '{e}' AND b.element_type = '{e}' \
             AND a.element_id = ",
            e = et.as_str()
        ));
        q.bind(Bind::Int8(keep_id)).push(" AND b.element_id = a.element_id AND a.kind = b.kind AND a.normalized = b.normalized AND a.id > b.id");
        exec(conn, q).await?;
        for (table, col) in references(et) {
            let mut q = Sql::new(format!("UPDATE {table} SET {col} = "));
            q.bind(Bind::Int8(keep_id)).push(format!(" WHERE {col} = ANY(")).bind(ids_bind()).push(")");
            exec(conn, q).await?;
        }
        for (table, own, other) in links(et) {
            let mut q = Sql::new(format!(
                "INSERT INTO {table} ({own}, {other}, is_primary, sort) SELECT "
            ));
            q.bind(Bind::Int8(keep_id)).push(format!(", {other}, false, max(sort) + 100 FROM {table} WHERE {own} = ANY("));
            q.bind(ids_bind()).push(format!(") GROUP BY {other} ON CONFLICT DO NOTHING"));
            exec(conn, q).await?;
        }
        if matches!(et, ElementType::Lead | ElementType::Deal) {
            let mut q = Sql::new("UPDATE product_rows SET owner_id = ");
            q.bind(Bind::Int8(keep_id)).push(format!(" WHERE owner_type = '{}' AND owner_id = ANY(", et.as_str()));
            q.bind(ids_bind()).push(")");
            exec(conn, q).await?;
        }
        // History moves to the kept element.
        let mut q = Sql::new("UPDATE timeline_entries SET element_id = ");
        q.bind(Bind::Int8(keep_id)).push(format!(" WHERE element_type = '{}' AND element_id = ANY(", et.as_str()));
        q.bind(ids_bind()).push(")");
        exec(conn, q).await?;
        let mut q = Sql::new(format!("DELETE FROM {} WHERE id = ANY(", et.table()));
        q.bind(ids_bind()).push(")");
        exec(conn, q).await?;
        for m in &merged {
            let r = ElementRef { element_type: et, id: m.id() };
            outbox::append(conn, ctx.actor.user_id, r, outbox::DELETED, vec![], serde_json::to_value(m).map_err(anyhow::Error::from)?)
                .await?;
        }
        let names: Vec<String> = others.iter().map(|i| ids::encode(et.id_kind(), *i)).collect();
        let text = format!("merged {}", names.join(", "));
        elements::update_locked(
            conn,
            &ctx,
            keep,
            Write::fields(move |row: &mut T| {
                *row = filled;
                Ok(())
            }),
            Op { kind: MERGED, action: MERGED, text: Some(text) },
            vec![Change { field: "mergedFrom".into(), old_value: None, new_value: Some(names.join(", ")) }],
        )
        .await
    })
    .await
}
