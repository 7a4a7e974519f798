//! The hosted web-form page and the page shown after a post.
//!
//! Plain HTML with inline CSS and no JavaScript: the page has to work in any browser, with
//! scripts disabled, and must load nothing from anywhere else.

use std::collections::HashMap;

/// One input of a web form, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageField {
    /// The input's `name`: the key the post carries the value under.
    pub key: String,
    pub label: String,
    /// One of STRING, TEXT, EMAIL, PHONE, LIST, CHECKBOX; anything else is shown as STRING.
    pub kind: String,
    pub required: bool,
    /// The choices of a LIST.
    pub items: Vec<String>,
}

/// A web form, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageForm {
    pub key: String,
    pub name: String,
    pub fields: Vec<PageField>,
    /// When set, the visitor must tick a `consent` checkbox with this text as its label.
    pub consent_text: Option<String>,
    /// Where the form posts, e.g. "/forms/KEY/submit".
    pub submit_url: String,
    /// Server time in ms when the page was made; posted back as `_ts` so the server can
    /// reject posts that come faster than a person can type.
    pub opened_ms: i64,
}

// Scripts, fonts, images and frames are refused even if something slipped past escaping;
// form-action is left open because the form must post to `submit_url`.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

const STYLE: &str = r#"
:root{color-scheme:light dark;--bg:#f3f4f6;--card:#fff;--text:#1f2328;--muted:#59636e;--border:#c9d1d9;--accent:#2456d3;--on-accent:#fff;--error:#b42318;--focus:#2456d3}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--card:#1a1e24;--text:#e6e8eb;--muted:#9aa4ae;--border:#3a424b;--accent:#6b97ff;--on-accent:#0b0d10;--error:#ff8a80;--focus:#9db8ff}}
*,*::before,*::after{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-text-size-adjust:100%}
main{max-width:36rem;margin:0 auto;padding:2.5rem 1rem}
.card{background:var(--card);border:1px solid var(--border);border-radius:14px;padding:1.75rem;box-shadow:0 1px 2px rgba(0,0,0,.05),0 8px 24px rgba(0,0,0,.06)}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 .5rem}
.note{color:var(--muted);font-size:.875rem;margin:0 0 1.25rem}
.field{margin:0 0 1.1rem}
label{display:block;font-weight:600;margin:0 0 .35rem}
.req{color:var(--error);margin-left:.2rem}
input,select,textarea{display:block;width:100%;font:inherit;color:inherit;background:var(--card);border:1px solid var(--border);border-radius:8px;padding:.6rem .75rem;min-height:2.75rem}
textarea{min-height:7.5rem;resize:vertical}
.check{display:flex;gap:.65rem;align-items:flex-start}
.check input{width:1.2rem;height:1.2rem;min-height:0;margin:.15rem 0 0;padding:0;flex:none;accent-color:var(--accent)}
.check label{font-weight:400;margin:0}
[aria-invalid=true]{border-color:var(--error)}
.error{color:var(--error);font-size:.9rem;margin:.35rem 0 0}
.alert{color:var(--error);border:1px solid var(--error);border-radius:8px;padding:.75rem 1rem;margin:0 0 1.25rem}
.alert p{margin:0}
.message{white-space:pre-line;margin:0 0 1rem}
button,.button{display:inline-block;font:inherit;font-weight:600;border:0;border-radius:8px;padding:.75rem 1.5rem;background:var(--accent);color:var(--on-accent);cursor:pointer;text-decoration:none}
button:hover,.button:hover{filter:brightness(1.08)}
input:focus,select:focus,textarea:focus{outline:3px solid var(--focus);outline-offset:1px;border-color:var(--focus)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}
@media (max-width:480px){main{padding:1rem .75rem}.card{padding:1.25rem 1rem}button,.button{width:100%;text-align:center}}
"#;

