//! The product catalogue and the product rows of leads and deals. Row amounts follow
//! `money`; a deal's opportunity follows its gross total unless it is marked manual.

use std::collections::HashMap;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use crate::crm::shared::money::{self, Discount, RowInput};
use crate::db::schema::{product_rows, products};
use crate::kernel::access::permissions::Action;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::history::Change;
use crate::kernel::models::{Deal, Lead, Product, ProductRow};
use crate::kernel::write::{self as elements, Ctx, Op, Write};
use crate::kernel::{ElementRef, ElementType, ids, validate};

/// A product as a client describes it; `None` keeps the current value on update.
#[derive(Clone, Debug, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub sku: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub price: Option<Decimal>,
    pub currency: Option<String>,
    pub tax_rate: Option<Decimal>,
    pub tax_included: Option<bool>,
    pub unit: Option<String>,
    pub active: Option<bool>,
    pub sort: Option<i32>,
}

fn apply(p: &mut Product, patch: ProductPatch) -> DomainResult<()> {
    if let Some(n) = patch.name {
        p.name = n.trim().to_owned();
    }
    if let Some(s) = patch.sku {
        p.sku = s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    }
    if let Some(d) = patch.description {
        p.description = d;
    }
    if let Some(v) = patch.price {
        p.price = validate::unit_price("price", v)?;
    }
    if let Some(c) = patch.currency {
        p.currency = validate::currency("currency", &c)?;
    }
    if let Some(r) = patch.tax_rate {
        p.tax_rate = money::tax_rate("taxRate", r)?;
    }
    if let Some(t) = patch.tax_included {
        p.tax_included = t;
    }
    if let Some(u) = patch.unit {
        p.unit = u;
    }
    if let Some(a) = patch.active {
        p.active = a;
    }
    if let Some(s) = patch.sort {
        p.sort = s;
    }
    validate::required_text("name", Some(&p.name))?;
    if p.currency.is_empty() {
        return Err(DomainError::bad_input("currency", "`currency` is required"));
    }
    Ok(())
}

fn sku_conflict(e: diesel::result::Error) -> DomainError {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            DomainError::conflict("another product has this SKU", serde_json::Value::Null)
        }
        other => other.into(),
    }
}

/// The catalogue is a setting: its prices are what every quote starts from, so creating,
/// changing and deleting products needs the settings right. Everyone signed in may read it.
pub async fn create(conn: &mut AsyncPgConnection, ctx: &Ctx, patch: ProductPatch) -> DomainResult<Product> {
    ctx.actor.rights.check_settings()?;
    let now = Utc::now();
    let mut p = Product {
        id: 0,
        name: String::new(),
        sku: None,
        description: None,
        price: Decimal::ZERO,
        currency: String::new(),
        tax_rate: Decimal::ZERO,
        tax_included: false,
        unit: "pcs".into(),
        active: true,
        sort: 100,
        created_at: now,
        updated_at: now,
        created_by_id: Some(ctx.actor.user_id),
        updated_by_id: Some(ctx.actor.user_id),
        version: 1,
    };
    apply(&mut p, patch)?;
    diesel::insert_into(products::table)
        .values((
            products::name.eq(&p.name),
            products::sku.eq(&p.sku),
            products::description.eq(&p.description),
            products::price.eq(p.price),
            products::currency.eq(&p.currency),
            products::tax_rate.eq(p.tax_rate),
            products::tax_included.eq(p.tax_included),
            products::unit.eq(&p.unit),
            products::active.eq(p.active),
            products::sort.eq(p.sort),
            products::created_by_id.eq(p.created_by_id),
            products::updated_by_id.eq(p.updated_by_id),
        ))
        .returning(Product::as_returning())
        .get_result(conn)
        .await
        .map_err(sku_conflict)
}

