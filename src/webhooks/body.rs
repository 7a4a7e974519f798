//! What a webhook message says: `{ "type", "timestamp", "data" }` as the Standard Webhooks
//! specification lays out. FULL data holds the element as the API shows it (camelCase
//! fields, public ids), the changed fields and their previous values; THIN only the type, id
//! and changed field names, for receivers that read the element through the API.

use serde_json::{Map, Value as Json, json};

use crate::events::Event;
use crate::kernel::ElementType;
use crate::kernel::history::{camel_case, id_kind_of};
use crate::kernel::ids::{self, IdKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    Full,
    Thin,
}

impl Payload {
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::Full => "FULL",
            Payload::Thin => "THIN",
        }
    }

    pub fn parse(s: &str) -> Payload {
        if s == "THIN" { Payload::Thin } else { Payload::Full }
    }
}

fn element_kind(t: ElementType) -> IdKind {
    match t {
        ElementType::Lead => IdKind::Lead,
        ElementType::Contact => IdKind::Contact,
        ElementType::Company => IdKind::Company,
        ElementType::Deal => IdKind::Deal,
    }
}

/// A stored row (snake_case columns, numeric ids) as the API shows it.
fn api_shape(row: &Json, own_kind: IdKind) -> Json {
    let Some(obj) = row.as_object() else { return row.clone() };
    let owner_kind = obj.get("owner_type").and_then(Json::as_str).and_then(ElementType::parse).map(element_kind);
    let out: Map<String, Json> = obj
        .iter()
        .map(|(k, v)| {
            let kind = match k.as_str() {
                "id" => Some(own_kind),
                "owner_id" => owner_kind,
                other => id_kind_of(other),
            };
            let value = match (kind, v.as_i64()) {
                (Some(kind), Some(n)) => Json::String(ids::encode(kind, n)),
                _ => v.clone(),
            };
            (camel_case(k), value)
        })
        .collect();
    Json::Object(out)
}

/// The message body of `event`, delivered as `event_type`.
pub fn render(event: &Event, event_type: &str, payload: Payload) -> Json {
    let element_type = ElementType::parse(&event.element_type);
    let activity = event.payload.get("activity");
    let (id, element) = match (activity, element_type) {
        (Some(a), _) => {
            let id = a.get("id").and_then(Json::as_i64).unwrap_or_default();
            (ids::encode(IdKind::Activity, id), api_shape(a, IdKind::Activity))
        }
        (None, Some(et)) => {
            let kind = element_kind(et);
            let row = event.payload.get("element").unwrap_or(&Json::Null);
            (ids::encode(kind, event.element_id), api_shape(row, kind))
        }
        (None, None) => (event.element_id.to_string(), Json::Null),
    };
    let mut data = json!({
        "id": id,
        "eventId": event.seq.to_string(),
        "changedFields": event.changed,
    });
    if payload == Payload::Full
        && let Some(d) = data.as_object_mut()
    {
        d.insert("element".into(), element);
        d.insert("previousValues".into(), event.payload.get("previous").cloned().unwrap_or_else(|| json!({})));
        if activity.is_some()
            && let Some(et) = element_type
        {
            d.insert("owner".into(), Json::String(ids::encode(element_kind(et), event.element_id)));
        }
        if let Some(actor) = event.actor_id {
            d.insert("actorId".into(), Json::String(ids::encode(IdKind::User, actor)));
        }
    }
    json!({
        "type": event_type,
        "timestamp": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
}

/// The body of a `testWebhook` message.
pub fn test_message(webhook_id: i64, now: chrono::DateTime<chrono::Utc>) -> Json {
    json!({
        "type": "webhook.test",
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": { "webhookId": ids::encode(IdKind::Webhook, webhook_id), "message": "Kontor test message" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, payload: Json) -> Event {
        Event {
            seq: 41,
            element_type: "DEAL".into(),
            element_id: 5,
            action: action.into(),
            changed: vec!["title".into(), "stageId".into()],
            payload,
            actor_id: Some(2),
            created_at: chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").unwrap().into(),
        }
    }

    #[test]
    fn full_bodies_show_the_element_as_the_api_does() {
        let e = event(
            "UPDATED",
            json!({
                "element": { "id": 5, "title": "Big deal", "stage_id": 3, "assigned_to_id": 2, "opportunity": "10.00" },
                "previous": { "title": "Small deal", "stageId": "stage:2" },
            }),
        );
        let b = render(&e, "deal.updated", Payload::Full);
        assert_eq!(b["type"], "deal.updated");
        assert_eq!(b["timestamp"], "2026-12-02T10:00:00.000Z");
        let d = &b["data"];
        assert_eq!(d["id"], "deal:5");
        assert_eq!(d["eventId"], "41");
        assert_eq!(d["element"]["stageId"], "stage:3");
        assert_eq!(d["element"]["assignedToId"], "user:2");
        assert_eq!(d["element"]["opportunity"], "10.00");
        assert_eq!(d["previousValues"]["title"], "Small deal");
        assert_eq!(d["changedFields"], json!(["title", "stageId"]));
        assert_eq!(d["actorId"], "user:2");
    }

    #[test]
    fn thin_bodies_name_only_what_changed() {
        let e = event("UPDATED", json!({ "element": { "id": 5, "title": "Big deal" } }));
        let b = render(&e, "deal.updated", Payload::Thin);
        let d = b["data"].as_object().unwrap();
        let mut keys: Vec<&str> = d.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, vec!["changedFields", "eventId", "id"]);
    }

    #[test]
    fn activity_bodies_carry_the_activity_and_its_owner() {
        let e = event(
            "ACTIVITY_COMPLETED",
            json!({ "activity": { "id": 9, "owner_type": "DEAL", "owner_id": 5, "responsible_id": 2, "subject": "Call" } }),
        );
        let d = render(&e, "activity.completed", Payload::Full)["data"].clone();
        assert_eq!(d["id"], "activity:9");
        assert_eq!(d["owner"], "deal:5");
        assert_eq!(d["element"]["ownerId"], "deal:5");
        assert_eq!(d["element"]["responsibleId"], "user:2");
    }
}
