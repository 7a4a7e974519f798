//! The search statements: one per element type, each returning that type's best hits (id,
//! score, what matched, the matched value) among the rows the caller may read. Every branch
//! starts from an index (the generated search columns of migration `…100000_search`, the
//! indexes of `communications`) and reads a bounded number of rows (`CANDIDATES`,
//! `FUZZY_CANDIDATES`, `ADDRESSES`), so a query that matches half a table costs about what
//! a rare one does. Every value is bound.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::sql::{Bind, Planned, Sql};
use crate::kernel::ElementType;
use crate::kernel::access::permissions::Action;
use crate::kernel::access::visibility::element_predicate;
use crate::kernel::actor::Actor;
use crate::kernel::error::DomainResult;
use crate::search::rules::{
    COVER_SPAN, EXACT_SCORE, EmailPlan, EmailWord, FUZZY_FACTOR, Hit, PART_BASE, PREFIX_BASE, PREFIX_SPAN, PhonePlan,
    Plan, TEXT_EMAIL_BASE, TextPlan, prefix_upper,
};

/// Rows one branch scores at most. Ranking needs every matching row scored, which for a
/// query like "m" is most of a table; past this many candidates the query is too broad for
/// the order within it to mean much, and the client narrows it as the user types on.
const CANDIDATES: i64 = 500;
/// The same for misspellings, fewer: each is a trigram comparison with the row, and a
/// misspelt common name ("Schmitd") is close to thousands of rows (Schmidt, Schmitt,
/// Schmitz); 1,000 of them took 140 ms at 250,000 leads.
const FUZZY_CANDIDATES: i64 = 200;
/// Addresses an e-mail part branch reads from its index at most, before the caller's
/// visibility: a part shared by more addresses than this ("@gmail.com") is too broad to
/// list completely anyway, and this bounds the work for a caller who may read few of them.
const ADDRESSES: i64 = 2000;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Double)]
    score: f64,
    #[diesel(sql_type = Text)]
    matched_on: String,
    #[diesel(sql_type = Nullable<Text>)]
    snippet: Option<String>,
}

/// The best `first` hits of each type in `types`, one statement per type the caller may
/// read and the query can match (deals have no e-mails or phones).
pub async fn search(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    plan: &Plan,
    types: &[ElementType],
    first: i64,
) -> DomainResult<Vec<Hit>> {
    let mut hits = Vec::new();
    for &et in types {
        // The statement's visibility predicate would be FALSE: save the round trip.
        if !actor.rights.may(et, Action::Read) {
            continue;
        }
        let Some(q) = statement(actor, et, plan, first) else { continue };
        // Planned for its words every time: a generic plan knows neither which words a query
        // has nor how common they are, nor can it turn a prefix into an index range.
        let rows: Vec<Row> = Planned(q).load(conn).await?;
        hits.extend(rows.into_iter().map(|r| Hit {
            element_type: et,
            id: r.id,
            score: r.score,
            matched_on: r.matched_on,
            snippet: r.snippet,
        }));
    }
    Ok(hits)
}

fn statement(actor: &Actor, et: ElementType, plan: &Plan, first: i64) -> Option<Sql> {
    match plan {
        Plan::Text(t) => text_statement(actor, et, t, first),
        Plan::Email(e) => comm_statement(actor, et, first, &email_branches(e)),
        Plan::Phone(p) => comm_statement(actor, et, first, &phone_branches(p)),
    }
}

/// A person's name as lists show it, from the parts that are not blank.
const FULL_NAME: &str = "nullif(concat_ws(' ', nullif(btrim(t.first_name), ''), nullif(btrim(t.middle_name), ''), \
     nullif(btrim(t.last_name), '')), '')";

/// What a name or title hit reports: `matchedOn` and the value shown (over `t`), in the
/// order a tie prefers. A lead without a title gets its name as title (`crm/lead/rules.rs`),
/// so the name comes first.
fn shown(et: ElementType) -> &'static [(&'static str, &'static str)] {
    match et {
        ElementType::Lead => &[("name", FULL_NAME), ("companyTitle", "t.company_title"), ("title", "t.title")],
        ElementType::Contact => &[("name", FULL_NAME)],
        ElementType::Company | ElementType::Deal => &[("title", "t.title")],
    }
}

