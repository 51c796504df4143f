//! The lab endpoints' requests and answers: apply, exec and test requests.

use serde::{Deserialize, Serialize};

/// What happened to one document of an apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyOutcome {
    Created,
    Configured,
    Unchanged,
    /// `POST /lab/v1/delete`: the object is deleted (or, for a pod, terminating).
    Deleted,
    Failed,
}

/// The answer to `POST /lab/v1/apply` (and `/lab/v1/delete`): one result per document, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplyResponse {
    pub results: Vec<ApplyResult>,
}

/// One document's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResult {
    /// 1-based position of the document in its file.
    pub document: usize,
    /// The uploaded file's name, when the documents came as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line where the document starts.
    pub line: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub outcome: ApplyOutcome,
    /// kubectl's line for it: `service/kubia created`, or the error.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApplyError>,
    /// A dry run's difference between the live object and the one the apply would store, as
    /// `kubectl diff` prints it (a unified diff of their YAML, without managedFields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Why a document was not applied, located in the input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyError {
    /// The HTTP code the API would answer (400 malformed, 409 conflict, 422 invalid…).
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// 1-based line and column in the whole input, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// `POST …/pods/{name}/exec` with a JSON body: run one command in a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecRequest {
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// What an exec printed and how it exited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecResponse {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

/// `POST /lab/v1/test-requests`: send HTTP requests to a service from inside a pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestRequest {
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default)]
    pub service: String,
    /// The service port; the first one when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default)]
    pub path: String,
    /// The pod to send from; any running pod in the namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pod: Option<String>,
    pub count: u32,
    /// Send from outside the cluster through the ingress controller, for this host, instead
    /// (`service` and `fromPod` are then not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressTarget>,
    /// Where to send from; `fromPod` (or any running pod of `namespace`) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TestSource>,
    /// The URL to request instead of the service's cluster IP: by service name or FQDN (looked
    /// up through the pod's resolver), cluster IP, a node's address and node port, a
    /// load-balancer address, or from outside an ingress host (`https://kubia.example.com/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Send every request on one keep-alive connection instead of a connection each.
    #[serde(default)]
    pub keep_alive: bool,
}

/// Where test requests come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TestSource {
    /// A pod: it resolves names with its own resolver and dials from its own address.
    Pod { namespace: String, name: String },
    /// A node: it dials from its address and does not use the cluster DNS.
    Node { name: String },
    /// The host, outside the cluster: it reaches node ports, load balancers and the ingress.
    Outside,
}

/// A request through the ingress: the `Host` (and SNI) to send, over HTTP or HTTPS.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IngressTarget {
    pub host: String,
    #[serde(default)]
    pub https: bool,
    /// Through this Gateway (`namespace/name`) instead: to its address, on its first HTTP (or
    /// HTTPS) listener's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// The answer to a [`TestRequest`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    /// Where the requests were sent from: `pod namespace/name`, or `outside the cluster`.
    pub source: String,
    /// The URL requested, e.g. `http://10.96.0.12:80/`.
    pub url: String,
    pub results: Vec<TestResult>,
}

/// One request's outcome and where it went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<Hop>,
    /// Over HTTPS: the subject of the certificate the server presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    pub micros: u64,
    /// The DNS queries that resolved the URL's host for this request's connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<DnsQueryTrace>,
    /// Every hop on the way, in order: a load balancer's choice of node, then the node port's
    /// or the service proxy's choice of endpoint (`hop` is the last of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<Hop>,
    /// The address dialled, `10.96.0.12:80`.
    #[serde(default)]
    pub address: String,
    /// Which connection carried it (0, 1, …): with keep-alive every request shares one.
    #[serde(default)]
    pub connection: u32,
}

/// How the service proxy routed one connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hop {
    /// `namespace/name` of the service.
    pub service: String,
    /// The virtual address dialled, e.g. `10.96.0.12:80`.
    pub virtual_address: String,
    /// The endpoint chosen, e.g. `10.244.1.3:8080`.
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why this endpoint: `random among 3 ready endpoints`.
    pub reason: String,
    /// The source address the pod saw: the client's own, or a node's after SNAT.
    #[serde(default)]
    pub source: String,
}

fn default_namespace() -> String {
    "default".into()
}

