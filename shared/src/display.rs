//! How kubectl names things in its messages (`service/kubia`), and a node's address.

use k8s_openapi::api::core::v1::Node;

/// A node's first address of a type (`InternalIP`, `ExternalIP`).
pub fn node_address<'a>(node: &'a Node, type_: &str) -> Option<&'a str> {
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    addresses.iter().find(|a| a.type_ == type_).map(|a| a.address.as_str())
}

/// A node's INTERNAL-IP: the address its kubelet reported.
pub fn internal_ip(node: &Node) -> Option<&str> {
    node_address(node, "InternalIP")
}

/// How kubectl names an object in its output: `service/kubia`, `deployment.apps/kubia`.
pub fn reference(kind: crate::Kind, name: &str) -> String {
    match kind.group() {
        "" => format!("{}/{name}", kind.name().to_lowercase()),
        group => format!("{}.{group}/{name}", kind.name().to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_carry_the_group() {
        assert_eq!(reference(crate::Kind::Service, "kubia"), "service/kubia");
        assert_eq!(reference(crate::Kind::Deployment, "kubia"), "deployment.apps/kubia");
    }
}
