//! Activity counters (DOMAIN.md "Activity counters"): how many in-progress elements need a
//! user's attention, in the user's time zone. One statement gathers each element's earliest
//! open deadline of the user's activities; `classify` (a pure function) decides the rest.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::ElementType;
use super::error::DomainResult;
use super::models::User;
use crate::db::sql::{Bind, Sql};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSet {
    pub overdue: i64,
    pub pending: i64,
    pub idle: i64,
    pub incoming: i64,
    /// Distinct elements that are overdue, pending or incoming.
    pub total: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Counters {
    pub user_id: i64,
    pub total: CounterSet,
    pub leads: CounterSet,
    pub deals: CounterSet,
    pub contacts: CounterSet,
    pub companies: CounterSet,
    pub deals_by_pipeline: Vec<(i64, CounterSet)>,
    pub computed_at: DateTime<Utc>,
    /// When the counters change next without any write (a deadline passing, midnight).
    pub next_change: DateTime<Utc>,
}

impl Counters {
    /// Equal figures (the computation time aside).
    pub fn same_figures(&self, other: &Counters) -> bool {
        (self.total, self.leads, self.deals, self.contacts, self.companies, &self.deals_by_pipeline)
            == (other.total, other.leads, other.deals, other.contacts, other.companies, &other.deals_by_pipeline)
    }
}

/// One element's standing for the user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub overdue: bool,
    pub pending: bool,
    pub idle: bool,
    pub incoming: bool,
}

/// Classifies one in-progress element. `earliest` is the earliest deadline among the open
/// activities on it that the user is responsible for; `day_end` is the end of the user's today.
pub fn classify(
    earliest: Option<DateTime<Utc>>,
    incoming: bool,
    assigned_to_user: bool,
    any_open_activity: bool,
    now: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> Flags {
    Flags {
        overdue: earliest.is_some_and(|d| d <= now),
        pending: earliest.is_some_and(|d| d > now && d < day_end),
        idle: assigned_to_user && !any_open_activity,
        incoming,
    }
}

/// The end of `now`'s day in `tz` (the next local midnight), in UTC.
pub fn day_end(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).date_naive();
    let next = local.succ_opt().unwrap_or(local).and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&next) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        // Midnight skipped by a DST change: the day ends an hour later.
        chrono::LocalResult::None => tz
            .from_local_datetime(&(next + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now + chrono::Duration::days(1)),
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    et: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pipeline_id: Option<i64>,
    #[diesel(sql_type = Bool)]
    assigned: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    earliest: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    incoming: bool,
    #[diesel(sql_type = Bool)]
    any_open: bool,
}

#[derive(QueryableByName)]
struct Next {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next: Option<DateTime<Utc>>,
}

// Each element set is "assigned to the user" UNION "carries the user's open activities",
// so both halves use their index; `any_open` is a per-element probe (LIMIT 1), not a join
// over every open activity in the database.
const ELEMENTS_SQL: &str = "
WITH open AS (
    SELECT b.element_type, b.element_id, min(a.deadline) AS earliest,
           bool_or(a.direction = 'INCOMING') AS incoming
    FROM activities a JOIN activity_bindings b ON b.activity_id = a.id
    WHERE a.responsible_id = $1 AND NOT a.completed
    GROUP BY 1, 2
), elements AS (
    SELECT 'LEAD' AS et, l.id, NULL::bigint AS pipeline_id, l.assigned_to_id FROM leads l
      JOIN status_items s ON s.id = l.status_id AND s.semantics = 'PROCESS'
      WHERE l.id IN (SELECT id FROM leads WHERE assigned_to_id = $1
                     UNION SELECT element_id FROM open WHERE element_type = 'LEAD')
    UNION ALL
    SELECT 'DEAL', d.id, d.pipeline_id, d.assigned_to_id FROM deals d
      JOIN stages st ON st.id = d.stage_id AND st.semantics = 'PROCESS'
      WHERE d.id IN (SELECT id FROM deals WHERE assigned_to_id = $1
                     UNION SELECT element_id FROM open WHERE element_type = 'DEAL')
    UNION ALL
    SELECT 'CONTACT', c.id, NULL, c.assigned_to_id FROM contacts c
      WHERE c.id IN (SELECT id FROM contacts WHERE assigned_to_id = $1
                     UNION SELECT element_id FROM open WHERE element_type = 'CONTACT')
    UNION ALL
    SELECT 'COMPANY', co.id, NULL, co.assigned_to_id FROM companies co
      WHERE NOT co.is_my_company
        AND co.id IN (SELECT id FROM companies WHERE assigned_to_id = $1
                      UNION SELECT element_id FROM open WHERE element_type = 'COMPANY')
)
SELECT e.et, e.pipeline_id, coalesce(e.assigned_to_id = $1, false) AS assigned, o.earliest,
       coalesce(o.incoming, false) AS incoming,
       (o.element_id IS NOT NULL OR probe.one IS NOT NULL) AS any_open
