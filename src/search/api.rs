//! `search` in GraphQL: the hits of every element type merged by score, each with its
//! element (loaded through the request's DataLoader), what matched and the matched value.

use std::collections::HashMap;

use async_graphql::parser::types::{Field, VariableDefinition};
use async_graphql::{Context, Object, Positioned, SimpleObject, VisitorContext};

use crate::api::loaders::ById;
use crate::api::timeline::ElementTypeGql;
use crate::api::{GqlResult, actor, conn, load_error, loader, phone_region};
use crate::events::subscriptions::AnyElement;
use crate::kernel::ElementType;
use crate::kernel::list::Listable;
use crate::kernel::models::{Company, Contact, Deal, Lead};
use crate::search::rules::{self, DEFAULT_FIRST, Hit, MAX_FIRST};
use crate::search::store;

/// One element the query found.
#[derive(SimpleObject)]
pub struct SearchHit {
    pub element: AnyElement,
    pub element_type: ElementTypeGql,
    /// Higher is better. 1 for an exact e-mail address or phone number; below 1 for
    /// everything else: names and titles by the start of their words 0.6–0.9, parts of
    /// e-mails and phones 0.5–0.6, misspellings 0.33–0.55, addresses a word of a text query
    /// starts or ends 0.4–0.5.
    pub score: f64,
    /// What matched: `name`, `title`, `companyTitle`, `email` or `phone`.
    pub matched_on: String,
    /// The matched value as stored: the e-mail address, the phone as entered, the full name
    /// or the title.
    pub snippet: Option<String>,
}

/// The search box.
#[derive(Default)]
pub struct SearchQuery;

/// `search`'s cost: a list of `first` hits (default 20, at most 100).
fn cost(
    ctx: &VisitorContext<'_>,
    variables: &[Positioned<VariableDefinition>],
    field: &Field,
    child_complexity: usize,
) -> usize {
    let first = ctx.param_value::<Option<i32>>(variables, field, "first", None).ok().flatten();
    crate::api::cost::connection(Some(first.unwrap_or(DEFAULT_FIRST).clamp(0, MAX_FIRST)), None, child_complexity)
}

#[Object]
impl SearchQuery {
    /// Finds leads, contacts, companies and deals, best first. Words find names and titles
    /// (leads also by company title) by the start of their words, ignoring accents and case
    /// ("muller", "MUELLER" and "Müller" find Müller), and close misspellings ("Mueler"). A
    /// query with "@" finds e-mail addresses, whole or in part ("anna@", "@mueller.example");
    /// mostly digits (at least 4) find phone numbers in any notation, whole or in part
    /// ("030 1234", "+49 30 12"). Exact addresses and numbers rank first. Only elements the
    /// caller may read are searched. At most 200 characters; `first` is at most 100.
    #[graphql(complexity = "cost(__ctx, __variables_definition, __field, child_complexity)")]
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: String,
        types: Option<Vec<ElementTypeGql>>,
        #[graphql(default = 20)] first: Option<i32>,
    ) -> GqlResult<Vec<SearchHit>> {
        let actor = actor(ctx)?;
        let plan = rules::plan(&query, phone_region(ctx))?;
        let first = rules::page_size(first)?;
        let types = rules::element_types(types.map(|list| list.into_iter().map(ElementType::from).collect()));
        let found = {
            let mut c = conn(ctx).await?;
            store::search(&mut c, actor, &plan, &types, first).await?
        };
        let hits = rules::merge(found, first);
        let leads = rows::<Lead>(ctx, &hits, ElementType::Lead).await?;
        let contacts = rows::<Contact>(ctx, &hits, ElementType::Contact).await?;
        let companies = rows::<Company>(ctx, &hits, ElementType::Company).await?;
        let deals = rows::<Deal>(ctx, &hits, ElementType::Deal).await?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                // An element deleted since its statement ran is left out.
                let element = match h.element_type {
                    ElementType::Lead => AnyElement::Lead(leads.get(&h.id)?.clone()),
                    ElementType::Contact => AnyElement::Contact(contacts.get(&h.id)?.clone()),
                    ElementType::Company => AnyElement::Company(companies.get(&h.id)?.clone()),
                    ElementType::Deal => AnyElement::Deal(deals.get(&h.id)?.clone()),
                };
                Some(SearchHit {
                    element,
                    element_type: h.element_type.into(),
                    score: h.score,
                    matched_on: h.matched_on,
                    snippet: h.snippet,
                })
            })
            .collect())
    }
}

/// The hits' rows of one type, by id, in one batch of the request's loader.
async fn rows<T: Listable>(ctx: &Context<'_>, hits: &[Hit], et: ElementType) -> GqlResult<HashMap<i64, T>> {
    let keys: Vec<ById<T>> = hits.iter().filter(|h| h.element_type == et).map(|h| ById::new(h.id)).collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let found = loader(ctx).load_many(keys).await.map_err(load_error)?;
    Ok(found.into_iter().filter_map(|(key, row)| Some((key.0, row?))).collect())
}
