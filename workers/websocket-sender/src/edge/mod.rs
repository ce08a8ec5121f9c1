//! The edge: the public HTTP/WebSocket listener ([`server`]), one task pair
//! per socket ([`connection`]), the [`state`] they share, the abuse
//! limits ([`abuse`]) on what clients may send and open, and the publish
//! path ([`publishing`], with the block rules of [`blocking`]) behind the
//! `publish` op and HTTP [`ingest`].

pub mod abuse;
pub mod blocking;
pub mod connection;
pub mod ingest;
pub mod publishing;
pub mod server;
pub mod state;

pub use server::router;
pub use state::AppState;
