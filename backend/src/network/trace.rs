//! Traces of test connections: the dashboard's test requests register the socket they send from,
//! and every proxy that routes a connection from a registered socket (a node port, a load
//! balancer) records the hop it chose, so a request from outside the cluster is explained as
//! well as one from a pod. When nothing is registered a proxy pays one atomic load.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use svclab_shared::lab::Hop;

type Hops = Arc<Mutex<Vec<Hop>>>;

#[derive(Default)]
pub struct Traces {
    active: AtomicUsize,
    by_socket: Mutex<HashMap<SocketAddr, Hops>>,
}

/// A registered socket: the hops recorded for it, until dropped.
pub struct Trace {
    traces: Arc<Traces>,
    socket: SocketAddr,
    hops: Hops,
    /// The source the traced socket's far end sees, kept as long as the trace.
    pub(super) source: Option<super::Tracked>,
}

impl Trace {
    /// The hops recorded so far, in the order the proxies chose them.
    pub fn hops(&self) -> Vec<Hop> {
        self.hops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let mut map = self.traces.by_socket.lock().unwrap_or_else(|e| e.into_inner());
        // Drop the socket and every socket linked to it.
        map.retain(|socket, hops| *socket != self.socket && !Arc::ptr_eq(hops, &self.hops));
        self.traces.active.fetch_sub(1, Ordering::Release);
    }
}

impl Traces {
    /// Starts recording hops for connections from `socket`.
    pub fn register(self: &Arc<Self>, socket: SocketAddr) -> Trace {
        let hops = Hops::default();
        self.by_socket.lock().unwrap_or_else(|e| e.into_inner()).insert(socket, hops.clone());
        self.active.fetch_add(1, Ordering::Release);
        Trace { traces: self.clone(), socket, hops, source: None }
    }

    fn lookup(&self, socket: SocketAddr) -> Option<Hops> {
        if self.active.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.by_socket.lock().unwrap_or_else(|e| e.into_inner()).get(&socket).cloned()
    }

    /// Whether connections from `peer` are traced.
    pub fn traced(&self, peer: SocketAddr) -> bool {
        self.lookup(peer).is_some()
    }

    /// Records a hop for a connection from `peer`, if it is traced. `hop` is only made then.
    pub fn record(&self, peer: SocketAddr, hop: impl FnOnce() -> Hop) {
        if let Some(hops) = self.lookup(peer) {
            hops.lock().unwrap_or_else(|e| e.into_inner()).push(hop());
        }
    }

    /// A proxy forwarding a traced connection from `peer` through its own socket `onward`: hops
    /// recorded for `onward` belong to `peer`'s trace.
    pub fn link(&self, peer: SocketAddr, onward: SocketAddr) {
        if let Some(hops) = self.lookup(peer) {
            self.by_socket.lock().unwrap_or_else(|e| e.into_inner()).insert(onward, hops);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(endpoint: &str) -> Hop {
        Hop { endpoint: endpoint.into(), ..Hop::default() }
    }

    #[test]
    fn hops_reach_the_registered_socket_and_its_links_only() {
        let traces = Arc::new(Traces::default());
        let (client, onward, other) =
            ("127.0.0.1:1000".parse().unwrap(), "127.0.0.1:2000".parse().unwrap(), "127.0.0.1:3000".parse().unwrap());
        traces.record(client, || panic!("nothing is traced: no hop is made"));
        let trace = traces.register(client);
        traces.record(client, || hop("a"));
        traces.link(client, onward);
        traces.record(onward, || hop("b"));
        traces.record(other, || hop("c"));
        assert_eq!(trace.hops().iter().map(|h| h.endpoint.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        drop(trace);
        assert!(!traces.traced(client) && !traces.traced(onward));
        assert_eq!(traces.active.load(Ordering::Acquire), 0);
    }
}
