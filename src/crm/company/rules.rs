//! Company defaults and rules.

use diesel_async::AsyncPgConnection;

use crate::crm::lead::rules::check_money;
use crate::kernel::ElementType;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::models::Company;
use crate::kernel::validate;
use crate::kernel::write::{Ctx, Element, stamped};
use crate::org::auth::check_user;
use crate::settings::rules as settings;

impl Element for Company {
    const TYPE: ElementType = ElementType::Company;
    stamped!(Company);

    async fn blank(_conn: &mut AsyncPgConnection, ctx: &Ctx) -> DomainResult<Self> {
        Ok(Company {
            assigned_to_id: Some(ctx.actor.user_id),
            opened: true,
            custom: crate::crm::shared::custom_fields::empty(),
            ..Default::default()
        })
    }

    async fn check(conn: &mut AsyncPgConnection, _ctx: &Ctx, row: &mut Self, old: Option<&Self>) -> DomainResult<()> {
        validate::required_text("title", Some(&row.title))?;
        row.title = row.title.trim().to_owned();
        for (field, list, value, before) in [
            ("typeId", "COMPANY_TYPE", row.type_id, old.and_then(|o| o.type_id)),
            ("industryId", "INDUSTRY", row.industry_id, old.and_then(|o| o.industry_id)),
            ("employeesId", "EMPLOYEES", row.employees_id, old.and_then(|o| o.employees_id)),
        ] {
            if let Some(v) = value.filter(|v| old.is_none() || before != Some(*v)) {
                settings::check_status(conn, list, v, field).await?;
            }
        }
        check_money("revenue", &mut row.revenue, &mut row.currency)?;
        // The same checks as the bank accounts of `requisites`; stored values that predate them
        // do not block other changes.
        for (field, value, before) in [
            ("iban", &mut row.iban, old.and_then(|o| o.iban.as_ref())),
            ("bic", &mut row.bic, old.and_then(|o| o.bic.as_ref())),
        ] {
            if value.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *value = None;
            }
            let check = crate::crm::company::requisites::bank_field_check(field);
            if let (Some(v), Some(check)) = (value.as_ref().filter(|v| before != Some(*v)), check) {
                *value = Some(check(field, v)?);
            }
        }
        if let Some(user) = row.assigned_to_id.filter(|u| old.is_none_or(|o| o.assigned_to_id != Some(*u))) {
            check_user(conn, user, "assignedToId").await?;
        }
        if row.is_my_company && old.is_none_or(|o| !o.is_my_company) {
            use crate::db::schema::companies;
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;
            let existing: i64 =
                companies::table.filter(companies::is_my_company.eq(true)).count().get_result(conn).await?;
            if existing > 0 {
                return Err(DomainError::conflict(
                    "another company is already flagged as my company",
                    serde_json::Value::Null,
                ));
            }
        }
        Ok(())
    }

    /// My company carries our own legal details (what invoices and quotes show), so setting
    /// or clearing the flag, changing, merging or deleting that company is a setting.
    fn check_rights(actor: &Actor, row: &Self) -> DomainResult<()> {
        if row.is_my_company && !(actor.rights.admin || actor.rights.settings) {
            return Err(DomainError::Forbidden(
                "my company holds our own details: changing it needs an administrator or the settings right".into(),
            ));
        }
        Ok(())
    }

    fn check_delete(row: &Self) -> DomainResult<()> {
        if row.is_my_company {
            return Err(DomainError::conflict(
                "my company holds our own details and cannot be deleted; unflag it first",
                serde_json::Value::Null,
            ));
        }
        Ok(())
    }
}
