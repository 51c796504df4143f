//! The controllers: level-triggered loops that read the store and write through the registry.
//!
//! - [`runtime`]: the shared loop (watch → keys → deduplicating queue → reconcile).
//! - [`replication`]: ReplicationControllers and ReplicaSets.
//! - [`deployment`]: Deployments, rolled out through ReplicaSets.
//! - [`statefulset`]: StatefulSets: ordered pods with stable names and their own claims.
//! - [`daemonset`]: DaemonSets: a pod on every node the template fits.
//! - [`revisions`]: ControllerRevisions, the templates StatefulSets and DaemonSets have had.
//! - [`owners`]: owner references, who controls what.
//! - [`garbagecollector`]: owners deleted in the foreground or orphaning their dependents.
//! - [`namespace`]: terminating namespaces emptied, then removed.
//! - [`scheduler`]: binds pods to nodes.
//! - [`endpoints`]: Endpoints from service selectors and pod readiness.
//! - [`endpointslices`]: EndpointSlices beside them.
//! - [`endpointslicemirroring`]: EndpointSlices mirrored from the Endpoints of selectorless services.
//! - [`loadbalancer`]: load-balancer addresses for `LoadBalancer` services.
//! - [`nodelifecycle`]: taints and evictions for nodes that are not Ready.
//! - [`serviceaccounts`]: each namespace's `default` ServiceAccount and `kube-root-ca.crt`.
//! - [`tokens`]: long-lived tokens in `kubernetes.io/service-account-token` Secrets.
//! - [`volumes`]: PersistentVolumes for claims, bound at once (a node-local provisioner).
//! - [`autoscaler`]: HorizontalPodAutoscalers without metrics: replicas kept within bounds.
//! - [`quota`]: ResourceQuotas' usage (reported, not enforced).
//! - [`disruption`]: PodDisruptionBudgets' status: healthy pods and the disruptions allowed.
//! - [`job`]: Jobs: pods run to completion, with parallelism, back-off and deadlines.
//! - [`cronjob`]: Jobs from CronJobs' schedules.
//! - [`csrsigning`]: certificates for approved CertificateSigningRequests, from the cluster CA.

pub mod autoscaler;
pub mod cronjob;
pub mod csrsigning;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslicemirroring;
pub mod endpointslices;
pub mod garbagecollector;
pub mod job;
pub mod loadbalancer;
pub mod namespace;
pub mod nodelifecycle;
pub mod owners;
pub mod quota;
pub mod replication;
pub mod revisions;
pub mod runtime;
pub mod scheduler;
pub mod serviceaccounts;
pub mod statefulset;
pub mod tokens;
pub mod volumes;