/// HTML escaping of `& < > " '`, safe in text and in quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The form as a page of its own; `errors` are (field key or "consent" or "" for the whole
/// form, message), `values` refill what the visitor typed after an error.
pub fn form_page(form: &PageForm, errors: &[(String, String)], values: &HashMap<String, String>) -> String {
    let consent_key = form.consent_text.as_ref().map(|_| "consent");
    let placed = |key: &str| !key.is_empty() && (form.fields.iter().any(|f| f.key == key) || consent_key == Some(key));
    let messages = |key: &str| -> Vec<&str> {
        errors.iter().filter(|(k, _)| k.as_str() == key).map(|(_, m)| m.as_str()).collect()
    };
    // A key the page has no input for would otherwise hide its message, so it goes on top.
    let general: Vec<&str> = errors.iter().filter(|(k, _)| !placed(k)).map(|(_, m)| m.as_str()).collect();
    // Without JavaScript, autofocus is the only way to bring the visitor to what needs fixing.
    let first_invalid = form.fields.iter().map(|f| f.key.as_str()).chain(consent_key).find(|k| !messages(k).is_empty());

    let mut body = format!("<h1>{}</h1>\n", escape(&form.name));
    if form.fields.iter().any(|f| f.required) || consent_key.is_some() {
        body.push_str(
            "<p class=\"note\">Fields marked <span class=\"req\" aria-hidden=\"true\">*</span> are required.</p>\n",
        );
    }
    if !general.is_empty() {
        body.push_str("<div class=\"alert\" role=\"alert\">\n");
        for message in general {
            body.push_str(&format!("<p>{}</p>\n", escape(message)));
        }
        body.push_str("</div>\n");
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"{}\" accept-charset=\"utf-8\">\n",
        escape(&form.submit_url)
    ));
    for (index, field) in form.fields.iter().enumerate() {
        let control = Control {
            id: format!("field-{index}"),
            errors: messages(&field.key),
            autofocus: first_invalid == Some(field.key.as_str()),
        };
        body.push_str(&field_html(field, &control, values.get(&field.key).map(String::as_str)));
    }
    if let Some(text) = &form.consent_text {
        let control = Control {
            id: "field-consent".into(),
            errors: messages("consent"),
            autofocus: first_invalid == Some("consent"),
        };
        let checked = values.get("consent").is_some_and(|v| is_checked(v));
        body.push_str(&checkbox_html("consent", text, true, checked, &control));
    }
    body.push_str(&helper_inputs(form.opened_ms));
    body.push_str("<button type=\"submit\">Send</button>\n</form>\n");
    document(&form.name, "", &body)
}

/// The page after a successful HTML post: the message, and when `redirect_url` is given a
/// link to it plus `<meta http-equiv="refresh" content="3;url=...">`.
pub fn result_page(title: &str, message: &str, redirect_url: Option<&str>) -> String {
    let redirect = redirect_url.map(str::trim).filter(|url| is_safe_redirect(url));
    let head = redirect
        .map(|url| format!("<meta http-equiv=\"refresh\" content=\"3;url={}\">\n", escape(url)))
        .unwrap_or_default();
    let mut body =
        format!("<h1>{}</h1>\n<p class=\"message\" role=\"status\">{}</p>\n", escape(title), escape(message));
    if let Some(url) = redirect {
        body.push_str(&format!(
            "<p class=\"note\">You will be taken on in a few seconds.</p>\n<p><a class=\"button\" href=\"{}\">Continue</a></p>\n",
            escape(url)
        ));
    }
    document(title, &head, &body)
}

/// What one input needs from the page around it.
struct Control<'a> {
    id: String,
    errors: Vec<&'a str>,
    autofocus: bool,
}

