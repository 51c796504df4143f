//! The service cluster IP allocator: `10.96.0.0/12` by default, honouring a requested address and
//! rejecting a taken or out-of-range one with kube-apiserver's words.

use rand::Rng;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Allocates service cluster IPs from one IPv4 CIDR.
#[derive(Debug)]
pub struct ClusterIpAllocator {
    base: u32,
    size: u32,
    prefix: u8,
    used: HashSet<Ipv4Addr>,
}

impl ClusterIpAllocator {
    pub fn new(network: Ipv4Addr, prefix: u8) -> Self {
        let size = 1u32 << (32 - prefix as u32);
        let base = u32::from(network) & !(size - 1);
        ClusterIpAllocator { base, size, prefix, used: HashSet::new() }
    }

    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        n > self.base && n < self.base + self.size - 1
    }

    /// Allocates `requested`, or a free address. Dynamic allocation prefers the upper part of
    /// the range, leaving the lower part to addresses users ask for, as Kubernetes does.
    pub fn allocate(&mut self, requested: Option<&str>) -> Result<Ipv4Addr, AllocationError> {
        if let Some(text) = requested {
            let ip: Ipv4Addr = text.parse().map_err(|_| AllocationError::NotAnAddress(text.to_string()))?;
            if !self.contains(ip) {
                return Err(AllocationError::OutOfRange { ip, range: self.cidr() });
            }
            if !self.used.insert(ip) {
                return Err(AllocationError::Taken(ip));
            }
            return Ok(ip);
        }
        let usable = self.size.saturating_sub(2);
        if self.used.len() as u32 >= usable {
            return Err(AllocationError::Full);
        }
        let static_band = (self.size / 16).clamp(16, 256).min(usable);
        let mut rng = rand::rng();
        let bands = [(static_band + 1, self.size - 1), (1, self.size - 1)];
        for (lo, hi) in bands {
            if lo >= hi {
                continue;
            }
            for _ in 0..64 {
                let ip = Ipv4Addr::from(self.base + rng.random_range(lo..hi));
                if self.used.insert(ip) {
                    return Ok(ip);
                }
            }
        }
        // Nearly full: walk the range.
        let ip = (1..self.size - 1).map(|o| Ipv4Addr::from(self.base + o)).find(|ip| !self.used.contains(ip));
        let ip = ip.ok_or(AllocationError::Full)?;
        self.used.insert(ip);
        Ok(ip)
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&ip);
    }

    /// How many addresses are taken.
    pub fn used_count(&self) -> usize {
        self.used.len()
    }
}

/// Why a cluster IP could not be allocated, in kube-apiserver's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("failed to allocate IP {0}: not a valid IPv4 address")]
    NotAnAddress(String),
    #[error(
        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {range}"
    )]
    OutOfRange { ip: Ipv4Addr, range: String },
    #[error("failed to allocate IP {0}: provided IP is already allocated")]
    Taken(Ipv4Addr),
    #[error("failed to allocate a serviceIP: range is full")]
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_requests_and_rejects_taken_or_foreign_addresses() {
        let mut a = ClusterIpAllocator::new(Ipv4Addr::new(10, 96, 0, 0), 12);
        assert_eq!(a.allocate(Some("10.96.0.1")).unwrap(), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(
            a.allocate(Some("10.96.0.1")).unwrap_err().to_string(),
            "failed to allocate IP 10.96.0.1: provided IP is already allocated"
        );
        let err = a.allocate(Some("10.0.0.1")).unwrap_err().to_string();
        assert!(err.ends_with("The range of valid IPs is 10.96.0.0/12"), "{err}");
        a.release(Ipv4Addr::new(10, 96, 0, 1));
        assert!(a.allocate(Some("10.96.0.1")).is_ok());
    }

    #[test]
    fn random_allocation_stays_in_range_and_never_repeats() {
        let mut a = ClusterIpAllocator::new(Ipv4Addr::new(10, 96, 0, 0), 24);
        let mut seen = HashSet::new();
        for _ in 0..254 {
            let ip = a.allocate(None).unwrap();
            assert!(a.contains(ip));
            assert!(seen.insert(ip));
        }
        assert!(a.allocate(None).is_err(), "a /24 holds 254 addresses");
    }
}
