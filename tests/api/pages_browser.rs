//! What a person opens, in a real headless Chromium: GraphiQL with the outside network
//! unreachable, the live dashboard (sign-in, live counters and feed, completing an activity,
//! reconnecting after a server restart without losing anything), and the notification widget
//! on another website. Screenshots land in `target/`.

use std::time::Duration;

use serde_json::json;

use crate::browser::{Browser, page_on_another_origin};
use crate::common::{ServerProcess, TestServer};

/// Every request to anything but this machine goes to a proxy that is not there.
const OFFLINE: [&str; 2] = ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1;localhost"];

/// GraphiQL's query editor and headers editor (CodeMirror instances).
const QUERY_EDITOR: &str = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror";
const HEADERS_EDITOR: &str = "[...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].map(e => e.CodeMirror).find(c => c.getValue().includes('Authorization'))";

#[tokio::test]
async fn graphiql_works_offline_with_kontors_defaults() {
    let s = TestServer::start().await;
    let mut browser = Browser::start_with(&OFFLINE).await;
    browser.call("Page.navigate", json!({ "url": s.url("/") })).await;
    browser.until("!!document.querySelector('.graphiql-container .CodeMirror')", "GraphiQL").await;
    // First open: the example query and the Authorization header template.
    browser.until(&format!("{QUERY_EDITOR}.getValue().includes('query MyDay')"), "the example query").await;
    let headers = browser.eval(&format!("{HEADERS_EDITOR}.getValue()")).await;
    assert!(headers.as_str().unwrap().contains("Bearer <your API token>"), "{headers}");
    // Everything the page loaded came from the server.
    let loaded = browser.eval("performance.getEntriesByType('resource').map(e => e.name)").await;
    let origin = s.url("");
    for url in loaded.as_array().unwrap() {
        assert!(url.as_str().unwrap().starts_with(&origin), "{url} is not from the server");
    }

    // A query and a subscription with the token in the headers panel.
    let set_headers = format!("{HEADERS_EDITOR}.setValue(JSON.stringify({{ Authorization: 'Bearer {}' }}))", s.token);
    browser.eval(&format!("{set_headers}, true")).await;
    // GraphiQL reads the operation names from the editor a moment after it changes.
    let run = |q: &str| {
        format!(
            "{QUERY_EDITOR}.setValue({}), new Promise(r => setTimeout(r, 500))
               .then(() => document.querySelector('.graphiql-execute-button').click()).then(() => true)",
            serde_json::to_string(q).unwrap()
        )
    };
    let response = "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()";
    // The example query runs as it is.
    browser.eval("document.querySelector('.graphiql-execute-button').click(), true").await;
    browser.until(&format!("{response}.includes('\"unreadCount\"')"), "the example's answer").await;
    let answer = browser.eval(response).await;
    assert!(!answer.as_str().unwrap().contains("\"errors\""), "{answer}");
    browser.eval(&run("{ me { email } }")).await;
    browser.until(&format!("{response}.includes('admin@test.local')"), "the query's answer").await;
    browser.screenshot("graphiql-offline.png").await;
    browser.eval(&run("subscription { countersChanged { unreadNotifications } }")).await;
    browser
        .until(&format!("{response}.includes('\"unreadNotifications\": 0')"), "the subscription's first value")
        .await;
}

fn counter(name: &str) -> String {
    format!("Number(document.querySelector('[data-counter=\"{name}\"]')?.textContent)")
}

