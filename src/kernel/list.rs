//! Generic list engine: typed filter conditions, keyset pagination that is stable under any
//! ordering (NULLs included), total counts, and nested connections batched for many parents
//! in one statement (a window function per parent). All element lists go through here, and
//! every statement carries the visibility predicate.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::deserialize::QueryableByName;
use diesel::pg::Pg;
use diesel::row::NamedRow;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value as Json;

use crate::db::sql::{Bind, Sql};
use crate::kernel::ElementType;
use crate::kernel::access::visibility;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::limits::{MAX_CUSTOM_IN_VALUES, MAX_FILTER_DEPTH, MAX_FILTER_NODES, MAX_IN_VALUES, MAX_ORDER_KEYS};
use crate::kernel::models;

pub const MAX_PAGE: i64 = 500;
pub const DEFAULT_PAGE: i64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    Int8,
    Int4,
    Text,
    Decimal,
    Date,
    DateTime,
    Bool,
    /// A custom field value (`custom -> 'UF_…'`), compared as `jsonb`.
    Json,
}

/// A typed filter operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int8(i64),
    Int4(i32),
    Text(String),
    Decimal(Decimal),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Bool(bool),
    Json(Json),
}

impl Value {
    fn bind(self) -> Bind {
        match self {
            Value::Int8(v) => Bind::Int8(v),
            Value::Int4(v) => Bind::Int4(v),
            Value::Text(v) => Bind::Text(v),
            Value::Decimal(v) => Bind::Numeric(v),
            Value::Date(v) => Bind::Date(v),
            Value::DateTime(v) => Bind::Ts(v),
            Value::Bool(v) => Bind::Bool(v),
            Value::Json(v) => Bind::Jsonb(crate::db::sql::JsonText(v.to_string())),
        }
    }
}

fn bind_array(values: Vec<Value>) -> DomainResult<Bind> {
    let first = <[Value]>::first(&values).cloned();
    macro_rules! collect {
        ($variant:ident, $bind:ident) => {
            Bind::$bind(
                values.into_iter().filter_map(|v| if let Value::$variant(x) = v { Some(x) } else { None }).collect(),
            )
        };
    }
    Ok(match first {
        None => return Err(anyhow::anyhow!("empty `in` list reached the binder").into()),
        Some(Value::Int8(_)) => collect!(Int8, Int8s),
        Some(Value::Int4(_)) => collect!(Int4, Int4s),
        Some(Value::Text(_)) => collect!(Text, Texts),
        Some(Value::Decimal(_)) => collect!(Decimal, Numerics),
        Some(Value::Date(_)) => collect!(Date, Dates),
        Some(Value::DateTime(_)) => collect!(DateTime, Tss),
        Some(Value::Bool(_) | Value::Json(_)) => {
            return Err(DomainError::bad_input("in", "`in` is not supported for this field"));
        }
    })
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Eq(Value),
    Neq(Value),
    In(Vec<Value>),
    Gt(Value),
    Gte(Value),
    Lt(Value),
    Lte(Value),
    Contains(String),
    StartsWith(String),
    IsNull(bool),
}

/// A filter condition over the element table aliased `t`. Column names come from code,
/// never from input.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Field {
        column: &'static str,
        op: Op,
    },
    /// A communication (phone, e-mail, ...) of the element matches on its normalised value.
    Comm {
        element: ElementType,
        kind: &'static str,
        op: Op,
    },
    /// An activity is bound to this element.
    Bound(crate::kernel::ElementRef),
    /// A custom field value (`custom_fields`); `code` is checked to be a field code.
    Custom {
        code: String,
        op: CustomOp,
    },
    /// The element is linked to one of these ids through a link table.
    Linked {
        table: &'static str,
        own_col: &'static str,
        other_col: &'static str,
        op: Op,
    },
}

/// Comparisons of a custom field's stored JSON value (values are in stored form: see
/// `custom_fields::filter_value`). Multiple fields match when any of their values does.
#[derive(Clone, Debug, PartialEq)]
pub enum CustomOp {
    Eq(Json),
    Neq(Json),
    In(Vec<Json>),
    Gt(Json),
    Gte(Json),
    Lt(Json),
    Lte(Json),
    Contains(String),
    IsNull(bool),
}

/// A JSON scalar's type as `jsonb_typeof` names it, with its bounds within jsonb's total
/// order (null < string < number < boolean < array < object) as (lower inclusive, upper
/// exclusive) literals where jsonb has one. Adding them to a range comparison keeps it on the
/// field's btree index instead of running into the values of other types. None for lists and
/// null, which are not one value to compare with.
fn jsonb_scalar(v: &Json) -> Option<(&'static str, Option<&'static str>, Option<&'static str>)> {
    match v {
        Json::String(_) => Some(("string", Some("\"\""), None)),
        Json::Number(_) => Some(("number", None, Some("false"))),
        // Empty top-level arrays sort below null, so the first array above booleans is `[null]`.
        Json::Bool(_) => Some(("boolean", Some("false"), Some("[null]"))),
        Json::Object(_) => Some(("object", Some("{}"), None)),
        Json::Array(_) | Json::Null => None,
    }
}

