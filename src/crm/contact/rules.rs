//! Contact defaults and rules.

use diesel_async::AsyncPgConnection;

use crate::kernel::ElementType;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::models::Contact;
use crate::kernel::validate;
use crate::kernel::write::{Ctx, Element, LinkSpec, stamped};
use crate::org::auth::check_user;
use crate::settings::rules as settings;

/// A contact's companies; the first is its primary one.
pub const COMPANIES: LinkSpec =
    LinkSpec::new("contact_companies", "contact_id", "company_id", "companyIds", ElementType::Company);

impl Element for Contact {
    const TYPE: ElementType = ElementType::Contact;
    const LINKS: Option<LinkSpec> =
        Some(LinkSpec::new("contact_companies", "contact_id", "company_id", "companyIds", ElementType::Company));
    stamped!(Contact);

    async fn blank(_conn: &mut AsyncPgConnection, ctx: &Ctx) -> DomainResult<Self> {
        Ok(Contact {
            assigned_to_id: Some(ctx.actor.user_id),
            opened: true,
            custom: crate::crm::shared::custom_fields::empty(),
            ..Default::default()
        })
    }

    async fn check(conn: &mut AsyncPgConnection, _ctx: &Ctx, row: &mut Self, old: Option<&Self>) -> DomainResult<()> {
        let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !has(&row.first_name) && !has(&row.last_name) {
            return Err(DomainError::bad_input("lastName", "a contact needs a first or a last name"));
        }
        if let Some(t) = row.type_id.filter(|t| old.is_none_or(|o| o.type_id != Some(*t))) {
            settings::check_status(conn, "CONTACT_TYPE", t, "typeId").await?;
        }
        if let Some(s) = row.source_id.filter(|s| old.is_none_or(|o| o.source_id != Some(*s))) {
            settings::check_status(conn, "SOURCE", s, "sourceId").await?;
        }
        if let Some(h) = row.honorific.clone().filter(|h| old.is_none_or(|o| o.honorific.as_ref() != Some(h))) {
            settings::check_status_code(conn, "HONORIFIC", &h, "honorific").await?;
        }
        if let Some(url) = &row.photo_url {
            row.photo_url = Some(validate::web("photoUrl", url)?);
        }
        if let Some(user) = row.assigned_to_id.filter(|u| old.is_none_or(|o| o.assigned_to_id != Some(*u))) {
            check_user(conn, user, "assignedToId").await?;
        }
        Ok(())
    }
}
