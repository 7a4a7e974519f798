//! Operations sent over an open WebSocket run with the caller's current rights. The socket
//! authenticates once, in connection_init, and is closed when access changes (events/access.rs),
//! but that close follows an ACCESS event through the relay: between a role change's commit and
//! the close, a query or mutation on the socket would still run with the rights the connection
//! started with. So each operation resolves its token again, as every HTTP request does, and
//! runs with what it gives now (one statement, `auth::actor_for_token`); a token that stopped
//! working gets UNAUTHENTICATED. The WebSocket's executor (`http::ws_guard`) calls
//! [`refresh`] for every operation; it is not a schema extension, because any extension puts
//! every field of every request through async-graphql's extension chain.

use std::time::Duration;

use async_graphql::{ErrorExtensions, Pos, Request, ServerError};

use crate::api::loaders::request_loader;
use crate::db::Pool;
use crate::kernel::DomainError;
use crate::org::auth;

/// What a WebSocket connection keeps to act for its caller, in its connection data.
#[derive(Clone)]
pub struct Session {
    pub token: String,
    pub pool: Pool,
    pub loader_delay: Duration,
}

fn refused(e: &DomainError) -> ServerError {
    if let DomainError::Internal(inner) = e {
        tracing::error!(error = ?inner, "re-resolving a WebSocket operation's token failed");
    }
    let code = e.code();
    async_graphql::Error::new(e.message()).extend_with(|_, ext| ext.set("code", code)).into_server_error(Pos::default())
}

/// `request` with the caller's actor as the token gives it now, and a loader for it.
pub async fn refresh(session: &Session, request: Request) -> Result<Request, ServerError> {
    let actor = {
        let mut conn = session.pool.get().await.map_err(|e| refused(&DomainError::from(e)))?;
        auth::actor_for_token(&mut conn, &session.token).await.map_err(|e| refused(&e))?
    };
    // Request data wins over the connection's. A subscription keeps its loader as long as it
    // runs, so the loader does not cache.
    let loader = request_loader(session.pool.clone(), actor.clone(), session.loader_delay, false);
    Ok(request.data(loader).data(actor))
}