/// Words: rows whose words start with the query's (the full-text index), then, only when
/// those are fewer than `first` (a misspelling always scores below them), rows close to the
/// query by trigrams and e-mails in which a single word starts or ends a part. `matchedOn`
/// and the snippet are worked out for the `first` best rows only.
fn text_statement(actor: &Actor, et: ElementType, t: &TextPlan, first: i64) -> Option<Sql> {
    if t.words.is_empty() {
        return None;
    }
    let table = et.table();
    let vis = element_predicate(actor, et, "t");
    let mut q = Sql::new(format!(
        "WITH p AS MATERIALIZED (SELECT t.id, t.search_text FROM {table} t \
         WHERE t.search_words @@ kontor_prefix_query("
    ));
    q.bind(Bind::Texts(t.words.clone())).push(") AND ").append(&vis).push(format!(" LIMIT {CANDIDATES})"));
    let mut fewer = Sql::new("(SELECT count(*) FROM p) < ");
    fewer.bind(Bind::Int8(first));
    if !t.fuzzy.is_empty() {
        // Its own CTE without a LIMIT, read only as far as the branch below needs: planned
        // for all its rows, it takes the trigram index; with a LIMIT in it the planner chose
        // a sequential scan whenever it expected many matches, a trigram comparison per row
        // (50 ms for "Mueler" among 250,000 deals).
        q.push(format!(", f AS MATERIALIZED (SELECT t.id, t.search_text FROM {table} t WHERE "));
        q.append(&fewer);
        // Each word on its own: the index intersects them, where the whole phrase would
        // fetch every row sharing trigrams with its most common word.
        for w in &t.fuzzy {
            q.push(" AND kontor_fold(").bind(Bind::Text(w.clone())).push(", false) <% t.search_text");
        }
        q.push(" AND ").append(&vis).push(")");
    }
    q.push(format!(", h AS (SELECT p.id, ({PREFIX_BASE} + {PREFIX_SPAN} * word_similarity(kontor_fold("));
    q.bind(Bind::Text(t.phrase.clone()));
    q.push(", false), p.search_text))::float8 AS score, NULL::text AS matched_on, NULL::text AS snippet FROM p");
    if !t.fuzzy.is_empty() {
        q.push(format!(" UNION ALL (SELECT f.id, ({FUZZY_FACTOR} * word_similarity(kontor_fold("));
        q.bind(Bind::Text(t.phrase.clone()));
        q.push(format!(", false), f.search_text))::float8, NULL, NULL FROM f LIMIT {FUZZY_CANDIDATES})"));
    }
    if let (Some(word), true) = (&t.email, has_communications(et)) {
        for b in word_branches(word) {
            q.push(" UNION ALL (").append(&branch_sql(&b, et, &vis, Some(&fewer))).push(")");
        }
    }
    q.push(") ");
    q.append(&best_first(et, t, first));
    Some(q)
}

/// The tail of a text statement: each row once with its best score, the `first` best, and
/// what matched in them (the field most like the query).
fn best_first(et: ElementType, t: &TextPlan, first: i64) -> Sql {
    let table = et.table();
    let fields = shown(et);
    let (matched, value, lateral) = match fields {
        [(name, expr)] => (format!("'{name}'"), (*expr).to_owned(), Sql::default()),
        _ => {
            let rows: Vec<String> =
                fields.iter().enumerate().map(|(i, (name, expr))| format!("('{name}', {i}, {expr})")).collect();
            let mut l = Sql::new(format!(
                " LEFT JOIN LATERAL (SELECT v.k, v.s FROM (VALUES {}) v(k, o, s) WHERE v.s IS NOT NULL \
                 ORDER BY word_similarity(kontor_fold(",
                rows.join(", ")
            ));
            l.bind(Bind::Text(t.phrase.clone())).push(", false), kontor_fold(v.s)) DESC, v.o LIMIT 1) m ON TRUE");
            (format!("coalesce(m.k, '{}')", fields[0].0), "m.s".to_owned(), l)
        }
    };
    let mut q = Sql::new(format!(
        "SELECT b.id, b.score, coalesce(b.matched_on, {matched}) AS matched_on, coalesce(b.snippet, {value}) AS snippet \
         FROM (SELECT id, score, matched_on, snippet FROM (SELECT DISTINCT ON (id) id, score, matched_on, snippet \
         FROM h ORDER BY id, score DESC) d ORDER BY score DESC, id LIMIT "
    ));
    q.bind(Bind::Int8(first)).push(format!(") b JOIN {table} t ON t.id = b.id"));
    q.append(&lateral).push(" ORDER BY b.score DESC, b.id");
    q
}

/// Only leads, contacts and companies have e-mails and phones.
fn has_communications(et: ElementType) -> bool {
    et != ElementType::Deal
}

/// The parts of an e-mail address its partial btree indexes (migration `…100000_search`)
/// search by prefix, over `c`: the whole address (whose start is the local part's), the
/// local part reversed (whose start is the local part's end) and the domain.
const ADDRESS: &str = "c.normalized";
const LOCAL_REVERSED: &str = "reverse(split_part(c.normalized, '@', 1))";
const DOMAIN: &str = "split_part(c.normalized, '@', 2)";

