//! Operations sent over an open WebSocket run with the caller's current rights. The socket
//! authenticates once, in connection_init, and is closed when access changes (events/access.rs),
//! but that close follows an ACCESS event through the relay: between a role change's commit and
//! the close, a query or mutation on the socket would still run with the rights the connection
//! started with. So each operation resolves its token again, as every HTTP request does, and
//! runs with what it gives now (one statement, `auth::actor_for_token`); a token that stopped
//! working gets UNAUTHENTICATED.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::{ErrorExtensions, Pos, Request, ServerError, ServerResult};

use super::ApiState;
use super::loaders::request_loader;
use crate::domain::{DomainError, auth};

/// What a WebSocket connection keeps to act for its caller, in its connection data.
#[derive(Clone)]
pub struct Session {
    pub token: String,
    pub loader_delay: Duration,
}

/// The extension; HTTP requests (no `Session`) pass untouched.
pub struct CurrentRights;

impl ExtensionFactory for CurrentRights {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CurrentRights)
    }
}

fn refused(e: &DomainError) -> ServerError {
    if let DomainError::Internal(inner) = e {
        tracing::error!(error = ?inner, "re-resolving a WebSocket operation's token failed");
    }
    let code = e.code();
    async_graphql::Error::new(e.message()).extend_with(|_, ext| ext.set("code", code)).into_server_error(Pos::default())
}

#[async_graphql::async_trait::async_trait]
impl Extension for CurrentRights {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let Some(session) = ctx.data_opt::<Session>() else {
            return next.run(ctx, request).await;
        };
        let state = ctx.data::<ApiState>().map_err(|e| e.into_server_error(Pos::default()))?;
        let actor = {
            let mut conn = state.pool.get().await.map_err(|e| refused(&DomainError::from(e)))?;
            auth::actor_for_token(&mut conn, &session.token).await.map_err(|e| refused(&e))?
        };
        // Request data wins over the connection's. A subscription keeps its loader as long as
        // it runs, so the loader does not cache.
        let loader = request_loader(state.pool.clone(), actor.clone(), session.loader_delay, false);
        next.run(ctx, request.data(loader).data(actor)).await
    }
}
