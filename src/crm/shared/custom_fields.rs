//! Custom fields: definitions per element type, made at run time
//! with the settings right; values in each element's `custom` object keyed by code, validated
//! against the definition on every write, filterable and sortable through an expression index
//! created with the field.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json, json};

use crate::db::sql::{Bind, Sql};
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::{ElementType, ids, validate};

pub fn empty() -> Json {
    json!({})
}

pub const TYPES: [&str; 12] = [
    "STRING",
    "INTEGER",
    "DOUBLE",
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "ENUMERATION",
    "MONEY",
    "URL",
    "ADDRESS",
    "EMPLOYEE",
    "ELEMENT_LINK",
];

#[derive(QueryableByName, Clone, Debug, PartialEq)]
pub struct FieldDef {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub element_type: String,
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub label: String,
    #[diesel(sql_type = Text)]
    pub field_type: String,
    #[diesel(sql_type = Bool)]
    pub multiple: bool,
    #[diesel(sql_type = Bool)]
    pub mandatory: bool,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub default_value: Option<Json>,
    #[diesel(sql_type = Array<Text>)]
    pub items: Vec<String>,
    #[diesel(sql_type = Integer)]
    pub sort: i32,
    #[diesel(sql_type = Bool)]
    pub show_in_filter: bool,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// A code is `UF_` and upper-case letters, digits or underscores; it is interpolated into
/// index names and expressions, so nothing else may pass.
pub fn check_code(field: &str, code: &str) -> DomainResult<String> {
    let ok = code.len() <= 49
        && code.len() > 3
        && code.starts_with("UF_")
        && code[3..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(DomainError::bad_input(field, format!("`{code}` is not a custom field code such as UF_BUDGET")));
    }
    Ok(code.to_owned())
}

/// Largest magnitude of INTEGER and DOUBLE values: 2^53 − 1, the largest integer every JSON
/// client (JavaScript's numbers included) reads exactly.
pub const MAX_NUMBER: i64 = 9_007_199_254_740_991;

fn bad(field: &str, message: impl Into<String>) -> DomainError {
    DomainError::bad_input(field, message)
}

/// One value of a field of `field_type`, checked and normalised for storage, so that stored
/// values of one field compare correctly as JSON (dates and times as fixed-format UTC text,
/// money amounts as exact numbers). EMPLOYEE and ELEMENT_LINK existence is checked apart.
pub fn normalise_one(def: &FieldDef, v: &Json, field: &str) -> DomainResult<Json> {
    let t = def.field_type.as_str();
    let text = || v.as_str().ok_or_else(|| bad(field, format!("{} expects text", def.code)));
    Ok(match t {
        "STRING" | "ADDRESS" => {
            let s = text()?;
            if s.chars().count() > 10_000 {
                return Err(bad(field, "at most 10,000 characters"));
            }
            json!(s)
        }
        "INTEGER" => {
            let n = v.as_i64().ok_or_else(|| bad(field, format!("{} expects a whole number", def.code)))?;
            if n.unsigned_abs() > MAX_NUMBER.unsigned_abs() {
                return Err(bad(field, format!("{} is at most {MAX_NUMBER} either way", def.code)));
            }
            json!(n)
        }
        "DOUBLE" => {
            let x = v.as_f64().ok_or_else(|| bad(field, format!("{} expects a number", def.code)))?;
            // MAX_NUMBER is exactly representable as f64.
            if !x.is_finite() || x.abs() > MAX_NUMBER as f64 {
                return Err(bad(field, format!("{} is at most {MAX_NUMBER} either way", def.code)));
            }
            json!(x)
        }
        "BOOLEAN" => json!(v.as_bool().ok_or_else(|| bad(field, format!("{} expects true or false", def.code)))?),
        "DATE" => {
            let d: NaiveDate =
                text()?.parse().map_err(|_| bad(field, format!("{} expects a date such as 2026-03-31", def.code)))?;
            json!(d.to_string())
        }
        "DATETIME" => {
            let d = DateTime::parse_from_rfc3339(text()?)
                .map_err(|_| bad(field, format!("{} expects an RFC 3339 date-time", def.code)))?;
            json!(d.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Micros, true))
        }
        "ENUMERATION" => {
            let s = text()?;
            if !def.items.iter().any(|i| i == s) {
                return Err(bad(field, format!("`{s}` is not one of {}: {}", def.code, def.items.join(", "))));
            }
            json!(s)
        }
        "MONEY" => {
            let amount = v.get("amount").and_then(|a| match a {
                Json::String(s) => s.parse::<Decimal>().ok(),
                Json::Number(n) => n.to_string().parse::<Decimal>().ok(),
                _ => None,
            });
            let (Some(amount), Some(currency)) = (amount, v.get("currency").and_then(Json::as_str)) else {
                return Err(bad(
                    field,
                    format!("{} expects {{\"amount\": \"12.50\", \"currency\": \"EUR\"}}", def.code),
                ));
            };
            let amount = validate::amount(field, amount)?;
            let currency = validate::currency(field, currency)?;
            // An exact JSON number (jsonb numbers are PostgreSQL numerics).
            let number: Json = serde_json::from_str(&amount.normalize().to_string()).map_err(anyhow::Error::from)?;
            json!({ "amount": number, "currency": currency })
        }
        "URL" => json!(validate::web(field, text()?)?),
        "EMPLOYEE" => json!(ids::decode(ids::IdKind::User, text()?, field)?),
        "ELEMENT_LINK" => {
            let raw = text()?;
            match ids::parse_any(raw) {
                Some((Some(k), n)) if element_kind(k).is_some() => json!(ids::encode(k, n)),
                _ => return Err(bad(field, format!("{} expects an element id such as deal:42", def.code))),
            }
        }
        _ => return Err(anyhow::anyhow!("unknown custom field type {t}").into()),
    })
}

