//! Activity counters: how many in-progress elements need a
//! user's attention, in the user's time zone. The database keeps, per user and element, the
//! earliest open deadline of the user's activities (`counter_items`, maintained by triggers
//! in the writing transaction); `classify` (a pure function) decides the rest at read time,
//! so passing deadlines and midnights need no write.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::sql::{Bind, Sql};
use crate::kernel::ElementType;
use crate::kernel::access::permissions::Rights;
use crate::kernel::error::DomainResult;
use crate::kernel::models::User;

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
    /// The user's unread notifications.
    pub unread_notifications: i64,
    pub computed_at: DateTime<Utc>,
}

impl Counters {
    /// Equal figures (the computation time aside).
    pub fn same_figures(&self, other: &Counters) -> bool {
        (self.total, self.leads, self.deals, self.contacts, self.companies, &self.deals_by_pipeline)
            == (other.total, other.leads, other.deals, other.contacts, other.companies, &other.deals_by_pipeline)
            && self.unread_notifications == other.unread_notifications
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

/// Classifies one in-progress element at `now`. `earliest` is the earliest deadline among
/// the open activities on it that the user is responsible for, `incoming` whether one of them
/// is INCOMING, `idle` whether it is the user's with no open activity at all (these three are
/// kept per element by the database); `day_end` is the end of the user's today.
pub fn classify(
    earliest: Option<DateTime<Utc>>,
    incoming: bool,
    idle: bool,
    now: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> Flags {
    Flags {
        overdue: earliest.is_some_and(|d| d <= now),
        pending: earliest.is_some_and(|d| d > now && d < day_end),
        idle,
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
    element_type: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pipeline_id: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    earliest: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    incoming: bool,
    #[diesel(sql_type = Bool)]
    idle: bool,
}

/// A user's counters at `now`, from the `counter_items` rows the database keeps current in
/// every writing transaction (migration 000006): one index-only range scan. Elements the
/// viewer's `rights` do not let them read are not counted (for roles that read everything
/// the statement stays a plain range scan).
pub async fn compute(
    conn: &mut AsyncPgConnection,
    user: &User,
    rights: &Rights,
    now: DateTime<Utc>,
) -> DomainResult<Counters> {
    let tz: chrono_tz::Tz = user.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let end = day_end(now, tz);
    let mut q = Sql::new(
        "SELECT c.element_type, c.pipeline_id, c.earliest, c.incoming, c.idle FROM counter_items c WHERE c.user_id = ",
    );
    q.bind(Bind::Int8(user.id));
    for et in ElementType::ALL {
        let readable = rights.read_predicate(et, "o");
        if readable != Sql::new("TRUE") {
            q.push(format!(
                " AND (c.element_type <> '{e}' OR EXISTS (SELECT 1 FROM {t} o WHERE o.id = c.element_id AND ",
                e = et.as_str(),
                t = et.table()
            ))
            .append(&readable)
            .push("))");
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
        unread_notifications: crate::notifications::store::count(conn, user.id, true).await?,
        computed_at: now,
    };
    let mut by_pipeline: BTreeMap<i64, CounterSet> = BTreeMap::new();
    for r in rows {
        let f = classify(r.earliest, r.incoming, r.idle, now, end);
        let add = |set: &mut CounterSet| {
            set.overdue += i64::from(f.overdue);
            set.pending += i64::from(f.pending);
            set.idle += i64::from(f.idle);
            set.incoming += i64::from(f.incoming);
            set.total += i64::from(f.overdue || f.pending || f.incoming);
        };
        match ElementType::parse(&r.element_type) {
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
    Ok(counters)
}

#[derive(QueryableByName)]
struct Zone {
    #[diesel(sql_type = Text)]
    time_zone: String,
}

#[derive(QueryableByName)]
struct UserId {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
}

#[derive(QueryableByName)]
struct Next {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next: Option<DateTime<Utc>>,
}

/// What the passage of time from `last` to `now` changed: the users one of whose deadlines
/// passed or whose day ended (their counters move with no write), and the next moment that
/// happens again. Run by one ticker across all instances (the outbox relay).
pub async fn passed(
    conn: &mut AsyncPgConnection,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DomainResult<(Vec<i64>, DateTime<Utc>)> {
    let zones: Vec<Zone> = Sql::new("SELECT DISTINCT time_zone FROM users WHERE active").load(conn).await?;
    let zones: Vec<(String, chrono_tz::Tz)> =
        zones.into_iter().map(|z| (z.time_zone.clone(), z.time_zone.parse().unwrap_or(chrono_tz::UTC))).collect();
    let midnight: Vec<String> =
        zones.iter().filter(|(_, tz)| day_end(last, *tz) <= now).map(|(name, _)| name.clone()).collect();
    let mut q = Sql::new("SELECT DISTINCT user_id FROM counter_items WHERE earliest > ");
    q.bind(Bind::Ts(last)).push(" AND earliest <= ").bind(Bind::Ts(now));
    if !midnight.is_empty() {
        q.push(
            " UNION SELECT DISTINCT c.user_id FROM counter_items c JOIN users u ON u.id = c.user_id \
             WHERE c.earliest IS NOT NULL AND u.time_zone = ANY(",
        )
        .bind(Bind::Texts(midnight))
        .push(")");
    }
    let users: Vec<UserId> = q.load(conn).await?;
    let mut q = Sql::new("SELECT min(earliest) AS next FROM counter_items WHERE earliest > ");
    q.bind(Bind::Ts(now));
    let next: Next = q.get_result(conn).await?;
    let midnight_next = zones.iter().map(|(_, tz)| day_end(now, *tz)).min();
    let next = [next.next, midnight_next].into_iter().flatten().min().unwrap_or(now + chrono::Duration::days(1));
    Ok((users.into_iter().map(|u| u.user_id).collect(), next))
}

/// Records a tick: a COUNTERS event for `users` (when any) and the tick's time, together.
pub async fn record_tick(conn: &mut AsyncPgConnection, users: Vec<i64>, now: DateTime<Utc>) -> DomainResult<()> {
    let mut q = Sql::new("WITH t AS (UPDATE counter_ticker SET last_tick = ");
    q.bind(Bind::Ts(now)).push(") ");
    if users.is_empty() {
        q.push("SELECT 1");
    } else {
        q.push("INSERT INTO events (element_type, element_id, action, payload) VALUES ('USER', 0, ")
            .bind(Bind::Text(crate::kernel::kinds::EventAction::Counters.as_str().to_owned()))
            .push(", jsonb_build_object('users', ")
            .bind(Bind::Int8s(users))
            .push("::bigint[]))");
    }
    q.execute(conn).await?;
    Ok(())
}

/// When the ticker last ran.
pub async fn last_tick(conn: &mut AsyncPgConnection) -> DomainResult<DateTime<Utc>> {
    let next: Next = Sql::new("SELECT last_tick AS next FROM counter_ticker").get_result(conn).await?;
    Ok(next.next.unwrap_or_else(Utc::now))
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
        let f = |d: Option<&str>, incoming, idle| classify(d.map(t), incoming, idle, now, end);
        assert_eq!(f(Some("2026-03-10T11:59:59Z"), false, false), Flags { overdue: true, ..Default::default() });
        assert_eq!(f(Some("2026-03-10T12:00:00Z"), false, false), Flags { overdue: true, ..Default::default() });
        assert_eq!(f(Some("2026-03-10T23:00:00Z"), false, false), Flags { pending: true, ..Default::default() });
        assert_eq!(f(Some("2026-03-11T00:00:00Z"), false, false), Flags::default(), "tomorrow is not pending");
        assert_eq!(f(None, false, true), Flags { idle: true, ..Default::default() });
        assert_eq!(f(None, false, false), Flags::default(), "no deadline is neither overdue nor pending");
        assert_eq!(f(None, true, false), Flags { incoming: true, ..Default::default() });
        assert_eq!(
            f(Some("2026-03-10T11:00:00Z"), true, false),
            Flags { overdue: true, incoming: true, ..Default::default() }
        );
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
