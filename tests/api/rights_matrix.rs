//! The rights matrix: every mutation of the schema, found by introspection, has a case in
//! which a user without the right is refused (FORBIDDEN, or NOT_FOUND where the thing must
//! stay hidden) and nothing is written. A mutation without a case fails this test, so a new
//! mutation cannot ship without deciding who may run it.
//!
//! "Nothing is written" is checked twice: the case's check query (what the admin sees of the
//! mutation's family) answers the same before and after, and so does a fingerprint of every
//! table of the database.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::TestServer;
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

/// Who runs a case: `Reader` has a role that reads every element type and may do nothing
/// else (so element writes meet FORBIDDEN, not NOT_FOUND); `Nobody` has no role at all (for
/// what needs the settings right or is someone else's).
#[derive(Clone, Copy, Debug)]
enum Who {
    Reader,
    Nobody,
}

struct Case {
    who: Who,
    document: &'static str,
    variables: Value,
    /// The error code the caller must get.
    expect: &'static str,
    /// An admin query over what the mutation would change.
    check: &'static str,
}

const ELEMENTS: &str = "{ leads { totalCount nodes { id version } } contacts { totalCount nodes { id version } }
    companies { totalCount nodes { id version isMyCompany requisites { legalName } } }
    deals { totalCount nodes { id version productRows { name } } } myCompany { id version }
    history { totalCount } }";
const ACTIVITIES: &str =
    "{ activities { totalCount nodes { id version completed bindings { id } } } history { totalCount } }";
const IMPORTS: &str = "{ importJobs { id status } }";
const FORMS: &str = "{ webForms { id name active fields { key } } }";
const WEBHOOKS: &str = "{ webhooks { id name url active events payload previousSecretExpiresAt } }";
const CALLS: &str = "{ leads(first: 100) { totalCount } call(externalCallId: \"pbx-m\") { id status } }";
const PRODUCTS: &str = "{ products { totalCount nodes { id version name price active } } }";
const ORG: &str = "{ roles { id name canManageSettings isDefault permissions { elementType pipelineId action level } }
    users { totalCount nodes { id email name active isAdmin departmentId roles { id } } }
    departments { id parentId children { id parentId } } }";
const TOKENS: &str = "query($u: ID!) { apiTokens(userId: $u) { id name revokedAt } }";
const SETTINGS: &str = "{ source: statusItems(list: SOURCE) { id code name sort semantics color }
    status: statusItems(list: STATUS) { id name sort }
    pipelines { id name isDefault sort stages { id code name sort semantics probability } }
    deal: customFields(elementType: DEAL) { id code label mandatory items sort } }";

fn case(who: Who, document: &'static str, variables: Value, check: &'static str) -> Case {
    Case { who, document, variables, expect: "FORBIDDEN", check }
}

