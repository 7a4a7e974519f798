//! Relay connections (`edges { cursor node }`, `nodes`, `pageInfo`, `totalCount`) for
//! top-level lists and nested relations alike.

use std::sync::Arc;

use async_graphql::SimpleObject;

use crate::kernel::list::Plan;

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Where `totalCount` comes from when asked for.
#[derive(Clone)]
pub enum CountSource {
    TopLevel(Arc<Plan>),
    Nested(Arc<Plan>, i64),
}

/// Declares `<Name>Connection` and `<Name>Edge` for a node type.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        pub struct $conn {
            pub page: crate::kernel::list::Page<$node>,
            pub count: crate::api::connection::CountSource,
        }

        pub struct $edge {
            node: $node,
            order: std::sync::Arc<Vec<crate::kernel::list::OrderKey>>,
        }

        #[async_graphql::Object]
        impl $edge {
            async fn cursor(&self) -> String {
                crate::kernel::list::Page::<$node>::cursor(&self.order, &self.node)
            }
            async fn node(&self) -> &$node {
                &self.node
            }
        }

        #[async_graphql::Object]
        impl $conn {
            async fn edges(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<Vec<$edge>> {
                use crate::api::prefetch::Prefetch;
                <$node>::prefetch(ctx, ctx.look_ahead().field("node"), &self.page.rows).await?;
                let order = std::sync::Arc::new(self.page.order.clone());
                Ok(self.page.rows.iter().map(|n| $edge { node: n.clone(), order: order.clone() }).collect())
            }

            async fn nodes(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<&Vec<$node>> {
                use crate::api::prefetch::Prefetch;
                <$node>::prefetch(ctx, ctx.look_ahead(), &self.page.rows).await?;
                Ok(&self.page.rows)
            }

            async fn page_info(&self) -> crate::api::connection::PageInfo {
                let cursor = |n: &$node| crate::kernel::list::Page::<$node>::cursor(&self.page.order, n);
                crate::api::connection::PageInfo {
                    has_next_page: self.page.has_next,
                    has_previous_page: self.page.has_previous,
                    start_cursor: self.page.rows.first().map(cursor),
                    end_cursor: self.page.rows.last().map(cursor),
                }
            }

            /// All matching rows, ignoring the page window.
            async fn total_count(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<i64> {
                use crate::api::connection::CountSource;
                match &self.count {
                    CountSource::TopLevel(plan) => {
                        let mut conn = crate::api::conn(ctx).await?;
                        Ok(crate::kernel::list::count(&mut conn, plan).await?)
                    }
                    CountSource::Nested(plan, parent) => Ok(crate::api::loader(ctx)
                        .load_one(crate::api::loaders::NestedCount(plan.clone(), *parent))
                        .await
                        .map_err(crate::api::load_error)?
                        .unwrap_or(0)),
                }
            }
        }
    };
}
pub(crate) use connection;

/// Runs a top-level list for the current actor and wraps it as a connection.
macro_rules! top_level_list {
    ($ctx:expr, $node:ty, $conn:ident, $args:expr) => {{
        let actor = crate::api::actor($ctx)?;
        let args = $args;
        crate::api::filters::check_custom_codes::<$node>($ctx, &args).await?;
        let plan = crate::kernel::list::plan::<$node>(actor, args, None)?;
        let mut conn = crate::api::conn($ctx).await?;
        let page = crate::kernel::list::list::<$node>(&mut conn, &plan).await?;
        Ok::<_, async_graphql::Error>($conn { page, count: crate::api::connection::CountSource::TopLevel(plan) })
    }};
}
pub(crate) use top_level_list;

/// Loads a nested connection through the DataLoader, batched across parents.
macro_rules! nested_list {
    ($ctx:expr, $node:ty, $conn:ident, $args:expr, $relation:expr, $parent:expr) => {{
        let actor = crate::api::actor($ctx)?;
        let args = $args;
        crate::api::filters::check_custom_codes::<$node>($ctx, &args).await?;
        let plan = crate::kernel::list::plan::<$node>(actor, args, Some($relation))?;
        let page = crate::api::loader($ctx)
            .load_one(crate::api::loaders::Nested::<$node>::new(plan.clone(), $parent))
            .await
            .map_err(crate::api::load_error)?
            .ok_or_else(|| crate::kernel::DomainError::Internal(anyhow::anyhow!("nested page missing")))?;
        Ok::<_, async_graphql::Error>($conn { page, count: crate::api::connection::CountSource::Nested(plan, $parent) })
    }};
}
pub(crate) use nested_list;
