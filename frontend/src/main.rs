//! The svclab dashboard: a Leptos CSR app fed live by the backend's websocket watch.
//!
//! - [`state`]: the cluster as last seen on `/lab/v1/watch`, provided as context.
//! - [`api`]: calls to the lab endpoints (apply, test requests).
//! - [`auth`]: the API token, when svclab listens beyond loopback.
//! - [`components`]: one component per file, by area.

mod api;
mod auth;
mod components;
mod state;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(components::app::App);
}