impl Control<'_> {
    fn error_id(&self) -> String {
        format!("{}-error", self.id)
    }

    /// `id`, validity and error wiring shared by every kind of input.
    fn attributes(&self, name: &str, required: bool) -> String {
        let mut attrs = format!(" id=\"{}\" name=\"{}\"", self.id, escape(name));
        if required {
            attrs.push_str(" required");
        }
        if !self.errors.is_empty() {
            attrs.push_str(&format!(" aria-invalid=\"true\" aria-describedby=\"{}\"", self.error_id()));
        }
        if self.autofocus {
            attrs.push_str(" autofocus");
        }
        attrs
    }

    fn errors_html(&self) -> String {
        if self.errors.is_empty() {
            return String::new();
        }
        let text: Vec<String> = self.errors.iter().map(|m| escape(m)).collect();
        format!("<p class=\"error\" id=\"{}\" role=\"alert\">{}</p>\n", self.error_id(), text.join(" "))
    }
}

fn field_html(field: &PageField, control: &Control<'_>, value: Option<&str>) -> String {
    let kind = field.kind.to_ascii_uppercase();
    if kind == "CHECKBOX" {
        let checked = value.is_some_and(is_checked);
        return checkbox_html(&field.key, &field.label, field.required, checked, control);
    }
    let value = value.unwrap_or_default();
    let attrs = control.attributes(&field.key, field.required);
    let input = match kind.as_str() {
        // The parser drops one newline right after <textarea>, so one is always given to it.
        "TEXT" => format!("<textarea{attrs} rows=\"5\">\n{}</textarea>", escape(value)),
        "LIST" => select_html(field, &attrs, value),
        "EMAIL" => format!("<input type=\"email\"{attrs} value=\"{}\" autocomplete=\"email\">", escape(value)),
        "PHONE" => format!("<input type=\"tel\"{attrs} value=\"{}\" autocomplete=\"tel\">", escape(value)),
        _ => format!("<input type=\"text\"{attrs} value=\"{}\">", escape(value)),
    };
    format!(
        "<div class=\"field\">\n<label for=\"{}\">{}</label>\n{input}\n{}</div>\n",
        control.id,
        label_text(&field.label, field.required),
        control.errors_html()
    )
}

fn select_html(field: &PageField, attrs: &str, value: &str) -> String {
    let mut html = format!("<select{attrs}>\n");
    if !field.required {
        html.push_str("<option value=\"\">Select…</option>\n");
    }
    for item in &field.items {
        let selected = if item == value { " selected" } else { "" };
        let item = escape(item);
        html.push_str(&format!("<option value=\"{item}\"{selected}>{item}</option>\n"));
    }
    html.push_str("</select>");
    html
}

fn checkbox_html(name: &str, label: &str, required: bool, checked: bool, control: &Control<'_>) -> String {
    let checked = if checked { " checked" } else { "" };
    format!(
        "<div class=\"field\">\n<div class=\"check\">\n<input type=\"checkbox\"{} value=\"true\"{checked}>\n<label for=\"{}\">{}</label>\n</div>\n{}</div>\n",
        control.attributes(name, required),
        control.id,
        label_text(label, required),
        control.errors_html()
    )
}

/// The honeypot and the time stamp the server checks to tell bots from people.
fn helper_inputs(opened_ms: i64) -> String {
    // The honeypot is a real text input moved off-screen: bots skip type=hidden inputs but
    // fill visible-looking ones, while people (and screen readers and Tab) never reach it.
    format!(
        "<div class=\"hp\" aria-hidden=\"true\">\n<label for=\"field-hp\">Leave this field empty</label>\n\
         <input type=\"text\" id=\"field-hp\" name=\"_hp\" value=\"\" tabindex=\"-1\" autocomplete=\"off\" aria-hidden=\"true\">\n\
         </div>\n<input type=\"hidden\" name=\"_ts\" value=\"{opened_ms}\">\n"
    )
}

fn label_text(label: &str, required: bool) -> String {
    // The marker is hidden from screen readers: the `required` attribute already says it.
    let marker = if required { "<span class=\"req\" aria-hidden=\"true\">*</span>" } else { "" };
    format!("{}{marker}", escape(label))
}

fn is_checked(value: &str) -> bool {
    matches!(value, "true" | "on" | "1")
}

