//! Lead defaults and rules.

use diesel_async::AsyncPgConnection;

use crate::kernel::ElementType;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::models::{Company, Contact, Lead};
use crate::kernel::validate;
use crate::kernel::write::{Ctx, Element, check_ref, stamped};
use crate::org::auth::check_user;
use crate::settings::rules as settings;

/// Fields shared by leads, contacts and companies that must hold a known currency and a
/// valid, non-negative amount.
pub(crate) fn check_money(
    amount_field: &str,
    amount: &mut Option<rust_decimal::Decimal>,
    currency: &mut Option<String>,
) -> DomainResult<()> {
    if let Some(a) = amount {
        *a = validate::amount(amount_field, *a)?;
    }
    if let Some(c) = currency {
        *c = validate::currency("currency", c)?;
    }
    Ok(())
}

fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let name =
        [first, last].into_iter().flatten().map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

impl Element for Lead {
    const TYPE: ElementType = ElementType::Lead;
    stamped!(Lead);

    async fn blank(conn: &mut AsyncPgConnection, ctx: &Ctx) -> DomainResult<Self> {
        let status = settings::status_by_code(conn, "STATUS", "NEW").await?;
        Ok(Lead {
            status_id: status.id,
            assigned_to_id: Some(ctx.actor.user_id),
            opened: true,
            custom: crate::crm::shared::custom_fields::empty(),
            ..Default::default()
        })
    }

    async fn check(conn: &mut AsyncPgConnection, ctx: &Ctx, row: &mut Self, old: Option<&Self>) -> DomainResult<()> {
        if row.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
            // A lead is known by its title in lists; Bitrix derives one the same way.
            row.title = full_name(row.first_name.as_deref(), row.last_name.as_deref())
                .or_else(|| row.company_title.clone().filter(|c| !c.trim().is_empty()))
                .or_else(|| Some("Lead".to_owned()));
        }
        if old.is_none_or(|o| o.status_id != row.status_id) {
            let status = settings::check_status(conn, "STATUS", row.status_id, "statusId").await?;
            if let Some(o) = old {
                let was = settings::status_items_by_id(conn, &[o.status_id]).await?;
                if was.first().is_some_and(|s| s.semantics == settings::SUCCESS) {
                    return Err(DomainError::conflict("a converted lead keeps its status", serde_json::Value::Null));
                }
            }
            if status.semantics == settings::SUCCESS {
                return Err(DomainError::bad_input("statusId", "a lead becomes converted only through convertLead"));
            }
        }
        if let Some(source) = row.source_id.filter(|s| old.is_none_or(|o| o.source_id != Some(*s))) {
            settings::check_status(conn, "SOURCE", source, "sourceId").await?;
        }
        if let Some(h) = row.honorific.clone().filter(|h| old.is_none_or(|o| o.honorific.as_ref() != Some(h))) {
            settings::check_status_code(conn, "HONORIFIC", &h, "honorific").await?;
        }
        check_money("opportunity", &mut row.opportunity, &mut row.currency)?;
        if let Some(user) = row.assigned_to_id.filter(|u| old.is_none_or(|o| o.assigned_to_id != Some(*u))) {
            check_user(conn, user, "assignedToId").await?;
        }
        if let Some(c) = row.contact_id.filter(|c| old.is_none_or(|o| o.contact_id != Some(*c))) {
            check_ref::<Contact>(conn, &ctx.actor, c, "contactId").await?;
        }
        if let Some(c) = row.company_id.filter(|c| old.is_none_or(|o| o.company_id != Some(*c))) {
            check_ref::<Company>(conn, &ctx.actor, c, "companyId").await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_name_skips_blanks() {
        assert_eq!(full_name(Some("Anna"), Some(" Berg ")).as_deref(), Some("Anna Berg"));
        assert_eq!(full_name(Some(" "), None), None);
    }
}