async fn lock(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Product> {
    products::table
        .find(id)
        .for_update()
        .select(Product::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| DomainError::not_found(format!("product `{}`", ids::encode(ids::IdKind::Product, id))))
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    expected_version: Option<i32>,
    patch: ProductPatch,
) -> DomainResult<Product> {
    ctx.actor.rights.check_settings()?;
    let user = ctx.actor.user_id;
    conn.transaction(async move |conn| {
        let mut p = lock(conn, id).await?;
        elements::check_version(expected_version, p.version)?;
        apply(&mut p, patch)?;
        p.version += 1;
        p.updated_at = Utc::now();
        p.updated_by_id = Some(user);
        diesel::update(products::table.find(id))
            .set(&p)
            .returning(Product::as_returning())
            .get_result(conn)
            .await
            .map_err(sku_conflict)
    })
    .await
}

/// Deletes a product, or deactivates it when rows still use it (their history stays whole).
pub async fn delete(conn: &mut AsyncPgConnection, ctx: &Ctx, id: i64) -> DomainResult<i64> {
    ctx.actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        lock(conn, id).await?;
        let used: i64 = product_rows::table.filter(product_rows::product_id.eq(id)).count().get_result(conn).await?;
        if used > 0 {
            diesel::update(products::table.find(id))
                .set((products::active.eq(false), products::updated_at.eq(Utc::now())))
                .execute(conn)
                .await?;
        } else {
            diesel::delete(products::table.find(id)).execute(conn).await?;
        }
        Ok(id)
    })
    .await
}

pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[i64]) -> DomainResult<Vec<Product>> {
    Ok(products::table.filter(products::id.eq_any(ids)).select(Product::as_select()).load(conn).await?)
}

/// Product rows of many owners of one type, in list order.
pub async fn rows_of(
    conn: &mut AsyncPgConnection,
    owner: ElementType,
    ids: &[i64],
) -> DomainResult<HashMap<i64, Vec<ProductRow>>> {
    let rows: Vec<ProductRow> = product_rows::table
        .filter(product_rows::owner_type.eq(owner.as_str()))
        .filter(product_rows::owner_id.eq_any(ids))
        .order((product_rows::owner_id, product_rows::sort, product_rows::id))
        .select(ProductRow::as_select())
        .load(conn)
        .await?;
    let mut out: HashMap<i64, Vec<ProductRow>> = HashMap::new();
    for r in rows {
        out.entry(r.owner_id).or_default().push(r);
    }
    Ok(out)
}

/// The gross total of an owner's rows, or None when it has none.
pub async fn rows_total(conn: &mut AsyncPgConnection, owner: ElementType, id: i64) -> DomainResult<Option<Decimal>> {
    let rows = rows_of(conn, owner, &[id]).await?.remove(&id).unwrap_or_default();
    if rows.is_empty() {
        return Ok(None);
    }
    let total = rows.iter().try_fold(Decimal::ZERO, |sum, r| sum.checked_add(r.line_gross));
    Ok(Some(total.ok_or_else(|| anyhow::anyhow!("stored product rows of {id} sum beyond Decimal's range"))?))
}

/// One row as a client sends it.
#[derive(Clone, Debug, Default)]
pub struct RowSpec {
    pub product_id: Option<i64>,
    pub name: Option<String>,
    pub unit_price: Option<Decimal>,
    pub quantity: Option<Decimal>,
    pub discount_percent: Option<Decimal>,
    pub discount_amount: Option<Decimal>,
    pub tax_rate: Option<Decimal>,
    pub tax_included: Option<bool>,
    pub unit: Option<String>,
    pub sort: Option<i32>,
}

/// A validated row with its line amounts.
#[derive(Clone, Debug)]
pub struct CleanRow {
    pub product_id: Option<i64>,
    pub name: String,
    pub input: RowInput,
    pub discount_percent: Option<Decimal>,
    pub discount_amount: Option<Decimal>,
    pub unit: Option<String>,
    pub sort: i32,
    pub line: money::Line,
}

