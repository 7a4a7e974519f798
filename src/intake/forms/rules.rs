//! Web forms: their definitions (settings right) and what a submission must satisfy.
//! Pure rules here; storage in `store.rs`, the public endpoints in `http.rs`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::crm::shared::communications::CommKind;
use crate::import::mapping::{self, CustomFieldInfo, ElementKind, Target};
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::validate;

/// Lead fields a form may fill besides communications and custom fields: free text a
/// visitor can type. References (status, source, assignee) come from the form, never from
/// the visitor.
pub const TEXT_TARGETS: &[&str] =
    &["title", "firstName", "middleName", "lastName", "position", "companyTitle", "address", "comments"];

pub const MAX_FIELDS: usize = 50;
pub const MAX_ITEMS: usize = 200;
pub const MAX_ORIGINS: usize = 50;
/// The longest answer to a STRING field (and to any field but TEXT).
pub const MAX_SHORT: usize = 500;
/// The longest answer to a TEXT field.
pub const MAX_LONG: usize = 10_000;
/// A form filled faster than this was filled by a program.
pub const MIN_FILL_MS: i64 = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FieldKind {
    String,
    Text,
    Email,
    Phone,
    List,
    Checkbox,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::String => "STRING",
            FieldKind::Text => "TEXT",
            FieldKind::Email => "EMAIL",
            FieldKind::Phone => "PHONE",
            FieldKind::List => "LIST",
            FieldKind::Checkbox => "CHECKBOX",
        }
    }
}

/// One field of a form, as stored (`web_forms.fields`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDef {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    pub required: bool,
    /// A lead field (`firstName`, `email`, ...) or a custom field code.
    pub target: String,
    #[serde(default)]
    pub items: Vec<String>,
}

/// A form's definition as a client sends it.
#[derive(Clone, Debug, Default)]
pub struct FormSpec {
    pub name: String,
    pub fields: Vec<FieldDef>,
    pub success_message: Option<String>,
    pub redirect_url: Option<String>,
    pub assigned_to_id: Option<i64>,
    pub source_id: Option<i64>,
    pub allowed_origins: Vec<String>,
    pub consent_text: Option<String>,
    pub active: bool,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> DomainError {
    DomainError::bad_input(field, message)
}

/// Checks and tidies a definition: keys unique and URL-safe, every target a lead field,
/// communication or custom field, filled once; LIST fields with items; origins and the
/// redirect as URLs.
pub fn check_spec(spec: &mut FormSpec, custom: &[CustomFieldInfo]) -> DomainResult<()> {
    validate::required_text("name", Some(&spec.name))?;
    spec.name = spec.name.trim().to_owned();
    if spec.fields.is_empty() {
        return Err(bad("fields", "a form needs at least one field"));
    }
    crate::kernel::limits::check_len("fields", spec.fields.len(), MAX_FIELDS)?;
    let mut targets: Vec<Target> = Vec::new();
    for i in 0..spec.fields.len() {
        let at = format!("fields[{i}]");
        let field = &mut spec.fields[i];
        field.key = field.key.trim().to_owned();
        if field.key.is_empty()
            || field.key.len() > 40
            || field.key.starts_with('_')
            || !field.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad(
                format!("{at}.key"),
                "a key is 1 to 40 letters, digits, `_` or `-`, not starting with `_`",
            ));
        }
        validate::required_text(&format!("{at}.label"), Some(&field.label))?;
        field.label = field.label.trim().to_owned();
        crate::kernel::limits::check_len(&format!("{at}.items"), field.items.len(), MAX_ITEMS)?;
        field.items = field.items.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        if field.kind == FieldKind::List && field.items.is_empty() {
            return Err(bad(format!("{at}.items"), "a LIST field needs items"));
        }
        let target = target_of(&field.target, custom).ok_or_else(|| {
            bad(format!("{at}.target"), format!("`{}` is not a lead field a form can fill", field.target))
        })?;
        if !matches!(target, Target::Comm { .. }) && targets.contains(&target) {
            return Err(bad(format!("{at}.target"), format!("`{}` is filled by another field", field.target)));
        }
        targets.push(target);
    }
    for (i, f) in spec.fields.iter().enumerate() {
        if spec.fields[..i].iter().any(|g| g.key == f.key) {
            return Err(bad(format!("fields[{i}].key"), format!("the key `{}` is used twice", f.key)));
        }
    }
    if let Some(url) = spec.redirect_url.as_deref().filter(|u| !u.trim().is_empty()) {
        spec.redirect_url = Some(validate::web("redirectUrl", url)?);
    } else {
        spec.redirect_url = None;
    }
    crate::kernel::limits::check_len("allowedOrigins", spec.allowed_origins.len(), MAX_ORIGINS)?;
    for (i, o) in spec.allowed_origins.iter_mut().enumerate() {
        *o = origin(o).ok_or_else(|| {
            bad(format!("allowedOrigins[{i}]"), format!("`{o}` is not an origin like https://www.example.com"))
        })?;
    }
    spec.consent_text = spec.consent_text.take().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    spec.success_message = spec.success_message.take().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    Ok(())
}