#[tokio::test]
async fn dashboard_is_live_and_catches_up_after_a_restart() {
    // The page's server is a process of its own, so it can be stopped under the page; the
    // in-process one writes while it is away.
    let s = TestServer::start().await;
    let mut server = ServerProcess::start(&[], &[("DATABASE_URL", &s.db.url)]).await;
    let mut browser = Browser::start_with(&["--window-size=1400,1000"]).await;
    // The page's Content-Security-Policy must not be what keeps a part of it from working.
    let watch = "window.violations = []; document.addEventListener('securitypolicyviolation', e => violations.push(e.violatedDirective + ' ' + e.blockedURI));";
    browser.call("Page.enable", json!({})).await;
    browser.call("Page.addScriptToEvaluateOnNewDocument", json!({ "source": watch })).await;
    browser.call("Page.navigate", json!({ "url": server.url("/dashboard") })).await;
    browser.until("!!document.querySelector('form#sign-in input#token')", "the sign-in form").await;
    browser.screenshot("dashboard-sign-in.png").await;

    // A wrong token is refused on the form.
    let sign_in = |token: &str| {
        format!(
            "(() => {{ const f = document.querySelector('form#sign-in'); f.querySelector('input#token').value = {};
               f.requestSubmit(); return true; }})()",
            serde_json::to_string(token).unwrap()
        )
    };
    browser.eval(&sign_in("not-a-token")).await;
    browser.until("(document.querySelector('form#sign-in')?.textContent ?? '').length > 0 && !!document.querySelector('form#sign-in [role=alert]:not(:empty), form#sign-in .error:not(:empty)')", "the sign-in error").await;
    browser.eval(&sign_in(&s.token)).await;
    browser.until("document.querySelector('#connection')?.dataset.state === 'live'", "the live connection").await;
    browser.until(&format!("{} === 0", counter("leads.overdue")), "the counters").await;
    let token_kept = browser.eval("localStorage.getItem('kontor.token')").await;
    assert_eq!(token_kept, json!(s.token), "the token is kept in the browser");

    // A lead and an overdue activity through the API: counters and feed move within a second.
    let feed_len = "document.querySelectorAll('ol#feed li[data-event-id]').length";
    let before = browser.eval(feed_len).await.as_u64().unwrap();
    let lead = server
        .ok(&s.token, "mutation { createLead(input: { title: \"Wall screen lead\" }) { id } }", json!({}))
        .await["createLead"]["id"]
        .clone();
    let input = json!({ "type": "CALL", "subject": "Call back about the wall screen",
        "deadline": "2020-01-01T09:00:00Z", "owner": { "type": "LEAD", "id": lead } });
    let activity = server
        .ok(&s.token, "mutation($i: ActivityInput!) { createActivity(input: $i) { id } }", json!({ "i": input }))
        .await["createActivity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.within(Duration::from_secs(1), &format!("{} === 1", counter("leads.overdue")), "the overdue counter").await;
    browser.within(Duration::from_secs(1), &format!("{feed_len} > {before}"), "the history feed").await;
    let feed_text = browser.eval("document.querySelector('ol#feed').textContent").await;
    assert!(feed_text.as_str().unwrap().contains("Wall screen lead"), "{feed_text}");
    let item = format!("document.querySelector('ul#activities li[data-activity-id=\"{activity}\"]')");
    browser.until(&format!("!!{item}"), "the overdue activity in the list").await;
    browser.until("document.querySelectorAll('#funnel [data-stage-id]').length > 0", "the funnel").await;
    browser.screenshot("dashboard.png").await;

    // Completing it from the page.
    browser.eval(&format!("{item}.querySelector('button.complete').click(), true")).await;
    browser.until(&format!("!{item} && {} === 0", counter("leads.overdue")), "the activity completed").await;
    let done =
        server.ok(&s.token, "query($id: ID!) { activity(id: $id) { completed } }", json!({ "id": activity })).await;
    assert_eq!(done["activity"]["completed"], true, "{done}");

    // The server stops under the page; meanwhile another instance writes; the page comes back
    // and shows what it missed.
    server.stop().await;
    browser
        .until("document.querySelector('#connection')?.dataset.state === 'reconnecting'", "the reconnecting state")
        .await;
    browser.screenshot("dashboard-reconnecting.png").await;
    s.ok("mutation { createLead(input: { title: \"Written while the page was away\" }) { id } }", json!({})).await;
    server.restart().await;
    browser.until("document.querySelector('#connection')?.dataset.state === 'live'", "the reconnection").await;
    browser
        .until(
            "document.querySelector('ol#feed').textContent.includes('Written while the page was away')",
            "the missed entry",
        )
        .await;
    let ids =
        browser.eval("[...document.querySelectorAll('ol#feed li[data-event-id]')].map(l => l.dataset.eventId)").await;
    let ids: Vec<&str> = ids.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no entry twice: {ids:?}");

    assert_eq!(browser.eval("violations").await, json!([]), "no CSP violations");

    // Sign-out forgets the token.
    browser.eval("document.querySelector('button#sign-out').click(), true").await;
    browser
        .until("!!document.querySelector('form#sign-in') && localStorage.getItem('kontor.token') === null", "sign-out")
        .await;
    server.stop().await;
}

