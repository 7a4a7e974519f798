//! Products, product rows and totals in GraphQL.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::api::connection::connection;
use crate::api::connection::top_level_list;
use crate::api::filters::list_args;
use crate::api::filters::{BooleanFilter, DecimalFilter, IdFilter, StringFilter, element_filter};
use crate::api::loaders::{ById, ProductRows};
use crate::api::timeline::ElementRef;
use crate::api::{GqlResult, conn, load_error, loader, lookup_id, opt_id, to_id, write_ctx};
use crate::crm::shared::money;
use crate::crm::shared::products;
use crate::crm::shared::products::{ProductPatch, RowSpec};
use crate::kernel::DomainError;
use crate::kernel::ElementType;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Product, ProductRow};

element_filter! {
    ProductFilter, ProductOrder, ProductOrderField, ElementType::Lead,
    filters {
        id: IdFilter => "id" as Product,
        name: StringFilter => "name",
        sku: StringFilter => "sku",
        price: DecimalFilter => "price",
        currency: StringFilter => "currency",
        active: BooleanFilter => "active",
    }
    order {
        Id => "id": Int8,
        Name => "name": Text,
        Sku => "sku": Text,
        Price => "price": Decimal,
        Sort => "sort": Int4,
        CreatedAt => "created_at": DateTime,
    }
}

connection!(ProductConnection, ProductEdge, Product);

