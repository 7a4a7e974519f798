//! Prepared statements stay bounded per connection: a client sending ever new filter shapes
//! cannot grow a PostgreSQL backend without limit, because a connection that prepared its
//! share is retired.

use crate::common;

use common::TestServer;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use kontor::db::pool::MAX_PREPARED_PER_CONNECTION;
use serde_json::json;

/// String fields of leads; each subset of them filtered with `eq` is its own SQL shape.
const FIELDS: [&str; 10] = [
    "title",
    "honorific",
    "firstName",
    "middleName",
    "lastName",
    "position",
    "companyTitle",
    "address",
    "comments",
    "utmSource",
];

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    prepared: i64,
}

async fn backend(s: &TestServer) -> Backend {
    let mut conn = s.state.pool.get().await.unwrap();
    diesel::sql_query("SELECT pg_backend_pid() AS pid, (SELECT count(*) FROM pg_prepared_statements) AS prepared")
        .get_result(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn many_filter_shapes_do_not_grow_a_connection_without_limit() {
    // One connection, so every request prepares on the same backend.
    let s = TestServer::start_with(|g| g.db_pool_size = 1).await;
    let first = backend(&s).await;
    let shapes = MAX_PREPARED_PER_CONNECTION + 100;
    assert!(shapes < 1 << FIELDS.len());
    for i in 1..=shapes {
        let filter: String = FIELDS
            .iter()
            .enumerate()
            .filter(|(bit, _)| i & (1 << bit) != 0)
            .map(|(_, f)| format!("{f}: {{ eq: \"x\" }} "))
            .collect();
        let q = format!("{{ leads(filter: {{ {filter} }}) {{ totalCount }} }}");
        let body = s.gql(&q, json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let last = backend(&s).await;
    assert_ne!(first.pid, last.pid, "the connection was never replaced");
    // One request's statements may come on top of the limit before the connection retires.
    assert!(
        (last.prepared as usize) < MAX_PREPARED_PER_CONNECTION + 50,
        "{} statements prepared on one backend",
        last.prepared
    );
}
