//! Defaulting, as kube-apiserver fills in fields a manifest leaves out.

mod autoscaling;
mod gateway;

use k8s_openapi::api::core::v1::{
    ClientIPConfig, NamespaceSpec, NamespaceStatus, PersistentVolumeClaimSpec, PodSpec, PodStatus, Probe, ServiceSpec,
    SessionAffinityConfig, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use svclab_shared::Object;
use svclab_shared::service::ServiceType;

pub(super) fn apply(object: &mut Object) {
    match object {
        Object::Pod(pod) => self::pod(pod),
        Object::Service(svc) => service_spec(svc.spec.get_or_insert_with(Default::default)),
        Object::Ingress(i) => {
            i.metadata.generation.get_or_insert(1);
        }
        Object::NetworkPolicy(p) => {
            p.metadata.generation.get_or_insert(1);
            network_policy(p.spec.get_or_insert_with(Default::default));
        }
        Object::ReplicationController(rc) => {
            rc.metadata.generation.get_or_insert(1);
            let spec = rc.spec.get_or_insert_with(Default::default);
            spec.replicas.get_or_insert(1);
            spec.min_ready_seconds.get_or_insert(0);
            let template_labels = spec.template.as_ref().and_then(|t| t.metadata.as_ref()?.labels.clone());
            if spec.selector.as_ref().is_none_or(|s| s.is_empty()) {
                spec.selector = template_labels.clone();
            }
            if rc.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
                rc.metadata.labels = template_labels;
            }
            if let Some(template) = spec.template.as_mut() {
                pod_spec(template.spec.get_or_insert_with(Default::default));
            }
        }
        Object::ReplicaSet(rs) => {
            rs.metadata.generation.get_or_insert(1);
            let spec = rs.spec.get_or_insert_with(Default::default);
            spec.replicas.get_or_insert(1);
            if let Some(template) = spec.template.as_mut() {
                pod_spec(template.spec.get_or_insert_with(Default::default));
            }
        }
        Object::Deployment(d) => deployment(d),
        Object::Namespace(ns) => {
            ns.spec.get_or_insert_with(|| NamespaceSpec { finalizers: Some(vec!["kubernetes".into()]) });
            let status = ns.status.get_or_insert_with(NamespaceStatus::default);
            status.phase.get_or_insert_with(|| "Active".into());
        }
        Object::Secret(secret) => {
            secret.type_.get_or_insert_with(|| "Opaque".into());
            // `stringData` is write-only: it is merged into `data` and never stored.
            if let Some(strings) = secret.string_data.take() {
                let data = secret.data.get_or_insert_with(Default::default);
                for (k, v) in strings {
                    data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
                }
            }
        }
        Object::StatefulSet(s) => stateful_set(s),
        Object::DaemonSet(d) => daemon_set(d),
        Object::Job(job) => {
            job.metadata.generation.get_or_insert(1);
            job_spec(job);
        }
        Object::CronJob(c) => cron_job(c),
        Object::PersistentVolumeClaim(pvc) => {
            claim_spec(pvc.spec.get_or_insert_with(Default::default));
            let status = pvc.status.get_or_insert_with(Default::default);
            status.phase.get_or_insert_with(|| "Pending".into());
        }
        Object::PersistentVolume(pv) => {
            let spec = pv.spec.get_or_insert_with(Default::default);
            spec.persistent_volume_reclaim_policy.get_or_insert_with(|| "Retain".into());
            spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
            let status = pv.status.get_or_insert_with(Default::default);
            status.phase.get_or_insert_with(|| "Pending".into());
        }
        Object::StorageClass(sc) => {
            sc.reclaim_policy.get_or_insert_with(|| "Delete".into());
            sc.volume_binding_mode.get_or_insert_with(|| "Immediate".into());
        }
        Object::HorizontalPodAutoscaler(h) => autoscaling::horizontal_pod_autoscaler(h),
        Object::PodDisruptionBudget(p) => {
            p.metadata.generation.get_or_insert(1);
        }
        Object::GatewayClass(c) => gateway::gateway_class(c),
        Object::Gateway(g) => gateway::gateway(g),
        Object::HttpRoute(r) => gateway::http_route(r),
        Object::ReferenceGrant(g) => {
            g.metadata.generation.get_or_insert(1);
        }
        Object::LimitRange(l) => l.spec.iter_mut().flat_map(|s| s.limits.iter_mut()).for_each(limit_range_item),
        Object::PriorityClass(c) => {
            c.preemption_policy.get_or_insert_with(|| "PreemptLowerPriority".into());
        }
        Object::RoleBinding(b) => b.subjects.iter_mut().flatten().for_each(subject),
        Object::ClusterRoleBinding(b) => b.subjects.iter_mut().flatten().for_each(subject),
        _ => {}
    }
}

