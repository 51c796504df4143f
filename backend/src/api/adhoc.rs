//! Ad-hoc objects, as kubectl's generators make them: `POST /lab/v1/run` (a single pod from an
//! image, `kubectl run`) and `POST /lab/v1/expose` (a service from a pod's labels or a
//! controller's selector, `kubectl expose`). The builders are pure; the handlers create through
//! the registry, so validation and errors are the API server's.

use super::ApiState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, Pod, PodSpec, ReplicationController, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use svclab_shared::lab::{ExposeRequest, MadeResponse, RunRequest};
use svclab_shared::{Kind, Object};

/// The pod `kubectl run NAME --image=IMAGE [--restart=…] [--port=…] [--command] -- ARGS` makes.
pub fn pod_for(run: &RunRequest) -> Result<Pod, ApiError> {
    let restart = run.restart.clone().unwrap_or_else(|| "Always".into());
    if !matches!(restart.as_str(), "Always" | "OnFailure" | "Never") {
        return Err(ApiError::BadRequest(format!("invalid restart policy: {restart}")));
    }
    let mut env = Vec::new();
    for pair in &run.env {
        let (name, value) = pair.split_once('=').ok_or_else(|| ApiError::BadRequest(format!("invalid env: {pair}")))?;
        env.push(EnvVar { name: name.into(), value: Some(value.into()), ..Default::default() });
    }
    let labels = if run.labels.is_empty() {
        BTreeMap::from([("run".to_string(), run.name.clone())])
    } else {
        run.labels.clone()
    };
    let args = (!run.args.is_empty()).then(|| run.args.clone());
    let (command, args) = if run.command { (args, None) } else { (None, args) };
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(run.name.clone()),
            namespace: Some(run.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: run.name.clone(),
                image: Some(run.image.clone()),
                command,
                args,
                env: (!env.is_empty()).then_some(env),
                ports: run.port.map(|p| vec![ContainerPort { container_port: p, ..Default::default() }]),
                ..Default::default()
            }],
            restart_policy: Some(restart),
            dns_policy: Some("ClusterFirst".into()),
            ..Default::default()
        }),
        status: None,
    })
}

/// Why `kubectl expose` cannot read a selector off an object, in kubectl's words.
#[derive(Debug, thiserror::Error)]
enum ExposeError {
    #[error(
        "couldn't convert expressions - \"{0}\" to map: operator \"In\" without a single value cannot be converted into the old label selector format"
    )]
    Expressions(String),
    #[error(
        "couldn't retrieve selectors via --selector flag or introspection: the pod has no labels and cannot be exposed"
    )]
    UnlabelledPod,
    #[error("cannot expose a {0}")]
    NotExposable(&'static str),
}

/// What `kubectl expose` reads from the exposed object: its selector and the ports its pods
/// declare.
fn introspect(object: &Object) -> Result<(BTreeMap<String, String>, Vec<ContainerPort>), ExposeError> {
    let ports_of = |spec: Option<&PodSpec>| -> Vec<ContainerPort> {
        spec.iter().flat_map(|s| s.containers.iter().flat_map(|c| c.ports.iter().flatten().cloned())).collect()
    };
    let from_label_selector = |s: &LabelSelector| -> Result<BTreeMap<String, String>, ExposeError> {
        if let Some(e) = s.match_expressions.as_ref().filter(|e| !e.is_empty()) {
            let shown = svclab_shared::selector::Selector::from_label_selector(&LabelSelector {
                match_expressions: Some(e.clone()),
                match_labels: None,
            })
            .map(|s| s.to_string())
            .unwrap_or_default();
            return Err(ExposeError::Expressions(shown));
        }
        Ok(s.match_labels.clone().unwrap_or_default())
    };
    match object {
        Object::Pod(p) => {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            if labels.is_empty() {
                return Err(ExposeError::UnlabelledPod);
            }
            Ok((labels, ports_of(p.spec.as_ref())))
        }
        Object::ReplicationController(rc) => {
            let spec = rc.spec.clone().unwrap_or_default();
            let template = spec.template.and_then(|t| t.spec);
            Ok((spec.selector.unwrap_or_default(), ports_of(template.as_ref())))
        }
        Object::ReplicaSet(rs) => {
            let spec = rs.spec.clone().unwrap_or_default();
            let template = spec.template.and_then(|t| t.spec);
            Ok((from_label_selector(&spec.selector)?, ports_of(template.as_ref())))
        }
        Object::Deployment(d) => {
            let spec = d.spec.clone().unwrap_or_default();
            Ok((from_label_selector(&spec.selector)?, ports_of(spec.template.spec.as_ref())))
        }
        Object::Service(s) => {
            let spec = s.spec.clone().unwrap_or_default();
            let ports = spec
                .ports
                .iter()
                .flatten()
                .map(|p| ContainerPort {
                    container_port: p.port,
                    name: p.name.clone(),
                    protocol: p.protocol.clone(),
                    ..Default::default()
                })
                .collect();
            Ok((spec.selector.unwrap_or_default(), ports))
        }
        other => Err(ExposeError::NotExposable(other.kind().name())),
    }
}

