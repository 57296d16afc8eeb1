//! One file per command. Each exposes `apply(ctx, ...) -> Response`: no sockets, so
//! tests drive commands directly. [`dispatch`] is the one `match` over requests.

pub mod active_users;
pub mod history;
pub mod inbox;
pub mod login;
pub mod logout;
pub mod ping;
pub mod read;
pub mod register;
pub mod send;
pub mod sync;

use crate::context::Context;
use crate::metrics::RequestTimer;
use crate::storage::Store;
use chat_protocol::{Request, Response};
use std::net::IpAddr;

/// Applies one request from `peer` and returns its response. Failures are
/// `Response::Error`. Counted and timed in the metrics by verb.
pub async fn dispatch<S: Store>(ctx: &Context<S>, peer: IpAddr, request: Request) -> Response {
    let timer = RequestTimer::start(request.verb());
    let result = match request {
        Request::Login {
            username, password, ..
        } => login::apply(ctx, peer, &username, &password).await,
        Request::Send {
            token, to, message, ..
        } => send::apply(ctx, &token, &to, message).await,
        Request::Inbox { token, .. } => inbox::apply(ctx, &token).await,
        Request::ActiveUsers { token, .. } => active_users::apply(ctx, &token).await,
        Request::Logout { token } => logout::apply(ctx, &token).await,
        Request::Register {
            username,
            password,
            display_name,
        } => register::apply(ctx, &username, &password, display_name).await,
        Request::History {
            token,
            peer,
            limit,
            before_id,
        } => history::apply(ctx, &token, &peer, limit, before_id).await,
        Request::Read {
            token,
            peer,
            message_id,
        } => read::apply(ctx, &token, &peer, message_id).await,
        Request::Ping => Ok(ping::apply()),
        // The connection runs `sync` itself, since it may wait on the socket
        // (`handler`); reaching here is a bug, answered rather than panicked on.
        Request::Sync { .. } => Err(Response::error("internal error: sync outside a connection")),
    };
    let response = result.unwrap_or_else(|error| error);
    timer.finish(&response);
    response
}