#[Object(name = "Product")]
impl Product {
    pub async fn id(&self) -> ID {
        to_id(IdKind::Product, self.id)
    }
    async fn version(&self) -> i32 {
        self.version
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn sku(&self) -> Option<&str> {
        self.sku.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    async fn price(&self) -> Decimal {
        self.price
    }
    async fn currency(&self) -> &str {
        &self.currency
    }
    /// Percent.
    async fn tax_rate(&self) -> Decimal {
        self.tax_rate
    }
    /// The price includes the tax.
    async fn tax_included(&self) -> bool {
        self.tax_included
    }
    async fn unit(&self) -> &str {
        &self.unit
    }
    /// Deactivated products stay on existing rows but cannot be added to new ones.
    async fn active(&self) -> bool {
        self.active
    }
    async fn sort(&self) -> i32 {
        self.sort
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

#[Object(name = "ProductRow")]
impl ProductRow {
    async fn id(&self) -> ID {
        to_id(IdKind::ProductRow, self.id)
    }
    async fn product_id(&self) -> Option<ID> {
        opt_id(IdKind::Product, self.product_id)
    }
    async fn product(&self, ctx: &Context<'_>) -> GqlResult<Option<Product>> {
        crate::api::element::load_element(ctx, self.product_id).await
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn unit_price(&self) -> Decimal {
        self.unit_price
    }
    async fn quantity(&self) -> Decimal {
        self.quantity.normalize()
    }
    async fn discount_percent(&self) -> Option<Decimal> {
        self.discount_percent.map(|d| d.normalize())
    }
    /// Per unit, in the unit price's terms.
    async fn discount_amount(&self) -> Option<Decimal> {
        self.discount_amount
    }
    async fn tax_rate(&self) -> Decimal {
        self.tax_rate.normalize()
    }
    async fn tax_included(&self) -> bool {
        self.tax_included
    }
    async fn unit(&self) -> Option<&str> {
        self.unit.as_deref()
    }
    async fn sort(&self) -> i32 {
        self.sort
    }
    async fn line_net(&self) -> Decimal {
        self.line_net
    }
    async fn line_tax(&self) -> Decimal {
        self.line_tax
    }
    async fn line_gross(&self) -> Decimal {
        self.line_gross
    }
}

/// Sums of the rounded lines.
#[derive(SimpleObject)]
pub struct Totals {
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
}

pub async fn rows_of(ctx: &Context<'_>, owner: ElementType, id: i64) -> GqlResult<Vec<ProductRow>> {
    Ok(loader(ctx).load_one(ProductRows(owner, id)).await.map_err(load_error)?.unwrap_or_default())
}

pub async fn totals_of(ctx: &Context<'_>, owner: ElementType, id: i64) -> GqlResult<Totals> {
    let rows = rows_of(ctx, owner, id).await?;
    let t = money::totals(rows.iter().map(|r| money::Line { net: r.line_net, tax: r.line_tax, gross: r.line_gross }))
        .ok_or_else(|| {
        crate::kernel::DomainError::from(anyhow::anyhow!("product rows sum beyond Decimal's range"))
    })?;
    Ok(Totals { net: money::round_cents(t.net), tax: money::round_cents(t.tax), gross: money::round_cents(t.gross) })
}

#[derive(InputObject)]
pub struct ProductInput {
    /// Required on create.
    pub name: Option<String>,
    pub sku: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub price: Option<Decimal>,
    /// Required on create.
    pub currency: Option<String>,
    pub tax_rate: Option<Decimal>,
    pub tax_included: Option<bool>,
    pub unit: Option<String>,
    pub active: Option<bool>,
    pub sort: Option<i32>,
}

fn maybe(v: MaybeUndefined<String>) -> Option<Option<String>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(s) => Some(Some(s)),
    }
}

impl From<ProductInput> for ProductPatch {
    fn from(i: ProductInput) -> Self {
        ProductPatch {
            name: i.name,
            sku: maybe(i.sku),
            description: maybe(i.description),
            price: i.price,
            currency: i.currency,
            tax_rate: i.tax_rate,
            tax_included: i.tax_included,
            unit: i.unit,
            active: i.active,
            sort: i.sort,
        }
    }
}

/// One row of a product list; decimals travel as strings.
#[derive(InputObject)]
pub struct ProductRowInput {
    /// A catalogue product; leave out for a free-text row.
    pub product_id: Option<ID>,
    /// Defaults to the product's name.
    pub name: Option<String>,
    /// Defaults to the product's price.
    pub unit_price: Option<Decimal>,
    /// Defaults to 1.
    pub quantity: Option<Decimal>,
    pub discount_percent: Option<Decimal>,
    /// Per unit, in the unit price's terms (gross when tax is included).
    pub discount_amount: Option<Decimal>,
    /// Defaults to the product's.
    pub tax_rate: Option<Decimal>,
    /// Defaults to the product's.
    pub tax_included: Option<bool>,
    pub unit: Option<String>,
    pub sort: Option<i32>,
}

impl ProductRowInput {
    pub fn into_spec(self, i: usize) -> crate::kernel::DomainResult<RowSpec> {
        Ok(RowSpec {
            product_id: self
                .product_id
                .map(|p| ids::decode(IdKind::Product, &p, &format!("rows[{i}].productId")))
                .transpose()?,
            name: self.name,
            unit_price: self.unit_price,
            quantity: self.quantity,
            discount_percent: self.discount_percent,
            discount_amount: self.discount_amount,
            tax_rate: self.tax_rate,
            tax_included: self.tax_included,
            unit: self.unit,
            sort: self.sort,
        })
    }
}

/// The product catalogue.
#[derive(Default)]
pub struct ProductQuery;

#[Object]
impl ProductQuery {
    async fn product(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Product>> {
        let n = lookup_id(IdKind::Product, &id)?;
        match loader(ctx).load_one(ById::<Product>::new(n)).await.map_err(load_error)?.flatten() {
            Some(p) => Ok(Some(p)),
            None => Err(DomainError::not_found(format!("product `{}`", id.as_str())).into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        filter: Option<ProductFilter>,
        order_by: Option<Vec<ProductOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<ProductConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?;
        top_level_list!(ctx, Product, ProductConnection, args)
    }
}

/// The product catalogue and product rows.
#[derive(Default)]
pub struct ProductMutation;

#[Object]
impl ProductMutation {
    async fn create_product(&self, ctx: &Context<'_>, input: ProductInput) -> GqlResult<Product> {
        let wctx = write_ctx(ctx)?;
        let mut c = conn(ctx).await?;
        Ok(products::create(&mut c, &wctx, input.into()).await?)
    }

    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ProductInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Product> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Product, &id)?;
        let mut c = conn(ctx).await?;
        Ok(products::update(&mut c, &wctx, n, expected_version, input.into()).await?)
    }

    /// Deletes a product; one that rows still use is deactivated instead.
    async fn delete_product(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Product, &id)?;
        let mut c = conn(ctx).await?;
        Ok(to_id(IdKind::Product, products::delete(&mut c, &wctx, n).await?))
    }

    /// Replaces the whole product list of a lead or deal.
    async fn set_product_rows(
        &self,
        ctx: &Context<'_>,
        owner: ElementRef,
        rows: Vec<ProductRowInput>,
    ) -> GqlResult<Vec<ProductRow>> {
        let wctx = write_ctx(ctx)?;
        let r = owner.decode()?;
        let specs = rows.into_iter().enumerate().map(|(i, r)| r.into_spec(i)).collect::<Result<Vec<_>, _>>()?;
        let mut c = conn(ctx).await?;
        Ok(products::set_rows(&mut c, &wctx, r, specs).await?)
    }
}
