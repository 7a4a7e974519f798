//! Access permissions: what a user's roles allow, decided
//! both as an SQL predicate (every read appends it) and in memory (write checks and pushed
//! events), from the same level rules, side by side here.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::db::sql::{Bind, Sql};
use crate::kernel::ElementType;
use crate::kernel::error::{DomainError, DomainResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    Read,
    Add,
    Write,
    Delete,
    Export,
    Import,
}

impl Action {
    pub const ALL: [Action; 6] =
        [Action::Read, Action::Add, Action::Write, Action::Delete, Action::Export, Action::Import];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "READ",
            Action::Add => "ADD",
            Action::Write => "WRITE",
            Action::Delete => "DELETE",
            Action::Export => "EXPORT",
            Action::Import => "IMPORT",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Whose elements an action reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    None,
    /// Assigned to me.
    Own,
    /// Assigned to me or anyone in my department.
    Department,
    /// ... or in a department below mine.
    Subdepartments,
    /// Mine, plus every element flagged `opened`.
    Open,
    All,
}

impl Level {
    pub const ALL: [Level; 6] =
        [Level::None, Level::Own, Level::Department, Level::Subdepartments, Level::Open, Level::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Own => "OWN",
            Level::Department => "DEPARTMENT",
            Level::Subdepartments => "SUBDEPARTMENTS",
            Level::Open => "OPEN",
            Level::All => "ALL",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// One line of a role: `action` on `element_type` (deals: in `pipeline_id`, or in every
/// pipeline without a line of its own) at `level`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub role_id: i64,
    pub element_type: ElementType,
    pub pipeline_id: Option<i64>,
    pub action: Action,
    pub level: Level,
}

/// What the levels look at on one element.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub assigned_to_id: Option<i64>,
    pub opened: bool,
    pub pipeline_id: Option<i64>,
}

impl Facts {
    /// From an element row serialised to JSON (a stored row, an event's snapshot).
    pub fn of(row: &Json) -> Facts {
        Facts {
            assigned_to_id: row.get("assigned_to_id").and_then(Json::as_i64),
            opened: row.get("opened").and_then(Json::as_bool).unwrap_or(false),
            pipeline_id: row.get("pipeline_id").and_then(Json::as_i64),
        }
    }
}

/// A signed-in user's rights, loaded with the token on every request.
#[derive(Clone, Debug, Default)]
pub struct Rights {
    pub user_id: i64,
    pub admin: bool,
    /// May change CRM settings (admins always may).
    pub settings: bool,
    pub grants: Vec<Grant>,
    /// Users of my department, me included.
    pub department_users: Vec<i64>,
    /// Users of my department and every department below it, me included.
    pub subtree_users: Vec<i64>,
}

impl Rights {
    pub fn shared(self) -> Arc<Rights> {
        Arc::new(self)
    }

