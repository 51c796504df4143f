//! NetworkPolicies: selectors, peers, address blocks, ports and policy types, checked as
//! kube-apiserver checks them.

use super::*;

fn policy(spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
}

#[test]
fn a_valid_policy_passes() {
    let spec = json!({"podSelector": {"matchLabels": {"app": "kubia"}}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                              {"podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["client"]}]},
                               "namespaceSelector": {}}],
                     "ports": [{"port": 8080}, {"port": "http", "protocol": "TCP"}, {"port": 30000, "endPort": 32767}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "2001:db8::/64"}}]}]});
    assert_eq!(errors(policy(spec)), Vec::<String>::new());
}

#[test]
fn address_blocks_must_parse_and_except_lies_strictly_inside() {
    let spec = json!({"podSelector": {}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8", "11.0.0.0/16", "10.1.0.0", "10.2.0.0/16"]}},
        {"ipBlock": {"cidr": "10.0.0.0/33"}},
        {"ipBlock": {"cidr": ""}, "podSelector": {}},
        {}]}]});
    assert_eq!(
        errors(policy(spec)),
        [
            "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"10.0.0.0/8\": must be a strict subset of `cidr`",
            "spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`",
            "spec.ingress[0].from[0].ipBlock.except[2]: Invalid value: \"10.1.0.0\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            "spec.ingress[0].from[1].ipBlock.cidr: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            "spec.ingress[0].from[2].ipBlock.cidr: Required value",
            "spec.ingress[0].from[2]: Forbidden: may not specify both ipBlock and another peer",
            "spec.ingress[0].from[3]: Required value: must specify a peer",
        ]
    );
}

#[test]
fn ports_ranges_and_protocols() {
    let spec = json!({"podSelector": {}, "egress": [{"ports": [
        {"port": 0}, {"port": 80, "endPort": 70}, {"port": "http", "endPort": 90}, {"endPort": 90},
        {"port": "no_such_name"}, {"protocol": "ICMP"}]}]});
    assert_eq!(
        errors(policy(spec)),
        [
            "spec.egress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.egress[0].ports[1].endPort: Invalid value: 80: must be greater than or equal to `port`",
            "spec.egress[0].ports[2].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
            "spec.egress[0].ports[3].endPort: Invalid value: 90: may not be specified when `port` is not specified",
            "spec.egress[0].ports[4].port: Invalid value: \"no_such_name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "spec.egress[0].ports[5].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
        ]
    );
}

#[test]
fn selectors_and_policy_types() {
    let spec = json!({"podSelector": {"matchLabels": {"app": "-x"}, "matchExpressions": [
            {"key": "a", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "bad key", "operator": "Near"}]},
        "policyTypes": ["Ingress", "Sideways"]});
    let errs = errors(policy(spec));
    assert_eq!(errs[0], format!("spec.podSelector.matchLabels: Invalid value: \"-x\": {}", names::LABEL_VALUE_MSG));
    assert_eq!(
        errs[1..4],
        [
            "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.podSelector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            "spec.podSelector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator",
        ]
    );
    assert!(
        errs[4].starts_with(
            "spec.podSelector.matchExpressions[2].key: Invalid value: \"bad key\": name part must consist"
        )
    );
    assert_eq!(
        errs[5],
        "spec.policyTypes[1]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\""
    );
    let three = json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]});
    assert_eq!(
        errors(policy(three)),
        [
            "spec.policyTypes: Invalid value: []string{\"Ingress\", \"Egress\", \"Ingress\"}: may not specify more than two policyTypes"
        ]
    );
}
