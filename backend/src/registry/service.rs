//! Service addresses, as kube-apiserver's service registry handles them: the cluster IP, node
//! ports and the health-check node port are reserved together when a service is written and given
//! back when it no longer needs them, with Kubernetes' rules for type changes (`ClusterIP` ↔
//! `NodePort` ↔ `LoadBalancer` ↔ `ExternalName`).

use super::ipalloc::ClusterIpAllocator;
use crate::error::ApiError;
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use rand::Rng;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use svclab_shared::Kind;
use svclab_shared::service::{ServiceType, needs_health_check};
use svclab_shared::validation::FieldError;

/// Allocates node ports from one range (30000-32767 by default).
#[derive(Debug)]
pub struct PortAllocator {
    first: u16,
    last: u16,
    used: HashSet<u16>,
}

/// Why a node port could not be allocated, in kube-apiserver's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortAllocationError {
    #[error("provided port is not in the valid range. The range of valid ports is {0}")]
    OutOfRange(String),
    #[error("provided port is already allocated")]
    Taken,
    #[error("range is full")]
    Full,
}

impl PortAllocator {
    pub fn new(first: u16, last: u16) -> Self {
        PortAllocator { first, last, used: HashSet::new() }
    }

    pub fn range(&self) -> String {
        format!("{}-{}", self.first, self.last)
    }

    fn allocate(&mut self, requested: Option<u16>) -> Result<u16, PortAllocationError> {
        if let Some(port) = requested {
            if !(self.first..=self.last).contains(&port) {
                return Err(PortAllocationError::OutOfRange(self.range()));
            }
            if !self.used.insert(port) {
                return Err(PortAllocationError::Taken);
            }
            return Ok(port);
        }
        let size = (self.last - self.first) as usize + 1;
        if self.used.len() >= size {
            return Err(PortAllocationError::Full);
        }
        let mut rng = rand::rng();
        loop {
            let port = rng.random_range(self.first..=self.last);
            if self.used.insert(port) {
                return Ok(port);
            }
        }
    }

    fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }
}

/// The allocators behind services.
#[derive(Debug)]
pub struct ServiceAllocators {
    pub cluster_ips: ClusterIpAllocator,
    pub node_ports: PortAllocator,
}

/// What one write took, and what it gives back once it is committed.
#[derive(Debug, Default)]
pub struct Reservation {
    taken_ips: Vec<Ipv4Addr>,
    taken_ports: Vec<u16>,
    freed_ips: Vec<Ipv4Addr>,
    freed_ports: Vec<u16>,
}

fn service_type(spec: &ServiceSpec) -> ServiceType {
    ServiceType::of(spec)
}

fn wants_node_ports(spec: &ServiceSpec) -> bool {
    match service_type(spec) {
        ServiceType::NodePort => true,
        ServiceType::LoadBalancer => spec.allocate_load_balancer_node_ports.unwrap_or(true),
        _ => false,
    }
}

fn ip_of(spec: &ServiceSpec) -> Option<Ipv4Addr> {
    spec.cluster_ip.as_deref()?.parse().ok()
}

fn node_ports_of(spec: &ServiceSpec) -> Vec<u16> {
    let ports = spec.ports.iter().flatten().filter_map(|p| p.node_port).map(|p| p as u16);
    ports.chain(spec.health_check_node_port.map(|p| p as u16)).collect()
}

/// Fills in what an update leaves empty but the stored service already has (kube-apiserver's
/// `patchAllocatedValues`), then drops what the new type no longer uses when the update kept the
/// old value (`dropTypeDependentFields`): so a manifest applied again, or a type change, keeps or
/// releases addresses as Kubernetes does.
pub fn carry_over(old: &ServiceSpec, new: &mut ServiceSpec) {
    let new_type = service_type(new);
    if new_type != ServiceType::ExternalName && new.cluster_ip.as_deref().unwrap_or_default().is_empty() {
        new.cluster_ip = old.cluster_ip.clone();
        new.cluster_ips = old.cluster_ips.clone();
    }
    if wants_node_ports(new) {
        for port in new.ports.iter_mut().flatten() {
            if port.node_port.is_none() {
                // The manifest may leave the protocol to its default.
                let protocol =
                    |p: &k8s_openapi::api::core::v1::ServicePort| p.protocol.clone().unwrap_or_else(|| "TCP".into());
                let same = old.ports.iter().flatten().find(|p| p.port == port.port && protocol(p) == protocol(port));
                port.node_port = same.and_then(|p| p.node_port);
            }
        }
    }
    if needs_health_check(new) && new.health_check_node_port.is_none() {
        new.health_check_node_port = old.health_check_node_port;
    }
    if service_type(old) != new_type {
        if new_type == ServiceType::ExternalName && new.cluster_ip == old.cluster_ip {
            new.cluster_ip = None;
            new.cluster_ips = None;
        }
        if !wants_node_ports(new) {
            for port in new.ports.iter_mut().flatten() {
                let kept = old.ports.iter().flatten().any(|p| p.node_port.is_some() && p.node_port == port.node_port);
                if kept {
                    port.node_port = None;
                }
            }
        }
    }
    let external = service_type(new).is_external();
    if !external && new.external_traffic_policy == old.external_traffic_policy {
        new.external_traffic_policy = None;
    }
    if !needs_health_check(new) && new.health_check_node_port == old.health_check_node_port {
        new.health_check_node_port = None;
    }
    if new_type != ServiceType::LoadBalancer && new.load_balancer_class == old.load_balancer_class {
        new.load_balancer_class = None;
    }
    if new_type == ServiceType::ExternalName {
        new.internal_traffic_policy = None;
        new.ip_families = None;
        new.ip_family_policy = None;
    }
}

