//! Environment and volumes against a fake API, with kubelet's messages.

use super::*;
use serde_json::json;

struct Api {
    config_maps: Vec<ConfigMap>,
    secrets: Vec<Secret>,
}

impl Lookup for Api {
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap> {
        self.config_maps.iter().find(|c| c.metadata.name.as_deref() == Some(name) && namespace == "shop").cloned()
    }
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        self.secrets.iter().find(|s| s.metadata.name.as_deref() == Some(name) && namespace == "shop").cloned()
    }
    fn claim_volume(&self, _namespace: &str, claim: &str) -> Result<String, ConfigError> {
        let missing = || ConfigError::NotFound { kind: "persistentvolumeclaim", name: claim.into() };
        if claim == "data" { Ok("pvc-1".into()) } else { Err(missing()) }
    }
    fn allocatable(&self) -> BTreeMap<String, Quantity> {
        [("cpu".to_string(), Quantity("2".into())), ("memory".to_string(), Quantity("4Gi".into()))].into()
    }
    fn service_account_token(&self, pod: &Pod, audience: Option<&str>, seconds: i64) -> Result<String, ConfigError> {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        Ok(format!("token of {name} for {} ({seconds}s)", audience.unwrap_or("the API server")))
    }
}

fn api() -> Api {
    Api {
        config_maps: vec![
            serde_json::from_value(json!({"metadata": {"name": "app-config"},
                "data": {"GREETING": "hello", "LEVEL": "debug", "config.yaml": "level: debug\n", "bad key": "x"}}))
            .unwrap(),
        ],
        secrets: vec![
            serde_json::from_value(json!({"metadata": {"name": "creds"}, "data": {"password": "czNjcmV0"}})).unwrap(),
        ],
    }
}

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
        "labels": {"app": "web"}, "annotations": {"team": "blue"}}, "spec": spec}))
    .unwrap()
}

fn info(pod: &Pod) -> PodInfo<'_> {
    PodInfo { pod, pod_ip: Ipv4Addr::new(10, 244, 1, 5), host_ip: Ipv4Addr::new(127, 0, 1, 1) }
}

#[test]
fn the_environment_comes_from_the_api_as_the_kubelet_reads_it() {
    let pod = pod(json!({"nodeName": "node-1", "containers": [{"name": "web",
    "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "250m"}},
    "envFrom": [{"configMapRef": {"name": "app-config"}, "prefix": "CFG_"}],
    "env": [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "GREETING"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "MEMORY_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "CPU_MILLI", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
        {"name": "URL", "value": "http://$(POD_IP):8080/$(KUBIA_SERVICE_HOST)/$(MISSING)/$$(POD_IP)"},
        {"name": "MAYBE", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": true}}}
    ]}]}));
    let container = pod.spec.as_ref().unwrap().containers[0].clone();
    let service = vec![("KUBIA_SERVICE_HOST".to_string(), "10.96.0.20".to_string())];
    let env = environment(&info(&pod), &container, &service, &api()).unwrap();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("CFG_GREETING"), Some("hello"));
    assert_eq!(get("CFG_config.yaml"), Some("level: debug\n"), "dots are allowed in names");
    assert_eq!(get("CFG_bad key"), None, "keys that cannot be names are skipped");
    assert_eq!(get("GREETING"), Some("hello"));
    assert_eq!(get("PASSWORD"), Some("s3cret"));
    assert_eq!(get("POD_NAME"), Some("web-1"));
    assert_eq!(get("POD_IP"), Some("10.244.1.5"));
    assert_eq!(get("NODE"), Some("node-1"));
    assert_eq!(get("APP"), Some("web"));
    assert_eq!(get("MEMORY_MI"), Some("256"));
    assert_eq!(get("CPU_LIMIT"), Some("2"), "no limit: the node's allocatable");
    assert_eq!(get("CPU_MILLI"), Some("250"));
    assert_eq!(get("URL"), Some("http://10.244.1.5:8080/10.96.0.20/$(MISSING)/$(POD_IP)"));
    assert_eq!(get("MAYBE"), None);
}

#[test]
fn a_missing_object_or_key_is_the_kubelets_error() {
    let with_env = |env: serde_json::Value| {
        let pod = pod(json!({"containers": [{"name": "web", "env": env}]}));
        let container = pod.spec.as_ref().unwrap().containers[0].clone();
        environment(&info(&pod), &container, &[], &api()).map_err(|e| e.to_string())
    };
    let missing = json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x"}}}]);
    assert_eq!(with_env(missing).unwrap_err(), "configmap \"nope\" not found");
    let key = json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "x"}}}]);
    assert_eq!(with_env(key).unwrap_err(), "couldn't find key x in ConfigMap shop/app-config");
    let secret = json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}}]);
    assert_eq!(with_env(secret).unwrap_err(), "couldn't find key user in Secret shop/creds");
}