fn pod(pod: &mut k8s_openapi::api::core::v1::Pod) {
    // Kubernetes 1.35 counts a pod's spec changes too (PodObservedGenerationTracking).
    pod.metadata.generation.get_or_insert(1);
    let spec = pod.spec.get_or_insert_with(Default::default);
    pod_spec(spec);
    default_tolerations(spec);
    host_network_ports(spec);
    // A pod's requests default to its limits (not a template's: its pods default then).
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        if let Some(resources) = c.resources.as_mut()
            && let Some(limits) = resources.limits.clone()
        {
            let requests = resources.requests.get_or_insert_with(Default::default);
            for (name, limit) in limits {
                requests.entry(name).or_insert(limit);
            }
        }
    }
    let status = pod.status.get_or_insert_with(PodStatus::default);
    status.phase.get_or_insert_with(|| "Pending".into());
    status.qos_class.get_or_insert_with(|| "BestEffort".into());
}

/// A `Container` range's default limits are its maxima when unset; its default requests its
/// default limits, else its minima.
fn limit_range_item(item: &mut k8s_openapi::api::core::v1::LimitRangeItem) {
    if item.type_ != "Container" {
        return;
    }
    let mut default = item.default.take().unwrap_or_default();
    for (name, max) in item.max.iter().flatten() {
        default.entry(name.clone()).or_insert_with(|| max.clone());
    }
    let mut request = item.default_request.take().unwrap_or_default();
    for (name, value) in default.iter().chain(item.min.iter().flatten()) {
        request.entry(name.clone()).or_insert_with(|| value.clone());
    }
    item.default = (!default.is_empty()).then_some(default);
    item.default_request = (!request.is_empty()).then_some(request);
}

/// A binding's subject: users and groups are RBAC's (`rbac.authorization.k8s.io`).
fn subject(subject: &mut k8s_openapi::api::rbac::v1::Subject) {
    if matches!(subject.kind.as_str(), "User" | "Group") && subject.api_group.as_deref().is_none_or(str::is_empty) {
        subject.api_group = Some("rbac.authorization.k8s.io".into());
    }
}

fn stateful_set(s: &mut k8s_openapi::api::apps::v1::StatefulSet) {
    s.metadata.generation.get_or_insert(1);
    let spec = s.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    spec.pod_management_policy.get_or_insert_with(|| "OrderedReady".into());
    spec.revision_history_limit.get_or_insert(10);
    spec.min_ready_seconds.get_or_insert(0);
    let strategy = spec.update_strategy.get_or_insert_with(Default::default);
    if strategy.type_.get_or_insert_with(|| "RollingUpdate".into()) == "RollingUpdate" {
        strategy.rolling_update.get_or_insert_with(Default::default).partition.get_or_insert(0);
    }
    let retention = spec.persistent_volume_claim_retention_policy.get_or_insert_with(Default::default);
    retention.when_deleted.get_or_insert_with(|| "Retain".into());
    retention.when_scaled.get_or_insert_with(|| "Retain".into());
    pod_spec(spec.template.spec.get_or_insert_with(Default::default));
    for claim in spec.volume_claim_templates.iter_mut().flatten() {
        claim_spec(claim.spec.get_or_insert_with(Default::default));
    }
}