/// What a target names, if a form may fill it.
fn target_of(target: &str, custom: &[CustomFieldInfo]) -> Option<Target> {
    match mapping::resolve(ElementKind::Lead, target, custom)? {
        Target::Field(f) if TEXT_TARGETS.contains(&f) => Some(Target::Field(f)),
        t @ (Target::Comm { .. } | Target::Custom(_)) => Some(t),
        _ => None,
    }
}

/// `scheme://host[:port]` of a URL-like text, lower case, or None.
pub fn origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// A visitor's answers checked against the form: each error is (field key, message); the
/// answers as the lead's API input (GraphQL field names) when there is none.
pub fn answers_to_input(
    fields: &[FieldDef],
    answers: &Map<String, Json>,
    custom: &[CustomFieldInfo],
    region: phonenumber::country::Id,
) -> Result<Map<String, Json>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut input = Map::new();
    for f in fields {
        match answer(f, answers.get(&f.key), region) {
            Err(message) => errors.push((f.key.clone(), message)),
            Ok(None) => {}
            Ok(Some(value)) => match target_of(&f.target, custom) {
                Some(Target::Field(name)) => {
                    input.insert(name.to_owned(), json!(value));
                }
                Some(Target::Comm { kind, value_type }) => {
                    let list = input.entry(kind.field()).or_insert_with(|| json!([]));
                    if let Some(list) = list.as_array_mut() {
                        list.push(json!({ "value": value, "valueType": value_type }));
                    }
                }
                Some(Target::Custom(code)) => {
                    let list = input.entry("customFields").or_insert_with(|| json!([]));
                    if let Some(list) = list.as_array_mut() {
                        list.push(json!({ "code": code, "value": value }));
                    }
                }
                // The definition was checked when saved; a custom field deleted since fills nothing.
                Some(Target::ExternalId) | None => {}
            },
        }
    }
    if errors.is_empty() { Ok(input) } else { Err(errors) }
}

/// One answer as text, checked against its field; None when left empty.
fn answer(f: &FieldDef, raw: Option<&Json>, region: phonenumber::country::Id) -> Result<Option<String>, String> {
    let text = match raw {
        None | Some(Json::Null) => String::new(),
        Some(Json::Bool(b)) => {
            if *b {
                "true".into()
            } else {
                String::new()
            }
        }
        Some(Json::String(s)) => s.trim().to_owned(),
        Some(Json::Number(n)) => n.to_string(),
        Some(_) => return Err("must be text".into()),
    };
    let text = if f.kind == FieldKind::Checkbox {
        match text.to_lowercase().as_str() {
            "" | "false" | "off" | "0" | "no" => String::new(),
            _ => "true".to_owned(),
        }
    } else {
        text
    };
    if text.is_empty() {
        return if f.required { Err(format!("{} is required", f.label)) } else { Ok(None) };
    }
    let max = if f.kind == FieldKind::Text { MAX_LONG } else { MAX_SHORT };
    if text.chars().count() > max {
        return Err(format!("at most {max} characters"));
    }
    match f.kind {
        FieldKind::Email => validate::email(&f.key, &text).map_err(|_| "is not an e-mail address".to_owned())?,
        FieldKind::Phone => {
            CommKind::Phone.normalize(&f.key, &text, region).map_err(|_| "is not a phone number".to_owned())?
        }
        FieldKind::List if !f.items.contains(&text) => return Err("is not one of the choices".into()),
        _ => String::new(),
    };
    Ok(Some(text))
}

