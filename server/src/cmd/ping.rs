//! `ping`: a liveness probe for load balancers and monitors; needs no session.

use chat_protocol::Response;

/// Answers `pong`.
pub fn apply() -> Response {
    Response::Pong
}
