//! The integration tests, one binary with a module per area: each test starts a svclab of its
//! own on free ports (in this process, or as a child for restarts and crashes) and drives it with
//! real clients (reqwest, curl, dig, openssl). One binary links once and takes one copy of
//! svclab, where a binary per file linked and stored it twenty times over. Run one area with
//! `cargo test --test it -- dns::`. Two suites stay binaries of their own: `api_robustness`
//! counts the panics in its whole process, and `kubectl` runs the real kubectl.

#[path = "../common/mod.rs"]
mod common;

mod apps;
mod certificates;
mod chapter_basics;
mod chapter_listings;
mod controllers;
mod dns;
mod dns_robustness;
mod doctor;
mod durability;
mod exec;
mod external_traffic;
mod gateway;
mod gateway_status;
mod ingress;
mod ingress_http1;
mod lifecycle;
mod pods;
mod probes;
mod restart;
mod security;
mod test_requests;
mod watch_streams;
mod workloads;
