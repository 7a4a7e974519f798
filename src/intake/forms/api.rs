//! Web forms in GraphQL: definitions (settings right), their public address and embed code,
//! and the submissions they received.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::api::common::{status_of, user_of};
use crate::api::loaders::ById;
use crate::api::{ApiState, GqlResult, actor, conn, load_error, loader, lookup_id, to_id};
use crate::import::mapping::CustomFieldInfo;
use crate::intake::forms::rules::{self, FieldDef, FormSpec};
use crate::intake::forms::store::{self, SubmissionRow, WebFormRow};
use crate::kernel::ElementType;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Lead, StatusItem, User};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "WebFormFieldType", remote = "crate::intake::forms::rules::FieldKind")]
pub enum WebFormFieldTypeGql {
    /// One line of text.
    String,
    /// Several lines of text.
    Text,
    Email,
    Phone,
    /// One of `items`.
    List,
    /// Yes or no.
    Checkbox,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SubmissionStatus {
    /// Created a lead.
    Accepted,
    /// Quarantined (honeypot filled, or sent faster than a person fills a form); answered
    /// like success.
    Spam,
    /// The answers did not satisfy the form (the visitor saw the errors).
    Rejected,
}

impl SubmissionStatus {
    fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Accepted => "ACCEPTED",
            SubmissionStatus::Spam => "SPAM",
            SubmissionStatus::Rejected => "REJECTED",
        }
    }
}

