//! ClientIP session affinity: which endpoint each client of a service port was sent to, kept while
//! the client keeps connecting within the timeout (sliding, as kube-proxy's affinity does).

use crate::addr::Protocol;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Service (`namespace/name`), port name, protocol and client address.
pub type AffinityKey = (String, String, Protocol, Ipv4Addr);

/// An endpoint's address and port.
pub type Endpoint = (Ipv4Addr, u16);

/// The affinity memory of one proxy.
#[derive(Debug, Default)]
pub struct Affinity {
    entries: Mutex<HashMap<AffinityKey, (Endpoint, Instant)>>,
}

impl Affinity {
    /// The endpoint this client was last sent to, unless it has been idle longer than `timeout`.
    pub fn get(&self, key: &AffinityKey, timeout: Duration) -> Option<Endpoint> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((endpoint, last)) if last.elapsed() <= timeout => Some(*endpoint),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Records that the client was just sent to `endpoint`.
    pub fn touch(&self, key: AffinityKey, endpoint: Endpoint) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the memory bounded: forget the long-idle before it grows large.
        if entries.len() > 65536 {
            entries.retain(|_, (_, last)| last.elapsed() < Duration::from_secs(3600));
        }
        entries.insert(key, (endpoint, Instant::now()));
    }
}
