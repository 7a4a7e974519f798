//! The website widget in a real browser: headless Chromium (Debian's `chromium`) opens a shop
//! page served from another origin that embeds `/widget.js`, opens the widget, fills the
//! form and sends it. Driven over the Chrome DevTools Protocol on a WebSocket; screenshots
//! of the open widget and of its answer land in `target/`.

use std::time::Duration;

use serde_json::json;

use crate::browser::Browser;
use crate::common::{TestServer, next_within, subscribe};

const ROOT: &str = "document.querySelector('[data-kontor-widget]')?.shadowRoot";

#[tokio::test]
async fn the_widget_sends_a_lead_from_another_website() {
    let s = TestServer::start().await;
    // The shop's address is known once it listens; the form allows it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shop_port = listener.local_addr().unwrap().port();
    drop(listener);
    let input = json!({
        "name": "Fahrradladen Berg",
        "fields": [
            { "key": "name", "label": "Your name", "type": "STRING", "required": true, "target": "lastName" },
            { "key": "email", "label": "E-mail", "type": "EMAIL", "required": true, "target": "email" },
            { "key": "topic", "label": "Topic", "type": "LIST", "target": "comments", "items": ["Repair", "New bike"] },
        ],
        "consentText": "I agree that my data is stored to answer me.",
        "allowedOrigins": [format!("http://127.0.0.1:{shop_port}")],
        "successMessage": "Danke! We will call you back today.",
    });
    let d = s.ok("mutation($i: WebFormInput!) { createWebForm(input: $i) { key } }", json!({ "i": input })).await;
    let key = d["createWebForm"]["key"].as_str().unwrap().to_owned();
    let embed = format!("<script src=\"{}\" data-kontor-form=\"{key}\" async></script>", s.url("/widget.js"));
    let app_page = shop_with_port(embed, shop_port).await;
    let mut events = subscribe(
        s.addr,
        &s.token,
        "subscription { elementChanged(types: [LEAD]) { action element { ... on Lead { lastName utmSource } } } }",
        json!({}),
    )
    .await;

    let mut browser = Browser::start().await;
    browser.call("Page.enable", json!({})).await;
    browser
        .call("Page.navigate", json!({ "url": format!("{app_page}/shop?utm_source=ads&utm_campaign=spring") }))
        .await;
    browser.until(&format!("!!{ROOT}?.querySelector('[data-kontor=button]')"), "the widget's button").await;
    browser.eval(&format!("{ROOT}.querySelector('[data-kontor=button]').click(), true")).await;
    browser.until(&format!("!!{ROOT}.querySelector('[data-kontor=form] [name=email]')"), "the form").await;
    let fill = format!(
        "(() => {{ const f = {ROOT}.querySelector('[data-kontor=form]');
           const set = (n, v) => {{ const e = f.querySelector(`[name=${{n}}]`); e.value = v;
             e.dispatchEvent(new Event('input', {{ bubbles: true }})); e.dispatchEvent(new Event('change', {{ bubbles: true }})); }};
           set('name', 'Dora Rad'); set('email', 'dora@rad.example'); set('topic', 'Repair');
           const c = f.querySelector('[name=consent]'); c.checked = true; c.dispatchEvent(new Event('change', {{ bubbles: true }}));
           return true; }})()"
    );
    browser.eval(&fill).await;
    let open = browser.screenshot("widget-open.png").await;
    // A person takes longer than the form's minimum fill time.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    browser.eval(&format!("{ROOT}.querySelector('[data-kontor=form] [data-kontor=submit]').click(), true")).await;
    browser.until(&format!("!!{ROOT}.querySelector('[data-kontor=success]')"), "the success message").await;
    let said = browser.eval(&format!("{ROOT}.querySelector('[data-kontor=success]').textContent")).await;
    assert!(said.as_str().unwrap().contains("Danke! We will call you back today."), "{said}");
    let done = browser.screenshot("widget-sent.png").await;
    assert!(std::fs::metadata(&open).unwrap().len() > 5_000 && std::fs::metadata(&done).unwrap().len() > 5_000);

    let q = "{ leads(first: 5) { nodes { lastName comments utmSource utmCampaign emails { value } timeline { nodes { text } } } } }";
    let leads = s.ok(q, json!({})).await["leads"]["nodes"].clone();
    assert_eq!(leads.as_array().unwrap().len(), 1, "{leads}");
    let lead = &leads[0];
    assert_eq!((lead["lastName"].as_str(), lead["comments"].as_str()), (Some("Dora Rad"), Some("Repair")));
    assert_eq!((lead["utmSource"].as_str(), lead["utmCampaign"].as_str()), (Some("ads"), Some("spring")));
    let text = lead["timeline"]["nodes"][0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("page http://127.0.0.1:{shop_port}/shop")), "{text}");
    let event = next_within(&mut events, Duration::from_secs(20)).await.expect("an elementChanged event");
    assert_eq!(event["payload"]["data"]["elementChanged"]["action"], "CREATED", "{event}");
    assert_eq!(event["payload"]["data"]["elementChanged"]["element"]["lastName"], "Dora Rad");
}

/// A shop's page on its own origin (`port`), embedding the widget as the embed code says.
async fn shop_with_port(embed: String, port: u16) -> String {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Shop</title></head>\
         <body style=\"font-family: sans-serif\"><h1>Fahrradladen Berg</h1><p>Bikes and repairs since 1987.</p>{embed}</body></html>"
    );
    let app = axum::Router::new().route("/shop", axum::routing::get(move || async move { axum::response::Html(page) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://127.0.0.1:{port}")
}
