//! The app: the top bar, the sidebar, the view the URL names, and the manifests drawer beside
//! it. Every view and every service, pod and ingress has its URL, so back, forward, reload and a
//! link sent to a colleague keep the place.

use super::{
    apply::{ManifestsDrawer, provide_editor},
    config, dns, events,
    header::Header,
    ingresses, learn,
    nav::Sidebar,
    nodes, pod_page,
    pods::PodsTable,
    provide_now,
    scope::provide_scope,
    services::{self, ServicesTable},
    slices,
    summary::Summary,
    terminal,
    test_requests::TestPanel,
    token::TokenPrompt,
    topology::{TopologyView, provide_traced},
    workloads,
};
use crate::state::provide_cluster;
use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{Lazy, LazyRoute, lazy_route, path};

/// A route whose view is code-split: its WebAssembly is a chunk of its own (split off by
/// `cargo xtask dashboard`), fetched the first time the route is visited, so the landing page
/// loads only the shell and the overview.
macro_rules! lazy_view {
    ($($route:ident => $view:path;)*) => {$(
        struct $route;
        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }
            fn view(_route: Self) -> AnyView {
                $view().into_any()
            }
        }
    )*};
}

lazy_view! {
    LearnRoute => learn::LearnPage;
    ServiceRoute => services::ServicePage;
    PodRoute => pod_page::PodPage;
    WorkloadsRoute => workloads::WorkloadsTable;
    ConfigRoute => config::ConfigView;
    IngressesRoute => ingresses::IngressesTable;
    IngressRoute => ingresses::IngressPage;
    GatewaysRoute => super::gateways::GatewaysView;
    HttpRouteRoute => super::gateways::RoutePage;
    SlicesRoute => slices::SlicesTable;
    NodesRoute => nodes::NodesTable;
    EventsRoute => events::EventsTable;
    DnsRoute => dns::DnsPanel;
    TerminalRoute => terminal::TerminalPanel;
}

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
                        <Route path=path!("/learn") view={Lazy::<LearnRoute>::new()} />
                        <Route path=path!("/learn/:step") view={Lazy::<LearnRoute>::new()} />
                        <Route path=path!("/services") view=Services />
                        <Route path=path!("/services/:namespace/:name") view={Lazy::<ServiceRoute>::new()} />
                        <Route path=path!("/pods") view=PodsTable />
                        <Route path=path!("/pods/:namespace/:name") view={Lazy::<PodRoute>::new()} />
                        <Route path=path!("/workloads") view={Lazy::<WorkloadsRoute>::new()} />
                        <Route path=path!("/config") view={Lazy::<ConfigRoute>::new()} />
                        <Route path=path!("/ingresses") view={Lazy::<IngressesRoute>::new()} />
                        <Route path=path!("/ingresses/:namespace/:name") view={Lazy::<IngressRoute>::new()} />
                        <Route path=path!("/gateways") view={Lazy::<GatewaysRoute>::new()} />
                        <Route path=path!("/httproutes/:namespace/:name") view={Lazy::<HttpRouteRoute>::new()} />
                        <Route path=path!("/endpointslices") view={Lazy::<SlicesRoute>::new()} />
                        <Route path=path!("/nodes") view={Lazy::<NodesRoute>::new()} />
                        <Route path=path!("/events") view={Lazy::<EventsRoute>::new()} />
                        <Route path=path!("/dns") view={Lazy::<DnsRoute>::new()} />
                        <Route path=path!("/terminal") view={Lazy::<TerminalRoute>::new()} />
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