/// Custom field conditions, written so that each can use an index: equality and lists as
/// containment on the `custom` GIN index (a single value `{"UF_X": v}` or a list holding it
/// `{"UF_X": [v]}`), ranges on the field's btree expression index, bounded to the operand's
/// JSON type, with the elements of list values (multiple fields, stored as arrays, which sort
/// between booleans and objects) as a second indexed range.
fn compile_custom(code: &str, op: CustomOp) -> DomainResult<Sql> {
    let code = crate::crm::shared::custom_fields::check_code("customField.code", code)?;
    // The same expression as the field's btree index, so the planner can use it.
    let target = format!("(t.custom -> '{code}')");
    let jsonb = |v: Json| Bind::Jsonb(crate::db::sql::JsonText(v.to_string()));
    let scalar = |name: &str, v: &Json| {
        jsonb_scalar(v).ok_or_else(|| {
            DomainError::bad_input(
                format!("customField.{name}"),
                "compare with one value (use `in` for several, `isNull` for none)",
            )
        })
    };
    let eq = |s: &mut Sql, v: &Json| {
        s.push("(t.custom @> ")
            .bind(jsonb(serde_json::json!({ code.as_str(): v })))
            .push(" OR t.custom @> ")
            .bind(jsonb(serde_json::json!({ code.as_str(): [v] })))
            .push(")");
        if v.is_object() {
            // Containment of objects is partial; an amount or address matches only as a whole.
            s.push(format!(" AND ({target} = ")).bind(jsonb(v.clone())).push(format!(
                " OR (jsonb_typeof({target}) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements({target}) e(v) \
                 WHERE e.v = "
            ));
            s.bind(jsonb(v.clone())).push(")))");
        }
    };
    let range = |s: &mut Sql, name: &str, sym: &str, v: Json| -> DomainResult<()> {
        let (kind, lower, upper) = scalar(name, &v)?;
        let mut bounds = String::new();
        if let Some(l) = lower {
            bounds.push_str(&format!(" AND {target} >= '{l}'::jsonb"));
        }
        if let Some(u) = upper {
            bounds.push_str(&format!(" AND {target} < '{u}'::jsonb"));
        }
        s.push(format!("(({target} {sym} ")).bind(jsonb(v.clone())).push(format!(
            "{bounds} AND jsonb_typeof({target}) = '{kind}') OR ({target} >= '[null]'::jsonb AND {target} < '{{}}'::jsonb \
             AND EXISTS (SELECT 1 FROM jsonb_array_elements({target}) e(v) WHERE e.v {sym} "
        ));
        s.bind(jsonb(v)).push(format!(" AND jsonb_typeof(e.v) = '{kind}')))"));
        Ok(())
    };
    let mut s = Sql::default();
    match op {
        CustomOp::Eq(v) => {
            scalar("eq", &v)?;
            s.push("(");
            eq(&mut s, &v);
            s.push(")");
        }
        CustomOp::Neq(v) => {
            scalar("neq", &v)?;
            s.push("NOT (");
            eq(&mut s, &v);
            s.push(")");
        }
        CustomOp::In(vs) if vs.is_empty() => {
            s.push("FALSE");
        }
        CustomOp::In(vs) => {
            let mut parts = Vec::with_capacity(vs.len());
            for v in &vs {
                scalar("in", v)?;
                let mut p = Sql::default();
                eq(&mut p, v);
                parts.push(p);
            }
            s.push("(").append(&Sql::join(&parts, " OR ", "FALSE")).push(")");
        }
        CustomOp::Gt(v) => range(&mut s, "gt", ">", v)?,
        CustomOp::Gte(v) => range(&mut s, "gte", ">=", v)?,
        CustomOp::Lt(v) => range(&mut s, "lt", "<", v)?,
        CustomOp::Lte(v) => range(&mut s, "lte", "<=", v)?,
        CustomOp::Contains(v) => {
            s.push(format!("lower(t.custom ->> '{code}') LIKE "))
                .bind(Bind::Text(format!("%{}%", escape_like(&v.to_lowercase()))));
        }
        CustomOp::IsNull(true) => {
            s.push(format!("{target} IS NULL"));
        }
        CustomOp::IsNull(false) => {
            s.push(format!("{target} IS NOT NULL"));
        }
    }
    Ok(s)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn compile_op(target: &str, op: Op) -> DomainResult<Sql> {
    let mut s = Sql::default();
    match op {
        Op::Eq(v) => {
            s.push(format!("{target} = ")).bind(v.bind());
        }
        Op::Neq(v) => {
            s.push(format!("{target} IS DISTINCT FROM ")).bind(v.bind());
        }
        // An empty list matches nothing, whatever the column's type.
        Op::In(vs) if vs.is_empty() => {
            s.push("FALSE");
        }
        Op::In(vs) => {
            s.push(format!("{target} = ANY(")).bind(bind_array(vs)?).push(")");
        }
        Op::Gt(v) => {
            s.push(format!("{target} > ")).bind(v.bind());
        }
        Op::Gte(v) => {
            s.push(format!("{target} >= ")).bind(v.bind());
        }
        Op::Lt(v) => {
            s.push(format!("{target} < ")).bind(v.bind());
        }
        Op::Lte(v) => {
            s.push(format!("{target} <= ")).bind(v.bind());
        }
        Op::Contains(v) => {
            s.push(format!("lower({target}) LIKE ")).bind(Bind::Text(format!("%{}%", escape_like(&v.to_lowercase()))));
        }
        Op::StartsWith(v) => {
            s.push(format!("lower({target}) LIKE ")).bind(Bind::Text(format!("{}%", escape_like(&v.to_lowercase()))));
        }
        Op::IsNull(true) => {
            s.push(format!("{target} IS NULL"));
        }
        Op::IsNull(false) => {
            s.push(format!("{target} IS NOT NULL"));
        }
    }
    Ok(s)
}

/// How deep a condition tree may nest: each level of filter objects in the input gives two
/// levels here (the object's conjunction, and the `and`/`or` list or `not` holding it, or the
/// operators at the bottom).
const MAX_COND_DEPTH: usize = 2 * MAX_FILTER_DEPTH;

/// Checks a condition's size before it is compiled (compilation recurses once per level):
/// at most `MAX_COND_DEPTH` levels, `MAX_FILTER_NODES` nodes, and `in` lists within
/// `MAX_IN_VALUES` (`MAX_CUSTOM_IN_VALUES` for custom fields). Walks with its own stack.
pub fn check_filter(cond: &Cond) -> DomainResult<()> {
    let mut stack = vec![(cond, 1usize)];
    let mut nodes = 0usize;
    while let Some((c, depth)) = stack.pop() {
        nodes += 1;
        if nodes > MAX_FILTER_NODES {
            return Err(DomainError::bad_input(
                "filter",
                format!("a filter holds at most {MAX_FILTER_NODES} conditions, lists and objects"),
            ));
        }
        if depth > MAX_COND_DEPTH {
            return Err(DomainError::bad_input(
                "filter",
                format!("`and`, `or` and `not` nest at most {MAX_FILTER_DEPTH} levels"),
            ));
        }
        match c {
            Cond::And(cs) | Cond::Or(cs) => stack.extend(cs.iter().map(|c| (c, depth + 1))),
            Cond::Not(c) => stack.push((c, depth + 1)),
            Cond::Field { op, .. } | Cond::Comm { op, .. } | Cond::Linked { op, .. } => {
                if let Op::In(vs) = op {
                    crate::kernel::limits::check_len("in", vs.len(), MAX_IN_VALUES)?;
                }
            }
            Cond::Custom { op: CustomOp::In(vs), .. } => {
                crate::kernel::limits::check_len("customField.in", vs.len(), MAX_CUSTOM_IN_VALUES)?;
            }
            Cond::Custom { .. } | Cond::Bound(_) => {}
        }
    }
    Ok(())
}

/// Compiles a condition checked by `check_filter`.
pub fn compile(cond: Cond) -> DomainResult<Sql> {
    Ok(match cond {
        Cond::And(cs) => {
            let parts = cs.into_iter().map(compile).collect::<DomainResult<Vec<_>>>()?;
            Sql::join(&parts, " AND ", "TRUE")
        }
        Cond::Or(cs) => {
            let parts = cs.into_iter().map(compile).collect::<DomainResult<Vec<_>>>()?;
            Sql::join(&parts, " OR ", "FALSE")
        }
        Cond::Not(c) => {
            // NULL comparisons would make NOT drop rows it should keep ("title is not X"
            // includes leads without a title).
            let mut s = Sql::new("NOT COALESCE((");
            s.append(&compile(*c)?).push("), FALSE)");
            s
        }
        Cond::Field { column, op } => compile_op(&format!("t.{column}"), op)?,
        Cond::Custom { code, op } => compile_custom(&code, op)?,
        Cond::Comm { element, kind, op } => {
            let (exists, op) = match op {
                Op::IsNull(is_null) => (!is_null, None),
                other => (true, Some(other)),
            };
            let mut s = Sql::new(if exists { "EXISTS (" } else { "NOT EXISTS (" });
            s.push(format!(
                "SELECT 1 FROM communications c WHERE c.element_type = '{}' AND c.element_id = t.id AND c.kind = '{kind}'",
                element.as_str()
            ));
            if let Some(op) = op {
                s.push(" AND ").append(&compile_op("c.normalized", op)?);
            }
            s.push(")");
            s
        }
        Cond::Bound(r) => {
            let mut s = Sql::new(format!(
                "EXISTS (SELECT 1 FROM activity_bindings ab WHERE ab.activity_id = t.id AND ab.element_type = '{}' AND ab.element_id = ",
                r.element_type.as_str()
            ));
            s.bind(Bind::Int8(r.id)).push(")");
            s
        }
        Cond::Linked { table, own_col, other_col, op } => {
            let (exists, op) = match op {
                Op::IsNull(is_null) => (!is_null, None),
                other => (true, Some(other)),
            };
            let mut s = Sql::new(if exists { "EXISTS (" } else { "NOT EXISTS (" });
            s.push(format!("SELECT 1 FROM {table} l WHERE l.{own_col} = t.id"));
            if let Some(op) = op {
                s.push(" AND ").append(&compile_op(&format!("l.{other_col}"), op)?);
            }
            s.push(")");
            s
        }
    })
}

/// One ordering key. The row's id always follows as the final tie-breaker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderKey {
    /// A built-in column, or a custom field's sort expression (`custom_sort_column`).
    pub column: Cow<'static, str>,
    pub ty: FieldType,
    pub desc: bool,
}

