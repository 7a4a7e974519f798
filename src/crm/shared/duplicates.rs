//! Duplicate search across leads, contacts and companies: normalised phones (E.164) and
//! e-mails (lower case), case-insensitive full names and company titles. No cap on how many
//! values are searched; every match passes the visibility predicate.

use std::collections::BTreeMap;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::json;

use crate::crm::shared::communications::{CleanComm, CommKind};
use crate::db::sql::{Bind, Sql};
use crate::kernel::access::visibility::element_predicate;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::ids;
use crate::kernel::{ElementRef, ElementType};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Criterion {
    Phone,
    Email,
    Name,
    CompanyTitle,
}

impl Criterion {
    fn parse(s: &str) -> Criterion {
        match s {
            "PHONE" => Criterion::Phone,
            "EMAIL" => Criterion::Email,
            "NAME" => Criterion::Name,
            _ => Criterion::CompanyTitle,
        }
    }
}

/// What to look for, already normalised.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub names: Vec<String>,
    pub company_titles: Vec<String>,
}

impl Probe {
    /// Normalises raw client values, naming the offending one.
    pub fn from_raw(
        phones: &[String],
        emails: &[String],
        names: &[String],
        titles: &[String],
        region: phonenumber::country::Id,
    ) -> DomainResult<Probe> {
        for (field, list) in [("phones", phones), ("emails", emails), ("names", names), ("companyTitles", titles)] {
            crate::kernel::limits::check_len(field, list.len(), crate::kernel::limits::MAX_DUPLICATE_VALUES)?;
        }
        let norm = |kind: CommKind, list: &[String], field: &str| -> DomainResult<Vec<String>> {
            list.iter().enumerate().map(|(i, v)| kind.normalize(&format!("{field}[{i}]"), v, region)).collect()
        };
        Ok(Probe {
            phones: norm(CommKind::Phone, phones, "phones")?,
            emails: norm(CommKind::Email, emails, "emails")?,
            names: names.iter().map(|n| text_key(n)).filter(|n| !n.is_empty()).collect(),
            company_titles: titles.iter().map(|n| text_key(n)).filter(|n| !n.is_empty()).collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.phones.is_empty() && self.emails.is_empty() && self.names.is_empty() && self.company_titles.is_empty()
    }
}

/// Lower case with single spaces: how names and titles are compared.
pub fn text_key(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// One element that matched, with every criterion and value it matched on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub element: ElementRef,
    pub reasons: Vec<(Criterion, String)>,
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = Text)]
    element_type: String,
    #[diesel(sql_type = BigInt)]
    element_id: i64,
    #[diesel(sql_type = Text)]
    criterion: String,
    #[diesel(sql_type = Text)]
    value: String,
}

const FULL_NAME: &str =
    "lower(trim(regexp_replace(coalesce(t.first_name, '') || ' ' || coalesce(t.last_name, ''), '\\s+', ' ', 'g')))";

/// A text column of `t` as names and titles are compared.
fn squeezed(col: &str) -> String {
    format!("lower(trim(regexp_replace(t.{col}, '\\s+', ' ', 'g')))")
}

pub async fn find(conn: &mut AsyncPgConnection, actor: &Actor, probe: &Probe) -> DomainResult<Vec<Match>> {
    find_among(conn, actor, probe, &[ElementType::Lead, ElementType::Contact, ElementType::Company]).await
}

/// `find` among some element types only (an import looks for its own type). Only the
/// criteria the probe has values for are searched: an empty list would still scan the table
/// for its name expression.
pub async fn find_among(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    probe: &Probe,
    types: &[ElementType],
) -> DomainResult<Vec<Match>> {
    if probe.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = |et: &ElementType| types.contains(et);
    let mut parts = Vec::new();
    for et in [ElementType::Lead, ElementType::Contact, ElementType::Company].into_iter().filter(wanted) {
        // One branch per kind, so each is one scan of the (kind, normalized, element_type) index.
        for (kind, values) in [("PHONE", &probe.phones), ("EMAIL", &probe.emails)] {
            if values.is_empty() {
                continue;
            }
            let mut q = Sql::new(format!(
                "SELECT '{e}'::text AS element_type, t.id AS element_id, c.kind AS criterion, c.normalized AS value \
                 FROM communications c JOIN {table} t ON c.element_id = t.id \
                 WHERE c.kind = '{kind}' AND c.element_type = '{e}' AND c.normalized = ANY(",
                e = et.as_str(),
                table = et.table()
            ));
            q.bind(Bind::Texts(values.clone())).push(") AND ").append(&element_predicate(actor, et, "t"));
            parts.push(q);
        }
    }
    let by_text = [
        (ElementType::Lead, "NAME", FULL_NAME.to_owned(), &probe.names),
        (ElementType::Contact, "NAME", FULL_NAME.to_owned(), &probe.names),
        (ElementType::Company, "COMPANY_TITLE", squeezed("title"), &probe.company_titles),
        (ElementType::Lead, "COMPANY_TITLE", squeezed("company_title"), &probe.company_titles),
    ];
    for (et, criterion, expr, values) in by_text {
        if values.is_empty() || !wanted(&et) {
            continue;
        }
        let mut q = Sql::new(format!(
            "SELECT '{e}'::text AS element_type, t.id AS element_id, '{criterion}'::text AS criterion, {expr} AS value \
             FROM {table} t WHERE {expr} = ANY(",
            e = et.as_str(),
            table = et.table()
        ));
        q.bind(Bind::Texts(values.clone())).push(") AND ").append(&element_predicate(actor, et, "t"));
        parts.push(q);
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let mut all = Sql::default();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            all.push(" UNION ALL ");
        }
        all.append(p);
    }
    all.push(" ORDER BY 1, 2, 3, 4");
    let hits: Vec<Hit> = all.load(conn).await?;
    let mut grouped: BTreeMap<(String, i64), Vec<(Criterion, String)>> = BTreeMap::new();
    for h in hits {
        let reasons = grouped.entry((h.element_type, h.element_id)).or_default();
        let reason = (Criterion::parse(&h.criterion), h.value);
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    Ok(grouped
        .into_iter()
        .filter_map(|((t, id), reasons)| {
            Some(Match { element: ElementRef { element_type: ElementType::parse(&t)?, id }, reasons })
        })
        .collect())
}

