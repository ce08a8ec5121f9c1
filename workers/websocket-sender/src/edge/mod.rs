//! The edge: the public HTTP/WebSocket listener ([`server`]), one task pair
//! per socket ([`connection`]), the [`state`] they share, and the abuse
//! limits ([`abuse`]) on what clients may send and open.

pub mod abuse;
pub mod connection;
pub mod server;
pub mod state;

pub use server::router;
pub use state::AppState;