/// A list's order keys: at most `MAX_ORDER_KEYS`, each column once (a repeated key changes
/// nothing but the size of the keyset condition).
pub fn check_order(keys: &[OrderKey]) -> DomainResult<()> {
    crate::kernel::limits::check_len("orderBy", keys.len(), MAX_ORDER_KEYS)?;
    for (i, k) in keys.iter().enumerate() {
        if keys.iter().take(i).any(|o| o.column == k.column) {
            return Err(DomainError::bad_input("orderBy", format!("`orderBy` names one field twice (entry {i})")));
        }
    }
    Ok(())
}

/// What a client asked for: filter, order and a window of the list.
#[derive(Clone, Debug, Default)]
pub struct ListArgs {
    pub filter: Option<Cond>,
    pub order: Vec<OrderKey>,
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// The predicate `<alias>.element_type = '<TYPE>'` for a relation's `extra`, as static text.
macro_rules! element_type_is {
    ($alias:literal, $element:expr) => {
        match $element {
            $crate::kernel::ElementType::Lead => concat!($alias, ".element_type = 'LEAD'"),
            $crate::kernel::ElementType::Contact => concat!($alias, ".element_type = 'CONTACT'"),
            $crate::kernel::ElementType::Company => concat!($alias, ".element_type = 'COMPANY'"),
            $crate::kernel::ElementType::Deal => concat!($alias, ".element_type = 'DEAL'"),
        }
    };
}
pub(crate) use element_type_is;

/// How a nested connection hangs off its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Relation {
    /// Extra FROM clause, e.g. a link table aliased `r`.
    pub join: &'static str,
    /// Expression giving the parent id of a row.
    pub parent: &'static str,
    /// Extra fixed predicate (e.g. the element type of timeline entries).
    pub extra: &'static str,
}