/// The service `kubectl expose` makes for `object`.
pub fn service_for(request: &ExposeRequest, object: &Object) -> Result<Service, ApiError> {
    let (selector, declared) = introspect(object).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let protocol = request.protocol.clone();
    let target = |fallback: i32| match request.target_port.as_deref() {
        Some(t) => match t.parse::<i32>() {
            Ok(n) => IntOrString::Int(n),
            Err(_) => IntOrString::String(t.to_string()),
        },
        None => IntOrString::Int(fallback),
    };
    let ports: Vec<ServicePort> = match request.port {
        Some(port) => vec![ServicePort { port, target_port: Some(target(port)), protocol, ..Default::default() }],
        None if declared.is_empty() => {
            return Err(ApiError::BadRequest("couldn't find port via --port flag or introspection".into()));
        }
        None if declared.len() == 1 => vec![ServicePort {
            port: declared[0].container_port,
            target_port: Some(target(declared[0].container_port)),
            protocol: protocol.or(declared[0].protocol.clone()),
            ..Default::default()
        }],
        None => declared
            .iter()
            .enumerate()
            .map(|(i, p)| ServicePort {
                name: Some(format!("port-{}", i + 1)),
                port: p.container_port,
                target_port: Some(IntOrString::Int(p.container_port)),
                protocol: p.protocol.clone(),
                ..Default::default()
            })
            .collect(),
    };
    let name = request.service_name.clone().unwrap_or_else(|| request.name.clone());
    let labels = object.metadata().labels.clone().filter(|l| !l.is_empty());
    Ok(Service {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(request.namespace.clone()),
            labels,
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(ports),
            type_: request.type_.clone(),
            session_affinity: request.session_affinity.clone(),
            ..Default::default()
        }),
        status: None,
    })
}

fn kind_of(resource: &str) -> Option<Kind> {
    Some(match resource.to_ascii_lowercase().as_str() {
        "pod" | "pods" | "po" => Kind::Pod,
        "replicationcontroller" | "replicationcontrollers" | "rc" => Kind::ReplicationController,
        "replicaset" | "replicasets" | "rs" => Kind::ReplicaSet,
        "deployment" | "deployments" | "deploy" => Kind::Deployment,
        "service" | "services" | "svc" => Kind::Service,
        _ => return None,
    })
}

fn made(kind: Kind, object: &Object, verb: &str) -> Json<MadeResponse> {
    let reference = svclab_shared::display::reference(kind, object.name());
    Json(MadeResponse { message: format!("{reference} {verb}"), object: object.to_value() })
}

/// `POST /lab/v1/run`.
pub async fn run(
    State(state): State<ApiState>,
    Json(request): Json<RunRequest>,
) -> Result<Json<MadeResponse>, ApiError> {
    let pod = pod_for(&request)?;
    let created = state.registry.create(Object::Pod(pod))?;
    Ok(made(Kind::Pod, &created, "created"))
}

/// `POST /lab/v1/expose`.
pub async fn expose(
    State(state): State<ApiState>,
    Json(request): Json<ExposeRequest>,
) -> Result<Json<MadeResponse>, ApiError> {
    let kind = kind_of(&request.kind).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "cannot expose a {}: only pods, replication controllers, replica sets, deployments and services can be exposed",
            request.kind
        ))
    })?;
    let store = state.store();
    let object = match kind {
        Kind::Pod => store.get_typed::<Pod>(&request.namespace, &request.name).map(Object::Pod),
        Kind::ReplicationController => store
            .get_typed::<ReplicationController>(&request.namespace, &request.name)
            .map(Object::ReplicationController),
        Kind::ReplicaSet => store.get_typed::<ReplicaSet>(&request.namespace, &request.name).map(Object::ReplicaSet),
        Kind::Deployment => store.get_typed::<Deployment>(&request.namespace, &request.name).map(Object::Deployment),
        _ => store.get_typed::<Service>(&request.namespace, &request.name).map(Object::Service),
    };
    let object = object.ok_or_else(|| ApiError::not_found(kind, &request.name))?;
    let service = service_for(&request, &object)?;
    let created = state.registry.create(Object::Service(service))?;
    Ok(made(Kind::Service, &created, "exposed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_makes_the_pod_kubectl_makes() {
        let request = RunRequest {
            name: "dnsutils".into(),
            image: "tutum/dnsutils".into(),
            namespace: "default".into(),
            command: true,
            args: vec!["sleep".into(), "infinity".into()],
            restart: Some("Never".into()),
            ..Default::default()
        };
        let pod = pod_for(&request).unwrap();
        assert_eq!(pod.metadata.labels.unwrap()["run"], "dnsutils");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.containers[0].command.as_deref(), Some(&["sleep".to_string(), "infinity".into()][..]));
        assert!(spec.containers[0].args.is_none());
    }

    #[test]
    fn expose_takes_the_selector_and_declared_ports() {
        let rc: ReplicationController = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubia", "labels": {"app": "kubia"}},
            "spec": {"selector": {"app": "kubia"}, "template": {"spec": {"containers": [
                {"name": "kubia", "image": "luksa/kubia", "ports": [{"containerPort": 8080}]}
            ]}}}
        }))
        .unwrap();
        let request = ExposeRequest {
            kind: "rc".into(),
            name: "kubia".into(),
            namespace: "default".into(),
            port: Some(80),
            target_port: Some("8080".into()),
            type_: Some("LoadBalancer".into()),
            service_name: Some("kubia-http".into()),
            ..Default::default()
        };
        let svc = service_for(&request, &Object::ReplicationController(rc.clone())).unwrap();
        let spec = svc.spec.unwrap();
        assert_eq!(svc.metadata.name.as_deref(), Some("kubia-http"));
        assert_eq!(spec.selector.unwrap()["app"], "kubia");
        assert_eq!(spec.ports.unwrap()[0].target_port, Some(IntOrString::Int(8080)));
        let no_port = ExposeRequest { port: None, target_port: None, ..request };
        let svc = service_for(&no_port, &Object::ReplicationController(rc)).unwrap();
        assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, 8080, "the declared container port");
        let bare = Pod::default();
        let err = service_for(&no_port, &Object::Pod(bare)).unwrap_err();
        assert!(err.to_string().contains("the pod has no labels and cannot be exposed"), "{err}");
    }
}
