//! The API stage: LedFx 2.2.1-compatible HTTP routes.
//!
//! Handlers parse the request (JSON syntax, required attributes, LedFx's messages for them),
//! build one command of a resource group (`proto::api`), send it to the state owner through a
//! [`Backend`], and map the reply onto LedFx's response envelopes. This process holds no
//! render or output state, so killing it never disturbs the lights.
//!
//! * [`routes`] — the router, and one module of handlers per resource group.
//! * [`feed`] — the hub that hands the supervisor's change feed to every consumer.
//! * [`envelope`] — LedFx's success/failure bodies and status codes.
//! * [`backend`] — the channel to the state owner (a real control socket, or a test double).
//! * [`auth`] — the single authentication/authorisation layer every route passes.
//! * [`origin`] — LedFx's Host/Origin policy and CORS, in front of everything.
//! * [`ws`] — `/api/websocket`, LedFx's realtime protocol.

pub mod auth;
pub mod backend;
pub mod envelope;
pub mod feed;
pub mod origin;
pub mod routes;
pub mod ws;

pub use backend::Backend;
pub use routes::app;