/// A compiled list query: hashable so that equal nested connections of many parents share
/// one DataLoader batch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Plan {
    pub table: &'static str,
    pub relation: Option<Relation>,
    pub filter: Sql,
    pub keyset: Sql,
    pub order: Vec<OrderKey>,
    pub limit: i64,
    pub backward: bool,
    pub has_after: bool,
    pub has_before: bool,
}

pub trait Listable: QueryableByName<Pg> + Serialize + Clone + Send + Sync + 'static {
    const TABLE: &'static str;
    /// The select list over the table aliased `t`.
    const SELECT: &'static str = "t.*";
    fn row_id(&self) -> i64;
    fn visibility(actor: &Actor, alias: &str) -> Sql;
    /// The JSON value of one column, for cursors.
    fn column_json(&self, column: &str) -> Json;
}

/// The sort expression of a custom field. Made per request, not interned: codes come from
/// clients, and a process-wide table of them could be filled with made-up codes.
pub fn custom_sort_column(code: &str) -> DomainResult<Cow<'static, str>> {
    let code = crate::crm::shared::custom_fields::check_code("orderBy.customField", code)?;
    Ok(Cow::Owned(format!("custom -> '{code}'")))
}

/// The code of a custom field sort expression made by `custom_sort_column`.
fn custom_code(column: &str) -> Option<&str> {
    column.strip_prefix("custom -> '")?.strip_suffix('\'')
}

/// Implements `Listable`; the listed columns (those lists sort by) get a direct accessor so
/// that cursors do not serialise whole rows.
macro_rules! listable {
    ($ty:ty, $table:literal, |$actor:ident, $alias:ident| $vis:expr, [$($col:ident),* $(,)?]) => {
        listable!($ty, $table, |$actor, $alias| $vis, [$($col),*], "t.*");
    };
    ($ty:ty, $table:literal, |$actor:ident, $alias:ident| $vis:expr, [$($col:ident),* $(,)?], $select:literal) => {
        impl Listable for $ty {
            const TABLE: &'static str = $table;
            const SELECT: &'static str = $select;
            fn row_id(&self) -> i64 {
                self.id
            }
            fn visibility($actor: &Actor, $alias: &str) -> Sql {
                $vis
            }
            fn column_json(&self, column: &str) -> Json {
                let value = match column {
                    $(stringify!($col) => serde_json::to_value(&self.$col),)*
                    _ => {
                        let row = serde_json::to_value(self).unwrap_or(Json::Null);
                        let found = match custom_code(column) {
                            Some(code) => row.get("custom").and_then(|c| c.get(code)),
                            None => row.get(column),
                        };
                        return found.cloned().unwrap_or(Json::Null);
                    }
                };
                value.unwrap_or(Json::Null)
            }
        }
    };
}
listable!(
    models::Lead,
    "leads",
    |a, t| visibility::element_predicate(a, ElementType::Lead, t),
    [id, title, last_name, company_title, status_id, opportunity, assigned_to_id, created_at, updated_at]
);
listable!(
    models::Contact,
    "contacts",
    |a, t| visibility::element_predicate(a, ElementType::Contact, t),
    [id, first_name, last_name, position, birthdate, assigned_to_id, created_at, updated_at]
);
listable!(
    models::Company,
    "companies",
    |a, t| visibility::element_predicate(a, ElementType::Company, t),
    [id, title, revenue, assigned_to_id, created_at, updated_at]
);
listable!(
    models::Deal,
    "deals",
    |a, t| visibility::element_predicate(a, ElementType::Deal, t),
    [id, title, stage_id, probability, opportunity, begin_date, close_date, assigned_to_id, created_at, updated_at]
);
listable!(models::TimelineEntry, "timeline_entries", |a, t| visibility::timeline_predicate(a, t), [id]);
// An activity is as visible as its owner element.
listable!(
    models::Activity,
    "activities",
    |a, t| activity_visibility(a, t),
    [id, deadline, start_at, created_at, updated_at],
    // `type` is a Rust keyword: the row field reads the column under an alias.
    "t.*, t.type AS type_"
);