/// One case per mutation field. `f` holds the fixtures' ids.
fn cases(f: &Value) -> BTreeMap<&'static str, Case> {
    use Who::{Nobody, Reader};
    let id = |k: &str| json!({ "id": f[k] });
    let mut m = BTreeMap::new();
    // Elements.
    m.insert(
        "createLead",
        case(Reader, "mutation { createLead(input: { title: \"x\" }) { id } }", json!({}), ELEMENTS),
    );
    m.insert(
        "updateLead",
        case(
            Reader,
            "mutation($id: ID!) { updateLead(id: $id, input: { title: \"x\" }) { id } }",
            id("lead"),
            ELEMENTS,
        ),
    );
    m.insert("deleteLead", case(Reader, "mutation($id: ID!) { deleteLead(id: $id) }", id("lead"), ELEMENTS));
    m.insert(
        "createContact",
        case(Reader, "mutation { createContact(input: { lastName: \"x\" }) { id } }", json!({}), ELEMENTS),
    );
    m.insert(
        "updateContact",
        case(
            Reader,
            "mutation($id: ID!) { updateContact(id: $id, input: { lastName: \"x\" }) { id } }",
            id("contact"),
            ELEMENTS,
        ),
    );
    m.insert("deleteContact", case(Reader, "mutation($id: ID!) { deleteContact(id: $id) }", id("contact"), ELEMENTS));
    m.insert(
        "createCompany",
        case(Reader, "mutation { createCompany(input: { title: \"x\" }) { id } }", json!({}), ELEMENTS),
    );
    m.insert(
        "updateCompany",
        case(
            Reader,
            "mutation($id: ID!) { updateCompany(id: $id, input: { title: \"x\" }) { id } }",
            id("company"),
            ELEMENTS,
        ),
    );
    m.insert("deleteCompany", case(Reader, "mutation($id: ID!) { deleteCompany(id: $id) }", id("company"), ELEMENTS));
    m.insert(
        "createDeal",
        case(Reader, "mutation { createDeal(input: { title: \"x\" }) { id } }", json!({}), ELEMENTS),
    );
    m.insert(
        "updateDeal",
        case(
            Reader,
            "mutation($id: ID!) { updateDeal(id: $id, input: { title: \"x\" }) { id } }",
            id("deal"),
            ELEMENTS,
        ),
    );
    m.insert("deleteDeal", case(Reader, "mutation($id: ID!) { deleteDeal(id: $id) }", id("deal"), ELEMENTS));
    m.insert(
        "addComment",
        case(
            Reader,
            "mutation($id: ID!) { addComment(element: { type: LEAD, id: $id }, text: \"x\") { id } }",
            id("lead"),
            ELEMENTS,
        ),
    );
    // Lifecycle.
    m.insert(
        "convertLead",
        case(
            Reader,
            "mutation($id: ID!) { convertLead(input: { leadId: $id, contact: { create: true }, deal: {} }) { lead { id } } }",
            id("lead"),
            ELEMENTS,
        ),
    );
    m.insert("junkLead", case(Reader, "mutation($id: ID!) { junkLead(id: $id) { id } }", id("lead"), ELEMENTS));
    m.insert(
        "setLeadStatus",
        case(
            Reader,
            "mutation($id: ID!, $s: ID!) { setLeadStatus(id: $id, statusId: $s) { id } }",
            json!({ "id": f["lead"], "s": f["leadStatus"] }),
            ELEMENTS,
        ),
    );
    m.insert(
        "mergeContacts",
        case(
            Reader,
            "mutation($k: ID!, $m: ID!) { mergeContacts(keepId: $k, mergeIds: [$m]) { id } }",
            json!({ "k": f["contact"], "m": f["contact2"] }),
            ELEMENTS,
        ),
    );
    m.insert(
        "mergeCompanies",
        case(
            Reader,
            "mutation($k: ID!, $m: ID!) { mergeCompanies(keepId: $k, mergeIds: [$m]) { id } }",
            json!({ "k": f["company"], "m": f["company2"] }),
            ELEMENTS,
        ),
    );
    m.insert(
        "mergeLeads",
        case(
            Reader,
            "mutation($k: ID!, $m: ID!) { mergeLeads(keepId: $k, mergeIds: [$m]) { id } }",
            json!({ "k": f["lead"], "m": f["lead2"] }),
            ELEMENTS,
        ),
    );
    // Imports: the file part of a multipart request is the variable's placeholder.
    m.insert(
        "startImport",
        case(
            Reader,
            "mutation($f: Upload!) { startImport(file: $f, input: { elementType: LEAD }) { id } }",
            json!({ "f": "#__graphql_file__:0" }),
            IMPORTS,
        ),
    );
    m.insert(
        "rollbackImport",
        Case {
            expect: "NOT_FOUND",
            ..case(Reader, "mutation { rollbackImport(id: \"import:1\") { id } }", json!({}), IMPORTS)
        },
    );
    m.insert(
        "cancelImport",
        Case {
            expect: "NOT_FOUND",
            ..case(Reader, "mutation { cancelImport(id: \"import:1\") { id } }", json!({}), IMPORTS)
        },
    );
    m.insert(
        "setProductRows",
        case(
            Reader,
            "mutation($id: ID!) { setProductRows(owner: { type: DEAL, id: $id }, rows: [{ name: \"x\", unitPrice: \"1\", quantity: \"1\" }]) { id } }",
            id("deal"),
            ELEMENTS,
        ),
    );
    m.insert(
        "moveDeal",
        case(
            Reader,
            "mutation($id: ID!, $s: ID!) { moveDeal(id: $id, stageId: $s) { id } }",
            json!({ "id": f["deal"], "s": f["defaultStage2"] }),
            ELEMENTS,
        ),
    );
    m.insert(
        "closeDeal",
        case(Reader, "mutation($id: ID!) { closeDeal(id: $id, won: true) { id } }", id("deal"), ELEMENTS),
    );
    m.insert(
        "reopenDeal",
        case(Reader, "mutation($id: ID!) { reopenDeal(id: $id) { id } }", id("closedDeal"), ELEMENTS),
    );
    // Products.
    m.insert(
        "createProduct",
        case(
            Nobody,
            "mutation { createProduct(input: { name: \"x\", price: \"1\", currency: \"EUR\" }) { id } }",
            json!({}),
            PRODUCTS,
        ),
    );
    m.insert(
        "updateProduct",
        case(
            Nobody,
            "mutation($id: ID!) { updateProduct(id: $id, input: { price: \"0.01\" }) { id } }",
            id("product"),
            PRODUCTS,
        ),
    );
    m.insert("deleteProduct", case(Nobody, "mutation($id: ID!) { deleteProduct(id: $id) }", id("product"), PRODUCTS));
    // Activities.
    m.insert(
        "createActivity",
        case(
            Reader,
            "mutation($id: ID!) { createActivity(input: { type: \"CALL\", subject: \"x\", owner: { type: DEAL, id: $id } }) { id } }",
            id("deal"),
            ACTIVITIES,
        ),
    );
    m.insert(
        "updateActivity",
        case(
            Reader,
            "mutation($id: ID!) { updateActivity(id: $id, input: { subject: \"x\" }) { id } }",
            id("activity"),
            ACTIVITIES,
        ),
    );
    m.insert(
        "completeActivity",
        case(Reader, "mutation($id: ID!) { completeActivity(id: $id) { id } }", id("activity"), ACTIVITIES),
    );
    m.insert(
        "reopenActivity",
        case(Reader, "mutation($id: ID!) { reopenActivity(id: $id) { id } }", id("doneActivity"), ACTIVITIES),
    );
    m.insert(
        "deleteActivity",
        case(Reader, "mutation($id: ID!) { deleteActivity(id: $id) }", id("activity"), ACTIVITIES),
    );
    // Roles, users, departments.
    m.insert("createRole", case(Nobody, "mutation { createRole(name: \"x\") { id } }", json!({}), ORG));
    m.insert(
        "updateRole",
        case(
            Nobody,
            "mutation($id: ID!) { updateRole(id: $id, input: { canManageSettings: true }) { id } }",
            id("role"),
            ORG,
        ),
    );
    m.insert("deleteRole", case(Nobody, "mutation($id: ID!) { deleteRole(id: $id) }", id("role"), ORG));
    m.insert(
        "setRolePermissions",
        case(
            Nobody,
            "mutation($id: ID!) { setRolePermissions(roleId: $id, permissions: [{ elementType: DEAL, action: WRITE, level: ALL }]) { id } }",
            id("role"),
            ORG,
        ),
    );
    m.insert(
        "assignRoles",
        case(
            Nobody,
            "mutation($u: ID!, $r: ID!) { assignRoles(userId: $u, roleIds: [$r]) { id } }",
            json!({ "u": f["nobody"], "r": f["role"] }),
            ORG,
        ),
    );
    m.insert(
        "createUser",
        case(Nobody, "mutation { createUser(input: { email: \"x@example.com\" }) { id } }", json!({}), ORG),
    );
    m.insert(
        "updateUser",
        case(
            Nobody,
            "mutation($id: ID!) { updateUser(id: $id, input: { email: \"taken@example.com\" }) { id } }",
            id("other"),
            ORG,
        ),
    );
    m.insert("deactivateUser", case(Nobody, "mutation($id: ID!) { deactivateUser(id: $id) { id } }", id("other"), ORG));
    m.insert(
        "createDepartment",
        case(Nobody, "mutation { createDepartment(input: { name: \"x\" }) { id } }", json!({}), ORG),
    );
    m.insert(
        "moveDepartment",
        case(
            Nobody,
            "mutation($id: ID!, $p: ID!) { moveDepartment(id: $id, parentId: $p) { id } }",
            json!({ "id": f["department2"], "p": f["department"] }),
            ORG,
        ),
    );
    // Tokens: someone else's.
    m.insert(
        "createApiToken",
        case(
            Nobody,
            "mutation($u: ID!) { createApiToken(userId: $u, name: \"x\") { token } }",
            json!({ "u": f["other"] }),
            TOKENS,
        ),
    );
    m.insert(
        "revokeApiToken",
        Case {
            who: Nobody,
            document: "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
            variables: id("otherToken"),
            // Another user's token is not revealed.
            expect: "NOT_FOUND",
            check: TOKENS,
        },
    );
    // Settings.
    m.insert(
        "createStatusItem",
        case(Nobody, "mutation { createStatusItem(list: SOURCE, input: { name: \"x\" }) { id } }", json!({}), SETTINGS),
    );
    m.insert(
        "updateStatusItem",
        case(
            Nobody,
            "mutation($id: ID!) { updateStatusItem(id: $id, input: { name: \"x\" }) { id } }",
            id("statusItem"),
            SETTINGS,
        ),
    );
    m.insert(
        "deleteStatusItem",
        case(Nobody, "mutation($id: ID!) { deleteStatusItem(id: $id) }", id("statusItem"), SETTINGS),
    );
    m.insert(
        "reorderStatusItems",
        case(
            Nobody,
            "mutation($ids: [ID!]!) { reorderStatusItems(list: SOURCE, ids: $ids) { id } }",
            json!({ "ids": f["sourcesReversed"] }),
            SETTINGS,
        ),
    );
    m.insert("createPipeline", case(Nobody, "mutation { createPipeline(name: \"x\") { id } }", json!({}), SETTINGS));
    m.insert(
        "updatePipeline",
        case(
            Nobody,
            "mutation($id: ID!) { updatePipeline(id: $id, input: { name: \"x\" }) { id } }",
            id("pipeline"),
            SETTINGS,
        ),
    );
    m.insert(
        "deletePipeline",
        case(Nobody, "mutation($id: ID!) { deletePipeline(id: $id) }", id("pipeline"), SETTINGS),
    );
    m.insert(
        "setDefaultPipeline",
        case(Nobody, "mutation($id: ID!) { setDefaultPipeline(id: $id) { id } }", id("pipeline"), SETTINGS),
    );
    m.insert(
        "createStage",
        case(
            Nobody,
            "mutation($id: ID!) { createStage(pipelineId: $id, input: { name: \"x\" }) { id } }",
            id("pipeline"),
            SETTINGS,
        ),
    );
    m.insert(
        "updateStage",
        case(
            Nobody,
            "mutation($id: ID!) { updateStage(id: $id, input: { name: \"x\" }) { id } }",
            id("stage"),
            SETTINGS,
        ),
    );
    m.insert("deleteStage", case(Nobody, "mutation($id: ID!) { deleteStage(id: $id) }", id("stage"), SETTINGS));
    m.insert(
        "reorderStages",
        case(
            Nobody,
            "mutation($id: ID!, $ids: [ID!]!) { reorderStages(pipelineId: $id, ids: $ids) { id } }",
            json!({ "id": f["pipeline"], "ids": f["stagesReversed"] }),
            SETTINGS,
        ),
    );
    m.insert(
        "createCustomField",
        case(
            Nobody,
            "mutation { createCustomField(elementType: DEAL, input: { code: \"UF_X\", label: \"x\", type: STRING }) { id } }",
            json!({}),
            SETTINGS,
        ),
    );
    m.insert(
        "updateCustomField",
        case(
            Nobody,
            "mutation($id: ID!) { updateCustomField(id: $id, input: { label: \"x\" }) { id } }",
            id("customField"),
            SETTINGS,
        ),
    );
    m.insert(
        "deleteCustomField",
        case(Nobody, "mutation($id: ID!) { deleteCustomField(id: $id) }", id("customField"), SETTINGS),
    );
    // Calls write leads and activities, with the rights those need.
    m.insert(
        "registerCall",
        case(
            Reader,
            "mutation { registerCall(input: { externalCallId: \"pbx-m\", direction: INCOMING, phone: \"+49 30 9990000\" }) { call { id } } }",
            json!({}),
            CALLS,
        ),
    );
    m.insert(
        "finishCall",
        Case {
            expect: "NOT_FOUND",
            ..case(
                Reader,
                "mutation { finishCall(input: { externalCallId: \"pbx-m\", status: ANSWERED }) { id } }",
                json!({}),
                CALLS,
            )
        },
    );
    // Web forms are settings.
    m.insert(
        "createWebForm",
        case(
            Nobody,
            "mutation { createWebForm(input: { name: \"x\", fields: [{ key: \"n\", label: \"n\", type: STRING, target: \"lastName\" }] }) { id } }",
            json!({}),
            FORMS,
        ),
    );
    m.insert(
        "updateWebForm",
        case(
            Nobody,
            "mutation($id: ID!) { updateWebForm(id: $id, input: { name: \"x\", fields: [{ key: \"n\", label: \"n\", type: STRING, target: \"lastName\" }] }) { id } }",
            id("webForm"),
            FORMS,
        ),
    );
    m.insert("deleteWebForm", case(Nobody, "mutation($id: ID!) { deleteWebForm(id: $id) }", id("webForm"), FORMS));
    // Notifications are their recipient's alone.
    m.insert(
        "markNotificationsRead",
        Case {
            who: Nobody,
            document: "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }",
            variables: json!({ "ids": [f["notification"]] }),
            expect: "NOT_FOUND",
            check: "{ notifications { totalCount unreadCount } }",
        },
    );
    // Webhooks are settings.
    m.insert(
        "createWebhook",
        case(
            Nobody,
            "mutation { createWebhook(input: { url: \"http://127.0.0.1:9/x\", events: [\"*\"] }) { secret } }",
            json!({}),
            WEBHOOKS,
        ),
    );
    m.insert(
        "updateWebhook",
        case(
            Nobody,
            "mutation($id: ID!) { updateWebhook(id: $id, input: { url: \"http://127.0.0.1:9/y\", events: [\"*\"] }) { id } }",
            id("webhook"),
            WEBHOOKS,
        ),
    );
    m.insert("deleteWebhook", case(Nobody, "mutation($id: ID!) { deleteWebhook(id: $id) }", id("webhook"), WEBHOOKS));
    m.insert(
        "rotateWebhookSecret",
        case(Nobody, "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", id("webhook"), WEBHOOKS),
    );
    m.insert(
        "testWebhook",
        case(Nobody, "mutation($id: ID!) { testWebhook(id: $id) { id } }", id("webhook"), WEBHOOKS),
    );
    m.insert(
        "redeliverWebhook",
        case(Nobody, "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }", id("delivery"), WEBHOOKS),
    );
    // Company details.
    m.insert(
        "updateMyCompany",
        case(Nobody, "mutation { updateMyCompany(input: { title: \"x\" }) { id } }", json!({}), ELEMENTS),
    );
    m.insert(
        "setCompanyRequisites",
        case(
            Reader,
            "mutation($id: ID!) { setCompanyRequisites(companyId: $id, input: { legalName: \"x\" }) { id } }",
            id("company"),
            ELEMENTS,
        ),
    );
    m
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Hash {
    #[diesel(sql_type = Text)]
    h: String,
}