/// Resolves rows against the catalogue and the owner's currency. Returns the rows and the
/// currency they are in (the owner's, or the products' when the owner has none).
pub async fn clean_rows(
    conn: &mut AsyncPgConnection,
    specs: Vec<RowSpec>,
    owner_currency: Option<&str>,
) -> DomainResult<(Vec<CleanRow>, Option<String>)> {
    crate::kernel::limits::check_len("rows", specs.len(), crate::kernel::limits::MAX_PRODUCT_ROWS)?;
    let ids: Vec<i64> = specs.iter().filter_map(|s| s.product_id).collect();
    let catalogue: HashMap<i64, Product> = by_ids(conn, &ids).await?.into_iter().map(|p| (p.id, p)).collect();
    let mut currency = owner_currency.map(str::to_owned);
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let prefix = format!("rows[{i}]");
        let product = match spec.product_id {
            None => None,
            Some(id) => {
                let p = catalogue
                    .get(&id)
                    .ok_or_else(|| DomainError::bad_input(format!("{prefix}.productId"), "no such product"))?;
                if !p.active && spec.product_id.is_some() {
                    return Err(DomainError::bad_input(format!("{prefix}.productId"), "the product is deactivated"));
                }
                match &currency {
                    Some(c) if *c != p.currency => {
                        return Err(DomainError::bad_input(
                            format!("{prefix}.productId"),
                            format!("the product is priced in {}, the list is in {c}", p.currency),
                        ));
                    }
                    Some(_) => {}
                    None => currency = Some(p.currency.clone()),
                }
                Some(p)
            }
        };
        let name = spec
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .or_else(|| product.map(|p| p.name.clone()))
            .ok_or_else(|| DomainError::bad_input(format!("{prefix}.name"), "a row without a product needs a name"))?;
        let unit_price = spec.unit_price.or_else(|| product.map(|p| p.price)).ok_or_else(|| {
            DomainError::bad_input(format!("{prefix}.unitPrice"), "a row without a product needs a unit price")
        })?;
        let discount = match (spec.discount_percent, spec.discount_amount) {
            (Some(_), Some(_)) => {
                return Err(DomainError::bad_input(
                    format!("{prefix}.discountAmount"),
                    "give either a percent or an amount discount",
                ));
            }
            (Some(p), None) => Discount::Percent(p),
            (None, Some(a)) => Discount::PerUnit(a),
            (None, None) => Discount::None,
        };
        let input = RowInput {
            unit_price,
            quantity: spec.quantity.unwrap_or(Decimal::ONE),
            discount,
            tax_rate: spec.tax_rate.or_else(|| product.map(|p| p.tax_rate)).unwrap_or(Decimal::ZERO),
            tax_included: spec.tax_included.or_else(|| product.map(|p| p.tax_included)).unwrap_or(false),
        };
        money::check(&prefix, &input)?;
        let input = RowInput { unit_price: money::price_form(input.unit_price), ..input };
        out.push(CleanRow {
            product_id: spec.product_id,
            name,
            line: money::line(&prefix, &input)?,
            input,
            discount_percent: spec.discount_percent,
            discount_amount: spec.discount_amount.map(money::price_form),
            unit: spec.unit.or_else(|| product.map(|p| p.unit.clone())),
            sort: spec.sort.unwrap_or_else(|| crate::kernel::limits::position_sort(i)),
        });
    }
    Ok((out, currency))
}

/// Stores an owner's rows in place of its current ones (inside the caller's transaction).
pub async fn store_rows(
    conn: &mut AsyncPgConnection,
    owner: ElementRef,
    rows: &[CleanRow],
) -> DomainResult<(Vec<ProductRow>, Vec<String>)> {
    let old: Vec<String> = product_rows::table
        .filter(product_rows::owner_type.eq(owner.element_type.as_str()))
        .filter(product_rows::owner_id.eq(owner.id))
        .order((product_rows::sort, product_rows::id))
        .select(product_rows::name)
        .load(conn)
        .await?;
    diesel::delete(
        product_rows::table
            .filter(product_rows::owner_type.eq(owner.element_type.as_str()))
            .filter(product_rows::owner_id.eq(owner.id)),
    )
    .execute(conn)
    .await?;
    let values: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                product_rows::owner_type.eq(owner.element_type.as_str()),
                product_rows::owner_id.eq(owner.id),
                product_rows::product_id.eq(r.product_id),
                product_rows::name.eq(r.name.clone()),
                product_rows::unit_price.eq(r.input.unit_price),
                product_rows::quantity.eq(r.input.quantity),
                product_rows::discount_percent.eq(r.discount_percent),
                product_rows::discount_amount.eq(r.discount_amount),
                product_rows::tax_rate.eq(r.input.tax_rate),
                product_rows::tax_included.eq(r.input.tax_included),
                product_rows::unit.eq(r.unit.clone()),
                product_rows::sort.eq(r.sort),
                (
                    product_rows::line_net.eq(r.line.net),
                    product_rows::line_tax.eq(r.line.tax),
                    product_rows::line_gross.eq(r.line.gross),
                ),
            )
        })
        .collect();
    let stored = if values.is_empty() {
        Vec::new()
    } else {
        diesel::insert_into(product_rows::table)
            .values(values)
            .returning(ProductRow::as_returning())
            .get_results(conn)
            .await?
    };
    Ok((stored, old))
}

