//! The app: the header, then the view the URL names. `/` is the overview (manifests on the
//! left, the cluster's state on the right); `/services/<namespace>/<name>` is one service's page.
//! Each view has its URL, so back, forward, reload and a link sent to a colleague keep the place.

use super::{
    apply::{ApplyPanel, provide_editor},
    dns::DnsPanel,
    events::EventsTable,
    header::Header,
    ingresses::IngressesTable,
    nodes::NodesTable,
    pods::PodsTable,
    provide_now,
    services::{self, ServicesTable},
    slices::SlicesTable,
    terminal::TerminalPanel,
    test_requests::TestPanel,
    token::TokenPrompt,
    topology::{TopologyView, provide_traced},
    workloads::WorkloadsTable,
};
use crate::state::provide_cluster;
use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

#[component]
pub fn App() -> impl IntoView {
    provide_cluster();
    provide_now();
    provide_editor();
    provide_traced();
    view! {
        <Router>
            <Header />
            <TokenPrompt />
            <Routes fallback=Overview>
                <Route path=path!("/") view=Overview />
                <Route path=path!("/services/:namespace/:name") view=services::ServicePage />
            </Routes>
        </Router>
    }
}

/// Everything on one page: manifests, DNS and a terminal beside the overview and every table.
#[component]
fn Overview() -> impl IntoView {
    view! {
        <main class="layout">
            <aside class="side">
                <ApplyPanel />
                <DnsPanel />
                <TerminalPanel />
            </aside>
            <div class="content">
                <TopologyView />
                <ServicesTable />
                <TestPanel />
                <IngressesTable />
                <WorkloadsTable />
                <PodsTable />
                <SlicesTable />
                <NodesTable />
                <EventsTable />
            </div>
        </main>
    }
}