/// Tables that change without any request (the counter clock, the relay's high-water mark).
const BACKGROUND_TABLES: &[&str] = &["counter_ticker", "event_high_water"];
/// Columns that change without a write: a token's last use (minute precision, set by every
/// request) and the relay's publication marks on events.
const BACKGROUND_COLUMNS: &str = "ARRAY['last_used_at', 'published_at', 'published_seq']";

/// Every row of every table, hashed per table.
async fn fingerprint(conn: &mut AsyncPgConnection) -> BTreeMap<String, String> {
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .load(conn)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for t in tables.into_iter().filter(|t| !BACKGROUND_TABLES.contains(&t.name.as_str())) {
        let h: Hash = diesel::sql_query(format!(
            "SELECT md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) AS h \
             FROM (SELECT (to_jsonb(t) - {BACKGROUND_COLUMNS})::text AS x FROM \"{}\" t) s",
            t.name
        ))
        .get_result(conn)
        .await
        .unwrap();
        out.insert(t.name, h.h);
    }
    out
}

fn id_at(v: &Value, path: &[&str]) -> Value {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    assert!(at.is_string(), "no id at {path:?} in {v}");
    at.clone()
}

/// The fixtures every case acts on, made by the admin.
async fn fixtures(s: &TestServer) -> Value {
    let d = s
        .ok(
            "mutation {
              lead: createLead(input: { title: \"Lead\", lastName: \"Kern\" }) { id }
              lead2: createLead(input: { title: \"Lead 2\" }) { id }
              contact: createContact(input: { lastName: \"Contact\" }) { id }
              contact2: createContact(input: { lastName: \"Contact 2\" }) { id }
              company: createCompany(input: { title: \"Company\" }) { id }
              company2: createCompany(input: { title: \"Company 2\" }) { id }
              deal: createDeal(input: { title: \"Deal\" }) { id }
              closedDeal: createDeal(input: { title: \"Closed deal\" }) { id }
              product: createProduct(input: { name: \"Screw\", price: \"1.00\", currency: \"EUR\" }) { id }
              role: createRole(name: \"Spare\") { id }
              other: createUser(input: { email: \"other@example.com\" }) { id }
              department: createDepartment(input: { name: \"Sales\" }) { id }
              department2: createDepartment(input: { name: \"Support\" }) { id }
              statusItem: createStatusItem(list: SOURCE, input: { name: \"Fair\" }) { id }
              pipeline: createPipeline(name: \"Partners\") { id stages { id } }
              customField: createCustomField(elementType: DEAL, input: { code: \"UF_BUDGET\", label: \"Budget\", type: STRING }) { id }
              myCompany: updateMyCompany(input: { title: \"Kontor GmbH\" }) { id }
              webForm: createWebForm(input: { name: \"Contact\", fields: [{ key: \"name\", label: \"Name\", type: STRING, target: \"lastName\" }] }) { id }
              webhook: createWebhook(input: { url: \"http://127.0.0.1:9/hook\", events: [\"deal.*\"], active: false }) { webhook { id } }
            }",
            json!({}),
        )
        .await;
    let mut f = serde_json::Map::new();
    for k in [
        "lead",
        "lead2",
        "contact",
        "contact2",
        "company",
        "company2",
        "deal",
        "closedDeal",
        "product",
        "role",
        "other",
        "department",
        "department2",
        "statusItem",
        "pipeline",
        "customField",
        "myCompany",
        "webForm",
    ] {
        f.insert(k.into(), id_at(&d, &[k, "id"]));
    }
    f.insert("webhook".into(), id_at(&d, &["webhook", "webhook", "id"]));
    // A lead given to `other` leaves them a notification.
    s.ok(
        "mutation($u: ID!) { createLead(input: { title: \"Theirs\", assignedToId: $u }) { id } }",
        json!({ "u": f["other"] }),
    )
    .await;
    let mut c = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    let n: Name = diesel::sql_query("SELECT 'notification:' || id AS name FROM notifications ORDER BY id LIMIT 1")
        .get_result(&mut c)
        .await
        .unwrap();
    f.insert("notification".into(), Value::String(n.name));
    // A switched-off endpoint's test message (nothing listens on port 9): a delivery to aim at.
    let t = s.ok("mutation($id: ID!) { testWebhook(id: $id) { id status } }", json!({ "id": f["webhook"] })).await;
    assert_eq!(t["testWebhook"]["status"], "FAILED");
    f.insert("delivery".into(), id_at(&t, &["testWebhook", "id"]));
    let deal = f["deal"].clone();
    s.ok("mutation($id: ID!) { closeDeal(id: $id, won: true) { id } }", json!({ "id": f["closedDeal"] })).await;
    s.ok(
        "mutation($id: ID!) { setProductRows(owner: { type: DEAL, id: $id }, rows: [{ name: \"Row\", unitPrice: \"5\", quantity: \"2\" }]) { id } }",
        json!({ "id": deal }),
    )
    .await;
    let create = "mutation($id: ID!) { createActivity(input: { type: \"CALL\", subject: \"Call\", owner: { type: DEAL, id: $id } }) { id } }";
    let a = s.ok(create, json!({ "id": deal })).await;
    f.insert("activity".into(), id_at(&a, &["createActivity", "id"]));
    let a = s.ok(create, json!({ "id": deal })).await;
    let done = id_at(&a, &["createActivity", "id"]);
    s.ok("mutation($id: ID!) { completeActivity(id: $id) { id } }", json!({ "id": done })).await;
    f.insert("doneActivity".into(), done);
    let t = s
        .ok(
            "mutation($u: ID!) { createApiToken(userId: $u, name: \"theirs\") { apiToken { id } } }",
            json!({ "u": f["other"] }),
        )
        .await;
    f.insert("otherToken".into(), id_at(&t, &["createApiToken", "apiToken", "id"]));
    let lists = s
        .ok("{ source: statusItems(list: SOURCE) { id } status: statusItems(list: STATUS) { id semantics } pipelines { id isDefault stages { id } } }", json!({}))
        .await;
    let mut sources: Vec<Value> = lists["source"].as_array().unwrap().iter().map(|i| i["id"].clone()).collect();
    sources.reverse();
    f.insert("sourcesReversed".into(), Value::Array(sources));
    let status = lists["status"].as_array().unwrap().iter().filter(|i| i["semantics"] == "PROCESS").nth(1).unwrap();
    f.insert("leadStatus".into(), status["id"].clone());
    let default = lists["pipelines"].as_array().unwrap().iter().find(|p| p["isDefault"] == true).unwrap();
    f.insert("defaultStage2".into(), default["stages"][1]["id"].clone());
    let mut stages: Vec<Value> =
        d["pipeline"]["stages"].as_array().unwrap().iter().map(|st| st["id"].clone()).collect();
    f.insert("stage".into(), stages[0].clone());
    stages.reverse();
    f.insert("stagesReversed".into(), Value::Array(stages));
    Value::Object(f)
}

#[tokio::test]
async fn every_mutation_refuses_a_caller_without_the_right_and_writes_nothing() {
    let s = TestServer::start().await;
    let f = fixtures(&s).await;

    // The reader reads every element type and may do nothing else; nobody has no role.
    let role = s.ok("mutation { createRole(name: \"Reader\") { id } }", json!({})).await["createRole"]["id"].clone();
    let reads: Vec<Value> = ["LEAD", "CONTACT", "COMPANY", "DEAL"]
        .iter()
        .map(|t| json!({ "elementType": t, "action": "READ", "level": "ALL" }))
        .collect();
    s.ok(
        "mutation($r: ID!, $p: [PermissionInput!]!) { setRolePermissions(roleId: $r, permissions: $p) { id } }",
        json!({ "r": role, "p": reads }),
    )
    .await;
    let mut tokens = BTreeMap::new();
    let mut f = f;
    for (who, email, roles) in
        [("reader", "reader@example.com", json!([role])), ("nobody", "nobody@example.com", json!([]))]
    {
        let u = s
            .ok(
                "mutation($e: String!, $r: [ID!]) { createUser(input: { email: $e, roleIds: $r }) { id } }",
                json!({ "e": email, "r": roles }),
            )
            .await["createUser"]["id"]
            .clone();
        let t = s
            .ok("mutation($u: ID!) { createApiToken(userId: $u, name: \"t\") { token } }", json!({ "u": u }))
            .await["createApiToken"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        f.as_object_mut().unwrap().insert(who.into(), u);
        tokens.insert(who, t);
    }
    let cases = cases(&f);

    // Every mutation of the schema has a case, and every case a mutation.
    let schema = s.ok("{ __schema { mutationType { fields { name } } } }", json!({})).await;
    let fields: BTreeSet<String> = schema["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    let covered: BTreeSet<String> = cases.keys().map(|k| k.to_string()).collect();
    let missing: Vec<&String> = fields.difference(&covered).collect();
    let stale: Vec<&String> = covered.difference(&fields).collect();
    assert!(missing.is_empty(), "mutations without a rights case: {missing:?}");
    assert!(stale.is_empty(), "cases for mutations that do not exist: {stale:?}");

    let mut db = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    for (name, c) in &cases {
        let check_vars = json!({ "u": f["other"] });
        let check_before = s.ok(c.check, check_vars.clone()).await;
        let before = fingerprint(&mut db).await;
        let token = match c.who {
            Who::Reader => &tokens["reader"],
            Who::Nobody => &tokens["nobody"],
        };
        let r = s.gql_as(token, c.document, c.variables.clone()).await;
        let got = r["errors"][0]["extensions"]["code"].as_str().unwrap_or("(none)");
        assert_eq!(got, c.expect, "{name} as {:?}: {r}", c.who);
        assert!(r["data"].is_null() || r["data"][*name].is_null(), "{name} returned data: {r}");
        assert_eq!(s.ok(c.check, check_vars).await, check_before, "{name} changed what its check sees");
        let after = fingerprint(&mut db).await;
        let changed: Vec<&String> = after.keys().filter(|t| before.get(*t) != after.get(*t)).collect();
        assert!(changed.is_empty(), "{name} wrote to {changed:?}");
    }
}