fn activity_visibility(actor: &Actor, alias: &str) -> Sql {
    let mut parts = Vec::new();
    for et in ElementType::ALL {
        let mut s = Sql::new(format!(
            "({alias}.owner_type = '{e}' AND EXISTS (SELECT 1 FROM {table} o WHERE o.id = {alias}.owner_id AND ",
            e = et.as_str(),
            table = et.table()
        ));
        s.append(&visibility::element_predicate(actor, et, "o")).push("))");
        parts.push(s);
    }
    Sql::join(&parts, " OR ", "FALSE")
}
// The catalogue is shared by the whole team.
listable!(models::Product, "products", |_a, _t| Sql::new("TRUE"), [id, name, sku, price, sort, created_at, updated_at]);
// Colleagues are visible to every signed-in user, as in any CRM's user picker.
listable!(models::User, "users", |_a, _t| Sql::new("TRUE"), [id, name, email, created_at]);

fn page_size(n: Option<i32>, name: &str) -> DomainResult<Option<i64>> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Err(DomainError::bad_input(name, format!("`{name}` must not be negative"))),
        Some(n) if i64::from(n) > MAX_PAGE => Err(DomainError::bad_input(
            name,
            format!("`{name}` is at most {MAX_PAGE}; page through larger lists with cursors"),
        )),
        Some(n) => Ok(Some(i64::from(n))),
    }
}

/// Names a list and its full order (the id tie-breaker included) in a cursor, so that a
/// cursor of another list or order is refused instead of being read as this one's. FNV-1a:
/// stable across builds and platforms, unlike `std`'s hasher.
fn order_tag(table: &str, keys: &[OrderKey]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = table.bytes().chain(keys.iter().flat_map(|k| {
        std::iter::once(b'|').chain(k.column.bytes()).chain(std::iter::once(if k.desc { b'-' } else { b'+' }))
    }));
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A cursor: URL-safe base64 of the JSON array `[tag, value of each key...]`.
pub fn encode_cursor(table: &str, keys: &[OrderKey], values: Vec<Json>) -> String {
    let mut all = Vec::with_capacity(values.len() + 1);
    all.push(Json::String(order_tag(table, keys)));
    all.extend(values);
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&all).unwrap_or_default())
}

/// The key values of a cursor made by `encode_cursor` for this table and these keys.
fn decode_cursor(raw: &str, table: &str, keys: &[OrderKey], field: &str) -> DomainResult<Vec<Option<Value>>> {
    let bad = || DomainError::bad_input(field, format!("`{field}` is not a cursor of this list and order"));
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).map_err(|_| bad())?;
    let all: Vec<Json> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let Some((Json::String(tag), values)) = all.split_first() else {
        return Err(bad());
    };
    if *tag != order_tag(table, keys) || values.len() != keys.len() {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(values.len());
    let types = keys.iter().map(|k| k.ty);
    for (v, ty) in values.iter().zip(types) {
        if v.is_null() {
            out.push(None);
            continue;
        }
        let parsed = match ty {
            FieldType::Int8 => v.as_i64().map(Value::Int8),
            FieldType::Int4 => v.as_i64().and_then(|n| i32::try_from(n).ok()).map(Value::Int4),
            FieldType::Text => v.as_str().map(|s| Value::Text(s.to_owned())),
            FieldType::Decimal => v.as_str().and_then(|s| s.parse().ok()).map(Value::Decimal),
            FieldType::Date => v.as_str().and_then(|s| s.parse().ok()).map(Value::Date),
            FieldType::DateTime => v.as_str().and_then(|s| s.parse().ok()).map(Value::DateTime),
            FieldType::Bool => v.as_bool().map(Value::Bool),
            FieldType::Json => Some(Value::Json(v.clone())),
        };
        out.push(Some(parsed.ok_or_else(bad)?));
    }
    Ok(out)
}

fn all_keys(order: &[OrderKey]) -> Vec<OrderKey> {
    let mut keys: Vec<OrderKey> = order.iter().filter(|k| k.column != "id").cloned().collect();
    let id_desc = order.iter().find(|k| k.column == "id").map(|k| k.desc).unwrap_or(false);
    keys.push(OrderKey { column: Cow::Borrowed("id"), ty: FieldType::Int8, desc: id_desc });
    keys
}

/// Rows strictly after `values` in the (possibly reversed) order. ASC sorts NULLs last and
/// DESC sorts them first, so reversing the order keeps NULLs consistent.
fn keyset(keys: &[OrderKey], values: Vec<Option<Value>>, reversed: bool) -> Sql {
    let mut alternatives = Vec::new();
    let mut equal_prefix: Vec<Sql> = Vec::new();
    for (key, value) in keys.iter().zip(values) {
        let col = format!("t.{}", key.column);
        let desc = key.desc != reversed;
        let mut greater = match (&value, desc) {
            (None, false) => Sql::new("FALSE"),
            (None, true) => Sql::new(format!("{col} IS NOT NULL")),
            (Some(v), false) => {
                let mut s = Sql::new(format!("({col} > "));
                s.bind(v.clone().bind()).push(format!(" OR {col} IS NULL)"));
                s
            }
            (Some(v), true) => {
                let mut s = Sql::new(format!("{col} < "));
                s.bind(v.clone().bind());
                s
            }
        };
        let mut alt = equal_prefix.clone();
        alt.push(std::mem::take(&mut greater));
        alternatives.push(Sql::join(&alt, " AND ", "TRUE"));
        equal_prefix.push(match value {
            None => Sql::new(format!("{col} IS NULL")),
            Some(v) => {
                let mut s = Sql::new(format!("{col} = "));
                s.bind(v.bind());
                s
            }
        });
    }
    Sql::join(&alternatives, " OR ", "FALSE")
}

