//! schema.graphql is what `kontor export-schema` prints; this fails when they drift apart.

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed");
    let current = kontor::api::sdl();
    assert!(
        committed == current,
        "schema.graphql is stale: run `cargo run -- export-schema > schema.graphql` and commit it"
    );
}