impl ServiceAllocators {
    /// Marks what a stored service holds as taken: after a restart the allocators are rebuilt
    /// from the store before any write, so no address or port is handed out twice.
    pub fn restore(&mut self, svc: &Service) {
        let mut held = svc.clone();
        match self.reserve(None, &mut held) {
            Ok(r) => self.commit(r),
            Err(e) => tracing::warn!(service = ?svc.metadata.name, error = %e, "a stored service's addresses overlap"),
        }
    }

    /// Reserves what `new` needs, given what `old` held (`None` on create), and fills the
    /// addresses into `new`. Nothing is taken when it fails.
    pub fn reserve(&mut self, old: Option<&Service>, new: &mut Service) -> Result<Reservation, ApiError> {
        let name = new.metadata.name.clone().unwrap_or_default();
        let mut r = Reservation::default();
        let result = self.reserve_into(old.and_then(|o| o.spec.as_ref()), new, &mut r);
        match result {
            Ok(()) => Ok(r),
            Err(cause) => {
                self.rollback(r);
                Err(ApiError::invalid(Kind::Service, &name, vec![cause]))
            }
        }
    }

    fn reserve_into(
        &mut self,
        old: Option<&ServiceSpec>,
        new: &mut Service,
        r: &mut Reservation,
    ) -> Result<(), FieldError> {
        let spec = new.spec.get_or_insert_with(Default::default);
        let empty = ServiceSpec::default();
        let old = old.unwrap_or(&empty);
        // The cluster IP.
        let headless = spec.cluster_ip.as_deref() == Some("None");
        if service_type(spec) == ServiceType::ExternalName {
            spec.cluster_ip = None;
            spec.cluster_ips = None;
        } else if headless {
            spec.cluster_ips = Some(vec!["None".into()]);
        } else if let Some(ip) = ip_of(spec).filter(|ip| Some(*ip) == ip_of(old)) {
            spec.cluster_ips = Some(vec![ip.to_string()]);
        } else {
            let requested = spec.cluster_ip.clone().filter(|ip| !ip.is_empty());
            let ip = self.cluster_ips.allocate(requested.as_deref()).map_err(|msg| {
                let value = format!("[]string{{{:?}}}", requested.unwrap_or_default());
                FieldError::invalid("spec.clusterIPs", value, msg.to_string())
            })?;
            r.taken_ips.push(ip);
            spec.cluster_ip = Some(ip.to_string());
            spec.cluster_ips = Some(vec![ip.to_string()]);
        }
        if let Some(ip) = ip_of(old).filter(|ip| Some(*ip) != ip_of(spec)) {
            r.freed_ips.push(ip);
        }
        // Node ports: a port the old version held is kept; anything else is allocated.
        let held: HashSet<u16> = node_ports_of(old).into_iter().collect();
        let wants = wants_node_ports(spec);
        for (i, port) in spec.ports.iter_mut().flatten().enumerate() {
            if !wants {
                continue;
            }
            let requested = port.node_port.filter(|p| *p != 0).map(|p| p as u16);
            if requested.is_some_and(|p| held.contains(&p)) {
                continue;
            }
            let number = self.node_ports.allocate(requested).map_err(|msg| {
                FieldError::invalid(
                    format!("spec.ports[{i}].nodePort"),
                    requested.unwrap_or(0).to_string(),
                    msg.to_string(),
                )
            })?;
            r.taken_ports.push(number);
            port.node_port = Some(number as i32);
        }
        if needs_health_check(spec) {
            let requested = spec.health_check_node_port.filter(|p| *p != 0).map(|p| p as u16);
            if !requested.is_some_and(|p| held.contains(&p)) {
                let number = self.node_ports.allocate(requested).map_err(|msg| {
                    FieldError::invalid("spec.healthCheckNodePort", requested.unwrap_or(0).to_string(), msg.to_string())
                })?;
                r.taken_ports.push(number);
                spec.health_check_node_port = Some(number as i32);
            }
        }
        let now: HashSet<u16> = node_ports_of(spec).into_iter().collect();
        r.freed_ports.extend(held.into_iter().filter(|p| !now.contains(p)));
        Ok(())
    }

    /// The write went through: give back what the old version held and the new one does not.
    pub fn commit(&mut self, r: Reservation) {
        r.freed_ips.into_iter().for_each(|ip| self.cluster_ips.release(ip));
        r.freed_ports.into_iter().for_each(|p| self.node_ports.release(p));
    }