/// The lowest-id element of type `et` each probe matches (None for a probe without a
/// match), for many probes in one statement: what an import's batch asks. The same criteria
/// and comparisons as `find_among`.
pub async fn first_matches(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    et: ElementType,
    probes: &[Option<&Probe>],
) -> DomainResult<Vec<Option<i64>>> {
    let mut by_criterion: [(Vec<i32>, Vec<String>); 4] = Default::default();
    for (i, p) in probes.iter().enumerate() {
        let Some(p) = p else { continue };
        let i = i32::try_from(i).map_err(anyhow::Error::from)?;
        for (slot, values) in [&p.phones, &p.emails, &p.names, &p.company_titles].into_iter().enumerate() {
            for v in values {
                by_criterion[slot].0.push(i);
                by_criterion[slot].1.push(v.clone());
            }
        }
    }
    let text_expr = |slot: usize| match (slot, et) {
        (2, ElementType::Lead | ElementType::Contact) => Some(FULL_NAME.to_owned()),
        (3, ElementType::Company) => Some(squeezed("title")),
        (3, ElementType::Lead) => Some(squeezed("company_title")),
        _ => None,
    };
    let mut parts = Vec::new();
    for (slot, (rows, values)) in by_criterion.into_iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let mut q = Sql::new("SELECT p.i, t.id FROM unnest(");
        q.bind(Bind::Int4s(rows)).push(", ").bind(Bind::Texts(values)).push(") AS p(i, v) ");
        match slot {
            0 | 1 => {
                let kind = if slot == 0 { "PHONE" } else { "EMAIL" };
                q.push(format!(
                    "JOIN communications c ON c.kind = '{kind}' AND c.element_type = '{e}' AND c.normalized = p.v \
                     JOIN {table} t ON t.id = c.element_id",
                    e = et.as_str(),
                    table = et.table()
                ));
            }
            _ => {
                let Some(expr) = text_expr(slot) else { continue };
                q.push(format!("JOIN {table} t ON {expr} = p.v", table = et.table()));
            }
        }
        q.push(" WHERE ").append(&element_predicate(actor, et, "t"));
        parts.push(q);
    }
    let mut out = vec![None; probes.len()];
    if parts.is_empty() {
        return Ok(out);
    }
    let mut all = Sql::new("SELECT m.i AS row_index, min(m.id) AS element_id FROM (");
    for (n, p) in parts.iter().enumerate() {
        if n > 0 {
            all.push(" UNION ALL ");
        }
        all.append(p);
    }
    all.push(") m GROUP BY m.i");
    #[derive(QueryableByName)]
    struct First {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        row_index: i32,
        #[diesel(sql_type = BigInt)]
        element_id: i64,
    }
    for f in all.load::<First>(conn).await? {
        if let Some(slot) = usize::try_from(f.row_index).ok().and_then(|i| out.get_mut(i)) {
            *slot = Some(f.element_id);
        }
    }
    Ok(out)
}

/// For `onDuplicate: REJECT`: a CONFLICT listing the elements a new one would duplicate.
pub async fn reject_if_any<T: Serialize>(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    element: ElementType,
    row: &T,
    comms: &[(CommKind, Vec<CleanComm>)],
    _region: phonenumber::country::Id,
) -> DomainResult<()> {
    let map = serde_json::to_value(row).map_err(anyhow::Error::from)?;
    let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(text_key).filter(|s| !s.is_empty());
    let of_kind = |kind: CommKind| -> Vec<String> {
        comms.iter().filter(|(k, _)| *k == kind).flat_map(|(_, v)| v.iter().map(|c| c.normalized.clone())).collect()
    };
    let full_name = [text("first_name"), text("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let probe = Probe {
        phones: of_kind(CommKind::Phone),
        emails: of_kind(CommKind::Email),
        names: if element == ElementType::Company || full_name.is_empty() { vec![] } else { vec![full_name] },
        company_titles: match element {
            ElementType::Company => text("title").into_iter().collect(),
            ElementType::Lead => text("company_title").into_iter().collect(),
            _ => vec![],
        },
    };
    let found = find(conn, actor, &probe).await?;
    if found.is_empty() {
        return Ok(());
    }
    let list: Vec<_> = found
        .iter()
        .map(|m| {
            json!({
                "type": m.element.element_type.as_str(),
                "id": ids::encode(m.element.element_type.id_kind(), m.element.id),
            })
        })
        .collect();
    Err(DomainError::conflict(
        format!("{} possible duplicate(s) exist; pass onDuplicate: ALLOW to create anyway", found.len()),
        json!({ "duplicates": list }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_case_and_space_insensitively() {
        assert_eq!(text_key("  Anna   BERG "), "anna berg");
        let probe = Probe::from_raw(
            &["030 1234567".into()],
            &["A@B.de".into()],
            &["Anna  Berg".into()],
            &[],
            phonenumber::country::Id::DE,
        )
        .unwrap();
        assert_eq!(probe.phones, ["+49301234567"]);
        assert_eq!(probe.emails, ["a@b.de"]);
        assert_eq!(probe.names, ["anna berg"]);
        assert!(Probe::from_raw(&["nope".into()], &[], &[], &[], phonenumber::country::Id::DE).is_err());
    }
}
