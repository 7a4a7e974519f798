//! Limits on the shape of a request, checked before anything recursive touches it.
//!
//! The parser, validation, value conversion and execution each recurse once per nesting
//! level, on worker threads with a 2 MiB stack; one request that nests a few thousand levels
//! would overflow it and abort the whole process. Every nesting a request can carry is
//! bounded here, iteratively: brackets in the document text ([`lexer`]), fragment spreads
//! that inline into each other (which the text does not show), and variables. Both
//! transports run [`check_request`] before the schema sees a request: the HTTP handler
//! before it parses the document, the WebSocket's executor for every operation.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Pos, Positioned, Request, ServerError, ServerResult, Value, Variables};

use crate::api::lexer;

/// How deep `{`, `[` and `(` may nest in a document's text. Selections are limited to
/// `MAX_DEPTH` fields anyway; 48 leaves room for arguments, input objects and lists in any
/// real query while staying far below what the recursive parser survives.
pub const MAX_DOCUMENT_NESTING: usize = 48;

/// How deep selection sets may nest once fragment spreads are inlined. A document can nest
/// shallowly in its text and deeply through chains of fragments; validation and execution
/// follow the chain recursively. Fragment-heavy clients nest components a few dozen levels.
pub const MAX_INLINED_NESTING: usize = 64;

/// How many selections a document may expand to once fragment spreads are inlined.
/// Validation walks every inlined path, so a few fragments spreading the next one twice
/// would otherwise cost exponential time; any document within the complexity budget
/// (`MAX_COMPLEXITY`) has far fewer selections.
pub const MAX_INLINED_SELECTIONS: usize = 20_000;

/// How deep variables may nest, counting the variables object as the first level. Input
/// values are converted recursively; filters nest through `and`/`or`/`not`.
pub const MAX_VARIABLE_DEPTH: usize = 32;

fn error(message: impl Into<String>, pos: Option<Pos>, code: &str) -> ServerError {
    let mut e = ServerError::new(message, pos);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code);
    e.extensions = Some(ext);
    e
}

/// Refuses a document whose text nests too deeply or whose strings never end; nothing
/// recursive has seen it yet.
pub fn check_text(query: &str) -> ServerResult<()> {
    lexer::check_nesting(query, MAX_DOCUMENT_NESTING).map_err(|e| {
        let pos = Pos { line: e.line, column: e.column };
        if e.kind == lexer::LexErrorKind::NulInString {
            let mut err = error(e.message(), Some(pos), "BAD_USER_INPUT");
            if let Some(ext) = err.extensions.as_mut() {
                ext.set("field", "query");
            }
            return err;
        }
        error(e.message(), Some(pos), "GRAPHQL_PARSE_FAILED")
    })
}

/// Checks the text, parses and checks how fragments inline: everything the HTTP handler
/// needs before it may look at the document.
pub fn parse(query: &str) -> ServerResult<ExecutableDocument> {
    check_text(query)?;
    let doc = async_graphql::parser::parse_query(query).map_err(|e| {
        let mut e = ServerError::from(e);
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", "GRAPHQL_PARSE_FAILED");
        e.extensions = Some(ext);
        e
    })?;
    check_fragments(&doc)?;
    Ok(doc)
}

/// The operation a request would run: by name, or the only one.
pub fn operation_type(doc: &ExecutableDocument, operation_name: Option<&str>) -> Option<OperationType> {
    let op = match operation_name {
        Some(name) => doc.operations.iter().find(|(n, _)| n.map(|n| n.as_str()) == Some(name)).map(|(_, o)| o),
        None => doc.operations.iter().next().map(|(_, o)| o),
    };
    op.map(|o| o.node.ty)
}

/// What one selection set (with everything nested in it, up to fragment spreads) adds.
struct Shape<'a> {
    /// Selection-set levels, counting this one.
    height: usize,
    /// Selections, spreads included.
    selections: usize,
    /// Fragment spreads: the fragment, the level they appear at and where.
    spreads: Vec<(&'a str, usize, Pos)>,
}

/// Walks one definition's own selection sets; their nesting is already bounded by the text
/// check, but the walk keeps its own stack anyway.
fn shape(set: &Positioned<SelectionSet>) -> Shape<'_> {
    let mut shape = Shape { height: 0, selections: 0, spreads: Vec::new() };
    let mut stack = vec![(&set.node, 1usize)];
    while let Some((set, level)) = stack.pop() {
        shape.height = shape.height.max(level);
        for item in &set.items {
            shape.selections += 1;
            match &item.node {
                Selection::Field(f) if !f.node.selection_set.node.items.is_empty() => {
                    stack.push((&f.node.selection_set.node, level + 1));
                }
                Selection::Field(_) => {}
                Selection::InlineFragment(f) => stack.push((&f.node.selection_set.node, level + 1)),
                Selection::FragmentSpread(s) => {
                    shape.spreads.push((s.node.fragment_name.node.as_str(), level, s.pos));
                }
            }
        }
    }
    shape
}