fn order_sql(keys: &[OrderKey], reversed: bool, alias: &str) -> String {
    keys.iter()
        .map(|k| {
            if k.desc != reversed {
                format!("{alias}{} DESC NULLS FIRST", k.column)
            } else {
                format!("{alias}{} ASC NULLS LAST", k.column)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compiles list arguments for `T` as seen by `actor`, optionally below a relation.
pub fn plan<T: Listable>(actor: &Actor, args: ListArgs, relation: Option<Relation>) -> DomainResult<Arc<Plan>> {
    let first = page_size(args.first, "first")?;
    let last = page_size(args.last, "last")?;
    if first.is_some() && last.is_some() {
        return Err(DomainError::bad_input("last", "pass either `first` or `last`, not both"));
    }
    let backward = last.is_some() || (first.is_none() && args.before.is_some() && args.after.is_none());
    let limit = first.or(last).unwrap_or(DEFAULT_PAGE);
    check_order(&args.order)?;
    let keys = all_keys(&args.order);

    let mut filter = vec![T::visibility(actor, "t")];
    if let Some(cond) = args.filter {
        check_filter(&cond)?;
        filter.push(compile(cond)?);
    }
    if let Some(rel) = relation
        && !rel.extra.is_empty()
    {
        filter.push(Sql::new(rel.extra));
    }
    let mut keyset_parts = Vec::new();
    if let Some(after) = &args.after {
        keyset_parts.push(keyset(&keys, decode_cursor(after, T::TABLE, &keys, "after")?, false));
    }
    if let Some(before) = &args.before {
        keyset_parts.push(keyset(&keys, decode_cursor(before, T::TABLE, &keys, "before")?, true));
    }
    Ok(Arc::new(Plan {
        table: T::TABLE,
        relation,
        filter: Sql::join(&filter, " AND ", "TRUE"),
        keyset: Sql::join(&keyset_parts, " AND ", "TRUE"),
        order: keys,
        limit,
        backward,
        has_after: args.after.is_some(),
        has_before: args.before.is_some(),
    }))
}

impl ListArgs {
    /// The custom field codes the filter and the order name, each with the input field that
    /// named it (`customField.code`, `orderBy`), so unknown ones can be refused by name.
    pub fn custom_codes(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        let mut stack: Vec<&Cond> = self.filter.iter().collect();
        while let Some(c) = stack.pop() {
            match c {
                Cond::And(cs) | Cond::Or(cs) => stack.extend(cs),
                Cond::Not(c) => stack.push(c),
                Cond::Custom { code, .. } => out.push((code.clone(), "customField.code")),
                Cond::Field { .. } | Cond::Comm { .. } | Cond::Bound(_) | Cond::Linked { .. } => {}
            }
        }
        out.extend(self.order.iter().filter_map(|k| custom_code(&k.column)).map(|c| (c.to_owned(), "orderBy")));
        out.dedup();
        out
    }
}

/// One page of rows with what the connection needs to answer `pageInfo` and cursors.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_next: bool,
    pub has_previous: bool,
    pub order: Vec<OrderKey>,
}

impl<T: Listable> Page<T> {
    fn from_rows(plan: &Plan, mut rows: Vec<T>) -> Self {
        // The limit is a page size (0..=MAX_PAGE), so it fits.
        let limit = usize::try_from(plan.limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        if plan.backward {
            rows.reverse();
        }
        let (has_next, has_previous) = if plan.backward { (plan.has_before, more) } else { (more, plan.has_after) };
        Page { rows, has_next, has_previous, order: plan.order.clone() }
    }

    pub fn cursor(order: &[OrderKey], row: &T) -> String {
        encode_cursor(T::TABLE, order, order.iter().map(|k| row.column_json(&k.column)).collect())
    }
}

fn from_clause(plan: &Plan) -> String {
    match plan.relation {
        Some(rel) => format!("{} t {}", plan.table, rel.join),
        None => format!("{} t", plan.table),
    }
}

/// Runs a top-level list.
pub async fn list<T: Listable>(conn: &mut AsyncPgConnection, plan: &Plan) -> DomainResult<Page<T>> {
    let mut q = Sql::new(format!("SELECT {} FROM {} WHERE ", T::SELECT, from_clause(plan)));
    q.append(&plan.filter).push(" AND ").append(&plan.keyset);
    q.push(format!(" ORDER BY {} LIMIT ", order_sql(&plan.order, plan.backward, "t.")));
    q.bind(Bind::Int8(plan.limit + 1));
    let rows: Vec<T> = q.load(conn).await?;
    Ok(Page::from_rows(plan, rows))
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Counts all rows matching the plan's filter (ignoring the page window).
pub async fn count(conn: &mut AsyncPgConnection, plan: &Plan) -> DomainResult<i64> {
    let mut q = Sql::new(format!("SELECT count(*) AS count FROM {} WHERE ", from_clause(plan)));
    q.append(&plan.filter);
    let row: CountRow = q.get_result(conn).await?;
    Ok(row.count)
}

/// A row together with the parent it was loaded for.
pub struct Keyed<T> {
    pub parent: i64,
    pub row: T,
}

impl<T: QueryableByName<Pg>> QueryableByName<Pg> for Keyed<T> {
    fn build<'a>(row: &impl NamedRow<'a, Pg>) -> diesel::deserialize::Result<Self> {
        Ok(Keyed { parent: NamedRow::get::<BigInt, i64>(row, "__parent")?, row: T::build(row)? })
    }
}

/// Loads one page per parent for all `parents` in one statement.
pub async fn list_nested<T: Listable>(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    parents: &[i64],
) -> DomainResult<HashMap<i64, Page<T>>> {
    let rel = plan.relation.ok_or_else(|| anyhow::anyhow!("nested list without a relation"))?;
    let mut q = Sql::new(format!(
        "SELECT s.* FROM (SELECT {sel}, {p} AS __parent, row_number() OVER (PARTITION BY {p} ORDER BY {o}) AS __rn FROM {f} WHERE {p} = ANY(",
        sel = T::SELECT,
        p = rel.parent,
        o = order_sql(&plan.order, plan.backward, "t."),
        f = from_clause(plan),
    ));
    q.bind(Bind::Int8s(parents.to_vec())).push(") AND ");
    q.append(&plan.filter).push(" AND ").append(&plan.keyset);
    q.push(") s WHERE s.__rn <= ").bind(Bind::Int8(plan.limit + 1)).push(" ORDER BY s.__parent, s.__rn");
    let rows: Vec<Keyed<T>> = q.load(conn).await?;
    let mut grouped: HashMap<i64, Vec<T>> = HashMap::new();
    for k in rows {
        grouped.entry(k.parent).or_default().push(k.row);
    }
    Ok(parents.iter().map(|p| (*p, Page::from_rows(plan, grouped.remove(p).unwrap_or_default()))).collect())
}

#[derive(QueryableByName)]
struct ParentCount {
    #[diesel(sql_type = BigInt)]
    __parent: i64,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Counts matching rows per parent in one statement.
pub async fn count_nested(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    parents: &[i64],
) -> DomainResult<HashMap<i64, i64>> {
    let rel = plan.relation.ok_or_else(|| anyhow::anyhow!("nested count without a relation"))?;
    let mut q = Sql::new(format!(
        "SELECT {p} AS __parent, count(*) AS count FROM {f} WHERE {p} = ANY(",
        p = rel.parent,
        f = from_clause(plan)
    ));
    q.bind(Bind::Int8s(parents.to_vec())).push(") AND ").append(&plan.filter).push(" GROUP BY 1");
    let rows: Vec<ParentCount> = q.load(conn).await?;
    let mut out: HashMap<i64, i64> = rows.into_iter().map(|r| (r.__parent, r.count)).collect();
    for p in parents {
        out.entry(*p).or_insert(0);
    }
    Ok(out)
}

/// The elements linked to many owners through a link table (a deal's contacts, a contact's
/// companies), visible to `actor`, in link order, in one statement.
pub async fn linked<T: Listable>(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    link_table: &str,
    own_col: &str,
    other_col: &str,
    owners: &[i64],
) -> DomainResult<HashMap<i64, Vec<T>>> {
    let mut q = Sql::new(format!(
        "SELECT {}, l.{own_col} AS __parent FROM {link_table} l JOIN {} t ON t.id = l.{other_col} WHERE l.{own_col} = ANY(",
        T::SELECT,
        T::TABLE
    ));
    q.bind(Bind::Int8s(owners.to_vec())).push(") AND ").append(&T::visibility(actor, "t"));
    q.push(format!(" ORDER BY l.{own_col}, l.sort, l.{other_col}"));
    let rows: Vec<Keyed<T>> = q.load(conn).await?;
    let mut out: HashMap<i64, Vec<T>> = owners.iter().map(|o| (*o, Vec::new())).collect();
    for r in rows {
        out.entry(r.parent).or_default().push(r.row);
    }
    Ok(out)
}

/// Loads rows of `T` by id, visible to `actor`, in one statement.
pub async fn by_ids<T: Listable>(conn: &mut AsyncPgConnection, actor: &Actor, ids: &[i64]) -> DomainResult<Vec<T>> {
    let mut q = Sql::new(format!("SELECT {} FROM {} t WHERE t.id = ANY(", T::SELECT, T::TABLE));
    q.bind(Bind::Int8s(ids.to_vec())).push(") AND ").append(&T::visibility(actor, "t"));
    Ok(q.load(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::debug_query;

    fn text(s: &Sql) -> String {
        debug_query::<Pg, _>(s).to_string()
    }

    #[test]
    fn keyset_handles_nulls_in_both_directions() {
        let keys = vec![
            OrderKey { column: Cow::Borrowed("title"), ty: FieldType::Text, desc: false },
            OrderKey { column: Cow::Borrowed("id"), ty: FieldType::Int8, desc: false },
        ];
        let after_null = keyset(&keys, vec![None, Some(Value::Int8(5))], false);
        assert_eq!(
            text(&after_null),
            "((FALSE)) OR ((t.title IS NULL) AND ((t.id > $1 OR t.id IS NULL))) -- binds: [5]"
        );
        let before_value = keyset(&keys, vec![Some(Value::Text("m".into())), Some(Value::Int8(5))], true);
        assert_eq!(
            text(&before_value),
            "((t.title < $1)) OR ((t.title = $2) AND (t.id < $3)) -- binds: [\"m\", \"m\", 5]"
        );
    }

    #[test]
    fn contains_escapes_like_wildcards() {
        let s = compile(Cond::Field { column: "title", op: Op::Contains("50%_Off".into()) }).unwrap();
        assert_eq!(text(&s), "lower(t.title) LIKE $1 -- binds: [\"%50\\\\%\\\\_off%\"]");
    }

    #[test]
    fn page_size_limits() {
        assert!(page_size(Some(501), "first").is_err());
        assert!(page_size(Some(-1), "first").is_err());
        assert_eq!(page_size(Some(500), "first").unwrap(), Some(500));
    }

    #[test]
    fn cursor_round_trip_checks_shape() {
        let order = all_keys(&[OrderKey { column: Cow::Borrowed("opportunity"), ty: FieldType::Decimal, desc: true }]);
        let c = encode_cursor("deals", &order, vec![Json::String("10.50".into()), Json::from(7)]);
        let v = decode_cursor(&c, "deals", &order, "after").unwrap();
        assert_eq!(v, vec![Some(Value::Decimal("10.50".parse().unwrap())), Some(Value::Int8(7))]);
        assert!(decode_cursor("garbage", "deals", &order, "after").is_err());
        assert!(decode_cursor(&encode_cursor("deals", &order, vec![Json::from(7)]), "deals", &order, "after").is_err());
    }

    #[test]
    fn cursors_belong_to_one_list_and_order() {
        let title = OrderKey { column: Cow::Borrowed("title"), ty: FieldType::Text, desc: false };
        let by_title = all_keys(std::slice::from_ref(&title));
        let c = encode_cursor("leads", &by_title, vec![Json::String("A".into()), Json::from(1)]);
        assert!(decode_cursor(&c, "leads", &by_title, "after").is_ok());
        // Same value types, other column, direction or list: not this list's cursor.
        let last_name = all_keys(&[OrderKey { column: Cow::Borrowed("last_name"), ..title.clone() }]);
        assert!(decode_cursor(&c, "leads", &last_name, "after").is_err());
        assert!(decode_cursor(&c, "leads", &all_keys(&[OrderKey { desc: true, ..title.clone() }]), "after").is_err());
        assert!(decode_cursor(&c, "deals", &by_title, "after").is_err());
        // A cursor without the tag (the format before tags) is refused too.
        let untagged = URL_SAFE_NO_PAD.encode(b"[\"A\",1]");
        assert!(decode_cursor(&untagged, "leads", &by_title, "after").is_err());
    }

    #[test]
    fn order_keys_are_few_and_distinct() {
        let key = |column: &'static str| OrderKey { column: Cow::Borrowed(column), ty: FieldType::Text, desc: false };
        assert!(check_order(&[key("a"), key("b"), key("c"), key("d"), key("e")]).is_ok());
        let field = |r: DomainResult<()>| match r {
            Err(DomainError::BadInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(check_order(&[key("a"), key("b"), key("c"), key("d"), key("e"), key("f")])), "orderBy");
        assert_eq!(field(check_order(&vec![key("title"); 3_000])), "orderBy");
        assert_eq!(field(check_order(&[key("title"), OrderKey { desc: true, ..key("title") }])), "orderBy");
    }

    #[test]
    fn filters_are_bounded_before_compiling() {
        let leaf = || Cond::Field { column: "title", op: Op::Eq(Value::Text("x".into())) };
        let field = |r: DomainResult<()>| match r {
            Err(DomainError::BadInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        // Nesting: each input level is a `not` around a filter object.
        let nested = |levels: usize| {
            let mut c = Cond::And(vec![leaf()]);
            for _ in 0..levels {
                c = Cond::And(vec![Cond::Not(Box::new(c))]);
            }
            c
        };
        assert!(check_filter(&nested(MAX_FILTER_DEPTH - 1)).is_ok());
        assert_eq!(field(check_filter(&nested(MAX_FILTER_DEPTH))), "filter");
        assert_eq!(field(check_filter(&nested(1_000))), "filter");
        assert_eq!(field(check_filter(&Cond::Or(vec![leaf(); MAX_FILTER_NODES]))), "filter");
        assert!(check_filter(&Cond::Or(vec![leaf(); MAX_FILTER_NODES - 1])).is_ok());
        let in_list = |n: usize| Cond::Field { column: "id", op: Op::In(vec![Value::Int8(1); n]) };
        assert!(check_filter(&in_list(MAX_IN_VALUES)).is_ok());
        assert_eq!(field(check_filter(&in_list(MAX_IN_VALUES + 1))), "in");
        let custom = |n: usize| Cond::Custom { code: "UF_X".into(), op: CustomOp::In(vec![Json::from(1); n]) };
        assert!(check_filter(&custom(MAX_CUSTOM_IN_VALUES)).is_ok());
        assert_eq!(field(check_filter(&custom(MAX_CUSTOM_IN_VALUES + 1))), "customField.in");
    }
}