FROM elements e
LEFT JOIN open o ON o.element_type = e.et AND o.element_id = e.id
LEFT JOIN LATERAL (
    SELECT 1 AS one FROM activity_bindings b2 JOIN activities a2 ON a2.id = b2.activity_id AND NOT a2.completed
    WHERE b2.element_type = e.et AND b2.element_id = e.id LIMIT 1
) probe ON o.element_id IS NULL AND e.assigned_to_id = $1";

pub async fn compute(conn: &mut AsyncPgConnection, user: &User, now: DateTime<Utc>) -> DomainResult<Counters> {
    let tz: chrono_tz::Tz = user.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let end = day_end(now, tz);
    // `$1` appears several times; bind it once per placeholder position by building the
    // statement from one template.
    let mut q = Sql::default();
    let parts: Vec<&str> = ELEMENTS_SQL.split("$1").collect();
    for (i, part) in parts.iter().enumerate() {
        q.push(*part);
        if i + 1 < parts.len() {
            q.bind(Bind::Int8(user.id));
        }
    }
    let rows: Vec<Row> = q.load(conn).await?;
    let mut counters = Counters {
        user_id: user.id,
        total: CounterSet::default(),
        leads: CounterSet::default(),
        deals: CounterSet::default(),
        contacts: CounterSet::default(),
        companies: CounterSet::default(),
        deals_by_pipeline: Vec::new(),
        computed_at: now,
        next_change: end,
    };
    let mut by_pipeline: BTreeMap<i64, CounterSet> = BTreeMap::new();
    for r in rows {
        let f = classify(r.earliest, r.incoming, r.assigned, r.any_open, now, end);
        let add = |set: &mut CounterSet| {
            set.overdue += i64::from(f.overdue);
            set.pending += i64::from(f.pending);
            set.idle += i64::from(f.idle);
            set.incoming += i64::from(f.incoming);
            set.total += i64::from(f.overdue || f.pending || f.incoming);
        };
        match ElementType::parse(&r.et) {
            Some(ElementType::Lead) => add(&mut counters.leads),
            Some(ElementType::Contact) => add(&mut counters.contacts),
            Some(ElementType::Company) => add(&mut counters.companies),
            Some(ElementType::Deal) => {
                add(&mut counters.deals);
                if let Some(p) = r.pipeline_id {
                    add(by_pipeline.entry(p).or_default());
                }
            }
            None => continue,
        }
        add(&mut counters.total);
    }
    counters.deals_by_pipeline = by_pipeline.into_iter().collect();
    // The next deadline still ahead also changes the figures (PENDING → OVERDUE).
    let mut q = Sql::new("SELECT min(deadline) AS next FROM activities WHERE responsible_id = ");
    q.bind(Bind::Int8(user.id)).push(" AND NOT completed AND deadline > ").bind(Bind::Ts(now));
    let next: Next = q.get_result(conn).await?;
    if let Some(n) = next.next {
        counters.next_change = counters.next_change.min(n);
    }
    Ok(counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_by_earliest_deadline() {
        let now = t("2026-03-10T12:00:00Z");
        let end = t("2026-03-11T00:00:00Z");
        let f = |d: Option<&str>, incoming, assigned, open| classify(d.map(t), incoming, assigned, open, now, end);
        assert_eq!(f(Some("2026-03-10T11:59:59Z"), false, true, true), Flags { overdue: true, ..Default::default() });
        assert_eq!(f(Some("2026-03-10T12:00:00Z"), false, true, true), Flags { overdue: true, ..Default::default() });
        assert_eq!(f(Some("2026-03-10T23:00:00Z"), false, true, true), Flags { pending: true, ..Default::default() });
        assert_eq!(f(Some("2026-03-11T00:00:00Z"), false, true, true), Flags::default(), "tomorrow is not pending");
        assert_eq!(f(None, false, true, false), Flags { idle: true, ..Default::default() });
        assert_eq!(f(None, false, false, false), Flags::default(), "idle only counts my elements");
        assert_eq!(f(None, false, true, true), Flags::default(), "someone's open activity is not idle");
        assert_eq!(f(None, true, false, true), Flags { incoming: true, ..Default::default() });
    }

    #[test]
    fn the_day_ends_at_local_midnight() {
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        // 22:30 UTC on 10 March is 23:30 in Berlin; the Berlin day ends at 23:00 UTC.
        assert_eq!(day_end(t("2026-03-10T22:30:00Z"), berlin), t("2026-03-10T23:00:00Z"));
        // 23:30 UTC is already 11 March in Berlin.
        assert_eq!(day_end(t("2026-03-10T23:30:00Z"), berlin), t("2026-03-11T23:00:00Z"));
        let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(day_end(t("2026-03-10T12:00:00Z"), tokyo), t("2026-03-10T15:00:00Z"));
    }
}