/// Fragments inlined: height and selection count of each, with cycles refused.
struct Inlined {
    height: usize,
    selections: usize,
}

fn inline(shape: &Shape<'_>, done: &HashMap<&str, Inlined>) -> Inlined {
    let mut out = Inlined { height: shape.height, selections: shape.selections };
    for (name, level, _) in &shape.spreads {
        // Unknown fragments are validation's to report.
        if let Some(f) = done.get(name) {
            out.height = out.height.max(level.saturating_add(f.height));
            out.selections = out.selections.saturating_add(f.selections);
        }
    }
    out
}

/// Refuses fragment cycles and documents that nest or expand too far once fragments are
/// inlined, before validation follows the spreads recursively.
pub fn check_fragments(doc: &ExecutableDocument) -> ServerResult<()> {
    let shapes: HashMap<&str, Shape<'_>> =
        doc.fragments.iter().map(|(name, f)| (name.as_str(), shape(&f.node.selection_set))).collect();
    let mut done: HashMap<&str, Inlined> = HashMap::new();
    // The fragments being expanded, in order, and where each sits in that order.
    let mut on_path: Vec<&str> = Vec::new();
    let mut path_index: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = shapes.keys().copied().collect();
    names.sort_unstable();
    for root in names {
        if done.contains_key(root) {
            continue;
        }
        // Depth-first with an explicit stack: (fragment, index of its next spread).
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        path_index.insert(root, on_path.len());
        on_path.push(root);
        while let Some((name, next)) = stack.last_mut() {
            let shape = &shapes[*name];
            if let Some((target, _, pos)) = shape.spreads.get(*next) {
                *next += 1;
                if done.contains_key(target) || !shapes.contains_key(target) {
                    continue;
                }
                if let Some(&at) = path_index.get(target) {
                    let cycle = on_path[at..].iter().chain(std::iter::once(target)).copied().collect::<Vec<_>>();
                    return Err(error(
                        format!("fragments spread each other in a cycle: {}", cycle.join(" → ")),
                        Some(*pos),
                        "GRAPHQL_VALIDATION_FAILED",
                    ));
                }
                path_index.insert(target, on_path.len());
                on_path.push(target);
                stack.push((target, 0));
            } else {
                let name = *name;
                let inlined = inline(shape, &done);
                limit(&inlined, doc.fragments.get(name).map(|f| f.pos))?;
                done.insert(name, inlined);
                stack.pop();
                on_path.pop();
                path_index.remove(name);
            }
        }
    }
    for (_, op) in doc.operations.iter() {
        limit(&inline(&shape(&op.node.selection_set), &done), Some(op.pos))?;
    }
    Ok(())
}

fn limit(inlined: &Inlined, pos: Option<Pos>) -> ServerResult<()> {
    if inlined.height > MAX_INLINED_NESTING {
        return Err(error(
            format!("selections nest too deeply through fragments (at most {MAX_INLINED_NESTING} levels)"),
            pos,
            "GRAPHQL_VALIDATION_FAILED",
        ));
    }
    if inlined.selections > MAX_INLINED_SELECTIONS {
        return Err(error(
            format!(
                "the document expands to too many selections (at most {MAX_INLINED_SELECTIONS} with fragments inlined)"
            ),
            pos,
            "GRAPHQL_VALIDATION_FAILED",
        ));
    }
    Ok(())
}

