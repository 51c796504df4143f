//! The page: header, manifests on the left, cluster state on the right.

use super::{
    apply::{ApplyPanel, provide_editor},
    dns::DnsPanel,
    events::EventsTable,
    header::Header,
    ingresses::IngressesTable,
    nodes::NodesTable,
    pods::PodsTable,
    provide_now,
    services::ServicesTable,
    slices::SlicesTable,
    terminal::TerminalPanel,
    test_requests::TestPanel,
    token::TokenPrompt,
    topology::{TopologyView, provide_traced},
    workloads::WorkloadsTable,
};
use crate::state::provide_cluster;
use leptos::prelude::*;

#[component]
pub fn App() -> impl IntoView {
    provide_cluster();
    provide_now();
    provide_editor();
    provide_traced();
    view! {
        <Header />
        <TokenPrompt />
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
