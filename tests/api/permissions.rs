//! Roles and permissions: a small department tree, users with different roles, and for every
//! element type, action and level exactly what each user may see and change, through lists,
//! totals, single reads, nested relations, history and a subscription. Also tokens of
//! deactivated users, revoked and malformed tokens, and the settings right.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TYPES: [(&str, &str, &str); 4] = [
    ("LEAD", "Lead", "leads"),
    ("CONTACT", "Contact", "contacts"),
    ("COMPANY", "Company", "companies"),
    ("DEAL", "Deal", "deals"),
];
const LEVELS: [&str; 6] = ["NONE", "OWN", "DEPARTMENT", "SUBDEPARTMENTS", "OPEN", "ALL"];
/// Who each element is assigned to, in creation order; only the last one is `opened`.
const OWNERS: [&str; 5] = ["me", "mate", "below", "stranger", "stranger (opened)"];

fn reaches(level: &str) -> BTreeSet<usize> {
    let idx: &[usize] = match level {
        "NONE" => &[],
        "OWN" => &[0],
        "DEPARTMENT" => &[0, 1],
        "SUBDEPARTMENTS" => &[0, 1, 2],
        "OPEN" => &[0, 4],
        "ALL" => &[0, 1, 2, 3, 4],
        _ => unreachable!(),
    };
    idx.iter().copied().collect()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The payload of the next `next` message.
async fn next_payload(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an event").unwrap().unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "next" {
                return v["payload"].clone();
            }
        }
    }
}

struct World {
    s: TestServer,
    me: String,
    my_token: String,
    role: String,
    /// Per element type, the element ids in `OWNERS` order.
    elements: Vec<Vec<String>>,
}

async fn user(s: &TestServer, email: &str, department: &str) -> String {
    let d = s
        .ok(
            "mutation($e: String!, $d: ID) { createUser(input: { email: $e, departmentId: $d, timeZone: \"Europe/Berlin\" }) { id roles { name } } }",
            json!({ "e": email, "d": department }),
        )
        .await;
    assert_eq!(d["createUser"]["roles"], json!([{ "name": "Employee" }]), "new users get the default role");
    d["createUser"]["id"].as_str().unwrap().to_owned()
}

async fn department(s: &TestServer, name: &str, parent: Option<&str>) -> String {
    let d = s
        .ok(
            "mutation($n: String!, $p: ID) { createDepartment(input: { name: $n, parentId: $p }) { id } }",
            json!({ "n": name, "p": parent }),
        )
        .await;
    d["createDepartment"]["id"].as_str().unwrap().to_owned()
}

async fn token(s: &TestServer, user: &str) -> String {
    let d = s
        .ok(
            "mutation($u: ID!) { createApiToken(userId: $u, name: \"test\") { token apiToken { id name } } }",
            json!({ "u": user }),
        )
        .await;
    assert_eq!(d["createApiToken"]["apiToken"]["name"], "test");
    d["createApiToken"]["token"].as_str().unwrap().to_owned()
}