/// Whether JSON nests deeper than `max` levels (the value itself is level 1).
pub fn json_too_deep(v: &serde_json::Value, max: usize) -> bool {
    use serde_json::Value as Json;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > max {
            return true;
        }
        match v {
            Json::Array(a) => stack.extend(a.iter().map(|x| (x, depth + 1))),
            Json::Object(o) => stack.extend(o.values().map(|x| (x, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Whether variables nest deeper than `max` levels (the variables object is level 1).
pub fn variables_too_deep(vars: &Variables, max: usize) -> bool {
    check_variables(vars, max).is_err()
}

/// Variables nest at most `max` levels and hold no U+0000 (which no column can store), in
/// strings or object keys.
fn check_variables(vars: &Variables, max: usize) -> ServerResult<()> {
    let mut stack: Vec<(&Value, usize, String)> = vars.iter().map(|(k, v)| (v, 2usize, k.to_string())).collect();
    while let Some((v, depth, path)) = stack.pop() {
        if depth > max {
            return Err(variables_error());
        }
        match v {
            Value::String(s) if s.contains('\0') => return Err(nul_error(&path)),
            Value::List(a) => stack.extend(a.iter().enumerate().map(|(i, x)| (x, depth + 1, format!("{path}[{i}]")))),
            Value::Object(o) => {
                for (k, x) in o {
                    let path = format!("{path}.{k}");
                    if k.contains('\0') {
                        return Err(nul_error(&path));
                    }
                    stack.push((x, depth + 1, path));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn nul_error(field: &str) -> ServerError {
    let mut e = error("text may not hold the NUL character (U+0000)", None, "BAD_USER_INPUT");
    if let Some(ext) = e.extensions.as_mut() {
        ext.set("field", field);
    }
    e
}

pub fn variables_error() -> ServerError {
    error(format!("`variables` nest too deeply (at most {MAX_VARIABLE_DEPTH} levels)"), None, "BAD_REQUEST")
}

/// Everything a request must pass before the schema sees it, whichever transport brought
/// it (the HTTP handler and the WebSocket's executor both call this): the text before the
/// parser sees it, fragments before validation follows them, variables before anything
/// converts them. Returns the document, to be handed to the request so it is parsed once.
/// Not a schema extension: any extension puts every field of every request through
/// async-graphql's extension chain.
pub fn check_request(request: &Request) -> ServerResult<ExecutableDocument> {
    let doc = parse(&request.query)?;
    check_variables(&request.variables, MAX_VARIABLE_DEPTH)?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(query: &str) -> Option<String> {
        parse(query).err().map(|e| match e.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(Value::String(s)) => s.clone(),
            other => panic!("no code: {other:?}"),
        })
    }

    #[test]
    fn ordinary_documents_pass() {
        assert_eq!(
            code(
                "query Q($f: LeadFilter) { leads(filter: $f) { nodes { ...L } } } fragment L on Lead { id ...M } fragment M on Lead { title }"
            ),
            None
        );
    }

    #[test]
    fn fragment_cycles_are_refused_before_validation() {
        assert_eq!(
            code("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").as_deref(),
            Some("GRAPHQL_VALIDATION_FAILED")
        );
        assert_eq!(code("{ ...A } fragment A on Query { me { ...A } }").as_deref(), Some("GRAPHQL_VALIDATION_FAILED"));
        let e = parse(
            "{ ...A } fragment A on Query { ...B } fragment B on Query { me { ...C } } fragment C on User { ...B }",
        )
        .unwrap_err();
        assert!(e.message.contains("B → C → B"), "{}", e.message);
    }

    #[test]
    fn long_fragment_chains_are_refused() {
        let chain = |n: usize| {
            let mut q = String::from("{ ...F0 }");
            for i in 0..n {
                q.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
            }
            q.push_str(&format!(" fragment F{n} on Query {{ __typename }}"));
            q
        };
        assert_eq!(code(&chain(20)), None);
        assert_eq!(code(&chain(10_000)).as_deref(), Some("GRAPHQL_VALIDATION_FAILED"));
    }

    #[test]
    fn fragment_bombs_are_refused() {
        // Each fragment spreads the next twice: 2^30 selections once inlined.
        let mut q = String::from("{ ...F0 }");
        for i in 0..30 {
            q.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
        }
        q.push_str(" fragment F30 on Query { __typename }");
        let e = parse(&q).unwrap_err();
        assert!(e.message.contains("too many selections"), "{}", e.message);
    }

    #[test]
    fn deep_text_is_refused_before_parsing() {
        let q = format!("{{ a(x: \"\"\" \" \"\"\", y: {}1{}) }}", "[".repeat(3000), "]".repeat(3000));
        let e = parse(&q).unwrap_err();
        assert!(e.message.contains("nests too deeply"), "{}", e.message);
        assert_eq!(e.locations, vec![Pos { line: 1, column: 68 }]);
    }

    #[test]
    fn variables_may_not_hold_nul() {
        let vars = Variables::from_json(
            serde_json::json!({ "input": { "phones": [{ "value": "1" }, { "value": "2\u{0}" }] } }),
        );
        let e = check_variables(&vars, 32).unwrap_err();
        assert_eq!(e.extensions.as_ref().and_then(|x| x.get("field")), Some(&Value::from("input.phones[1].value")));
        let vars = Variables::from_json(serde_json::json!({ "v": { "a\u{0}": 1 } }));
        assert!(check_variables(&vars, 32).is_err());
        let vars = Variables::from_json(serde_json::json!({ "v": { "a": "\\u0000 is fine as text" } }));
        assert!(check_variables(&vars, 32).is_ok());
    }

    #[test]
    fn variable_depth_counts_the_variables_object() {
        let mut v = serde_json::json!(1);
        for _ in 0..30 {
            v = serde_json::json!([v]);
        }
        let vars = Variables::from_json(serde_json::json!({ "x": v }));
        assert!(!variables_too_deep(&vars, 32));
        assert!(variables_too_deep(&vars, 31));
        assert!(!json_too_deep(&serde_json::json!({ "x": v }), 32));
        assert!(json_too_deep(&serde_json::json!({ "x": v }), 31));
    }
}
