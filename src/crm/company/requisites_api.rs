//! Company details (requisites) in GraphQL: on every company, and our own company.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::api::{GqlResult, actor, conn, lookup_id, write_ctx};
use crate::crm::company::requisites::{self, BankAccount, Requisites, RequisitesInput as Input};
use crate::kernel::ids::IdKind;
use crate::kernel::models::Company;

#[derive(SimpleObject)]
#[graphql(name = "BankAccount")]
pub struct BankAccountGql {
    pub bank_name: Option<String>,
    pub account_holder: Option<String>,
    /// Electronic form (no spaces).
    pub iban: String,
    pub bic: Option<String>,
}

#[Object(name = "Requisites")]
impl Requisites {
    async fn legal_name(&self) -> Option<&str> {
        self.legal_name.as_deref()
    }
    async fn vat_id(&self) -> Option<&str> {
        self.vat_id.as_deref()
    }
    async fn tax_id(&self) -> Option<&str> {
        self.tax_id.as_deref()
    }
    async fn registration_number(&self) -> Option<&str> {
        self.registration_number.as_deref()
    }
    async fn registration_address(&self) -> Option<&str> {
        self.registration_address.as_deref()
    }
    async fn bank_accounts(&self) -> Vec<BankAccountGql> {
        self.accounts()
            .into_iter()
            .map(|a| BankAccountGql {
                bank_name: a.bank_name,
                account_holder: a.account_holder,
                iban: a.iban,
                bic: a.bic,
            })
            .collect()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

#[derive(InputObject)]
pub struct BankAccountInput {
    pub bank_name: Option<String>,
    pub account_holder: Option<String>,
    /// Checked: country, length and check digits.
    pub iban: String,
    /// 8 or 11 characters (ISO 9362).
    pub bic: Option<String>,
}

/// Requisites to set: omitted fields stay, null clears; `bankAccounts` replaces all.
#[derive(InputObject, Default)]
pub struct RequisitesInput {
    pub legal_name: MaybeUndefined<String>,
    pub vat_id: MaybeUndefined<String>,
    pub tax_id: MaybeUndefined<String>,
    pub registration_number: MaybeUndefined<String>,
    pub registration_address: MaybeUndefined<String>,
    pub bank_accounts: Option<Vec<BankAccountInput>>,
}

fn patch(v: MaybeUndefined<String>) -> Option<Option<String>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(s) => Some(Some(s)),
    }
}

impl RequisitesInput {
    fn into_domain(self) -> Input {
        Input {
            legal_name: patch(self.legal_name),
            vat_id: patch(self.vat_id),
            tax_id: patch(self.tax_id),
            registration_number: patch(self.registration_number),
            registration_address: patch(self.registration_address),
            bank_accounts: self.bank_accounts.map(|list| {
                list.into_iter()
                    .map(|a| BankAccount {
                        bank_name: a.bank_name,
                        account_holder: a.account_holder,
                        iban: a.iban,
                        bic: a.bic,
                    })
                    .collect()
            }),
        }
    }
}

#[derive(InputObject, Default)]
pub struct MyCompanyInput {
    /// Required the first time.
    pub title: Option<String>,
    pub requisites: Option<RequisitesInput>,
}

/// `Company.requisites`.
pub async fn of(ctx: &Context<'_>, company_id: i64) -> GqlResult<Option<Requisites>> {
    let found = crate::api::loader(ctx).load_one(crate::api::loaders::CompanyRequisites(company_id)).await;
    Ok(found.map_err(crate::api::load_error)?.flatten())
}

#[derive(Default)]
pub struct RequisitesQuery;

#[Object]
impl RequisitesQuery {
    /// Our own company with its requisites (null until set up with `updateMyCompany`).
    async fn my_company(&self, ctx: &Context<'_>) -> GqlResult<Option<Company>> {
        actor(ctx)?;
        Ok(requisites::my_company(&mut *conn(ctx).await?).await?)
    }
}

#[derive(Default)]
pub struct RequisitesMutation;

#[Object]
impl RequisitesMutation {
    /// Sets up or changes our own company: its name and requisites (the settings right).
    async fn update_my_company(&self, ctx: &Context<'_>, input: MyCompanyInput) -> GqlResult<Company> {
        let w = write_ctx(ctx)?;
        let req = input.requisites.unwrap_or_default().into_domain();
        Ok(requisites::update_my_company(&mut *conn(ctx).await?, &w, input.title, req).await?)
    }

    /// Sets a company's requisites (WRITE on the company); recorded in its history.
    async fn set_company_requisites(
        &self,
        ctx: &Context<'_>,
        company_id: async_graphql::ID,
        input: RequisitesInput,
    ) -> GqlResult<Company> {
        let w = write_ctx(ctx)?;
        let id = lookup_id(IdKind::Company, &company_id)?;
        Ok(requisites::set(&mut *conn(ctx).await?, &w, id, input.into_domain()).await?)
    }
}
