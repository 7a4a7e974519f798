//! The website widget in a real browser: headless Chromium (Debian's `chromium`) opens a shop
//! page served from another origin that embeds `/widget.js`, opens the widget, fills the
//! form and sends it. Driven over the Chrome DevTools Protocol on a WebSocket; screenshots
//! of the open widget and of its answer land in `target/`.

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{TestServer, next_within, subscribe};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium and one page of it.
struct Browser {
    child: tokio::process::Child,
    page: Socket,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let binary = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
            .expect("Chromium is needed for the browser tests: apt-get install chromium");
        let mut child = tokio::process::Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--window-size=1100,800",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let endpoint = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("Chromium ended without a DevTools address");
        })
        .await
        .expect("Chromium did not start");
        // Keep reading stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = endpoint.trim_start_matches("ws://").split('/').next().unwrap().to_owned();
        let targets: Vec<Value> = reqwest::get(format!("http://{http}/json/list")).await.unwrap().json().await.unwrap();
        let page_url = targets
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap()
            .to_owned();
        let (page, _) = tokio_tungstenite::connect_async(page_url).await.unwrap();
        Browser { child, page, next_id: 0, _profile: profile }
    }

    /// Sends one DevTools command and waits for its result (events in between are skipped).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params });
        self.page.send(Message::Text(msg.to_string().into())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.page.next())
                .await
                .expect("no answer from Chromium")
                .unwrap()
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }))
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    async fn until(&mut self, expression: &str, what: &str) {
        for _ in 0..150 {
            if self.eval(expression).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = self.eval("document.documentElement.outerHTML").await;
        panic!("{what} did not happen; the page: {page}");
    }

    async fn screenshot(&mut self, name: &str) -> std::path::PathBuf {
        use base64::Engine;
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" })).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(name);
        std::fs::write(&path, &png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

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