#[derive(InputObject)]
pub struct WebFormFieldInput {
    /// The name the answer is sent under (letters, digits, `_`, `-`).
    pub key: String,
    pub label: String,
    #[graphql(name = "type")]
    pub kind: WebFormFieldTypeGql,
    pub required: Option<bool>,
    /// A lead field (`firstName`, `lastName`, `companyTitle`, `email`, `phone`, `comments`,
    /// ...) or a custom field code of leads.
    pub target: String,
    /// The choices of a LIST field.
    pub items: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct WebFormInput {
    pub name: String,
    pub fields: Vec<WebFormFieldInput>,
    /// Shown after a submission (default: a short thank-you).
    pub success_message: Option<String>,
    /// Where the visitor goes after a submission.
    pub redirect_url: Option<String>,
    /// Who the leads are assigned to (default: the form's creator).
    pub assigned_to_id: Option<ID>,
    /// The leads' source (default: the SOURCE item WEB, CALL for call-back requests).
    pub source_id: Option<ID>,
    /// Websites (`https://www.example.com`) whose pages may send the form from the browser;
    /// empty: only the form's own page.
    pub allowed_origins: Option<Vec<String>>,
    /// A consent the visitor must give; its SHA-256 and the time are kept with the lead.
    pub consent_text: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

impl WebFormInput {
    fn spec(self) -> GqlResult<FormSpec> {
        let fields = self
            .fields
            .into_iter()
            .map(|f| FieldDef {
                key: f.key,
                label: f.label,
                kind: f.kind.into(),
                required: f.required.unwrap_or(false),
                target: f.target,
                items: f.items.unwrap_or_default(),
            })
            .collect();
        let decode = |kind: IdKind, field: &str, id: Option<ID>| -> GqlResult<Option<i64>> {
            Ok(id.map(|i| ids::decode(kind, &i, field)).transpose()?)
        };
        Ok(FormSpec {
            name: self.name,
            fields,
            success_message: self.success_message,
            redirect_url: self.redirect_url,
            assigned_to_id: decode(IdKind::User, "assignedToId", self.assigned_to_id)?,
            source_id: decode(IdKind::StatusItem, "sourceId", self.source_id)?,
            allowed_origins: self.allowed_origins.unwrap_or_default(),
            consent_text: self.consent_text,
            active: self.active.unwrap_or(true),
        })
    }
}

#[derive(SimpleObject)]
pub struct WebFormField {
    pub key: String,
    pub label: String,
    #[graphql(name = "type")]
    pub kind: WebFormFieldTypeGql,
    pub required: bool,
    pub target: String,
    pub items: Vec<String>,
}

pub struct WebForm {
    row: WebFormRow,
    public_url: String,
}

impl WebForm {
    fn url(&self) -> String {
        format!("{}/forms/{}", self.public_url, self.row.public_key)
    }
}

#[Object]
impl WebForm {
    async fn id(&self) -> ID {
        to_id(IdKind::WebForm, self.row.id)
    }
    /// The unguessable public key in the form's addresses and the embed code.
    async fn key(&self) -> &str {
        &self.row.public_key
    }
    async fn name(&self) -> &str {
        &self.row.name
    }
    async fn fields(&self) -> Vec<WebFormField> {
        self.row
            .field_defs()
            .into_iter()
            .map(|f| WebFormField {
                key: f.key,
                label: f.label,
                kind: f.kind.into(),
                required: f.required,
                target: f.target,
                items: f.items,
            })
            .collect()
    }
    async fn active(&self) -> bool {
        self.row.active
    }
    /// The hosted page: a form of its own that works without JavaScript.
    #[graphql(name = "url")]
    async fn page_url(&self) -> String {
        self.url()
    }
    /// The HTML to put on a website: the floating widget, with a "call me back" choice.
    async fn embed_code(&self) -> String {
        format!(
            "<script src=\"{}/widget.js\" data-kontor-form=\"{}\" async></script>",
            self.public_url, self.row.public_key
        )
    }
    /// Accepted submissions (leads created).
    async fn submission_count(&self) -> i64 {
        self.row.submission_count
    }
    async fn success_message(&self) -> Option<&str> {
        self.row.success_message.as_deref()
    }
    async fn redirect_url(&self) -> Option<&str> {
        self.row.redirect_url.as_deref()
    }
    async fn assigned_to(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user_of(ctx, self.row.assigned_to_id).await
    }
    async fn source(&self, ctx: &Context<'_>) -> GqlResult<Option<StatusItem>> {
        status_of(ctx, self.row.source_id).await
    }
    async fn allowed_origins(&self) -> &[String] {
        &self.row.allowed_origins
    }
    async fn consent_text(&self) -> Option<&str> {
        self.row.consent_text.as_deref()
    }
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user_of(ctx, Some(self.row.created_by_id)).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
}

pub struct WebFormSubmission(SubmissionRow);

#[Object]
impl WebFormSubmission {
    async fn id(&self) -> ID {
        to_id(IdKind::WebFormSubmission, self.0.id)
    }
    async fn form_id(&self) -> ID {
        to_id(IdKind::WebForm, self.0.form_id)
    }
    /// FORM (the form's fields) or CALLBACK ("call me back").
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn status(&self) -> SubmissionStatus {
        match self.0.status.as_str() {
            "SPAM" => SubmissionStatus::Spam,
            "REJECTED" => SubmissionStatus::Rejected,
            _ => SubmissionStatus::Accepted,
        }
    }
    /// Why it was quarantined or rejected.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// The answers as sent, by field key.
    async fn fields(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.fields.clone())
    }
    async fn page_url(&self) -> Option<&str> {
        self.0.page_url.as_deref()
    }
    async fn referrer(&self) -> Option<&str> {
        self.0.referrer.as_deref()
    }
    /// `source`, `medium`, `campaign`, `content`, `term` as the page gave them.
    async fn utm(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.utm.clone())
    }
    async fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }
    /// The lead it created, when the caller may read it.
    async fn lead(&self, ctx: &Context<'_>) -> GqlResult<Option<Lead>> {
        let Some(id) = self.0.lead_id else { return Ok(None) };
        Ok(loader(ctx).load_one(ById::<Lead>::new(id)).await.map_err(load_error)?.flatten())
    }
    async fn activity_id(&self) -> Option<ID> {
        self.0.activity_id.map(|a| to_id(IdKind::Activity, a))
    }
    /// SHA-256 (hex) of the consent text the visitor agreed to.
    async fn consent_hash(&self) -> Option<&str> {
        self.0.consent_hash.as_deref()
    }
    async fn consent_at(&self) -> Option<DateTime<Utc>> {
        self.0.consent_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

fn public_url(ctx: &Context<'_>) -> GqlResult<String> {
    Ok(ctx.data::<ApiState>()?.public_url.clone())
}

fn form(ctx: &Context<'_>, row: WebFormRow) -> GqlResult<WebForm> {
    Ok(WebForm { row, public_url: public_url(ctx)? })
}

/// The custom fields of leads a form may fill.
pub async fn lead_custom_fields(conn: &mut diesel_async::AsyncPgConnection) -> GqlResult<Vec<CustomFieldInfo>> {
    Ok(crate::crm::shared::custom_fields::definitions(conn, ElementType::Lead)
        .await?
        .into_iter()
        .map(|d| CustomFieldInfo { code: d.code, label: d.label })
        .collect())
}

#[derive(Default)]
pub struct WebFormQuery;

#[Object]
impl WebFormQuery {
    /// Every web form (settings right).
    async fn web_forms(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebForm>> {
        actor(ctx)?.rights.check_settings()?;
        store::list(&mut *conn(ctx).await?).await?.into_iter().map(|r| form(ctx, r)).collect()
    }

    async fn web_form(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<WebForm>> {
        actor(ctx)?.rights.check_settings()?;
        let id = lookup_id(IdKind::WebForm, &id)?;
        store::by_id(&mut *conn(ctx).await?, id).await?.map(|r| form(ctx, r)).transpose()
    }

    /// A form's submissions, newest first (settings right); `after` is the id of the last
    /// one seen.
    async fn web_form_submissions(
        &self,
        ctx: &Context<'_>,
        form_id: ID,
        status: Option<SubmissionStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Vec<WebFormSubmission>> {
        actor(ctx)?.rights.check_settings()?;
        let form_id = lookup_id(IdKind::WebForm, &form_id)?;
        let after = after.map(|a| ids::decode(IdKind::WebFormSubmission, &a, "after")).transpose()?;
        let limit = i64::from(first.unwrap_or(50).clamp(0, 500));
        let mut c = conn(ctx).await?;
        if store::by_id(&mut c, form_id).await?.is_none() {
            return Err(crate::kernel::DomainError::not_found(format!(
                "web form `{}`",
                ids::encode(IdKind::WebForm, form_id)
            ))
            .into());
        }
        let rows = store::page(&mut c, form_id, status.map(SubmissionStatus::as_str), after, limit).await?;
        Ok(rows.into_iter().map(WebFormSubmission).collect())
    }
}

#[derive(Default)]
pub struct WebFormMutation;

#[Object]
impl WebFormMutation {
    /// Creates a web form (settings right). Its `url` and `embedCode` are ready to use.
    async fn create_web_form(&self, ctx: &Context<'_>, input: WebFormInput) -> GqlResult<WebForm> {
        let me = actor(ctx)?;
        me.rights.check_settings()?;
        let mut c = conn(ctx).await?;
        let mut spec = input.spec()?;
        rules::check_spec(&mut spec, &lead_custom_fields(&mut c).await?)?;
        check_refs(&mut c, &spec).await?;
        form(ctx, store::insert(&mut c, &spec, me.user_id).await?)
    }

    /// Replaces a form's definition; its key (and so its addresses) stays.
    async fn update_web_form(&self, ctx: &Context<'_>, id: ID, input: WebFormInput) -> GqlResult<WebForm> {
        actor(ctx)?.rights.check_settings()?;
        let id = lookup_id(IdKind::WebForm, &id)?;
        let mut c = conn(ctx).await?;
        let mut spec = input.spec()?;
        rules::check_spec(&mut spec, &lead_custom_fields(&mut c).await?)?;
        check_refs(&mut c, &spec).await?;
        form(ctx, store::update(&mut c, id, &spec).await?)
    }

    /// Deletes a form with its submissions; leads it created stay.
    async fn delete_web_form(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        actor(ctx)?.rights.check_settings()?;
        let n = lookup_id(IdKind::WebForm, &id)?;
        store::delete(&mut *conn(ctx).await?, n).await?;
        Ok(to_id(IdKind::WebForm, n))
    }
}

async fn check_refs(c: &mut diesel_async::AsyncPgConnection, spec: &FormSpec) -> GqlResult<()> {
    if let Some(u) = spec.assigned_to_id {
        crate::org::auth::check_user(c, u, "assignedToId").await?;
    }
    if let Some(s) = spec.source_id {
        crate::settings::rules::check_status(c, "SOURCE", s, "sourceId").await?;
    }
    Ok(())
}
