//! Roles, cluster roles and their bindings, checked as kube-apiserver checks them.

use super::*;

#[test]
fn rules_need_verbs_and_resources_or_urls() {
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "r", "namespace": "default"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                  {"resources": ["pods"]},
                  {"nonResourceURLs": ["/healthz"], "verbs": ["get"], "resources": ["pods"]}]});
    assert_eq!(
        errors(role),
        [
            "rules[1].verbs: Required value: verbs must contain at least one value",
            "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
            "rules[2].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
            "rules[2].nonResourceURLs: Invalid value: []string{\"/healthz\"}: rules cannot apply to both regular resources and non-resource URLs",
        ]
    );
    // Cluster roles may name URLs, and their names only need to fit in a path.
    let cluster = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "system:aggregated-metrics-reader"},
        "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]});
    assert_eq!(errors(cluster), Vec::<String>::new());
    let slash =
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "a/b"}});
    assert_eq!(errors(slash), ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]);
}

#[test]
fn bindings_refer_to_roles_and_name_valid_subjects() {
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "metrics-server:system:auth-delegator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ""},
        "subjects": [{"kind": "ServiceAccount", "name": "metrics-server"},
                     {"kind": "User", "name": "jane", "apiGroup": "example.com"},
                     {"kind": "Robot", "name": "r2"}]});
    assert_eq!(
        errors(binding),
        [
            "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
            "roleRef.name: Required value",
            "subjects[0].namespace: Required value",
            "subjects[1].apiGroup: Unsupported value: \"example.com\": supported values: \"rbac.authorization.k8s.io\"",
            "subjects[2].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
        ]
    );
    let role_ref = |name: &str| {
        Object::from_value(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "b", "namespace": "default"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}}))
        .unwrap()
    };
    let errs: Vec<String> =
        validate_update(&role_ref("view"), &role_ref("edit")).iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef"
        ]
    );
}