/// A filter operand in stored form: date-times in UTC like stored values, employee ids as
/// numbers, money as its amount object left as given.
pub fn filter_value(v: &Json) -> Json {
    match v {
        Json::String(s) => {
            if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                return json!(d.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Micros, true));
            }
            if let Some((Some(ids::IdKind::User), n)) = ids::parse_any(s) {
                return json!(n);
            }
            v.clone()
        }
        other => other.clone(),
    }
}

fn element_kind(k: ids::IdKind) -> Option<ElementType> {
    ElementType::ALL.into_iter().find(|e| e.id_kind() == k)
}

/// A value for the field (a list for multiple fields), normalised; null clears it.
pub fn normalise(def: &FieldDef, v: &Json, field: &str) -> DomainResult<Json> {
    if v.is_null() {
        return Ok(Json::Null);
    }
    if def.multiple {
        let list = v.as_array().ok_or_else(|| bad(field, format!("{} holds a list of values", def.code)))?;
        crate::kernel::limits::check_len(field, list.len(), crate::kernel::limits::MAX_CUSTOM_FIELD_VALUES)?;
        let out: Vec<Json> = list
            .iter()
            .enumerate()
            .map(|(i, x)| normalise_one(def, x, &format!("{field}[{i}]")))
            .collect::<Result<_, _>>()?;
        return Ok(Json::Array(out));
    }
    normalise_one(def, v, field)
}

