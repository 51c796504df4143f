//! The app: the top bar, the sidebar, the view the URL names, and the manifests drawer beside
//! it. Every view and every service, pod and ingress has its URL, so back, forward, reload and a
//! link sent to a colleague keep the place.

use super::{
    apply::{ManifestsDrawer, provide_editor},
    dns::DnsPanel,
    events::EventsTable,
    header::Header,
    ingresses::{self, IngressesTable},
    learn,
    nav::Sidebar,
    nodes::NodesTable,
    pod_page::PodPage,
    pods::PodsTable,
    provide_now,
    scope::provide_scope,
    services::{self, ServicesTable},
    slices::SlicesTable,
    summary::Summary,
    terminal::TerminalPanel,
    test_requests::TestPanel,
    token::TokenPrompt,
    topology::{TopologyView, provide_traced},
    workloads::WorkloadsTable,
};
use crate::state::provide_cluster;
use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

#[component]
pub fn App() -> impl IntoView {
    provide_cluster();
    provide_now();
    provide_scope();
    provide_editor();
    provide_traced();
    learn::provide_tour();
    view! {
        <Router>
            <a class="skip" href="#view">"Skip to the view"</a>
            <Header />
            <TokenPrompt />
            <div class="shell">
                <Sidebar />
                <div class="view" id="view">
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=Overview />
                        <Route path=path!("/learn") view=learn::LearnPage />
                        <Route path=path!("/learn/:step") view=learn::LearnPage />
                        <Route path=path!("/services") view=Services />
                        <Route path=path!("/services/:namespace/:name") view=services::ServicePage />
                        <Route path=path!("/pods") view=PodsTable />
                        <Route path=path!("/pods/:namespace/:name") view=PodPage />
                        <Route path=path!("/workloads") view=WorkloadsTable />
                        <Route path=path!("/config") view=super::config::ConfigView />
                        <Route path=path!("/ingresses") view=IngressesTable />
                        <Route path=path!("/ingresses/:namespace/:name") view=ingresses::IngressPage />
                        <Route path=path!("/gateways") view=super::gateways::GatewaysView />
                        <Route path=path!("/httproutes/:namespace/:name") view=super::gateways::RoutePage />
                        <Route path=path!("/endpointslices") view=SlicesTable />
                        <Route path=path!("/nodes") view=NodesTable />
                        <Route path=path!("/events") view=EventsTable />
                        <Route path=path!("/dns") view=DnsPanel />
                        <Route path=path!("/terminal") view=TerminalPanel />
                    </Routes>
                </div>
                <ManifestsDrawer />
            </div>
        </Router>
    }
}

/// The cluster at a glance: counts, the picture of one namespace, its services and pods, and
/// test requests.
#[component]
fn Overview() -> impl IntoView {
    view! {
        <learn::LearnInvite />
        <Summary />
        <TopologyView />
        <ServicesTable />
        <TestPanel />
        <PodsTable />
    }
}

#[component]
fn Services() -> impl IntoView {
    view! {
        <ServicesTable />
        <TestPanel />
    }
}

#[component]
fn NotFound() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    view! {
        <section class="panel">
            <h2>"Nothing here"</h2>
            <p class="none">{move || format!("The dashboard has no view at {}.", location.pathname.get())}</p>
            <p><A href="/">"Go to the overview"</A></p>
        </section>
    }
}
