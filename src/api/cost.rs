//! What a query may cost before it runs. async-graphql adds up a cost per selected field
//! during validation: a plain field costs 1 plus its selections; a connection (every list
//! with `first`/`last`) costs `CONNECTION_COST` plus its page size times its selections, so
//! nested lists multiply. A document over `MAX_COMPLEXITY` is refused before anything runs.

use async_graphql::parser::types::{Field, VariableDefinition};
use async_graphql::{Positioned, Response, ServerError, VisitorContext};

use crate::api::{MAX_COMPLEXITY, MAX_DEPTH};
use crate::kernel::list::{DEFAULT_PAGE, MAX_PAGE};

/// The fixed part of a connection's cost: its statement (one per list and nesting level,
/// batched across parents) and `totalCount`'s, whatever the page size.
pub const CONNECTION_COST: usize = 10;

/// Any single field's cost is capped just above the budget, so the validator's running sum
/// (plain `usize` additions) stays far from overflowing however many fields a document has.
const FIELD_CAP: usize = MAX_COMPLEXITY + 1;

/// Rows one page of a connection may hold: `first` or `last`, else the default page, within
/// 0..=`MAX_PAGE` (larger or negative values are refused by the resolver with
/// BAD_USER_INPUT, which says more than a cost error would).
fn page_rows(first: Option<i32>, last: Option<i32>) -> usize {
    let clamp = |n: i32| usize::try_from(i64::from(n).clamp(0, MAX_PAGE)).unwrap_or(0);
    first.or(last).map_or(usize::try_from(DEFAULT_PAGE).unwrap_or(0), clamp)
}

/// The cost of a connection field whose selections cost `child_complexity` per row.
/// Saturating, and capped at `FIELD_CAP`.
pub fn connection(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    page_rows(first, last).saturating_mul(child_complexity).saturating_add(CONNECTION_COST).min(FIELD_CAP)
}

/// The complexity function of every list field, written on each as
/// `#[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field,
/// child_complexity)")]` (the names are those of the closure async-graphql's `Object` macro
/// generates). It reads `first`/`last` itself instead of naming them as arguments in the
/// expression: the macro would then fail validation when a declared variable such as
/// `$last` is not sent, which is valid GraphQL and means null. Unreadable values count as
/// absent; the other validation rules report them.
pub fn list(
    ctx: &VisitorContext<'_>,
    variables: &[Positioned<VariableDefinition>],
    field: &Field,
    child_complexity: usize,
) -> usize {
    let arg = |name: &str| ctx.param_value::<Option<i32>>(variables, field, name, None).ok().flatten();
    connection(arg("first"), arg("last"), child_complexity)
}

/// async-graphql refuses a document over the schema's complexity or depth limit with a bare
/// message and no code; the transports (HTTP handler, WebSocket executor) pass every
/// response through this, which says what the limit is and what to change. (A validation
/// extension could report the exact cost, but any extension puts every field of every
/// request through async-graphql's extension chain, which cost a tenth of the throughput.)
pub fn explain_limits(response: &mut Response) {
    for e in &mut response.errors {
        if !e.path.is_empty() || e.extensions.is_some() {
            continue;
        }
        if e.message == "Query is too complex." {
            *e = too_costly();
        } else if e.message == "Query is nested too deep." {
            *e = too_deep();
        }
    }
}

fn with_code(message: String, code: &str, limit: (&str, usize)) -> ServerError {
    let mut e = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    ext.set(limit.0, i64::try_from(limit.1).unwrap_or(i64::MAX));
    e.extensions = Some(ext);
    e
}

fn too_deep() -> ServerError {
    with_code(
        format!("the query nests deeper than {MAX_DEPTH} levels of fields"),
        "GRAPHQL_VALIDATION_FAILED",
        ("maxDepth", MAX_DEPTH),
    )
}

fn too_costly() -> ServerError {
    with_code(
        format!(
            "the query costs more than the limit of {MAX_COMPLEXITY}: each list counts its page size \
             (`first`/`last`, default {DEFAULT_PAGE}) times what it selects per row, so ask for smaller pages, \
             especially of nested lists"
        ),
        "GRAPHQL_VALIDATION_FAILED",
        ("maxCost", MAX_COMPLEXITY),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_multiply_by_their_page() {
        // edges { node { id } } costs 3 per row.
        assert_eq!(connection(Some(10), None, 3), 40);
        assert_eq!(connection(None, Some(10), 3), 40);
        assert_eq!(connection(None, None, 3), 310, "default page of 100");
        assert_eq!(connection(Some(0), None, 3), CONNECTION_COST);
    }

    #[test]
    fn hostile_page_sizes_neither_overflow_nor_panic() {
        assert_eq!(connection(Some(i32::MAX), None, usize::MAX), FIELD_CAP);
        assert_eq!(connection(Some(i32::MIN), None, usize::MAX), CONNECTION_COST);
        assert_eq!(connection(Some(-1), None, 3), CONNECTION_COST);
        // Counted as the largest page; the resolver refuses the size itself.
        assert_eq!(connection(Some(i32::MAX), None, 3), connection(Some(500), None, 3));
        assert!(connection(None, None, usize::MAX) <= FIELD_CAP);
    }
}
