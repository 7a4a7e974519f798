//! The one place that decides which elements an actor may read. Every read of elements
//! (single, list, totalCount, nested relation, search, duplicates, reports, history)
//! appends this predicate to its SQL, and every pushed event passes `can_read` (or
//! `can_read_facts` for history entries); all come from the actor's roles (`permissions`).

use crate::db::sql::Sql;
use crate::kernel::ElementType;
use crate::kernel::access::permissions::{Action, Facts};
use crate::kernel::actor::Actor;

/// SQL predicate over the element table aliased `alias` that is true for the rows `actor`
/// may read.
pub fn element_predicate(actor: &Actor, element: ElementType, alias: &str) -> Sql {
    actor.rights.read_predicate(element, alias)
}

/// Predicate over timeline entries aliased `alias`: an entry is readable when its element is.
pub fn timeline_predicate(actor: &Actor, alias: &str) -> Sql {
    if actor.rights.admin {
        return Sql::new("TRUE");
    }
    let parts: Vec<Sql> = ElementType::ALL
        .into_iter()
        .map(|et| {
            let mut s = Sql::new(format!(
                "({alias}.element_type = '{e}' AND EXISTS (SELECT 1 FROM {table} o WHERE o.id = {alias}.element_id AND ",
                e = et.as_str(),
                table = et.table()
            ));
            s.append(&element_predicate(actor, et, "o")).push("))");
            s
        })
        .collect();
    let mut s = Sql::new("(");
    s.append(&Sql::join(&parts, " OR ", "FALSE")).push(")");
    s
}

/// The same decision as `element_predicate`, for an event about an element, made in memory
/// from the event's payload (subscriptions filter every event with it).
pub fn can_read(actor: &Actor, element: ElementType, payload: &serde_json::Value) -> bool {
    let row = payload.get("element").unwrap_or(&serde_json::Value::Null);
    actor.rights.allows(element, Action::Read, &Facts::of(row))
}

/// Whether `actor` reads every element of this type, so no row needs looking at.
pub fn reads_all(actor: &Actor, element: ElementType) -> bool {
    element_predicate(actor, element, "t") == Sql::new("TRUE")
}

/// The same decision for an event whose payload is not the element (history entries), from
/// the element's current facts, loaded once per event for every subscriber
/// (`events::facts`). `None` means the element is gone: only those who read every element
/// of the type see such events, as `element_predicate` would decide.
pub fn can_read_facts(actor: &Actor, element: ElementType, facts: Option<&Facts>) -> bool {
    match facts {
        Some(f) => actor.rights.allows(element, Action::Read, f),
        None => reads_all(actor, element),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::access::permissions::{Grant, Level, Rights};

    fn actor(lead_level: Level) -> Actor {
        let grants = ElementType::ALL
            .into_iter()
            .map(|et| Grant {
                role_id: 1,
                element_type: et,
                pipeline_id: None,
                action: Action::Read,
                level: if et == ElementType::Lead { lead_level } else { Level::All },
            })
            .collect();
        Actor {
            user_id: 7,
            email: "rep@example.com".into(),
            is_admin: false,
            department_id: None,
            time_zone: "UTC".into(),
            rights: Rights { user_id: 7, grants, department_users: vec![7], ..Default::default() }.shared(),
        }
    }

    #[test]
    fn history_events_are_decided_from_the_elements_facts() {
        let own = actor(Level::Own);
        let mine = Facts { assigned_to_id: Some(7), ..Default::default() };
        let theirs = Facts { assigned_to_id: Some(8), ..Default::default() };
        assert!(can_read_facts(&own, ElementType::Lead, Some(&mine)));
        assert!(!can_read_facts(&own, ElementType::Lead, Some(&theirs)));
        // A deleted element is seen only by those who read every element of its type.
        assert!(!reads_all(&own, ElementType::Lead));
        assert!(!can_read_facts(&own, ElementType::Lead, None));
        assert!(reads_all(&own, ElementType::Deal));
        assert!(can_read_facts(&own, ElementType::Deal, None));
        let all = actor(Level::All);
        assert!(can_read_facts(&all, ElementType::Lead, Some(&theirs)));
        assert!(can_read_facts(&all, ElementType::Lead, None));
    }
}