#[test]
fn volumes_hold_the_objects_files_and_follow_their_changes() {
    let pod = pod(json!({"containers": [{"name": "web", "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app"},
            {"name": "one", "mountPath": "/etc/one"},
            {"name": "info", "mountPath": "/etc/podinfo"},
            {"name": "all", "mountPath": "/etc/all"},
            {"name": "cache", "mountPath": "/cache"},
            {"name": "data", "mountPath": "/data"}]}],
        "volumes": [
            {"name": "config", "configMap": {"name": "app-config"}},
            {"name": "one", "configMap": {"name": "app-config", "items": [{"key": "config.yaml", "path": "conf/app.yaml"}]}},
            {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
            {"name": "all", "projected": {"sources": [{"secret": {"name": "creds"}}, {"configMap": {"name": "app-config", "items": [{"key": "LEVEL", "path": "level"}]}},
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}, {"serviceAccountToken": {"path": "vault/token", "audience": "vault"}}]}},
            {"name": "cache", "emptyDir": {}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}));
    let storage = Storage::default();
    let mut api = api();
    let volumes = PodVolumes::set_up(&info(&pod), "node-1", &storage, &api).unwrap();
    let mut fs = Fs::with_files([]);
    volumes.mount(&mut fs, &pod.spec.as_ref().unwrap().containers[0]);
    assert_eq!(fs.read("/etc/app/GREETING").unwrap(), b"hello");
    assert_eq!(fs.read("/etc/one/conf/app.yaml").unwrap(), b"level: debug\n");
    assert!(fs.stat("/etc/one/GREETING").is_none(), "items choose the keys");
    assert_eq!(fs.read("/etc/podinfo/labels").unwrap(), b"app=\"web\"\n");
    assert_eq!(fs.read("/etc/podinfo/name").unwrap(), b"web-1");
    assert_eq!(fs.read("/etc/all/password").unwrap(), b"s3cret");
    assert_eq!(fs.read("/etc/all/level").unwrap(), b"debug");
    assert_eq!(fs.read("/etc/all/token").unwrap(), b"token of web-1 for the API server (3607s)");
    assert_eq!(fs.read("/etc/all/vault/token").unwrap(), b"token of web-1 for vault (3600s)");
    assert_eq!(fs.write("/etc/app/GREETING", b"x", false), Err(super::super::fs::FsError::ReadOnly));
    fs.write("/data/kept", b"1", false).unwrap();
    fs.write("/cache/tmp", b"1", false).unwrap();
    // The ConfigMap changes: the files follow.
    api.config_maps[0].data.as_mut().unwrap().insert("GREETING".into(), "hi".into());
    volumes.refresh(&info(&pod), &api).unwrap();
    assert_eq!(fs.read("/etc/app/GREETING").unwrap(), b"hi");
    // A claim's data outlives the pod; an emptyDir does not.
    let again = PodVolumes::set_up(&info(&pod), "node-1", &storage, &api).unwrap();
    let mut fresh = Fs::with_files([]);
    again.mount(&mut fresh, &pod.spec.as_ref().unwrap().containers[0]);
    assert_eq!(fresh.read("/data/kept").unwrap(), b"1");
    assert!(fresh.stat("/cache/tmp").is_none());
}

#[test]
fn a_volume_that_cannot_be_set_up_says_why() {
    let missing =
        pod(json!({"containers": [{"name": "web"}], "volumes": [{"name": "config", "configMap": {"name": "nope"}}]}));
    let err = PodVolumes::set_up(&info(&missing), "node-1", &Storage::default(), &api()).err().unwrap().to_string();
    assert_eq!(err, "MountVolume.SetUp failed for volume \"config\" : configmap \"nope\" not found");
    let key = pod(json!({"containers": [{"name": "web"}], "volumes": [{"name": "config",
        "configMap": {"name": "app-config", "items": [{"key": "nope", "path": "x"}]}}]}));
    let err = PodVolumes::set_up(&info(&key), "node-1", &Storage::default(), &api()).err().unwrap().to_string();
    assert_eq!(
        err,
        "MountVolume.SetUp failed for volume \"config\" : configmap references non-existent config key: nope"
    );
    let claim = pod(
        json!({"containers": [{"name": "web"}], "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "other"}}]}),
    );
    let err = PodVolumes::set_up(&info(&claim), "node-1", &Storage::default(), &api()).err().unwrap().to_string();
    assert_eq!(err, "persistentvolumeclaim \"other\" not found");
}
