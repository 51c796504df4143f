//! IO-free types and pure helpers shared by the svclab backend and its dashboard.
//!
//! # Layout
//! - [`object`]: the Kubernetes kinds svclab serves, as one [`Object`] enum over `k8s-openapi` types.
//! - [`selector`]: label selectors (`app=kubia,tier in (web)`), parsed and matched.
//! - [`topology`]: the dashboard's overview graph (ingresses → services → pods by node).
//! - [`validation`]: kube-apiserver's validation rules and error wording.
//! - [`watch`]: watch events, on the Kubernetes API and on the dashboard's stream.
//! - [`convert`]: an Ingress as a Gateway and HTTPRoutes, as `ingress2gateway` converts it.
//! - [`describe`]: `kubectl describe service` as text.
//! - [`display`]: columns as `kubectl get` prints them (PORT(S), SELECTOR, AGE…).
//! - [`gateway`]: the Gateway API kinds (GatewayClass, Gateway, HTTPRoute, ReferenceGrant) and hostname rules.
//! - [`legacy`]: older API versions accepted and converted (the chapter's `extensions/v1beta1` Ingress).
//! - [`highlight`]: YAML syntax highlighting for the dashboard's manifest editor.
//! - [`lab`]: the lab endpoints' requests and answers (apply, exec, test requests).
//! - [`pod`]: pod readiness and what a readiness probe checks.
//! - [`printers`]: `kubectl get`'s columns for every kind, as kube-apiserver prints them.
//! - [`doctor`]: the service doctor, the chapter's troubleshooting checklist as findings.
//! - [`ports`]: resolving a service's `targetPort` against a pod's container ports.
//! - [`scale`]: desired and current replicas of the scalable kinds, and changing them.
//! - [`resources`]: what discovery says of each kind: short names, categories, verbs, subresources.
//! - [`program`]: which built-in program a container image runs (or the default one).
//! - [`quantity`]: resource quantities (`500m`, `1Gi`) as numbers.
//! - [`quota`]: what a ResourceQuota counts, for its controller and its admission plugin.
//! - [`netpol`]: which pods a NetworkPolicy isolates for ingress.
//! - [`cidr`]: address blocks (`10.0.0.0/8`), parsed once for validation and the data plane.
//!
//! Nothing here does IO or names tokio, axum or hickory types: it builds for `wasm32-unknown-unknown`.

pub mod cidr;
pub mod convert;
pub mod describe;
pub mod display;
pub mod doctor;
pub mod gateway;
pub mod highlight;
pub mod lab;
pub mod legacy;
pub mod netpol;
pub mod object;
pub mod pod;
pub mod ports;
pub mod printers;
pub mod program;
pub mod quantity;
pub mod quota;
pub mod resources;
pub mod scale;
pub mod selector;
pub mod service;
pub mod slices;
pub mod topology;
pub mod validation;
pub mod watch;

pub use k8s_openapi;
pub use object::{Kind, Object, Typed};
