//! Communications (Bitrix multi-fields): phones, e-mails, webs and IMs of leads, contacts and
//! companies. The raw value is kept for display, the normalised one for filters and duplicate
//! search.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::communications;
use crate::kernel::ElementType;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::models::Communication;
use crate::kernel::validate;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommKind {
    Phone,
    Email,
    Web,
    Im,
}

impl CommKind {
    pub const ALL: [CommKind; 4] = [CommKind::Phone, CommKind::Email, CommKind::Web, CommKind::Im];

    pub fn as_str(self) -> &'static str {
        match self {
            CommKind::Phone => "PHONE",
            CommKind::Email => "EMAIL",
            CommKind::Web => "WEB",
            CommKind::Im => "IM",
        }
    }

    /// The input field name, for error messages and history.
    pub fn field(self) -> &'static str {
        match self {
            CommKind::Phone => "phones",
            CommKind::Email => "emails",
            CommKind::Web => "webs",
            CommKind::Im => "ims",
        }
    }

    pub fn value_types(self) -> &'static [&'static str] {
        match self {
            CommKind::Phone => &["WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"],
            CommKind::Email => &["WORK", "HOME", "MAILING", "OTHER"],
            CommKind::Web => {
                &["WORK", "HOME", "OTHER", "FACEBOOK", "INSTAGRAM", "LINKEDIN", "TWITTER", "VK", "TELEGRAM"]
            }
            CommKind::Im => &["TELEGRAM", "WHATSAPP", "SKYPE", "VIBER", "FACEBOOK", "INSTAGRAM", "VK", "IMOL", "OTHER"],
        }
    }

    pub fn default_value_type(self) -> &'static str {
        match self {
            CommKind::Im => "OTHER",
            _ => "WORK",
        }
    }

    /// Normalises one value of this kind, reporting errors against `field`.
    pub fn normalize(self, field: &str, value: &str, region: phonenumber::country::Id) -> DomainResult<String> {
        // Normalised values are indexed (duplicate search).
        if value.chars().count() > validate::MAX_TEXT_CHARS {
            return Err(DomainError::bad_input(
                field,
                format!("`{field}` holds at most {} characters", validate::MAX_TEXT_CHARS),
            ));
        }
        match self {
            CommKind::Phone => validate::phone(field, value, region),
            CommKind::Email => validate::email(field, value),
            CommKind::Web => validate::web(field, value),
            CommKind::Im => {
                let v = value.trim();
                if v.is_empty() {
                    Err(DomainError::bad_input(field, "an IM handle must not be empty"))
                } else {
                    Ok(v.trim_start_matches('@').to_lowercase())
                }
            }
        }
    }
}

/// The values of one communications list (`emails`, `phones`, ...) of an element's API input
/// given as JSON (an import's row, a web form's answers), before they are validated.
pub fn values_in(input: &serde_json::Map<String, serde_json::Value>, list: &str) -> Vec<String> {
    input
        .get(list)
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["value"].as_str().map(str::to_owned))
        .collect()
}

/// One communication as given by a client.
#[derive(Clone, Debug)]
pub struct CommValue {
    pub value: String,
    pub value_type: Option<String>,
}

/// New communications of some kinds; kinds left out stay as they are.
#[derive(Clone, Debug, Default)]
pub struct CommSet(pub Vec<(CommKind, Vec<CommValue>)>);

/// A validated communication ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct CleanComm {
    pub kind: CommKind,
    pub value_type: String,
    pub value: String,
    pub normalized: String,
}

impl CommSet {
    pub fn validate(&self, region: phonenumber::country::Id) -> DomainResult<Vec<(CommKind, Vec<CleanComm>)>> {
        self.0
            .iter()
            .map(|(kind, values)| {
                crate::kernel::limits::check_len(
                    kind.field(),
                    values.len(),
                    crate::kernel::limits::MAX_COMMUNICATIONS,
                )?;
                let clean = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let field = format!("{}[{i}]", kind.field());
                        let value_type = match &v.value_type {
                            None => kind.default_value_type().to_owned(),
                            Some(t) => {
                                let upper = t.trim().to_ascii_uppercase();
                                if !kind.value_types().contains(&upper.as_str()) {
                                    return Err(DomainError::bad_input(
                                        format!("{field}.valueType"),
                                        format!("`{t}` is not one of {}", kind.value_types().join(", ")),
                                    ));
                                }
                                upper
                            }
                        };
                        let normalized = kind.normalize(&format!("{field}.value"), &v.value, region)?;
                        Ok(CleanComm { kind: *kind, value_type, value: v.value.trim().to_owned(), normalized })
                    })
                    .collect::<DomainResult<Vec<_>>>()?;
                Ok((*kind, clean))
            })
            .collect()
    }
}

/// Replaces the communications of the given kinds; returns the kinds whose values changed
/// with old and new values for history.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    element: ElementType,
    element_id: i64,
    sets: Vec<(CommKind, Vec<CleanComm>)>,
) -> DomainResult<Vec<(CommKind, Vec<String>, Vec<String>)>> {
    let mut changed = Vec::new();
    for (kind, values) in sets {
        let old: Vec<String> = communications::table
            .filter(communications::element_type.eq(element.as_str()))
            .filter(communications::element_id.eq(element_id))
            .filter(communications::kind.eq(kind.as_str()))
            .order((communications::sort, communications::id))
            .select(communications::value)
            .load(conn)
            .await?;
        let new: Vec<String> = values.iter().map(|v| v.value.clone()).collect();
        diesel::delete(
            communications::table
                .filter(communications::element_type.eq(element.as_str()))
                .filter(communications::element_id.eq(element_id))
                .filter(communications::kind.eq(kind.as_str())),
        )
        .execute(conn)
        .await?;
        if !values.is_empty() {
            let rows: Vec<_> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    (
                        communications::element_type.eq(element.as_str()),
                        communications::element_id.eq(element_id),
                        communications::kind.eq(kind.as_str()),
                        communications::value_type.eq(v.value_type.clone()),
                        communications::value.eq(v.value.clone()),
                        communications::normalized.eq(v.normalized.clone()),
                        communications::sort.eq(i32::try_from(i).unwrap_or(i32::MAX)),
                    )
                })
                .collect();
            diesel::insert_into(communications::table).values(rows).execute(conn).await?;
        }
        if old != new {
            changed.push((kind, old, new));
        }
    }
    Ok(changed)
}

/// All communications of many elements of one type, in one statement.
pub async fn load(
    conn: &mut AsyncPgConnection,
    element: ElementType,
    ids: &[i64],
) -> DomainResult<HashMap<i64, Vec<Communication>>> {
    let rows: Vec<Communication> = communications::table
        .filter(communications::element_type.eq(element.as_str()))
        .filter(communications::element_id.eq_any(ids))
        .order((communications::element_id, communications::kind, communications::sort, communications::id))
        .select(Communication::as_select())
        .load(conn)
        .await?;
    let mut out: HashMap<i64, Vec<Communication>> = HashMap::new();
    for r in rows {
        out.entry(r.element_id).or_default().push(r);
    }
    Ok(out)
}

pub async fn delete_all(conn: &mut AsyncPgConnection, element: ElementType, id: i64) -> DomainResult<()> {
    diesel::delete(
        communications::table
            .filter(communications::element_type.eq(element.as_str()))
            .filter(communications::element_id.eq(id)),
    )
    .execute(conn)
    .await?;
    Ok(())
}
