//! The decoder against bodies the real kubectl sent, and against k8s-pb's own encoder.

use super::*;
use k8s_pb::api::core::v1 as pb;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message as _;
use serde_json::json;

/// A message in the envelope client-go sends.
fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

#[test]
fn kubectl_create_secret_generic() {
    // kubectl 1.37: `kubectl create secret generic x --from-literal=a=b`.
    let object = decode(include_bytes!("testdata/secret-generic.pb")).unwrap();
    assert_eq!(object, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "Yg=="}}));
}

#[test]
fn kubectl_create_deployment() {
    // `kubectl create deployment kubia --image=luksa/kubia --replicas=3 --port=8080`.
    let object = decode(include_bytes!("testdata/deployment.pb")).unwrap();
    assert_eq!(object["apiVersion"], "apps/v1");
    assert_eq!(object["metadata"]["labels"], json!({"app": "kubia"}));
    assert_eq!(object["spec"]["replicas"], 3);
    assert_eq!(object["spec"]["selector"], json!({"matchLabels": {"app": "kubia"}}));
    let container = &object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "luksa/kubia");
    assert_eq!(container["ports"], json!([{"containerPort": 8080}]));
    assert!(crate::openapi::fields::unknown(schemas(), Kind::Deployment, &object).is_empty(), "{object}");
    assert!(svclab_shared::Object::from_value(object).is_ok());
}

#[test]
fn kubectl_create_service_nodeport() {
    // `kubectl create service nodeport kubia --tcp=80:8080 --node-port=30123`.
    let object = decode(include_bytes!("testdata/service-nodeport.pb")).unwrap();
    assert_eq!(object["spec"]["type"], "NodePort");
    assert_eq!(
        object["spec"]["ports"],
        json!([{"name": "80-8080", "port": 80, "targetPort": 8080, "nodePort": 30123, "protocol": "TCP"}])
    );
    assert_eq!(object["spec"]["selector"], json!({"app": "kubia"}));
}

#[test]
fn kubectl_create_configmap() {
    let object = decode(include_bytes!("testdata/configmap.pb")).unwrap();
    assert_eq!(
        object,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "b"}})
    );
}

#[test]
fn what_k8s_pb_encodes_reads_back_with_kubernetes_json_names_and_types() {
    let pod = pb::Pod {
        metadata: Some(pb_meta::ObjectMeta {
            name: Some("kubia-x".into()),
            labels: [("app".to_string(), "kubia".to_string())].into(),
            creation_timestamp: Some(pb_meta::Time { seconds: Some(1_767_225_600), nanos: Some(0) }),
            owner_references: vec![pb_meta::OwnerReference {
                kind: Some("ReplicationController".into()),
                name: Some("kubia".into()),
                uid: Some("u1".into()),
                controller: Some(true),
                ..Default::default()
            }],
            ..Default::default()
        }),
        spec: Some(pb::PodSpec {
            host_network: Some(false),
            containers: vec![pb::Container {
                name: Some("kubia".into()),
                image: Some("luksa/kubia".into()),
                ports: vec![pb::ContainerPort { container_port: Some(8080), ..Default::default() }],
                readiness_probe: Some(pb::Probe {
                    handler: Some(pb::ProbeHandler {
                        http_get: Some(pb::HttpGetAction {
                            port: Some(k8s_pb::apimachinery::pkg::util::intstr::IntOrString {
                                r#type: Some(1),
                                int_val: Some(0),
                                str_val: Some("http".into()),
                            }),
                            path: Some("/healthz".into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    period_seconds: Some(1),
                    ..Default::default()
                }),
                resources: Some(pb::ResourceRequirements {
                    limits: [(
                        "cpu".to_string(),
                        k8s_pb::apimachinery::pkg::api::resource::Quantity { string: Some("500m".into()) },
                    )]
                    .into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let object = decode(&envelope("v1", "Pod", pod.encode_to_vec())).unwrap();
    assert_eq!(object["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
    assert_eq!(object["metadata"]["ownerReferences"][0]["controller"], true);
    assert!(object["spec"].get("hostNetwork").is_none(), "false is not a pointer's: unset");
    let container = &object["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"], json!({"port": "http", "path": "/healthz"}));
    assert_eq!(container["readinessProbe"]["periodSeconds"], 1);
    assert_eq!(container["resources"]["limits"]["cpu"], "500m");
    assert!(crate::openapi::fields::unknown(schemas(), Kind::Pod, &object).is_empty(), "{object}");
    let typed = svclab_shared::Object::from_value(object).unwrap();
    assert_eq!(typed.name(), "kubia-x");
}

#[test]
fn bad_bodies_are_refused_with_reasons() {
    assert_eq!(decode(b"{\"kind\":\"Pod\"}"), Err(ProtobufError::NoMagic));
    assert!(matches!(decode(&envelope("v1", "Widget", vec![])), Err(ProtobufError::UnknownKind { .. })));
    let mut truncated = envelope("v1", "Secret", vec![0x0a, 0x05, 0x0a]);
    assert!(matches!(decode(&truncated), Err(ProtobufError::Malformed(_))));
    truncated.truncate(6);
    assert!(decode(&truncated).is_err());
    // Every prefix of a real body is refused or read, never a panic.
    let body = include_bytes!("testdata/deployment.pb");
    for end in 0..body.len() {
        let _ = decode(&body[..end]);
    }
}

#[test]
fn json_names_follow_the_schema() {
    let spec = schemas().property(schemas().root(Kind::Service), "spec").unwrap();
    let properties = schemas().resolve(spec)["properties"].as_object();
    assert_eq!(json_name(properties, "cluster_ips"), "clusterIPs");
    assert_eq!(json_name(properties, "external_ips"), "externalIPs");
    assert_eq!(json_name(None, "generate_name"), "generateName");
}

#[test]
fn zero_values_count_only_where_go_has_a_pointer() {
    let spec = k8s_pb::api::apps::v1::DeploymentSpec {
        replicas: Some(0),
        min_ready_seconds: Some(0),
        paused: Some(false),
        ..Default::default()
    };
    let deploy = k8s_pb::api::apps::v1::Deployment { spec: Some(spec), ..Default::default() };
    let object = decode(&envelope("apps/v1", "Deployment", deploy.encode_to_vec())).unwrap();
    assert_eq!(object["spec"], json!({"replicas": 0}), "replicas: 0 is meant; minReadySeconds: 0 is unset");
}

#[test]
fn the_table_covers_every_served_kind() {
    // Custom resources (the Gateway API's) are JSON only, as kube-apiserver serves CRDs.
    for kind in Kind::ALL.iter().filter(|k| !k.is_custom()) {
        let found = message_for(kind.api_version(), kind.name());
        assert!(found.is_some(), "no message for {kind:?}");
    }
    for (api_version, kind) in svclab_shared::legacy::SERVED.iter().filter(|(_, k)| !k.is_custom()) {
        assert!(message_for(api_version, kind.name()).is_some(), "{api_version} {kind:?}");
    }
}
