//! A small SQL builder for the statements whose shape is only known at run time (filters,
//! keyset pagination, batched nested connections). Unlike `diesel::sql_query` it lets diesel
//! cache the prepared statement by its SQL text, so a list query is planned once per shape.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Date, Integer, Numeric, Text, Timestamptz, Untyped};
use rust_decimal::Decimal;

/// A bound parameter value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Bind {
    Int8(i64),
    Int8s(Vec<i64>),
    Int4(i32),
    Int4s(Vec<i32>),
    Text(String),
    Texts(Vec<String>),
    Bool(bool),
    Numeric(Decimal),
    Numerics(Vec<Decimal>),
    Date(NaiveDate),
    Dates(Vec<NaiveDate>),
    Ts(DateTime<Utc>),
    Tss(Vec<DateTime<Utc>>),
    /// A JSON document as text, bound as `jsonb`.
    Jsonb(JsonText),
}

/// JSON text sent as a `jsonb` parameter (binary format: version 1, then the text).
#[derive(Clone, Debug, PartialEq, Eq, Hash, diesel::expression::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Jsonb)]
pub struct JsonText(pub String);

impl diesel::serialize::ToSql<diesel::sql_types::Jsonb, Pg> for JsonText {
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, Pg>) -> diesel::serialize::Result {
        use std::io::Write;
        out.write_all(&[1])?;
        out.write_all(self.0.as_bytes())?;
        Ok(diesel::serialize::IsNull::No)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Part {
    Sql(String),
    Bind(Bind),
}

/// SQL text interleaved with bound parameters; placeholders are numbered by diesel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sql {
    parts: Vec<Part>,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Self {
        let mut s = Sql::default();
        s.push(text);
        s
    }

    pub fn push(&mut self, text: impl Into<String>) -> &mut Self {
        let text = text.into();
        match self.parts.last_mut() {
            Some(Part::Sql(last)) => last.push_str(&text),
            _ => self.parts.push(Part::Sql(text)),
        }
        self
    }

    pub fn bind(&mut self, value: Bind) -> &mut Self {
        self.parts.push(Part::Bind(value));
        self
    }

    pub fn append(&mut self, other: &Sql) -> &mut Self {
        for part in &other.parts {
            match part {
                Part::Sql(s) => {
                    self.push(s.clone());
                }
                Part::Bind(b) => {
                    self.bind(b.clone());
                }
            }
        }
        self
    }

    /// Joins fragments with a separator, wrapping each in parentheses.
    pub fn join(fragments: &[Sql], sep: &str, empty: &str) -> Sql {
        if fragments.is_empty() {
            return Sql::new(empty);
        }
        let mut out = Sql::default();
        for (i, f) in fragments.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            out.push("(").append(f).push(")");
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

impl QueryFragment<Pg> for Sql {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for part in &self.parts {
            match part {
                Part::Sql(s) => out.push_sql(s),
                Part::Bind(b) => match b {
                    Bind::Int8(v) => out.push_bind_param::<BigInt, _>(v)?,
                    Bind::Int8s(v) => out.push_bind_param::<Array<BigInt>, _>(v)?,
                    Bind::Int4(v) => out.push_bind_param::<Integer, _>(v)?,
                    Bind::Int4s(v) => out.push_bind_param::<Array<Integer>, _>(v)?,
                    Bind::Text(v) => out.push_bind_param::<Text, _>(v)?,
                    Bind::Texts(v) => out.push_bind_param::<Array<Text>, _>(v)?,
                    Bind::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                    Bind::Numeric(v) => out.push_bind_param::<Numeric, _>(v)?,
                    Bind::Numerics(v) => out.push_bind_param::<Array<Numeric>, _>(v)?,
                    Bind::Date(v) => out.push_bind_param::<Date, _>(v)?,
                    Bind::Dates(v) => out.push_bind_param::<Array<Date>, _>(v)?,
                    Bind::Ts(v) => out.push_bind_param::<Timestamptz, _>(v)?,
                    Bind::Tss(v) => out.push_bind_param::<Array<Timestamptz>, _>(v)?,
                    Bind::Jsonb(v) => out.push_bind_param::<diesel::sql_types::Jsonb, _>(v)?,
                },
            }
        }
        Ok(())
    }
}

impl QueryId for Sql {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Sql {
    type SqlType = Untyped;
}

/// A statement planned for its values and the table's current size every time it runs
/// (about a millisecond). A cached prepared statement (what `Sql` is) may switch to a generic
/// plan after five runs, and keeps it: one made while a table was nearly empty (a fresh
/// installation's first burst) can scan where an index is needed long after the table grew,
/// and a generic plan cannot use the values (a search's words, a prefix as an index range).
pub struct Planned(pub Sql);

impl QueryFragment<Pg> for Planned {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.0.walk_ast(out)
    }
}

impl QueryId for Planned {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Planned {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::debug_query;

    #[test]
    fn numbers_placeholders_in_order() {
        let mut q = Sql::new("SELECT * FROM leads WHERE id = ");
        q.bind(Bind::Int8(1)).push(" AND title = ").bind(Bind::Text("x".into()));
        let text = debug_query::<Pg, _>(&q).to_string();
        assert!(text.starts_with("SELECT * FROM leads WHERE id = $1 AND title = $2"), "{text}");
    }

    #[test]
    fn join_wraps_and_falls_back() {
        let a = Sql::new("a");
        let b = Sql::new("b");
        let joined = Sql::join(&[a, b], " AND ", "TRUE");
        assert_eq!(debug_query::<Pg, _>(&joined).to_string(), "(a) AND (b) -- binds: []");
        let empty = Sql::join(&[], " AND ", "TRUE");
        assert_eq!(debug_query::<Pg, _>(&empty).to_string(), "TRUE -- binds: []");
    }
}