    /// The write failed: give back what it took.
    pub fn rollback(&mut self, r: Reservation) {
        r.taken_ips.into_iter().for_each(|ip| self.cluster_ips.release(ip));
        r.taken_ports.into_iter().for_each(|p| self.node_ports.release(p));
    }

    /// The service is gone: give back everything it held.
    pub fn release_all(&mut self, svc: &Service) {
        let Some(spec) = &svc.spec else { return };
        if let Some(ip) = ip_of(spec) {
            self.cluster_ips.release(ip);
        }
        node_ports_of(spec).into_iter().for_each(|p| self.node_ports.release(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allocators() -> ServiceAllocators {
        ServiceAllocators {
            cluster_ips: ClusterIpAllocator::new(Ipv4Addr::new(10, 96, 0, 0), 12),
            node_ports: PortAllocator::new(30000, 32767),
        }
    }

    fn svc(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "kubia"}, "spec": spec})).unwrap()
    }

    fn node_port(s: &Service, i: usize) -> Option<i32> {
        s.spec.as_ref().unwrap().ports.as_ref().unwrap()[i].node_port
    }

    #[test]
    fn node_ports_are_given_or_random_and_clashes_are_refused() {
        let mut a = allocators();
        let mut first =
            svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30123}, {"name": "b", "port": 81}]}));
        a.reserve(None, &mut first).unwrap();
        assert_eq!(node_port(&first, 0), Some(30123));
        assert!((30000..=32767).contains(&node_port(&first, 1).unwrap()));

        let mut clash = svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30123}]}));
        let err = a.reserve(None, &mut clash).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Service \"kubia\" is invalid: spec.ports[0].nodePort: Invalid value: 30123: provided port is already allocated"
        );
        let mut outside = svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]}));
        let err = a.reserve(None, &mut outside).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("provided port is not in the valid range. The range of valid ports is 30000-32767")
        );
        // A refused write takes nothing: its cluster IP was given back.
        assert_eq!(a.cluster_ips.used_count(), 1);
    }

    #[test]
    fn type_changes_keep_or_release_addresses() {
        let mut a = allocators();
        let mut node = svc(json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30100}]}));
        let r = a.reserve(None, &mut node).unwrap();
        a.commit(r);
        let ip = node.spec.as_ref().unwrap().cluster_ip.clone();

        // Back to ClusterIP with the manifest's ports (no nodePort): the node port is released.
        let mut cluster = svc(json!({"type": "ClusterIP", "ports": [{"port": 80, "protocol": "TCP"}]}));
        carry_over(node.spec.as_ref().unwrap(), cluster.spec.as_mut().unwrap());
        let r = a.reserve(Some(&node), &mut cluster).unwrap();
        a.commit(r);
        assert_eq!(cluster.spec.as_ref().unwrap().cluster_ip, ip, "the cluster IP is kept");
        assert_eq!(node_port(&cluster, 0), None);
        let mut reuse = svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30100}]}));
        a.reserve(None, &mut reuse).expect("30100 was released");

        // To ExternalName: the cluster IP is cleared and released.
        let mut external = svc(json!({"type": "ExternalName", "externalName": "example.com", "ports": [{"port": 80}]}));
        let mut spec = external.spec.take().unwrap();
        spec.cluster_ip = ip.clone();
        external.spec = Some(spec);
        carry_over(cluster.spec.as_ref().unwrap(), external.spec.as_mut().unwrap());
        let r = a.reserve(Some(&cluster), &mut external).unwrap();
        a.commit(r);
        assert_eq!(external.spec.as_ref().unwrap().cluster_ip, None);
        let mut again = svc(json!({"clusterIP": ip, "ports": [{"port": 80}]}));
        a.reserve(None, &mut again).expect("the address was released");

        // From LoadBalancer to NodePort, the class the update kept goes with the type.
        let classed =
            svc(json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/vip", "ports": [{"port": 80}]}));
        let mut node = classed.clone();
        node.spec.as_mut().unwrap().type_ = Some("NodePort".into());
        carry_over(classed.spec.as_ref().unwrap(), node.spec.as_mut().unwrap());
        assert_eq!(node.spec.as_ref().unwrap().load_balancer_class, None);
    }

    #[test]
    fn reapplying_a_node_port_service_keeps_its_ports() {
        let mut a = allocators();
        let mut first = svc(
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80, "protocol": "TCP"}]}),
        );
        let r = a.reserve(None, &mut first).unwrap();
        a.commit(r);
        let (np, hc) = (node_port(&first, 0), first.spec.as_ref().unwrap().health_check_node_port);
        assert!(np.is_some() && hc.is_some() && np != hc);
        let mut again = svc(
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80, "protocol": "TCP"}]}),
        );
        carry_over(first.spec.as_ref().unwrap(), again.spec.as_mut().unwrap());
        let r = a.reserve(Some(&first), &mut again).unwrap();
        a.commit(r);
        assert_eq!((node_port(&again, 0), again.spec.as_ref().unwrap().health_check_node_port), (np, hc));
    }
}