/// The SHA-256 of the consent text a visitor agreed to, as stored beside the submission.
pub fn consent_hash(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Whether a submission looks made by a program: the honeypot filled, or the form sent
/// sooner after it opened than a person can fill it.
pub fn spam_reason(honeypot: Option<&str>, opened_ms: Option<i64>, now_ms: i64) -> Option<&'static str> {
    if honeypot.is_some_and(|h| !h.trim().is_empty()) {
        return Some("honeypot filled");
    }
    if opened_ms.is_some_and(|t| now_ms - t < MIN_FILL_MS && now_ms >= t) {
        return Some("sent too fast");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str, kind: FieldKind, required: bool, target: &str) -> FieldDef {
        FieldDef { key: key.into(), label: key.into(), kind, required, target: target.into(), items: vec![] }
    }

    fn spec(fields: Vec<FieldDef>) -> FormSpec {
        FormSpec { name: "Contact".into(), fields, active: true, ..Default::default() }
    }

    #[test]
    fn targets_are_lead_fields_communications_or_custom_fields() {
        let custom = [CustomFieldInfo { code: "UF_BUDGET".into(), label: "Budget".into() }];
        let mut ok = spec(vec![
            field("name", FieldKind::String, true, "firstName"),
            field("mail", FieldKind::Email, true, "email"),
            field("budget", FieldKind::String, false, "UF_BUDGET"),
        ]);
        assert!(check_spec(&mut ok, &custom).is_ok());
        for target in ["statusId", "assignedToId", "nope", "externalId"] {
            let mut s = spec(vec![field("x", FieldKind::String, false, target)]);
            assert!(check_spec(&mut s, &custom).is_err(), "{target}");
        }
        let mut twice = spec(vec![
            field("a", FieldKind::String, false, "firstName"),
            field("b", FieldKind::String, false, "firstName"),
        ]);
        assert!(check_spec(&mut twice, &custom).is_err());
        let mut same_key =
            spec(vec![field("a", FieldKind::Email, false, "email"), field("a", FieldKind::Phone, false, "phone")]);
        assert!(check_spec(&mut same_key, &custom).is_err());
        let mut list = spec(vec![field("topic", FieldKind::List, false, "comments")]);
        assert!(check_spec(&mut list, &custom).is_err());
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(origin("https://WWW.Example.com/path?q=1").as_deref(), Some("https://www.example.com"));
        assert_eq!(origin("http://localhost:8080").as_deref(), Some("http://localhost:8080"));
        assert_eq!(origin("ftp://example.com"), None);
        assert_eq!(origin("example.com"), None);
    }

    #[test]
    fn answers_are_checked_per_field() {
        let mut topic = field("topic", FieldKind::List, true, "comments");
        topic.items = vec!["Sales".into(), "Support".into()];
        let fields = vec![
            field("name", FieldKind::String, true, "lastName"),
            field("mail", FieldKind::Email, false, "email"),
            field("tel", FieldKind::Phone, false, "phone"),
            topic,
        ];
        let region = phonenumber::country::Id::DE;
        let good =
            serde_json::json!({ "name": " Berg ", "mail": "anna@berg.de", "tel": "030 1234567", "topic": "Sales" });
        let input = answers_to_input(&fields, good.as_object().unwrap(), &[], region).unwrap();
        assert_eq!(input["lastName"], "Berg");
        assert_eq!(input["emails"][0]["value"], "anna@berg.de");
        assert_eq!(input["phones"][0]["value"], "030 1234567");
        assert_eq!(input["comments"], "Sales");
        let bad = serde_json::json!({ "mail": "nope", "tel": "abc", "topic": "Other" });
        let errors = answers_to_input(&fields, bad.as_object().unwrap(), &[], region).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["name", "mail", "tel", "topic"]);
    }

    #[test]
    fn programs_are_told_apart_from_people() {
        assert_eq!(spam_reason(Some("http://spam"), None, 10_000), Some("honeypot filled"));
        assert_eq!(spam_reason(Some(" "), Some(1_000), 10_000), None);
        assert_eq!(spam_reason(None, Some(9_500), 10_000), Some("sent too fast"));
        assert_eq!(spam_reason(None, None, 10_000), None);
    }
}