fn is_empty(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => true,
        Some(Json::String(s)) => s.trim().is_empty(),
        Some(Json::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Fills the codes `kept` has no value for (absent, null, blank text, empty list) with the
/// values of `from`: how a merge keeps the custom values of the elements merged away. The kept
/// element's own values win.
pub fn fill_empty(kept: &mut Json, from: &Json) {
    let Some(from) = from.as_object() else { return };
    if !kept.is_object() {
        *kept = empty();
    }
    if let Some(map) = kept.as_object_mut() {
        for (code, v) in from {
            if is_empty(map.get(code)) && !is_empty(Some(v)) {
                map.insert(code.clone(), v.clone());
            }
        }
    }
}

/// The codes of the custom fields an element type has.
pub async fn codes(conn: &mut AsyncPgConnection, element_type: ElementType) -> DomainResult<Vec<String>> {
    Ok(definitions(conn, element_type).await?.into_iter().map(|d| d.code).collect())
}

/// Refuses a filter or sort on a code that is no custom field of the element type: a typo
/// must not read as "no data". `wanted` holds (code, input field that named it).
pub fn check_known(element_type: ElementType, known: &[String], wanted: &[(String, &str)]) -> DomainResult<()> {
    match wanted.iter().find(|(code, _)| !known.contains(code)) {
        None => Ok(()),
        Some((code, field)) => {
            Err(bad(field, format!("`{code}` is not a custom field of {}", element_type.as_str().to_lowercase())))
        }
    }
}

const COLUMNS: &str = "id, element_type, code, label, field_type, multiple, mandatory, default_value, items, sort, \
                       show_in_filter, created_at";

pub async fn definitions(conn: &mut AsyncPgConnection, element_type: ElementType) -> DomainResult<Vec<FieldDef>> {
    crate::kernel::memo::cached(|| format!("custom-fields:{}", element_type.as_str()), async {
        let mut q = Sql::new(format!("SELECT {COLUMNS} FROM custom_fields WHERE element_type = "));
        q.bind(Bind::Text(element_type.as_str().to_owned())).push(" ORDER BY sort, id");
        Ok(q.load(conn).await?)
    })
    .await
}

/// Applies `values` (code, value) to an element's `custom` object: each checked against its
/// definition; on create, defaults fill what is missing and mandatory fields must be set.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    element_type: ElementType,
    custom: &mut Json,
    values: &[(String, Json)],
    creating: bool,
) -> DomainResult<()> {
    if values.is_empty() && !creating {
        return Ok(());
    }
    crate::kernel::limits::check_len("customFields", values.len(), crate::kernel::limits::MAX_CUSTOM_FIELDS_PER_WRITE)?;
    let defs = definitions(conn, element_type).await?;
    if !custom.is_object() {
        *custom = empty();
    }
    let map: &mut Map<String, Json> =
        custom.as_object_mut().ok_or_else(|| anyhow::anyhow!("custom values are not an object"))?;
    for (i, (code, value)) in values.iter().enumerate() {
        let field = format!("customFields[{i}]");
        let def = defs.iter().find(|d| &d.code == code).ok_or_else(|| {
            bad(
                &format!("{field}.code"),
                format!("`{code}` is not a custom field of {}", element_type.as_str().to_lowercase()),
            )
        })?;
        let field = format!("customFields.{code}");
        let v = normalise(def, value, &field)?;
        check_references(conn, actor, def, &v, &field).await?;
        if v.is_null() {
            map.remove(code);
        } else {
            map.insert(code.clone(), v);
        }
    }
    for def in &defs {
        if creating
            && is_empty(map.get(&def.code))
            && let Some(d) = def.default_value.as_ref().filter(|d| !d.is_null())
        {
            map.insert(def.code.clone(), d.clone());
        }
        let touched = values.iter().any(|(c, _)| c == &def.code);
        if def.mandatory && (creating || touched) && is_empty(map.get(&def.code)) {
            return Err(bad(
                &format!("customFields.{}", def.code),
                format!("{} ({}) is mandatory", def.label, def.code),
            ));
        }
    }
    Ok(())
}

/// EMPLOYEE values name active users; ELEMENT_LINK values name elements the actor can read.
async fn check_references(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    def: &FieldDef,
    v: &Json,
    field: &str,
) -> DomainResult<()> {
    let values: Vec<&Json> = match v {
        Json::Array(a) => a.iter().collect(),
        Json::Null => vec![],
        one => vec![one],
    };
    for x in values {
        match def.field_type.as_str() {
            "EMPLOYEE" => {
                let id = x.as_i64().unwrap_or_default();
                crate::org::auth::check_user(conn, id, field).await?;
            }
            "ELEMENT_LINK" => {
                let (kind, id) = ids::parse_any(x.as_str().unwrap_or_default())
                    .and_then(|(k, n)| Some((k.and_then(element_kind)?, n)))
                    .ok_or_else(|| bad(field, "not an element id"))?;
                let mut q = Sql::new(format!("SELECT count(*) AS n FROM {} t WHERE t.id = ", kind.table()));
                q.bind(Bind::Int8(id))
                    .push(" AND ")
                    .append(&crate::kernel::access::visibility::element_predicate(actor, kind, "t"));
                #[derive(QueryableByName)]
                struct N {
                    #[diesel(sql_type = BigInt)]
                    n: i64,
                }
                let n: N = q.get_result(conn).await?;
                if n.n == 0 {
                    return Err(bad(field, format!("`{}` names no element", x.as_str().unwrap_or_default())));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The values of `from` whose codes also exist for `to` with the same type (conversion
/// copies them).
pub async fn matching(
    conn: &mut AsyncPgConnection,
    from: ElementType,
    values: &Json,
    to: ElementType,
) -> DomainResult<Vec<(String, Json)>> {
    let Some(map) = values.as_object().filter(|m| !m.is_empty()) else {
        return Ok(Vec::new());
    };
    let (a, b) = (definitions(conn, from).await?, definitions(conn, to).await?);
    Ok(map
        .iter()
        .filter(|(code, _)| {
            let src = a.iter().find(|d| &d.code == *code);
            let dst = b.iter().find(|d| &d.code == *code);
            matches!((src, dst), (Some(s), Some(d)) if s.field_type == d.field_type && s.multiple == d.multiple)
        })
        .map(|(c, v)| (c.clone(), v.clone()))
        .collect())
}

// ---- definitions (settings right) --------------------------------------------------------

#[derive(Clone, Debug, Default)]
pub struct DefInput {
    pub code: Option<String>,
    pub label: Option<String>,
    pub field_type: Option<String>,
    pub multiple: Option<bool>,
    pub mandatory: Option<bool>,
    pub default_value: Option<Json>,
    pub items: Option<Vec<String>>,
    pub sort: Option<i32>,
    pub show_in_filter: Option<bool>,
}

fn index_name(element_type: ElementType, code: &str) -> String {
    format!("{}_{}_idx", element_type.table(), code.to_ascii_lowercase())
}

fn check_items(field_type: &str, items: Vec<String>) -> DomainResult<Vec<String>> {
    crate::kernel::limits::check_len("items", items.len(), crate::kernel::limits::MAX_CUSTOM_FIELD_ITEMS)?;
    let items: Vec<String> = items.into_iter().map(|i| i.trim().to_owned()).collect();
    if field_type == "ENUMERATION" && items.is_empty() {
        return Err(bad("items", "an ENUMERATION needs at least one item"));
    }
    if field_type != "ENUMERATION" && !items.is_empty() {
        return Err(bad("items", "only ENUMERATION fields have items"));
    }
    if items.iter().any(String::is_empty) {
        return Err(bad("items", "items must not be blank"));
    }
    let mut sorted = items.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != items.len() {
        return Err(bad("items", "items must be distinct"));
    }
    Ok(items)
}

async fn get(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<FieldDef> {
    let mut q = Sql::new(format!("SELECT {COLUMNS} FROM custom_fields WHERE id = "));
    q.bind(Bind::Int8(id));
    let rows: Vec<FieldDef> = q.load(conn).await?;
    rows.into_iter().next().ok_or_else(|| DomainError::not_found(format!("custom field `customfield:{id}`")))
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    element_type: ElementType,
    input: DefInput,
) -> DomainResult<FieldDef> {
    actor.rights.check_settings()?;
    let code = check_code("code", input.code.as_deref().unwrap_or_default())?;
    let label = validate::name("label", input.label.as_deref().unwrap_or(&code))?;
    let field_type = input.field_type.unwrap_or_else(|| "STRING".to_owned());
    if !TYPES.contains(&field_type.as_str()) {
        return Err(bad("type", format!("`{field_type}` is not a custom field type")));
    }
    let items = check_items(&field_type, input.items.unwrap_or_default())?;
    let mut def = FieldDef {
        id: 0,
        element_type: element_type.as_str().to_owned(),
        code,
        label,
        field_type,
        multiple: input.multiple.unwrap_or(false),
        mandatory: input.mandatory.unwrap_or(false),
        default_value: None,
        items,
        sort: input.sort.unwrap_or(100),
        show_in_filter: input.show_in_filter.unwrap_or(true),
        created_at: Utc::now(),
    };
    def.default_value = match input.default_value {
        None | Some(Json::Null) => None,
        Some(v) => Some(normalise(&def, &v, "default")?),
    };
    let actor = actor.clone();
    conn.transaction(async move |conn| {
        if let Some(d) = &def.default_value {
            check_references(conn, &actor, &def, d, "default").await?;
        }
        let mut q = Sql::new(
            "INSERT INTO custom_fields (element_type, code, label, field_type, multiple, mandatory, default_value, \
             items, sort, show_in_filter) VALUES (",
        );
        q.bind(Bind::Text(def.element_type.clone()))
            .push(", ")
            .bind(Bind::Text(def.code.clone()))
            .push(", ")
            .bind(Bind::Text(def.label.clone()))
            .push(", ")
            .bind(Bind::Text(def.field_type.clone()))
            .push(", ")
            .bind(Bind::Bool(def.multiple))
            .push(", ")
            .bind(Bind::Bool(def.mandatory))
            .push(", NULLIF(CAST(")
            .bind(Bind::Text(def.default_value.as_ref().map(Json::to_string).unwrap_or_else(|| "null".into())))
            .push(" AS jsonb), 'null'), ")
            .bind(Bind::Texts(def.items.clone()))
            .push(", ")
            .bind(Bind::Int4(def.sort))
            .push(", ")
            .bind(Bind::Bool(def.show_in_filter))
            .push(format!(") RETURNING {COLUMNS}"));
        let saved: FieldDef = q.get_result(conn).await.map_err(|e| match e {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                bad("code", "this element type already has a field with this code")
            }
            other => other.into(),
        })?;
        // Filters and sorts on the field use this index (the code is checked above).
        Sql::new(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ((custom -> '{}'))",
            index_name(element_type, &saved.code),
            element_type.table(),
            saved.code
        ))
        .execute(conn)
        .await?;
        Ok(saved)
    })
    .await
}

/// Changes a definition; code, type and `multiple` stay (stored values depend on them).
pub async fn update(conn: &mut AsyncPgConnection, actor: &Actor, id: i64, input: DefInput) -> DomainResult<FieldDef> {
    actor.rights.check_settings()?;
    let old = get(conn, id).await?;
    if input.code.is_some_and(|c| c != old.code) || input.field_type.is_some_and(|t| t != old.field_type) {
        return Err(bad("code", "the code and type of a field do not change; create another field"));
    }
    if input.multiple.is_some_and(|m| m != old.multiple) {
        return Err(bad("multiple", "`multiple` does not change; create another field"));
    }
    let mut def = old.clone();
    if let Some(l) = input.label {
        def.label = validate::name("label", &l)?;
    }
    if let Some(items) = input.items {
        def.items = check_items(&def.field_type, items)?;
    }
    def.mandatory = input.mandatory.unwrap_or(def.mandatory);
    def.sort = input.sort.unwrap_or(def.sort);
    def.show_in_filter = input.show_in_filter.unwrap_or(def.show_in_filter);
    if let Some(v) = input.default_value {
        def.default_value = if v.is_null() { None } else { Some(normalise(&def, &v, "default")?) };
        if let Some(d) = &def.default_value {
            check_references(conn, actor, &def, d, "default").await?;
        }
    } else if def.items != old.items {
        // New items must still hold the default (stored values are left as they are).
        let kept = |v: &Json| v.as_str().is_some_and(|s| def.items.iter().any(|i| i == s));
        let defaults: Vec<&Json> = match &def.default_value {
            Some(Json::Array(list)) => list.iter().collect(),
            Some(v) => vec![v],
            None => vec![],
        };
        if let Some(gone) = defaults.into_iter().find(|v| !kept(v)) {
            return Err(bad("items", format!("the default {gone} is not among the items; change the default too")));
        }
    }
    let mut q = Sql::new("UPDATE custom_fields SET label = ");
    q.bind(Bind::Text(def.label.clone()))
        .push(", mandatory = ")
        .bind(Bind::Bool(def.mandatory))
        .push(", default_value = NULLIF(CAST(")
        .bind(Bind::Text(def.default_value.as_ref().map(Json::to_string).unwrap_or_else(|| "null".into())))
        .push(" AS jsonb), 'null'), items = ")
        .bind(Bind::Texts(def.items.clone()))
        .push(", sort = ")
        .bind(Bind::Int4(def.sort))
        .push(", show_in_filter = ")
        .bind(Bind::Bool(def.show_in_filter))
        .push(", updated_at = now() WHERE id = ")
        .bind(Bind::Int8(id))
        .push(format!(" RETURNING {COLUMNS}"));
    Ok(q.get_result(conn).await?)
}

/// Deletes a field with its values and index.
pub async fn delete(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<i64> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        let def = get(conn, id).await?;
        let et = ElementType::parse(&def.element_type).ok_or_else(|| anyhow::anyhow!("bad element type"))?;
        let mut q = Sql::new(format!("UPDATE {} SET custom = custom - ", et.table()));
        q.bind(Bind::Text(def.code.clone())).push(" WHERE custom ? ").bind(Bind::Text(def.code.clone()));
        q.execute(conn).await?;
        Sql::new(format!("DROP INDEX IF EXISTS {}", index_name(et, &def.code))).execute(conn).await?;
        let mut q = Sql::new("DELETE FROM custom_fields WHERE id = ");
        q.bind(Bind::Int8(id));
        q.execute(conn).await?;
        Ok(id)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_fill_only_empty_codes_and_the_kept_value_wins() {
        let mut kept = json!({"UF_A": "mine", "UF_B": "", "UF_C": [], "UF_D": null});
        fill_empty(
            &mut kept,
            &json!({"UF_A": "theirs", "UF_B": "b", "UF_C": [1], "UF_D": 4, "UF_E": true, "UF_F": ""}),
        );
        fill_empty(&mut kept, &json!({"UF_B": "later", "UF_E": false, "UF_G": 7}));
        assert_eq!(kept, json!({"UF_A": "mine", "UF_B": "b", "UF_C": [1], "UF_D": 4, "UF_E": true, "UF_G": 7}));
    }

    #[test]
    fn unknown_codes_are_named() {
        let known = vec!["UF_A".to_owned()];
        assert!(check_known(ElementType::Lead, &known, &[("UF_A".into(), "orderBy")]).is_ok());
        let e = check_known(
            ElementType::Lead,
            &known,
            &[("UF_A".into(), "orderBy"), ("UF_TYPO".into(), "customField.code")],
        )
        .unwrap_err();
        match e {
            DomainError::BadInput { field, message } => {
                assert_eq!(field, "customField.code");
                assert!(message.contains("UF_TYPO"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    fn def(t: &str, multiple: bool) -> FieldDef {
        FieldDef {
            id: 1,
            element_type: "DEAL".into(),
            code: "UF_X".into(),
            label: "X".into(),
            field_type: t.into(),
            multiple,
            mandatory: false,
            default_value: None,
            items: vec!["gold".into(), "silver".into()],
            sort: 100,
            show_in_filter: true,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn values_are_checked_and_normalised_by_type() {
        let ok = |t: &str, v: Json| normalise(&def(t, false), &v, "f").unwrap();
        let err = |t: &str, v: Json| normalise(&def(t, false), &v, "f").is_err();
        assert_eq!(ok("INTEGER", json!(5)), json!(5));
        assert!(err("INTEGER", json!(5.5)));
        assert!(err("INTEGER", json!("5")));
        assert_eq!(ok("BOOLEAN", json!(true)), json!(true));
        assert_eq!(ok("DATE", json!("2026-03-31")), json!("2026-03-31"));
        assert!(err("DATE", json!("31.03.2026")));
        assert_eq!(ok("DATETIME", json!("2026-03-31T10:00:00+02:00")), json!("2026-03-31T08:00:00.000000Z"));
        assert_eq!(ok("ENUMERATION", json!("gold")), json!("gold"));
        assert!(err("ENUMERATION", json!("bronze")));
        assert_eq!(
            ok("MONEY", json!({ "amount": "1200.50", "currency": "eur" })),
            json!({ "amount": 1200.5, "currency": "EUR" })
        );
        assert!(err("MONEY", json!({ "amount": "x", "currency": "EUR" })));
        assert!(err("MONEY", json!({ "amount": "1", "currency": "XXQ" })));
        assert_eq!(ok("EMPLOYEE", json!("user:7")), json!(7));
        assert_eq!(ok("ELEMENT_LINK", json!("deal:3")), json!("deal:3"));
        assert!(err("ELEMENT_LINK", json!("user:3")));
        assert_eq!(ok("STRING", Json::Null), Json::Null, "null clears");
        assert_eq!(normalise(&def("INTEGER", true), &json!([1, 2]), "f").unwrap(), json!([1, 2]));
        assert!(normalise(&def("INTEGER", true), &json!(1), "f").is_err(), "multiple fields take lists");
    }

    #[test]
    fn numbers_and_lists_are_bounded() {
        let ok = |t: &str, v: Json| normalise(&def(t, false), &v, "f").is_ok();
        assert!(ok("INTEGER", json!(MAX_NUMBER)));
        assert!(ok("INTEGER", json!(-MAX_NUMBER)));
        assert!(!ok("INTEGER", json!(MAX_NUMBER + 1)));
        assert!(!ok("INTEGER", json!(i64::MIN)));
        assert!(!ok("INTEGER", json!(u64::MAX)));
        assert!(ok("DOUBLE", json!(-12.5)));
        assert!(!ok("DOUBLE", json!(1e300)));
        assert!(!ok("MONEY", json!({ "amount": "79228162514264337593543950335", "currency": "EUR" })));
        let many = Json::Array(vec![json!(1); crate::kernel::limits::MAX_CUSTOM_FIELD_VALUES + 1]);
        assert!(normalise(&def("INTEGER", true), &many, "f").is_err());
        let items = (0..=crate::kernel::limits::MAX_CUSTOM_FIELD_ITEMS).map(|i| i.to_string()).collect();
        assert!(check_items("ENUMERATION", items).is_err());
    }

    #[test]
    fn codes_are_safe_to_interpolate() {
        assert!(check_code("code", "UF_BUDGET_2026").is_ok());
        for bad in ["BUDGET", "UF_", "uf_budget", "UF_X'; DROP TABLE deals; --", "UF_Ä"] {
            assert!(check_code("code", bad).is_err(), "{bad}");
        }
    }
}
