//! A Service's typed facts ([`Facts`], [`ServiceType`]): defined in the shared crate (the doctor
//! and the dashboard ask the same questions), named here for the data plane.

pub use svclab_shared::service::{Facts, ServiceType, TOLERATE_UNREADY};
