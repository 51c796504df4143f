//! The real kubectl against svclab: the chapter's commands as the book prints them (where
//! kubectl 1.32 still takes the book's form), with what kubectl prints, with every kubectl the
//! machine has (the dispatcher's 1.32 and PyPI's 1.37).

mod api;
mod apps;
mod debugging;
mod exposing;
mod gateway;
mod incluster;
mod policy;
mod readiness;
mod services;
mod support;

pub const KUBIA: &str = include_str!("../../../examples/kubia.yaml");
