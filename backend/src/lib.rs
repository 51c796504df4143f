//! svclab: a Kubernetes Services lab in one process.
//!
//! # Layout
//! - [`app`]: wiring: builds the store, spawns every component under one cancellation token.
//! - [`store`]: the versioned object store and its watch feed.
//! - [`registry`]: the API server's write path (defaults, validation, allocation, events).
//! - [`api`]: the HTTP API: Kubernetes REST paths, YAML apply, exec, websocket watch, dashboard.
//! - [`controllers`]: replication, deployments, scheduling, endpoints, node lifecycle.
//! - [`kubelet`]: per-node pod runtime: built-in images, exec, pod and node status.
//! - [`addr`]: protocols and virtual addresses, below the network and the proxy.
//! - [`network`]: the substrate: address plan, pod sockets, connection tracking, the dialer;
//!   it asks a [`network::Router`] where service traffic goes.
//! - [`proxy`]: the service proxy (kube-proxy): its table, the routing decision, its listeners.
//! - [`netpol`]: NetworkPolicy enforcement (a CNI plugin's part): the network's filter.
//! - [`dns`]: cluster DNS on hickory-server.
//! - [`ingress`]: the ingress controller add-on: host and path routing, TLS by SNI on rustls.
//! - [`gateway`]: the Gateway API controller: Gateways on pool addresses, HTTPRoutes, statuses;
//!   served by the ingress's data path.
//! - [`bootstrap`]: the cluster's initial objects (namespaces, nodes, the `kubernetes` service).
//! - [`error`]: API errors as `metav1.Status`.
//! - [`ca`]: the cluster's certificate authority, kept beside the cluster's database.
//! - [`tokens`]: service account tokens, signed and checked.
//! - [`metrics`]: Prometheus metrics (network and DNS programming latency).

pub mod addr;
pub mod api;
pub mod app;
pub mod bootstrap;
pub mod ca;
pub mod controllers;
pub mod cron;
pub mod dns;
pub mod error;
pub mod gateway;
pub mod informer;
pub mod ingress;
pub mod kubeconfig;
pub mod kubelet;
pub mod metrics;
pub mod netpol;
pub mod network;
pub mod openapi;
pub mod proxy;
pub mod registry;
pub mod store;
pub mod timeline;
pub mod tokens;
