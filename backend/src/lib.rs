//! svclab: a Kubernetes Services lab in one process.
//!
//! # Layout
//! - [`store`]: the versioned object store and its watch feed.
//! - [`registry`]: the API server's write path (defaults, validation, allocation, events).
//! - [`error`]: API errors as `metav1.Status`.

pub mod error;
pub mod registry;
pub mod store;