/// `setProductRows`: replaces a lead's or deal's rows; the owner's opportunity follows the
/// gross total (a deal's only while it is not manual). WRITE on the owner comes first, before
/// the rows are looked at, so a caller without it learns nothing from row errors.
pub async fn set_rows(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    owner: ElementRef,
    specs: Vec<RowSpec>,
) -> DomainResult<Vec<ProductRow>> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| match owner.element_type {
        ElementType::Deal => {
            let deal: Deal = elements::lock(conn, &ctx.actor, owner.id).await?;
            ctx.actor.rights.check(ElementType::Deal, Action::Write, &elements::snapshot(&deal)?)?;
            let (rows, currency) = clean_rows(conn, specs, deal.currency.as_deref()).await?;
            let (stored, old) = store_rows(conn, owner, &rows).await?;
            let total = money::list_totals(rows.iter().map(|r| r.line))?.gross;
            let manual = deal.is_manual_opportunity;
            let change = rows_change(&old, &stored);
            elements::update_locked(
                conn,
                &ctx,
                deal,
                Write::fields(move |d: &mut Deal| {
                    d.currency = currency.or(d.currency.take());
                    if !manual {
                        d.opportunity = Some(total);
                    }
                    Ok(())
                }),
                Op::updated(),
                change.into_iter().collect(),
            )
            .await?;
            Ok(stored)
        }
        ElementType::Lead => {
            let lead: Lead = elements::lock(conn, &ctx.actor, owner.id).await?;
            ctx.actor.rights.check(ElementType::Lead, Action::Write, &elements::snapshot(&lead)?)?;
            let (rows, currency) = clean_rows(conn, specs, lead.currency.as_deref()).await?;
            let (stored, old) = store_rows(conn, owner, &rows).await?;
            let total = money::list_totals(rows.iter().map(|r| r.line))?.gross;
            let change = rows_change(&old, &stored);
            elements::update_locked(
                conn,
                &ctx,
                lead,
                Write::fields(move |l: &mut Lead| {
                    l.currency = currency.or(l.currency.take());
                    l.opportunity = Some(total);
                    Ok(())
                }),
                Op::updated(),
                change.into_iter().collect(),
            )
            .await?;
            Ok(stored)
        }
        _ => Err(DomainError::bad_input("owner", "only leads and deals have product rows")),
    })
    .await
}

/// Deletes the product rows of an element being deleted (inside the caller's transaction), so
/// they neither linger unseen nor keep a product from being deleted. The change, for history.
pub(crate) async fn delete_rows_of(conn: &mut AsyncPgConnection, owner: ElementRef) -> DomainResult<Option<Change>> {
    let names: Vec<String> = diesel::delete(
        product_rows::table
            .filter(product_rows::owner_type.eq(owner.element_type.as_str()))
            .filter(product_rows::owner_id.eq(owner.id)),
    )
    .returning(product_rows::name)
    .get_results(conn)
    .await?;
    Ok(rows_change(&names, &[]))
}

fn rows_change(old: &[String], new: &[ProductRow]) -> Option<Change> {
    let new: Vec<String> = new.iter().map(|r| r.name.clone()).collect();
    // Equal names can still hide changed figures, so a replaced list is always news.
    (!(old.is_empty() && new.is_empty())).then(|| crate::kernel::history::list_change("productRows", old, &new))
}