/// `POST /lab/v1/run`: a single pod from an image, as `kubectl run` makes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    pub name: String,
    pub image: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// With `command`, the arguments replace the image's entrypoint (`--command -- sleep infinity`);
    /// without, they are the container's args.
    #[serde(default)]
    pub command: bool,
    #[serde(default)]
    pub args: Vec<String>,
    /// `Always` (the default), `OnFailure` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// `--labels`; `run=<name>` when empty.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--port`: the container port to declare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// `--env K=V`.
    #[serde(default)]
    pub env: Vec<String>,
}

/// `POST /lab/v1/expose`: a service for a pod, controller or deployment, as `kubectl expose`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposeRequest {
    /// `pod`, `replicationcontroller` (`rc`), `replicaset` (`rs`), `deployment` or `service`.
    pub kind: String,
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The service's name; the exposed object's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// A number or a port name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `ClusterIP` (default), `NodePort`, `LoadBalancer`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<String>,
}

/// What `run` and `expose` made: kubectl's line (`pod/dnsutils created`) and the object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MadeResponse {
    pub message: String,
    pub object: serde_json::Value,
}

/// An add-on and whether it runs, as `minikube addons list` shows it (`GET /lab/v1/addons`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addon {
    pub name: String,
    pub enabled: bool,
    /// Where it serves while enabled, e.g. `http://127.0.0.1:8080`.
    #[serde(default)]
    pub endpoints: Vec<String>,
}

/// `PUT /lab/v1/addons/{name}`: enable or disable an add-on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AddonChange {
    pub enabled: bool,
}

/// `POST /lab/v1/namespaces/{ns}/secrets/tls` as JSON: `kubectl create secret tls NAME --cert
/// --key` with the two PEM files' contents (a multipart upload with fields `name`, `cert` and
/// `key` does the same).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsSecretRequest {
    pub name: String,
    pub cert: String,
    pub key: String,
}

/// A pod, by namespace and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

/// `POST /lab/v1/dns-lookups`: look a name up through a pod's resolver (its `/etc/resolv.conf`:
/// search path, `ndots`, nameserver), or, without `fromPod`, straight at the cluster DNS server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsLookupRequest {
    pub name: String,
    /// `A` when unset; `AAAA`, `SRV`, `PTR` (an IPv4 address is turned into its reverse name),
    /// `CNAME`, `TXT`, `SOA`, `NS`, `ANY`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pod: Option<PodRef>,
}

/// The answer to a [`DnsLookupRequest`]: every query sent, in order, and the records of the one
/// that answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsLookup {
    /// How the name was looked up: `pod default/dnsutils's resolver (search …, ndots:5)`.
    pub via: String,
    pub queries: Vec<DnsQueryTrace>,
    /// The answer section of the query that answered; empty when none did.
    pub answers: Vec<DnsRecordLine>,
    /// Why nothing answered: `NXDOMAIN for every name tried`, a timeout, a server error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One query and its reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsQueryTrace {
    /// The name asked, fully qualified: `kubia.default.svc.cluster.local.`.
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    /// The server asked, `10.96.0.10:53`.
    pub server: String,
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`…, or `timeout`.
    pub rcode: String,
    pub answers: Vec<DnsRecordLine>,
    pub micros: u64,
}

/// A resource record as dig prints it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecordLine {
    pub name: String,
    pub ttl: u32,
    #[serde(rename = "type")]
    pub type_: String,
    pub data: String,
}

/// `GET /lab/v1/namespaces/{namespace}/services/{name}/timeline`: when each pod joined or left
/// the service's endpoints (or changed readiness in them) and why, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// `namespace/name`.
    pub service: String,
    /// When the timeline begins: svclab's start, or the service's creation if later (RFC 3339).
    pub since: String,
    pub entries: Vec<TimelineEntry>,
}

/// One change of one pod's place in a service's endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// When the change was made (the endpoints controller's trigger time), RFC 3339.
    pub time: String,
    pub pod: String,
    pub ip: String,
    /// The pod's place from then on.
    pub state: EndpointState,
    /// Why, e.g. `Readiness probe failed: …`, `pod deleted`, `labels no longer match app=kubia`.
    pub reason: String,
}

/// Where a pod stands in a service's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EndpointState {
    /// In `addresses`: it receives connections.
    Ready,
    /// In `notReadyAddresses`: selected, but receives none.
    NotReady,
    /// Not an endpoint (any more).
    Gone,
}
