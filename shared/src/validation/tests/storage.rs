//! Claims, volumes, quotas and limit ranges, checked as kube-apiserver checks them.

use super::*;

#[test]
fn a_claim_needs_an_access_mode_and_a_size() {
    let claim = |spec: serde_json::Value| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"}, "spec": spec});
    let valid = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
    assert_eq!(errors(claim(valid)), Vec::<String>::new());
    assert_eq!(
        errors(claim(json!({"resources": {"requests": {"storage": "0"}}}))),
        [
            "spec.accessModes: Required value: at least 1 access mode is required",
            "spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
        ]
    );
    assert_eq!(
        errors(claim(json!({"accessModes": ["ReadWriteSometimes"], "volumeMode": "Tape"}))),
        [
            "spec.accessModes: Unsupported value: \"ReadWriteSometimes\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
            "spec.resources[storage]: Required value",
            "spec.volumeMode: Unsupported value: \"Tape\": supported values: \"Block\", \"Filesystem\"",
        ]
    );
    let set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "busybox"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]}});
    assert_eq!(
        errors(set),
        ["spec.volumeClaimTemplates[0].spec.accessModes: Required value: at least 1 access mode is required"]
    );
}

#[test]
fn a_volume_has_a_capacity_and_known_policies() {
    let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Shred", "hostPath": {"path": "/d"}}});
    assert_eq!(
        errors(pv),
        [
            "spec.capacity: Required value",
            "spec.persistentVolumeReclaimPolicy: Unsupported value: \"Shred\": supported values: \"Delete\", \"Recycle\", \"Retain\"",
        ]
    );
}

#[test]
fn quotas_limit_standard_resources_with_sane_amounts() {
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
        "spec": {"hard": {"pods": "-1", "services": "1500m", "bogus": "2", "example.com/gpus": "4", "requests.cpu": "500m"},
                 "scopes": ["Sometimes"]}});
    assert_eq!(
        errors(quota),
        [
            "spec.hard[bogus]: Invalid value: \"bogus\": must be a standard resource type or fully qualified",
            "spec.hard[pods]: Invalid value: \"-1\": must be greater than or equal to 0",
            "spec.hard[services]: Invalid value: \"1500m\": must be an integer",
            "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"Sometimes\"}: unsupported scope",
        ]
    );
}

#[test]
fn limit_ranges_keep_their_limits_in_order() {
    let range = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "default"},
        "spec": {"limits": [
            {"type": "Container", "min": {"cpu": "500m"}, "max": {"cpu": "250m"}, "default": {"memory": "1Gi"},
             "defaultRequest": {"memory": "2Gi"}, "maxLimitRequestRatio": {"cpu": "0.5"}},
            {"type": "Pod", "default": {"cpu": "1"}},
            {"type": "Container"},
            {"type": "Node"}]}});
    assert_eq!(
        errors(range),
        [
            "spec.limits[0].min[cpu]: Invalid value: \"500m\": min value 500m is greater than max value 250m",
            "spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: \"0.5\": ratio 0.5 is less than 1",
            "spec.limits[0].defaultRequest[memory]: Invalid value: \"2Gi\": default request value 2Gi is greater than default limit value 1Gi",
            "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'",
            "spec.limits[2].type: Duplicate value: \"Container\"",
            "spec.limits[3].type: Invalid value: \"Node\": must be a standard limit type or fully qualified",
        ]
    );
}

#[test]
fn quota_scopes_fit_what_they_count() {
    let quota = |scopes: serde_json::Value, hard: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
               "spec": {"hard": hard, "scopes": scopes}})
    };
    assert_eq!(
        errors(quota(json!(["NotBestEffort"]), json!({"pods": "5", "requests.cpu": "2"}))),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(quota(json!(["BestEffort"]), json!({"pods": "5", "requests.cpu": "2"}))),
        [
            "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"BestEffort\"}: unsupported scope applied to resource"
        ]
    );
    assert_eq!(
        errors(quota(json!(["Terminating", "NotTerminating"]), json!({"pods": "5"}))),
        [
            "spec.scopes: Invalid value: []core.ResourceQuotaScope{\"Terminating\", \"NotTerminating\"}: conflicting scopes"
        ]
    );
}