/// Only http(s) or same-site paths: a `javascript:` or `data:` URL in the link or the
/// refresh would run script in the CRM's origin.
fn is_safe_redirect(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    url.starts_with('/') || lower.starts_with("https://") || lower.starts_with("http://")
}

fn document(title: &str, head_extra: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <title>{}</title>\n{head_extra}<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<div class=\"card\">\n{body}</div>\n</main>\n</body>\n</html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str, label: &str, kind: &str, required: bool, items: &[&str]) -> PageField {
        PageField {
            key: key.into(),
            label: label.into(),
            kind: kind.into(),
            required,
            items: items.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    fn sample() -> PageForm {
        PageForm {
            key: "abc".into(),
            name: "Contact <us>".into(),
            fields: vec![
                field("name", "<script>alert(1)</script>", "STRING", true, &[]),
                field("email", "E-mail", "EMAIL", true, &[]),
                field("phone", "Phone", "PHONE", false, &[]),
                field("topic", "Topic", "LIST", false, &["Sales", "Support & \"help\""]),
                field("size", "Size", "LIST", true, &["S", "M"]),
                field("note", "Message", "TEXT", false, &[]),
                field("news", "Newsletter", "CHECKBOX", false, &[]),
            ],
            consent_text: Some("I agree to the <privacy> terms".into()),
            submit_url: "/forms/abc/submit?x=1&y=2".into(),
            opened_ms: 1_700_000_000_123,
        }
    }

    fn empty() -> HashMap<String, String> {
        HashMap::new()
    }

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn page_never_contains_raw_markup_from_data() {
        let errors = vec![("name".to_string(), "<b>bad</b>".to_string())];
        let values = HashMap::from([("note".to_string(), "</textarea><script>".to_string())]);
        let html = form_page(&sample(), &errors, &values);
        assert!(!html.contains("<script"));
        assert!(!html.contains("<b>"));
        assert!(!html.contains("<privacy>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<title>Contact &lt;us&gt;</title>"));
        assert!(html.contains("action=\"/forms/abc/submit?x=1&amp;y=2\""));
        assert!(html.contains("method=\"post\""));
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("name=\"viewport\""));
    }

    #[test]
    fn page_has_honeypot_and_timestamp() {
        let html = form_page(&sample(), &[], &empty());
        let hp_start = html.find("name=\"_hp\"").unwrap();
        let tag_start = html[..hp_start].rfind('<').unwrap();
        let tag_end = hp_start + html[hp_start..].find('>').unwrap();
        let tag = &html[tag_start..=tag_end];
        assert!(tag.contains("type=\"text\""), "{tag}");
        assert!(tag.contains("tabindex=\"-1\""));
        assert!(tag.contains("autocomplete=\"off\""));
        assert!(tag.contains("aria-hidden=\"true\""));
        assert!(html.contains(".hp{position:absolute;left:-10000px"));
        assert!(html.contains("<input type=\"hidden\" name=\"_ts\" value=\"1700000000123\">"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn kinds_map_to_inputs() {
        let html = form_page(&sample(), &[], &empty());
        assert!(html.contains("<input type=\"text\" id=\"field-0\" name=\"name\" required"));
        assert!(html.contains("<label for=\"field-0\">"));
        assert!(html.contains("<input type=\"email\" id=\"field-1\" name=\"email\" required"));
        assert!(html.contains("<input type=\"tel\" id=\"field-2\" name=\"phone\" value=\"\""));
        assert!(html.contains("<textarea id=\"field-5\" name=\"note\""));
        assert!(html.contains("<input type=\"checkbox\" id=\"field-6\" name=\"news\" value=\"true\">"));
        assert!(
            html.contains("<input type=\"checkbox\" id=\"field-consent\" name=\"consent\" required value=\"true\">")
        );
        assert!(html.contains("<label for=\"field-consent\">I agree to the &lt;privacy&gt; terms"));
    }

    #[test]
    fn list_options_are_rendered() {
        let html = form_page(&sample(), &[], &empty());
        assert!(html.contains("<select id=\"field-3\" name=\"topic\">\n<option value=\"\">"));
        assert!(html.contains("<option value=\"Sales\">Sales</option>"));
        assert!(
            html.contains("<option value=\"Support &amp; &quot;help&quot;\">Support &amp; &quot;help&quot;</option>")
        );
        assert!(html.contains("<select id=\"field-4\" name=\"size\" required>\n<option value=\"S\">S</option>"));
    }

    #[test]
    fn page_without_consent_has_no_consent_box() {
        let form = PageForm { consent_text: None, fields: vec![field("a", "A", "STRING", false, &[])], ..sample() };
        let html = form_page(&form, &[], &empty());
        assert!(!html.contains("name=\"consent\""));
        assert!(!html.contains(" required"));
    }

    #[test]
    fn errors_are_shown_next_to_fields_and_on_top() {
        let errors = vec![
            ("email".to_string(), "Enter a valid e-mail".to_string()),
            ("consent".to_string(), "Please agree".to_string()),
            (String::new(), "Something went wrong".to_string()),
            ("gone".to_string(), "Unknown field".to_string()),
        ];
        let html = form_page(&sample(), &errors, &empty());
        assert!(
            html.contains("<div class=\"alert\" role=\"alert\">\n<p>Something went wrong</p>\n<p>Unknown field</p>")
        );
        assert!(html.contains("<p class=\"error\" id=\"field-1-error\" role=\"alert\">Enter a valid e-mail</p>"));
        assert!(
            html.contains("name=\"email\" required aria-invalid=\"true\" aria-describedby=\"field-1-error\" autofocus")
        );
        assert!(html.contains("<p class=\"error\" id=\"field-consent-error\" role=\"alert\">Please agree</p>"));
        assert_eq!(html.matches(" autofocus").count(), 1);
        assert!(html.find("Something went wrong") < html.find("<form"));
    }

    #[test]
    fn values_are_refilled() {
        let values = HashMap::from([
            ("name".to_string(), "Anna \"A\" Berg".to_string()),
            ("topic".to_string(), "Sales".to_string()),
            ("note".to_string(), "Line 1\nLine 2".to_string()),
            ("news".to_string(), "true".to_string()),
            ("consent".to_string(), "true".to_string()),
            ("_hp".to_string(), "spam".to_string()),
        ]);
        let html = form_page(&sample(), &[], &values);
        assert!(html.contains("value=\"Anna &quot;A&quot; Berg\""));
        assert!(html.contains("<option value=\"Sales\" selected>Sales</option>"));
        assert!(html.contains("name=\"note\" rows=\"5\">\nLine 1\nLine 2</textarea>"));
        assert!(html.contains("name=\"news\" value=\"true\" checked>"));
        assert!(html.contains("name=\"consent\" required value=\"true\" checked>"));
        assert!(!html.contains("spam"));
    }

    #[test]
    fn result_page_without_redirect() {
        let html = result_page("Thanks <3", "We will call you & write", None);
        assert!(html.contains("<title>Thanks &lt;3</title>"));
        assert!(html.contains("role=\"status\">We will call you &amp; write</p>"));
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert!(!html.contains("<a "));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn result_page_with_redirect() {
        let html = result_page("Thanks", "Done", Some("https://example.com/thanks?a=1&b=\"2\""));
        assert!(html.contains(
            "<meta http-equiv=\"refresh\" content=\"3;url=https://example.com/thanks?a=1&amp;b=&quot;2&quot;\">"
        ));
        assert!(html.contains("href=\"https://example.com/thanks?a=1&amp;b=&quot;2&quot;\""));
    }

    #[test]
    fn result_page_refuses_script_urls() {
        let html = result_page("Thanks", "Done", Some(" JavaScript:alert(1)"));
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert!(!html.to_ascii_lowercase().contains("javascript:"));
        assert!(result_page("T", "M", Some("/thanks")).contains("content=\"3;url=/thanks\""));
    }
}