fn daemon_set(d: &mut k8s_openapi::api::apps::v1::DaemonSet) {
    d.metadata.generation.get_or_insert(1);
    let spec = d.spec.get_or_insert_with(Default::default);
    spec.revision_history_limit.get_or_insert(10);
    spec.min_ready_seconds.get_or_insert(0);
    let strategy = spec.update_strategy.get_or_insert_with(Default::default);
    if strategy.type_.get_or_insert_with(|| "RollingUpdate".into()) == "RollingUpdate" {
        let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
        rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
        rolling.max_surge.get_or_insert(IntOrString::Int(0));
    }
    pod_spec(spec.template.spec.get_or_insert_with(Default::default));
}

fn cron_job(c: &mut k8s_openapi::api::batch::v1::CronJob) {
    c.metadata.generation.get_or_insert(1);
    let spec = c.spec.get_or_insert_with(Default::default);
    spec.concurrency_policy.get_or_insert_with(|| "Allow".into());
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    let job = spec.job_template.spec.get_or_insert_with(Default::default);
    pod_spec(job.template.spec.get_or_insert_with(Default::default));
}

fn deployment(d: &mut k8s_openapi::api::apps::v1::Deployment) {
    d.metadata.generation.get_or_insert(1);
    let spec = d.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    spec.min_ready_seconds.get_or_insert(0);
    let strategy = spec.strategy.get_or_insert_with(Default::default);
    let type_ = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
    if type_ == "RollingUpdate" {
        let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
        rolling.max_surge.get_or_insert(IntOrString::String("25%".into()));
        rolling.max_unavailable.get_or_insert(IntOrString::String("25%".into()));
    }
    pod_spec(spec.template.spec.get_or_insert_with(Default::default));
}

/// A Job's defaults, and the selector kube-apiserver generates for it (unless `manualSelector`):
/// its pods are labelled with the Job's uid and name.
fn job_spec(job: &mut k8s_openapi::api::batch::v1::Job) {
    let (uid, name) = (job.metadata.uid.clone().unwrap_or_default(), job.metadata.name.clone().unwrap_or_default());
    let spec = job.spec.get_or_insert_with(Default::default);
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    spec.backoff_limit.get_or_insert(6);
    spec.completion_mode.get_or_insert_with(|| "NonIndexed".into());
    spec.suspend.get_or_insert(false);
    spec.pod_replacement_policy.get_or_insert_with(|| "TerminatingOrFailed".into());
    if spec.manual_selector != Some(true) && spec.selector.is_none() && !uid.is_empty() {
        let labels =
            spec.template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(Default::default);
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels.insert(k.into(), v.clone());
        }
        let selector = [("batch.kubernetes.io/controller-uid".to_string(), uid.clone())].into();
        spec.selector = Some(LabelSelector { match_labels: Some(selector), match_expressions: None });
    }
    pod_spec(spec.template.spec.get_or_insert_with(Default::default));
}

/// A `hostNetwork` pod's container ports are ports of its node: each `hostPort` left unset is
/// the `containerPort` (for pods only; templates are left as written, as since Kubernetes 1.28).
fn host_network_ports(spec: &mut PodSpec) {
    if spec.host_network != Some(true) {
        return;
    }
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        for p in c.ports.iter_mut().flatten() {
            if p.host_port.unwrap_or(0) == 0 {
                p.host_port = Some(p.container_port);
            }
        }
    }
}

/// A claim's volume mode (a filesystem unless it asks for a block device).
fn claim_spec(spec: &mut PersistentVolumeClaimSpec) {
    spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
}

/// `policyTypes`: `Ingress`, and `Egress` when there are egress rules; ports are TCP by default.
fn network_policy(spec: &mut k8s_openapi::api::networking::v1::NetworkPolicySpec) {
    if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
        let egress = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
        let types = if egress { vec!["Ingress".into(), "Egress".into()] } else { vec!["Ingress".into()] };
        spec.policy_types = Some(types);
    }
    let ingress = spec.ingress.iter_mut().flatten().flat_map(|r| r.ports.iter_mut().flatten());
    let egress = spec.egress.iter_mut().flatten().flat_map(|r| r.ports.iter_mut().flatten());
    for port in ingress.chain(egress) {
        port.protocol.get_or_insert_with(|| "TCP".into());
    }
}