/// One way a query finds a communication: its kind, score (SQL over `c`), what it reports,
/// the condition on `c`, and for an e-mail part the part whose index it reads in order and
/// what the addresses read must also satisfy.
struct Branch {
    kind: &'static str,
    matched_on: &'static str,
    score: Sql,
    condition: Sql,
    ordered_by: Option<&'static str>,
    recheck: Option<Sql>,
}

/// `part LIKE pattern`.
fn like(part: &str, pattern: &str) -> Sql {
    let mut s = Sql::new(format!("{part} LIKE "));
    s.bind(Bind::Text(pattern.to_owned()));
    s
}

/// `part` starts with `prefix`, as a range in the order of the `text_pattern_ops` indexes.
fn starts(part: &str, prefix: &str) -> Sql {
    let mut s = Sql::new(format!("{part} ~>=~ "));
    s.bind(Bind::Text(prefix.to_owned()));
    if let Some(upper) = prefix_upper(prefix) {
        s.push(format!(" AND {part} ~<~ ")).bind(Bind::Text(upper));
    }
    s
}

/// A branch's rows among those `vis` lets the caller read, at most `CANDIDATES`, only when
/// `guard` holds. An e-mail branch reads at most `ADDRESSES` addresses, in the order of its
/// index, and checks the rest (`recheck`, visibility) on those: with only a LIMIT the planner
/// trusts statistics over all element types, and a part common in one type's addresses
/// ("info@" of companies) made it scan the whole table for leads (380 ms); without the cap,
/// a caller who reads only their own elements made it walk every address of a common domain
/// for the few of theirs (350 ms for "gmail").
fn branch_sql(b: &Branch, et: ElementType, vis: &Sql, guard: Option<&Sql>) -> Sql {
    let mut filter = Sql::default();
    if let Some(g) = guard {
        filter.append(g).push(" AND ");
    }
    filter.push(format!("c.element_type = '{}' AND c.kind = '{}' AND (", et.as_str(), b.kind));
    filter.append(&b.condition).push(")");
    let join = format!(" JOIN {} t ON t.id = c.element_id WHERE ", et.table());
    let mut s = Sql::new("SELECT t.id, (");
    s.append(&b.score);
    s.push(format!(")::float8 AS score, '{}'::text AS matched_on, c.value AS snippet FROM ", b.matched_on));
    match b.ordered_by {
        Some(part) => {
            s.push("(SELECT c.element_id, c.value, c.normalized FROM communications c WHERE ").append(&filter);
            // `~<~` is the order of the `text_pattern_ops` indexes.
            s.push(format!(" ORDER BY {part} USING ~<~ LIMIT {ADDRESSES}) c{join}"));
            if let Some(r) = &b.recheck {
                s.append(r).push(" AND ");
            }
            s.append(vis);
        }
        None => {
            s.push(format!("communications c{join}")).append(&filter).push(" AND ").append(vis);
        }
    }
    s.push(format!(" LIMIT {CANDIDATES}"));
    s
}

fn exact_branch(kind: &'static str, matched_on: &'static str, values: &[String]) -> Branch {
    let mut condition = Sql::new("c.normalized = ANY(");
    condition.bind(Bind::Texts(values.to_vec())).push(")");
    Branch { kind, matched_on, score: Sql::new(format!("{EXACT_SCORE}")), condition, ordered_by: None, recheck: None }
}

/// A part scores more the more of the stored value it covers.
fn cover_score(base: f64, needle_chars: i32) -> Sql {
    let mut s = Sql::new(format!("{base} + {COVER_SPAN} * "));
    s.bind(Bind::Int4(needle_chars)).push(" / length(c.normalized)");
    s
}

/// A text query's word in addresses: starting the address or the domain, ending the local
/// part. (Anywhere in the address would take the trigram index, which serves every element
/// type at once: "gmail" rechecked every address of the other types, 80 ms at 750,000.)
fn word_branches(w: &EmailWord) -> Vec<Branch> {
    [(ADDRESS, &w.word), (DOMAIN, &w.word), (LOCAL_REVERSED, &w.reversed)]
        .into_iter()
        .map(|(part, prefix)| Branch {
            kind: "EMAIL",
            matched_on: "email",
            score: cover_score(TEXT_EMAIL_BASE, w.needle_chars),
            condition: starts(part, prefix),
            ordered_by: Some(part),
            recheck: None,
        })
        .collect()
}