const WIDGET: &str = "document.querySelector('kontor-notifications, #kontor-notifications')?.shadowRoot";

#[tokio::test]
async fn notification_widget_counts_live_on_another_website() {
    let s = TestServer::start().await;
    let rep_token = s.token_for("rep@test.local", false).await;
    let rep = s.gql_as(&rep_token, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Intranet</title>\
         <style>* {{ color: red !important; font-family: serif !important; }} button {{ display: none !important; }}</style></head>\
         <body><header style=\"display:flex;justify-content:space-between;padding:8px 16px;background:#eee\">\
         <strong>Acme intranet</strong><span data-kontor-notifications></span></header>\
         <p>Canteen menu: soup.</p>\
         <script>window.kontorToken = () => Promise.resolve({});</script>\
         <script src=\"{}\" data-token-provider=\"kontorToken\" async></script></body></html>",
        serde_json::to_string(&rep_token).unwrap(),
        s.url("/embed/notifications.js")
    );
    let origin = page_on_another_origin(page).await;
    let mut browser = Browser::start().await;
    browser.call("Page.navigate", json!({ "url": format!("{origin}/") })).await;
    browser.until(&format!("!!{WIDGET}?.querySelector('button.bell')"), "the bell").await;
    browser.until(&format!("{WIDGET}.host.dataset.state === 'live'"), "the widget's connection").await;
    // The host page's `button { display: none }` and red text do not reach inside.
    let shown = browser.eval(&format!("getComputedStyle({WIDGET}.querySelector('button.bell')).display")).await;
    assert_ne!(shown, "none");

    for title in ["Fleet renewal", "Printer leasing"] {
        s.ok(
            "mutation($t: String!, $u: ID!) { createLead(input: { title: $t, assignedToId: $u }) { id } }",
            json!({ "t": title, "u": rep }),
        )
        .await;
    }
    let badge = format!("{WIDGET}.querySelector('.badge').textContent.trim()");
    browser.within(Duration::from_secs(2), &format!("{badge} === '2'"), "the unread count").await;
    browser.eval(&format!("{WIDGET}.querySelector('button.bell').click(), true")).await;
    browser.until(&format!("{WIDGET}.querySelectorAll('ul.list > li[data-id]').length === 2"), "the list").await;
    let text = browser.eval(&format!("{WIDGET}.querySelector('ul.list').textContent")).await;
    assert!(text.as_str().unwrap().contains("Printer leasing"), "{text}");
    browser.screenshot("notification-widget.png").await;

    browser.eval(&format!("{WIDGET}.querySelector('button.mark-all').click(), true")).await;
    browser
        .until(
            &format!("{badge} === '0' || getComputedStyle({WIDGET}.querySelector('.badge')).display === 'none'"),
            "the count cleared",
        )
        .await;
    let left = s.gql_as(&rep_token, "{ counters { unreadNotifications } }", json!({})).await;
    assert_eq!(left["data"]["counters"]["unreadNotifications"], 0, "{left}");
}