pub(super) fn pod_spec(spec: &mut PodSpec) {
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.scheduler_name.get_or_insert_with(|| "default-scheduler".into());
    spec.enable_service_links.get_or_insert(true);
    spec.service_account_name.get_or_insert_with(|| "default".into());
    // An empty one, as kube-apiserver defaults it: `kubectl debug` reads it without checking.
    spec.security_context.get_or_insert_with(Default::default);
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        for probe in [&mut c.readiness_probe, &mut c.liveness_probe, &mut c.startup_probe].into_iter().flatten() {
            self::probe(probe);
        }
        c.image_pull_policy.get_or_insert_with(|| pull_policy(c.image.as_deref()).into());
        c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".into());
        c.termination_message_policy.get_or_insert_with(|| "File".into());
        for p in c.ports.iter_mut().flatten() {
            p.protocol.get_or_insert_with(|| "TCP".into());
        }
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        c.image_pull_policy.get_or_insert_with(|| pull_policy(c.image.as_deref()).into());
        c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".into());
        c.termination_message_policy.get_or_insert_with(|| "File".into());
    }
}

/// `imagePullPolicy`'s default: `Always` for `:latest` or no tag, `IfNotPresent` otherwise.
fn pull_policy(image: Option<&str>) -> &'static str {
    let tag = image.unwrap_or_default().rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, t)| t);
    if matches!(tag, None | Some("latest")) { "Always" } else { "IfNotPresent" }
}

/// A probe's timing, an HTTP probe's scheme and a gRPC probe's service (the server's own, "").
fn probe(probe: &mut Probe) {
    probe.timeout_seconds.get_or_insert(1);
    probe.period_seconds.get_or_insert(10);
    probe.success_threshold.get_or_insert(1);
    probe.failure_threshold.get_or_insert(3);
    if let Some(http) = probe.http_get.as_mut() {
        http.scheme.get_or_insert_with(|| "HTTP".into());
    }
    if let Some(grpc) = probe.grpc.as_mut() {
        grpc.service.get_or_insert_with(String::new);
    }
}

/// The DefaultTolerationSeconds admission plugin: a pod stays on a not-ready or unreachable
/// node for 300 s before it is evicted, unless it says otherwise.
fn default_tolerations(spec: &mut PodSpec) {
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let covered = tolerations.iter().any(|t| {
            (t.key.as_deref() == Some(key) || (t.key.is_none() && t.operator.as_deref() == Some("Exists")))
                && t.effect.as_deref().is_none_or(|e| e == "NoExecute")
        });
        if !covered {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(300),
                value: None,
            });
        }
    }
}

fn service_spec(spec: &mut ServiceSpec) {
    let ty = ServiceType::of(spec);
    spec.type_.get_or_insert_with(|| ty.as_str().into());
    spec.session_affinity.get_or_insert_with(|| "None".into());
    // As Kubernetes' defaults do: a config means nothing without affinity (and would not pass
    // validation), so turning affinity off drops it.
    if spec.session_affinity.as_deref() == Some("None") {
        spec.session_affinity_config = None;
    }
    if spec.session_affinity.as_deref() == Some("ClientIP") {
        let config = spec.session_affinity_config.get_or_insert_with(SessionAffinityConfig::default);
        let client_ip = config.client_ip.get_or_insert_with(ClientIPConfig::default);
        client_ip.timeout_seconds.get_or_insert(10800);
    }
    if ty != ServiceType::ExternalName {
        spec.internal_traffic_policy.get_or_insert_with(|| "Cluster".into());
        spec.ip_families.get_or_insert_with(|| vec!["IPv4".into()]);
        spec.ip_family_policy.get_or_insert_with(|| "SingleStack".into());
    }
    if ty.is_external() {
        spec.external_traffic_policy.get_or_insert_with(|| "Cluster".into());
    }
    for p in spec.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".into());
        p.target_port.get_or_insert(IntOrString::Int(p.port));
    }
}