    /// The same rights, whatever order the database listed lines and users in.
    pub fn same_as(&self, other: &Rights) -> bool {
        fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
            let mut v = v.to_vec();
            v.sort_unstable();
            v
        }
        let lines = |r: &Rights| {
            let keys: Vec<_> = r
                .grants
                .iter()
                .map(|g| (g.role_id, g.element_type.as_str(), g.pipeline_id, g.action, g.level))
                .collect();
            sorted(&keys)
        };
        self.user_id == other.user_id
            && self.admin == other.admin
            && self.settings == other.settings
            && lines(self) == lines(other)
            && sorted(&self.department_users) == sorted(&other.department_users)
            && sorted(&self.subtree_users) == sorted(&other.subtree_users)
    }

    /// The level each of my roles gives `action` on `element_type` elements (in `pipeline`
    /// for deals): a role's line for that pipeline wins over its line for all pipelines. My
    /// rights are their union.
    pub fn levels(&self, element_type: ElementType, action: Action, pipeline: Option<i64>) -> BTreeSet<Level> {
        let roles: BTreeSet<i64> = self.grants.iter().map(|g| g.role_id).collect();
        let mut out = BTreeSet::new();
        for role in roles {
            let lines = || {
                self.grants
                    .iter()
                    .filter(move |g| g.role_id == role && g.element_type == element_type && g.action == action)
            };
            let specific = pipeline.and_then(|p| lines().find(|g| g.pipeline_id == Some(p)));
            if let Some(g) = specific.or_else(|| lines().find(|g| g.pipeline_id.is_none())) {
                out.insert(g.level);
            }
        }
        out.remove(&Level::None);
        out
    }

    /// Whether `action` is allowed on the element described by `facts`.
    pub fn allows(&self, element_type: ElementType, action: Action, facts: &Facts) -> bool {
        self.admin || self.levels(element_type, action, facts.pipeline_id).into_iter().any(|l| self.reaches(l, facts))
    }

    fn reaches(&self, level: Level, f: &Facts) -> bool {
        let mine = f.assigned_to_id == Some(self.user_id);
        let among = |users: &[i64]| mine || f.assigned_to_id.is_some_and(|a| users.contains(&a));
        match level {
            Level::None => false,
            Level::Own => mine,
            Level::Department => among(&self.department_users),
            Level::Subdepartments => among(&self.subtree_users),
            Level::Open => mine || f.opened,
            Level::All => true,
        }
    }

    /// `reaches` as SQL over the element table aliased `alias`.
    fn reaches_sql(&self, level: Level, alias: &str) -> Sql {
        let mut s = Sql::default();
        match level {
            Level::None => s.push("FALSE"),
            Level::Own => s.push(format!("{alias}.assigned_to_id = ")).bind(Bind::Int8(self.user_id)),
            Level::Department | Level::Subdepartments => {
                let users = if level == Level::Department { &self.department_users } else { &self.subtree_users };
                let mut users = users.clone();
                users.push(self.user_id);
                s.push(format!("{alias}.assigned_to_id = ANY(")).bind(Bind::Int8s(users)).push(")")
            }
            Level::Open => {
                s.push(format!("({alias}.opened OR {alias}.assigned_to_id = ")).bind(Bind::Int8(self.user_id)).push(")")
            }
            Level::All => s.push("TRUE"),
        };
        s
    }

    fn any_sql(&self, levels: &BTreeSet<Level>, alias: &str) -> Sql {
        if levels.contains(&Level::All) {
            return Sql::new("TRUE");
        }
        let parts: Vec<Sql> = levels.iter().map(|l| self.reaches_sql(*l, alias)).collect();
        let mut s = Sql::new("(");
        s.append(&Sql::join(&parts, " OR ", "FALSE")).push(")");
        s
    }

    /// SQL predicate over the element table aliased `alias`, true for the rows I may read.
    pub fn read_predicate(&self, element_type: ElementType, alias: &str) -> Sql {
        if self.admin {
            return Sql::new("TRUE");
        }
        let general = self.levels(element_type, Action::Read, None);
        if element_type != ElementType::Deal {
            return self.any_sql(&general, alias);
        }
        let pipelines: BTreeSet<i64> = self
            .grants
            .iter()
            .filter(|g| g.element_type == ElementType::Deal && g.action == Action::Read)
            .filter_map(|g| g.pipeline_id)
            .collect();
        if pipelines.is_empty() {
            return self.any_sql(&general, alias);
        }
        let mut parts = Vec::new();
        for p in &pipelines {
            let mut s = Sql::new(format!("({alias}.pipeline_id = "));
            s.bind(Bind::Int8(*p))
                .push(" AND ")
                .append(&self.any_sql(&self.levels(element_type, Action::Read, Some(*p)), alias))
                .push(")");
            parts.push(s);
        }
        let mut rest = Sql::new(format!("({alias}.pipeline_id <> ALL("));
        rest.bind(Bind::Int8s(pipelines.into_iter().collect()))
            .push(") AND ")
            .append(&self.any_sql(&general, alias))
            .push(")");
        parts.push(rest);
        let mut s = Sql::new("(");
        s.append(&Sql::join(&parts, " OR ", "FALSE")).push(")");
        s
    }

    /// The one write check: FORBIDDEN unless `action` is allowed on the element.
    pub fn check(&self, element_type: ElementType, action: Action, row: &Json) -> DomainResult<()> {
        if self.allows(element_type, action, &Facts::of(row)) {
            return Ok(());
        }
        Err(DomainError::Forbidden(format!(
            "your roles do not allow {} on this {}",
            action.as_str(),
            element_type.as_str().to_lowercase()
        )))
    }

    /// Whether any of my roles gives `action` on `element_type` elements at all (some level
    /// other than NONE, in some pipeline). Writes ask this before they look at anything the
    /// client sent, so a caller without the right learns nothing from validation errors.
    pub fn may(&self, element_type: ElementType, action: Action) -> bool {
        self.admin
            || self
                .grants
                .iter()
                .any(|g| g.element_type == element_type && g.action == action && g.level != Level::None)
    }

    /// `may` as a check: FORBIDDEN when no role gives `action` on `element_type` at all.
    pub fn check_may(&self, element_type: ElementType, action: Action) -> DomainResult<()> {
        if self.may(element_type, action) {
            return Ok(());
        }
        Err(DomainError::Forbidden(format!(
            "your roles do not allow {} on any {}",
            action.as_str(),
            element_type.as_str().to_lowercase()
        )))
    }

    /// Settings (status lists, pipelines, custom fields, roles, users, the product catalogue,
    /// my company) need the settings right.
    pub fn check_settings(&self) -> DomainResult<()> {
        if self.admin || self.settings {
            return Ok(());
        }
        Err(DomainError::Forbidden("changing CRM settings needs an administrator or the settings right".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: i64 = 10;
    const DEPT_MATE: i64 = 11;
    const BELOW: i64 = 12;
    const STRANGER: i64 = 13;

    fn rights(grants: &[(i64, ElementType, Option<i64>, Action, Level)]) -> Rights {
        Rights {
            user_id: ME,
            grants: grants
                .iter()
                .map(|&(role_id, element_type, pipeline_id, action, level)| Grant {
                    role_id,
                    element_type,
                    pipeline_id,
                    action,
                    level,
                })
                .collect(),
            department_users: vec![ME, DEPT_MATE],
            subtree_users: vec![ME, DEPT_MATE, BELOW],
            ..Default::default()
        }
    }

    fn of(assigned: i64, opened: bool) -> Facts {
        Facts { assigned_to_id: Some(assigned), opened, pipeline_id: None }
    }

    #[test]
    fn each_level_reaches_exactly_its_users() {
        let expect = [
            (Level::None, [false, false, false, false, false]),
            (Level::Own, [true, false, false, false, false]),
            (Level::Department, [true, true, false, false, false]),
            (Level::Subdepartments, [true, true, true, false, false]),
            (Level::Open, [true, false, false, false, true]),
            (Level::All, [true, true, true, true, true]),
        ];
        for (level, want) in expect {
            let r = rights(&[(1, ElementType::Lead, None, Action::Read, level)]);
            let got = [of(ME, false), of(DEPT_MATE, false), of(BELOW, false), of(STRANGER, false), of(STRANGER, true)]
                .map(|f| r.allows(ElementType::Lead, Action::Read, &f));
            assert_eq!(got, want, "{level:?}");
            assert!(!r.allows(ElementType::Deal, Action::Read, &of(ME, true)), "other types are not granted");
            assert!(!r.allows(ElementType::Lead, Action::Write, &of(ME, true)), "other actions are not granted");
        }
    }

    #[test]
    fn roles_add_up_and_pipeline_lines_win_within_a_role() {
        let r = rights(&[
            (1, ElementType::Deal, None, Action::Read, Level::Own),
            (1, ElementType::Deal, Some(7), Action::Read, Level::All),
            (2, ElementType::Deal, None, Action::Read, Level::Department),
            (2, ElementType::Deal, Some(8), Action::Read, Level::None),
        ]);
        let deal =
            |assigned, pipeline| Facts { assigned_to_id: Some(assigned), opened: false, pipeline_id: Some(pipeline) };
        assert!(r.allows(ElementType::Deal, Action::Read, &deal(STRANGER, 7)), "role 1 reads all of pipeline 7");
        assert!(r.allows(ElementType::Deal, Action::Read, &deal(DEPT_MATE, 9)), "role 2 reads the department");
        assert!(!r.allows(ElementType::Deal, Action::Read, &deal(STRANGER, 9)));
        // In pipeline 8 role 2 gives nothing, role 1 still gives its own.
        assert!(r.allows(ElementType::Deal, Action::Read, &deal(ME, 8)));
        assert!(!r.allows(ElementType::Deal, Action::Read, &deal(DEPT_MATE, 8)));
    }

    #[test]
    fn admins_bypass_roles_and_no_role_means_nothing() {
        let none = rights(&[]);
        assert!(!none.allows(ElementType::Contact, Action::Read, &of(ME, true)));
        let admin = Rights { admin: true, ..rights(&[]) };
        assert!(admin.allows(ElementType::Contact, Action::Delete, &of(STRANGER, false)));
        assert_eq!(admin.read_predicate(ElementType::Deal, "t"), Sql::new("TRUE"));
        assert!(admin.check_settings().is_ok());
        assert!(none.check_settings().is_err());
    }

    #[test]
    fn may_asks_whether_any_line_gives_the_action() {
        let r = rights(&[
            (1, ElementType::Deal, Some(7), Action::Add, Level::Own),
            (1, ElementType::Lead, None, Action::Add, Level::None),
        ]);
        assert!(r.may(ElementType::Deal, Action::Add), "a pipeline line counts");
        assert!(!r.may(ElementType::Lead, Action::Add), "NONE gives nothing");
        assert!(!r.may(ElementType::Deal, Action::Write));
        assert!(r.check_may(ElementType::Contact, Action::Add).is_err());
        assert!(Rights { admin: true, ..rights(&[]) }.may(ElementType::Contact, Action::Delete));
    }

    #[test]
    fn facts_come_from_a_serialised_row() {
        let f = Facts::of(&serde_json::json!({ "assigned_to_id": 5, "opened": true, "pipeline_id": 2, "title": "x" }));
        assert_eq!(f, Facts { assigned_to_id: Some(5), opened: true, pipeline_id: Some(2) });
    }
}