/// The whole address (the btree index on normalised values) and a part lined up at its "@":
/// the local part ends with what precedes it and the domain starts with what follows. The
/// longer side (the likelier to be rare) is read from its index, the other checked on the
/// addresses read.
fn email_branches(e: &EmailPlan) -> Vec<Branch> {
    let mut out = Vec::new();
    if let Some(exact) = &e.exact {
        out.push(exact_branch("EMAIL", "email", std::slice::from_ref(exact)));
    }
    if let Some(part) = &e.part {
        let local = part.local_reversed.as_deref().map(|p| (LOCAL_REVERSED, p));
        let domain = part.domain.as_deref().map(|p| (DOMAIN, p));
        let (indexed, other) = match (local, domain) {
            (Some(l), Some(d)) if d.1.len() > l.1.len() => (d, Some(l)),
            (Some(l), d) => (l, d),
            (None, Some(d)) => (d, None),
            (None, None) => return out,
        };
        out.push(Branch {
            kind: "EMAIL",
            matched_on: "email",
            score: cover_score(PART_BASE, e.needle_chars),
            condition: starts(indexed.0, indexed.1),
            ordered_by: Some(indexed.0),
            recheck: other.map(|(p, prefix)| starts(p, prefix)),
        });
    }
    out
}

/// The whole number (btree) and the digits anywhere in stored E.164 numbers (trigram index
/// on `lower(normalized)`), with the country they must start with as a filter: a pattern
/// anchored at the start would make the index read the trigrams every number shares.
fn phone_branches(p: &PhonePlan) -> Vec<Branch> {
    let mut out = Vec::new();
    if !p.exact.is_empty() {
        out.push(exact_branch("PHONE", "phone", &p.exact));
    }
    for part in &p.parts {
        let mut condition = like("lower(c.normalized)", &part.contains_like);
        if let Some(start) = &part.starts_with {
            condition.push(" AND starts_with(c.normalized, ").bind(Bind::Text(start.clone())).push(")");
        }
        let score = cover_score(PART_BASE, part.needle_chars);
        out.push(Branch { kind: "PHONE", matched_on: "phone", score, condition, ordered_by: None, recheck: None });
    }
    out
}

/// E-mails or phones: each branch's rows, each element once with its best score, best first.
fn comm_statement(actor: &Actor, et: ElementType, first: i64, branches: &[Branch]) -> Option<Sql> {
    if branches.is_empty() || !has_communications(et) {
        return None;
    }
    let vis = element_predicate(actor, et, "t");
    let parts: Vec<Sql> = branches.iter().map(|b| branch_sql(b, et, &vis, None)).collect();
    let mut q = Sql::new(
        "SELECT id, score, matched_on, snippet FROM (SELECT DISTINCT ON (id) id, score, matched_on, snippet FROM (",
    );
    q.append(&Sql::join(&parts, " UNION ALL ", "SELECT NULL::bigint, NULL::float8, NULL::text, NULL::text"));
    q.push(") h ORDER BY id, score DESC) b ORDER BY score DESC, id LIMIT ").bind(Bind::Int8(first));
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::access::permissions::Rights;
    use crate::search::rules::plan;
    use diesel::debug_query;
    use diesel::pg::Pg;

    fn admin() -> Actor {
        Actor {
            user_id: 1,
            email: "admin@example.com".into(),
            is_admin: true,
            department_id: None,
            time_zone: "UTC".into(),
            rights: Rights { user_id: 1, admin: true, ..Default::default() }.shared(),
        }
    }

    fn sql(q: &str, et: ElementType) -> Option<String> {
        let p = plan(q, phonenumber::country::Id::DE).unwrap();
        statement(&admin(), et, &p, 20).map(|s| debug_query::<Pg, _>(&s).to_string())
    }

    /// The statement's text without its binds.
    fn text_of(debug: &str) -> &str {
        debug.split_once(" -- binds: ").map_or(debug, |(text, _)| text)
    }

    #[test]
    fn user_text_is_only_ever_bound() {
        for (q, et) in [
            ("Robert'); DROP TABLE leads; --", ElementType::Lead),
            ("Robert'); DROP TABLE leads; --", ElementType::Contact),
            ("x'--@evil.example", ElementType::Contact),
            ("'evil'--@", ElementType::Company),
        ] {
            let debug = sql(q, et).unwrap();
            let text = text_of(&debug);
            assert!(!text.contains("Robert") && !text.contains("evil"), "{text}");
        }
    }

    #[test]
    fn deals_have_no_e_mails_or_phones() {
        assert!(sql("anna@", ElementType::Deal).is_none());
        assert!(sql("030 1234", ElementType::Deal).is_none());
        assert!(sql("Wartung", ElementType::Deal).is_some());
        let deal = sql("Wartung", ElementType::Deal).unwrap();
        assert!(!deal.contains("communications"), "{deal}");
    }

    #[test]
    fn a_query_without_words_runs_nothing() {
        assert!(sql("!!!", ElementType::Lead).is_none());
        assert!(sql("@", ElementType::Lead).is_none());
    }

    #[test]
    fn leads_say_which_field_matched_and_others_need_no_lookup() {
        assert!(sql("anna", ElementType::Lead).unwrap().contains("LEFT JOIN LATERAL"));
        assert!(!sql("anna", ElementType::Contact).unwrap().contains("LATERAL"));
    }
}