async fn world() -> World {
    let s = TestServer::start().await;
    // Sales ─ Sales East; Support on its own.
    let sales = department(&s, "Sales", None).await;
    let east = department(&s, "Sales East", Some(&sales)).await;
    let support = department(&s, "Support", None).await;
    let me = user(&s, "me@example.com", &sales).await;
    let mate = user(&s, "mate@example.com", &sales).await;
    let below = user(&s, "below@example.com", &east).await;
    let stranger = user(&s, "stranger@example.com", &support).await;
    let my_token = token(&s, &me).await;
    let role = s.ok("mutation { createRole(name: \"Matrix\") { id name } }", json!({})).await["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let assigned = s
        .ok(
            "mutation($u: ID!, $r: [ID!]!) { assignRoles(userId: $u, roleIds: $r) { roles { name } } }",
            json!({ "u": me, "r": [role] }),
        )
        .await;
    assert_eq!(assigned["assignRoles"]["roles"], json!([{ "name": "Matrix" }]));

    let mut elements = Vec::new();
    for (_, name, _) in TYPES {
        let mut ids = Vec::new();
        for (i, owner) in [&me, &mate, &below, &stranger, &stranger].into_iter().enumerate() {
            let title_field = if name == "Contact" { "lastName" } else { "title" };
            let d = s
                .ok(
                    &format!(
                        "mutation($u: ID!, $o: Boolean!, $t: String!) {{ create{name}(input: {{ {title_field}: $t, assignedToId: $u, opened: $o }}) {{ id }} }}"
                    ),
                    json!({ "u": owner, "o": i == 4, "t": format!("{name} of {}", OWNERS[i]) }),
                )
                .await;
            ids.push(d[format!("create{name}")]["id"].as_str().unwrap().to_owned());
        }
        elements.push(ids);
    }
    World { s, me, my_token, role, elements }
}

impl World {
    async fn set(&self, lines: Value) {
        self.s
            .ok(
                "mutation($r: ID!, $p: [PermissionInput!]!) { setRolePermissions(roleId: $r, permissions: $p) { id } }",
                json!({ "r": self.role, "p": lines }),
            )
            .await;
    }

    /// The same level for `actions` on every element type.
    async fn set_all(&self, actions: &[(&str, &str)]) {
        let mut lines = Vec::new();
        for (t, _, _) in TYPES {
            for (action, level) in actions {
                lines.push(json!({ "elementType": t, "action": action, "level": level }));
            }
        }
        self.set(Value::Array(lines)).await;
    }

    async fn as_me(&self, query: &str, variables: Value) -> Value {
        self.s.gql_as(&self.my_token, query, variables).await
    }

    /// A graphql-transport-ws subscription as "me", given time to start.
    async fn subscribe(&self, query: &str) -> Ws {
        self.subscribe_with(&self.my_token, query).await
    }

    async fn subscribe_with(&self, token: &str, query: &str) -> Ws {
        let mut req = format!("ws://{}/graphql", self.s.addr).into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        ws.send(Message::Text(init.to_string().into())).await.unwrap();
        let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
        ws.send(Message::Text(sub.to_string().into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        ws
    }

    fn indexes(&self, t: usize, ids: &[Value]) -> BTreeSet<usize> {
        ids.iter()
            .map(|id| {
                let id = id.as_str().unwrap();
                self.elements[t].iter().position(|e| e == id).unwrap_or_else(|| panic!("unexpected element {id}"))
            })
            .collect()
    }
}

#[tokio::test]
async fn each_read_level_shows_exactly_its_elements_everywhere() {
    let w = world().await;
    for level in LEVELS {
        w.set_all(&[("READ", level)]).await;
        let want = reaches(level);
        let lists = w
            .as_me(
                "{ leads { totalCount edges { node { id } } } contacts { totalCount edges { node { id } } }
                   companies { totalCount edges { node { id } } } deals { totalCount edges { node { id } } }
                   history { totalCount } }",
                json!({}),
            )
            .await;
        assert!(lists.get("errors").is_none(), "{level}: {lists}");
        for (t, (_, _, field)) in TYPES.iter().enumerate() {
            let list = &lists["data"][field];
            let ids: Vec<Value> = list["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect();
            assert_eq!(w.indexes(t, &ids), want, "{level} {field} list");
            assert_eq!(list["totalCount"], want.len(), "{level} {field} totalCount");
        }
        // Each element has one history entry (its creation).
        assert_eq!(lists["data"]["history"]["totalCount"], want.len() * 4, "{level} history");
        // A single read of a hidden element is NOT_FOUND, never FORBIDDEN.
        for (t, (_, name, _)) in TYPES.iter().enumerate() {
            for (i, id) in w.elements[t].iter().enumerate() {
                let q = format!("query($id: ID!) {{ {}(id: $id) {{ id }} }}", name.to_lowercase());
                let one = w.as_me(&q, json!({ "id": id })).await;
                if want.contains(&i) {
                    assert_eq!(one["data"][name.to_lowercase()]["id"], id.as_str(), "{level} {name} {i}");
                } else {
                    assert_eq!(one["errors"][0]["extensions"]["code"], "NOT_FOUND", "{level} {name} {i}: {one}");
                }
            }
        }
    }
}

#[tokio::test]
async fn write_and_delete_levels_forbid_the_rest_and_add_follows_the_assignee() {
    let w = world().await;
    for level in LEVELS {
        w.set_all(&[("READ", "ALL"), ("WRITE", level), ("ADD", "OWN")]).await;
        let want = reaches(level);
        for (t, (_, name, _)) in TYPES.iter().enumerate() {
            for (i, id) in w.elements[t].iter().enumerate() {
                let q = format!(
                    "mutation($id: ID!) {{ update{name}(id: $id, input: {{ comments: \"touched at {level}\" }}) {{ id }} }}"
                );
                let r = w.as_me(&q, json!({ "id": id })).await;
                if want.contains(&i) {
                    assert!(r.get("errors").is_none(), "{level} update {name} {i}: {r}");
                } else {
                    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{level} update {name} {i}: {r}");
                }
            }
        }
    }
    // ADD at OWN: I may create elements assigned to me, not to others.
    let mine = w
        .as_me(
            "mutation($u: ID!) { createLead(input: { title: \"mine\", assignedToId: $u }) { id } }",
            json!({ "u": w.me }),
        )
        .await;
    assert!(mine.get("errors").is_none(), "{mine}");
    let admin_id = w.s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let theirs = w
        .as_me(
            "mutation($u: ID!) { createLead(input: { title: \"theirs\", assignedToId: $u }) { id } }",
            json!({ "u": admin_id }),
        )
        .await;
    assert_eq!(theirs["errors"][0]["extensions"]["code"], "FORBIDDEN", "{theirs}");

    // DELETE at DEPARTMENT: my mate's deal goes, the stranger's stays.
    w.set_all(&[("READ", "ALL"), ("DELETE", "DEPARTMENT")]).await;
    let gone = w.as_me("mutation($id: ID!) { deleteDeal(id: $id) }", json!({ "id": w.elements[3][1] })).await;
    assert!(gone.get("errors").is_none(), "{gone}");
    let kept = w.as_me("mutation($id: ID!) { deleteDeal(id: $id) }", json!({ "id": w.elements[3][3] })).await;
    assert_eq!(kept["errors"][0]["extensions"]["code"], "FORBIDDEN", "{kept}");
    assert_eq!(w.s.ok("{ deals { totalCount } }", json!({})).await["deals"]["totalCount"], 4);
}

#[tokio::test]
async fn nested_relations_and_pipelines_follow_the_same_rule() {
    let w = world().await;
    // My deal with my contact and the stranger's contact.
    let deal = &w.elements[3][0];
    w.s.ok(
        "mutation($id: ID!, $c: [ID!]) { updateDeal(id: $id, input: { contactIds: $c }) { id } }",
        json!({ "id": deal, "c": [w.elements[1][0], w.elements[1][3]] }),
    )
    .await;
    w.set(json!([
        { "elementType": "DEAL", "action": "READ", "level": "OWN" },
        { "elementType": "CONTACT", "action": "READ", "level": "OWN" },
    ]))
    .await;
    let d = w.as_me("query($id: ID!) { deal(id: $id) { contacts { id } } }", json!({ "id": deal })).await;
    assert_eq!(d["data"]["deal"]["contacts"], json!([{ "id": w.elements[1][0] }]), "{d}");
    let me_perms = w
        .as_me("{ myPermissions { isAdmin canManageSettings permissions { elementType action levels } } }", json!({}))
        .await;
    let perms = &me_perms["data"]["myPermissions"];
    assert_eq!(perms["isAdmin"], false);
    assert_eq!(perms["canManageSettings"], false);
    let deal_read = perms["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["elementType"] == "DEAL" && p["action"] == "READ")
        .unwrap();
    assert_eq!(deal_read["levels"], json!(["OWN"]));

    // A line for one pipeline wins over the line for all pipelines.
    let pipeline = w.s.ok("query($id: ID!) { deal(id: $id) { pipeline { id } } }", json!({ "id": deal })).await["deal"]
        ["pipeline"]["id"]
        .clone();
    w.set(json!([
        { "elementType": "DEAL", "action": "READ", "level": "OWN" },
        { "elementType": "DEAL", "pipelineId": pipeline, "action": "READ", "level": "ALL" },
    ]))
    .await;
    let all = w.as_me("{ deals { totalCount } }", json!({})).await;
    assert_eq!(all["data"]["deals"]["totalCount"], 5, "{all}");

    // Moving a deal into another pipeline needs the right to write it there.
    let other =
        w.s.ok("mutation { createPipeline(name: \"Partners\") { id } }", json!({})).await["createPipeline"]["id"]
            .clone();
    w.set(json!([
        { "elementType": "DEAL", "action": "READ", "level": "OWN" },
        { "elementType": "DEAL", "action": "WRITE", "level": "OWN" },
        { "elementType": "DEAL", "pipelineId": other, "action": "WRITE", "level": "NONE" },
    ]))
    .await;
    let move_to = "mutation($id: ID!, $p: ID!) { updateDeal(id: $id, input: { pipelineId: $p }) { id } }";
    let r = w.as_me(move_to, json!({ "id": deal, "p": other })).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
    let renamed = w
        .as_me(
            "mutation($id: ID!) { updateDeal(id: $id, input: { title: \"Still mine\" }) { title } }",
            json!({ "id": deal }),
        )
        .await;
    assert_eq!(renamed["data"]["updateDeal"]["title"], "Still mine", "{renamed}");
    let bad = w
        .s
        .gql(
            "mutation($r: ID!) { setRolePermissions(roleId: $r, permissions: [{ elementType: LEAD, pipelineId: \"pipeline:1\", action: READ, level: ALL }]) { id } }",
            json!({ "r": w.role }),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "permissions[0].pipelineId");
}

#[tokio::test]
async fn subscribers_only_hear_about_elements_they_may_read() {
    let w = world().await;
    w.set_all(&[("READ", "OWN")]).await;
    let mut ws =
        w.subscribe("subscription { elementChanged(types: [LEAD]) { element { ... on Lead { title } } } }").await;
    let admin_id = w.s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    w.s.ok(
        "mutation($u: ID!) { createLead(input: { title: \"not mine\", assignedToId: $u, opened: false }) { id } }",
        json!({ "u": admin_id }),
    )
    .await;
    w.s.ok(
        "mutation($u: ID!) { createLead(input: { title: \"mine\", assignedToId: $u }) { id } }",
        json!({ "u": w.me }),
    )
    .await;
    let v = next_payload(&mut ws).await;
    assert_eq!(v["data"]["elementChanged"]["element"]["title"], "mine", "{v}");
}

#[tokio::test]
async fn deactivated_revoked_and_malformed_tokens_are_unauthenticated() {
    let w = world().await;
    let who = w.as_me("{ me { id } }", json!({})).await;
    assert_eq!(who["data"]["me"]["id"], w.me.as_str());

    // Revoked: the token stops at once, other tokens of the user keep working.
    let second = token(&w.s, &w.me).await;
    let tokens = w.as_me("{ apiTokens { id name lastUsedAt revokedAt } }", json!({})).await;
    let list = tokens["data"]["apiTokens"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{tokens}");
    assert!(list[0]["lastUsedAt"].is_string(), "used tokens show when: {tokens}");
    let first_id = list[0]["id"].clone();
    let r =
        w.s.gql_as(&second, "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }", json!({ "id": first_id }))
            .await;
    assert!(r["data"]["revokeApiToken"]["revokedAt"].is_string(), "{r}");
    let code = |v: &Value| v["errors"][0]["extensions"]["code"].clone();
    assert_eq!(code(&w.as_me("{ me { id } }", json!({})).await), "UNAUTHENTICATED");
    assert!(w.s.gql_as(&second, "{ me { id } }", json!({})).await.get("errors").is_none());

    // Someone else's token cannot be revoked (and is not revealed).
    let departments = w.s.ok("{ departments { id } }", json!({})).await;
    let other = user(&w.s, "other@example.com", departments["departments"][0]["id"].as_str().unwrap()).await;
    let other_token = token(&w.s, &other).await;
    let theirs =
        w.s.gql_as(&other_token, "{ apiTokens { id } }", json!({})).await["data"]["apiTokens"][0]["id"].clone();
    let r = w.s.gql_as(&second, "mutation($id: ID!) { revokeApiToken(id: $id) { id } }", json!({ "id": theirs })).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");

    // Deactivated: every token of the user stops with the next request.
    let r = w.s.ok("mutation($id: ID!) { deactivateUser(id: $id) { active } }", json!({ "id": w.me })).await;
    assert_eq!(r["deactivateUser"]["active"], false);
    assert_eq!(code(&w.s.gql_as(&second, "{ me { id } }", json!({})).await), "UNAUTHENTICATED");

    // Malformed.
    for bad in ["kontor_nothex", "Bearer", "x", &"kontor_".repeat(100)] {
        assert_eq!(code(&w.s.gql_as(bad, "{ me { id } }", json!({})).await), "UNAUTHENTICATED", "{bad}");
    }
}

#[tokio::test]
async fn settings_need_the_settings_right() {
    let w = world().await;
    let code = |v: &Value| v["errors"][0]["extensions"]["code"].clone();
    let try_settings = || w.as_me("mutation { createRole(name: \"Mine\") { id } }", json!({}));
    assert_eq!(code(&try_settings().await), "FORBIDDEN");
    assert_eq!(
        code(&w.as_me("mutation { createDepartment(input: { name: \"X\" }) { id } }", json!({})).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(&w.as_me("mutation { createUser(input: { email: \"x@example.com\" }) { id } }", json!({})).await),
        "FORBIDDEN"
    );
    // Users may still rename themselves.
    let renamed = w
        .as_me(
            "mutation($id: ID!) { updateUser(id: $id, input: { name: \"Me Myself\" }) { name } }",
            json!({ "id": w.me }),
        )
        .await;
    assert_eq!(renamed["data"]["updateUser"]["name"], "Me Myself", "{renamed}");
    let promote = w
        .as_me("mutation($id: ID!) { updateUser(id: $id, input: { isAdmin: true }) { name } }", json!({ "id": w.me }))
        .await;
    assert_eq!(code(&promote), "FORBIDDEN");

    w.s.ok(
        "mutation($id: ID!) { updateRole(id: $id, input: { canManageSettings: true }) { id } }",
        json!({ "id": w.role }),
    )
    .await;
    let made = try_settings().await;
    assert!(made.get("errors").is_none(), "{made}");
    assert_eq!(code(&try_settings().await), "CONFLICT", "role names are unique");

    // The settings right manages other users' tokens, but an administrator's token would make
    // its holder an administrator.
    let admin_id = w.s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let mint = "mutation($u: ID!) { createApiToken(userId: $u, name: \"x\") { token } }";
    assert_eq!(code(&w.as_me(mint, json!({ "u": admin_id })).await), "FORBIDDEN");
    assert_eq!(
        code(&w.as_me("query($u: ID) { apiTokens(userId: $u) { id } }", json!({ "u": admin_id })).await),
        "FORBIDDEN"
    );
    let admin_tokens = w.s.ok("{ apiTokens { id } }", json!({})).await;
    let r = w
        .as_me(
            "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
            json!({ "id": admin_tokens["apiTokens"][0]["id"] }),
        )
        .await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
    let departments = w.s.ok("{ departments { id } }", json!({})).await;
    let colleague = user(&w.s, "colleague@example.com", departments["departments"][0]["id"].as_str().unwrap()).await;
    let minted = w.as_me(mint, json!({ "u": colleague })).await;
    assert!(minted["data"]["createApiToken"]["token"].is_string(), "{minted}");
}

#[tokio::test]
async fn the_department_tree_moves_but_never_into_itself() {
    let w = world().await;
    let tree = w.s.ok("{ departments { id name children { id name children { name } } } }", json!({})).await;
    let roots = tree["departments"].as_array().unwrap();
    let names: Vec<&str> = roots.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Sales", "Support"]);
    assert_eq!(roots[0]["children"][0]["name"], "Sales East");
    let sales = roots[0]["id"].clone();
    let east = roots[0]["children"][0]["id"].clone();
    let support = roots[1]["id"].clone();
    let r =
        w.s.gql(
            "mutation($id: ID!, $p: ID) { moveDepartment(id: $id, parentId: $p) { id } }",
            json!({ "id": sales, "p": east }),
        )
        .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{r}");

    // SUBDEPARTMENTS follows the tree at once: East moves under Support, out of my reach.
    w.set_all(&[("READ", "SUBDEPARTMENTS")]).await;
    assert_eq!(w.as_me("{ leads { totalCount } }", json!({})).await["data"]["leads"]["totalCount"], 3);
    w.s.ok(
        "mutation($id: ID!, $p: ID) { moveDepartment(id: $id, parentId: $p) { parentId } }",
        json!({ "id": east, "p": support }),
    )
    .await;
    assert_eq!(w.as_me("{ leads { totalCount } }", json!({})).await["data"]["leads"]["totalCount"], 2);
}

#[tokio::test]
async fn history_subscribers_only_hear_about_elements_they_may_read() {
    let w = world().await;
    w.set_all(&[("READ", "OWN")]).await;
    let mut ws = w.subscribe("subscription { timelineAdded { entry { text } } }").await;
    let comment = "mutation($e: ElementRef!, $t: String!) { addComment(element: $e, text: $t) { id } }";
    // The stranger's lead first, then mine.
    w.s.ok(comment, json!({ "e": { "type": "LEAD", "id": w.elements[0][3] }, "t": "not for me" })).await;
    w.s.ok(comment, json!({ "e": { "type": "LEAD", "id": w.elements[0][0] }, "t": "for me" })).await;
    let v = next_payload(&mut ws).await;
    assert_eq!(v["data"]["timelineAdded"]["entry"]["text"], "for me", "{v}");
}

/// The close code the server ends the socket with; no event may come first.
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a close frame in time");
        match msg {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)).unwrap_or(0),
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_ne!(v["type"], "next", "an event went out after access changed: {v}");
            }
            Some(Ok(_)) => continue,
            other => panic!("socket ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn live_connections_end_when_access_changes() {
    let w = world().await;
    w.set_all(&[("READ", "ALL")]).await;
    let query = "subscription { elementChanged(types: [LEAD]) { element { ... on Lead { title } } } }";
    let create =
        "mutation($t: String!, $u: ID!) { createLead(input: { title: $t, assignedToId: $u, opened: false }) { id } }";
    let admin_id = w.s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();

    // A change that leaves my rights as they were keeps my connection.
    let mut ws = w.subscribe(query).await;
    let other = w.s.ok("mutation { createRole(name: \"Other\") { id } }", json!({})).await["createRole"]["id"].clone();
    w.s.ok(
        "mutation($r: ID!) { setRolePermissions(roleId: $r, permissions: [{ elementType: LEAD, action: READ, level: NONE }]) { id } }",
        json!({ "r": other }),
    )
    .await;
    w.s.ok(create, json!({ "t": "still heard", "u": admin_id })).await;
    assert_eq!(next_payload(&mut ws).await["data"]["elementChanged"]["element"]["title"], "still heard");

    // Narrower rights close it with 4403, and nothing written after the change reaches it
    // under the old rights, however long the re-check takes. Here it waits for a row lock:
    // my token's last use is an hour ago, so the check records it, and another transaction
    // holds the row.
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let mut db = AsyncPgConnection::establish(&w.s.db.url).await.unwrap();
    let mine = "api_tokens WHERE user_id = (SELECT id FROM users WHERE email = 'me@example.com')";
    db.batch_execute(&format!(
        "UPDATE api_tokens SET last_used_at = now() - interval '1 hour' WHERE id IN (SELECT id FROM {mine})"
    ))
    .await
    .unwrap();
    db.batch_execute(&format!("BEGIN; SELECT 1 FROM {mine} FOR UPDATE")).await.unwrap();
    w.set_all(&[("READ", "OWN")]).await;
    w.s.ok(create, json!({ "t": "after the change", "u": admin_id })).await;
    let early = tokio::time::timeout(Duration::from_millis(700), ws.next()).await;
    assert!(early.is_err(), "nothing may arrive while the check is pending: {early:?}");
    db.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(close_code(&mut ws).await, 4403);
    let mut ws = w.subscribe(query).await;
    w.s.ok(create, json!({ "t": "not mine", "u": admin_id })).await;
    w.s.ok(create, json!({ "t": "mine", "u": w.me })).await;
    assert_eq!(next_payload(&mut ws).await["data"]["elementChanged"]["element"]["title"], "mine");

    // A revoked token's connection ends with 4401 (graphql-ws clients do not retry it); so do
    // the connections of a deactivated user.
    let second = token(&w.s, &w.me).await;
    let mut ws2 = w.subscribe_with(&second, query).await;
    let mine = w.as_me("{ apiTokens { id name } }", json!({})).await["data"]["apiTokens"][0]["id"].clone();
    w.s.ok("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", json!({ "id": mine })).await;
    assert_eq!(close_code(&mut ws).await, 4401);
    w.s.ok(create, json!({ "t": "mine again", "u": w.me })).await;
    assert_eq!(next_payload(&mut ws2).await["data"]["elementChanged"]["element"]["title"], "mine again");
    w.s.ok("mutation($id: ID!) { deactivateUser(id: $id) { active } }", json!({ "id": w.me })).await;
    assert_eq!(close_code(&mut ws2).await, 4401);
}

#[tokio::test]
async fn duplicate_search_only_finds_what_the_reader_may_see() {
    let w = world().await;
    w.set_all(&[("READ", "OWN")]).await;
    let q = "query($t: [String!]!) { findDuplicates(companyTitles: $t) { elementType id } }";
    let titles = json!({ "t": ["Company of me", "Company of mate"] });
    let ids = |v: &Value, path: &str| -> BTreeSet<String> {
        v[path]["findDuplicates"]
            .as_array()
            .unwrap_or(&vec![])
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = w.s.gql(q, titles.clone()).await;
    assert_eq!(ids(&all, "data"), [w.elements[2][0].clone(), w.elements[2][1].clone()].into_iter().collect(), "{all}");
    let mine = w.as_me(q, titles).await;
    assert_eq!(ids(&mine, "data"), [w.elements[2][0].clone()].into_iter().collect(), "{mine}");
}
