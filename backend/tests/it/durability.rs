//! The durable store, tried as a crash would: a child svclab on a temporary data directory, eight
//! writers creating and updating Services (each with a cluster IP and a node port) and Secrets
//! through the API as fast as they can, `kill -9` after a random number of acknowledged writes (a
//! moment set by progress, not by the clock, so a loaded machine moves it alike), a restart. Every write that
//! was acknowledged must be there with its last acknowledged content (or the one in flight at the
//! kill), nothing that was refused may be, resourceVersions keep rising, and no cluster IP or node
//! port a stored service holds is handed out again. A few seeds here; `cargo xtask fuzz store
//! --kills N` kills it many times over (it sets `SVCLAB_FUZZ_KILLS` and `SVCLAB_FUZZ_SEED`).

use crate::common;

use common::child::Svclab;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The generation that stands for "deleted".
const DELETED: u64 = u64::MAX;

/// What the writers were told about one object.
#[derive(Default, Debug, Clone)]
struct Expect {
    kind: &'static str,
    /// The generation the last acknowledged write gave it ([`DELETED`] once a deletion was
    /// acknowledged; `None`: its create never was).
    acked: Option<u64>,
    /// A write in flight when svclab died (a generation, or [`DELETED`]): it may or may not have
    /// been committed.
    in_flight: Option<u64>,
    /// The API refused its create: it must not exist.
    refused: bool,
    /// A service's cluster IP and node port, once acknowledged.
    address: Option<(String, i64)>,
}

type Ledger = Arc<Mutex<HashMap<String, Expect>>>;

fn path_of(kind: &str, name: &str) -> String {
    let plural = if kind == "Service" { "services" } else { "secrets" };
    format!("/api/v1/namespaces/default/{plural}/{name}")
}

fn manifest(kind: &str, name: &str, generation: u64, rng: &mut StdRng, invalid: bool) -> Value {
    let labels = json!({"gen": generation.to_string()});
    if kind == "Service" {
        // An invalid one asks for a node port outside the range: kube-apiserver's 422.
        let node_port = if invalid { json!(99999) } else { Value::Null };
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels},
               "spec": {"type": "NodePort", "selector": {"app": name},
                        "ports": [{"port": 80, "targetPort": 8080, "nodePort": node_port}]}})
    } else {
        let size = rng.random_range(1..4096);
        let payload: String = (0..size).map(|_| rng.random_range(b'a'..=b'z') as char).collect();
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels},
               "stringData": {"payload": payload}})
    }
}

/// One writer: creates and updates its own objects until svclab stops answering; returns the
/// highest resourceVersion it was given.
async fn writer(base: String, id: usize, seed: u64, round: usize, ledger: Ledger, acks: Arc<AtomicUsize>) -> u64 {
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().unwrap();
    let mut rng = StdRng::seed_from_u64(seed ^ ((id as u64) << 32) ^ round as u64);
    let mut mine: Vec<String> = ledger
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, e)| name.starts_with(&format!("w{id}-")) && e.acked.is_some_and(|g| g != DELETED))
        .map(|(name, _)| name.clone())
        .collect();
    mine.sort();
    let mut highest = 0;
    for i in 0.. {
        // Each writer keeps at most 150 objects, so that the node port range never fills.
        let create = mine.is_empty() || (mine.len() < 150 && rng.random_bool(0.4));
        let delete = !create && rng.random_bool(0.2);
        let (name, kind, generation, request) = if !create {
            let name = mine[rng.random_range(0..mine.len())].clone();
            let (kind, generation) = {
                let mut ledger = ledger.lock().unwrap();
                let e = ledger.get_mut(&name).unwrap();
                let generation = if delete { DELETED } else { e.acked.unwrap() + 1 };
                e.in_flight = Some(generation);
                (e.kind, generation)
            };
            let url = format!("{base}{}", path_of(kind, &name));
            let request = if delete {
                http.delete(url)
            } else {
                let patch = json!({"metadata": {"labels": {"gen": generation.to_string()}}});
                http.patch(url).header("content-type", "application/merge-patch+json").body(patch.to_string())
            };
            (name, kind, generation, request)
        } else {
            let kind = if rng.random_bool(0.5) { "Service" } else { "Secret" };
            let invalid = kind == "Service" && rng.random_bool(0.1);
            let name = format!("w{id}-r{round}-{i}");
            ledger.lock().unwrap().insert(name.clone(), Expect { kind, in_flight: Some(0), ..Expect::default() });
            let body = manifest(kind, &name, 0, &mut rng, invalid);
            let collection = path_of(kind, "").trim_end_matches('/').to_string();
            (name, kind, 0, http.post(format!("{base}{collection}")).json(&body))
        };
        let Ok(response) = request.send().await else { return highest };
        let code = response.status().as_u16();
        let Ok(body) = response.json::<Value>().await else { return highest };
        let mut ledger = ledger.lock().unwrap();
        let e = ledger.get_mut(&name).unwrap();
        e.in_flight = None;
        match code {
            200 | 201 => {
                e.acked = Some(generation);
                acks.fetch_add(1, Ordering::Relaxed);
                if let Some(rv) = body["metadata"]["resourceVersion"].as_str() {
                    highest = highest.max(rv.parse().unwrap());
                }
                if kind == "Service" && generation == 0 {
                    let ip = body["spec"]["clusterIP"].as_str().unwrap().to_string();
                    e.address = Some((ip, body["spec"]["ports"][0]["nodePort"].as_i64().unwrap()));
                }
                if create {
                    mine.push(name);
                } else if delete {
                    mine.retain(|n| *n != name);
                }
            }
            422 if create => e.refused = true,
            _ => panic!("{kind} {name}: unexpected {code}: {body}"),
        }
    }
    unreachable!()
}

/// Reads every Service and Secret back and checks them against the ledger; returns the cluster
/// IPs and node ports the services hold.
async fn verify(svclab: &Svclab, ledger: &Ledger, highest: u64) -> (HashSet<String>, HashSet<i64>) {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut stored = HashMap::new();
    let (mut ips, mut ports) = (HashSet::new(), HashSet::new());
    let mut list_rv = 0;
    for plural in ["services", "secrets"] {
        let url = svclab.url(&format!("/api/v1/namespaces/default/{plural}"));
        let list: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        list_rv = list["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap();
        for item in list["items"].as_array().unwrap() {
            let name = item["metadata"]["name"].as_str().unwrap().to_string();
            if plural == "services" {
                if let Some(ip) = item["spec"]["clusterIP"].as_str() {
                    assert!(ips.insert(ip.to_string()), "cluster IP {ip} is held twice");
                }
                for port in item["spec"]["ports"].as_array().unwrap() {
                    if let Some(p) = port["nodePort"].as_i64() {
                        assert!(ports.insert(p), "node port {p} is held twice");
                    }
                }
            }
            stored.insert(name, item.clone());
        }
    }
    let mut ledger = ledger.lock().unwrap();
    let mut acknowledged = 0;
    for (name, e) in ledger.iter_mut() {
        let got = stored.get(name);
        let generation = got.map(|o| o["metadata"]["labels"]["gen"].as_str().unwrap().parse::<u64>().unwrap());
        if e.refused {
            assert!(got.is_none(), "{name} was refused, yet it is stored");
            continue;
        }
        // What may be stored: what was acknowledged, or what was in flight.
        let present = |g: u64| (g != DELETED).then_some(g);
        let mut allowed = vec![e.acked.and_then(present)];
        allowed.extend(e.in_flight.map(present));
        assert!(
            allowed.contains(&generation),
            "{} {name}: {generation:?} is stored; acknowledged {:?}, in flight {:?} ({DELETED} is deleted)",
            e.kind,
            e.acked,
            e.in_flight
        );
        if e.acked.is_some_and(|g| g != DELETED) {
            acknowledged += 1;
        }
        if let (Some((ip, port)), Some(svc)) = (&e.address, got) {
            assert_eq!(svc["spec"]["clusterIP"].as_str(), Some(ip.as_str()), "{name} kept its cluster IP");
            assert_eq!(svc["spec"]["ports"][0]["nodePort"].as_i64(), Some(*port), "{name} kept its node port");
        }
        // What is stored is what the next round builds on.
        if let Some(g) = generation {
            e.acked = Some(g);
        } else if e.acked.is_some() {
            e.acked = Some(DELETED);
        }
        if e.address.is_none()
            && let Some(svc) = got.filter(|_| e.kind == "Service")
        {
            e.address = Some((
                svc["spec"]["clusterIP"].as_str().unwrap().into(),
                svc["spec"]["ports"][0]["nodePort"].as_i64().unwrap(),
            ));
        }
        e.in_flight = None;
    }
    assert!(acknowledged > 0, "the writers got nothing acknowledged");
    assert!(
        list_rv >= highest,
        "the cluster is at resourceVersion {list_rv}, {highest} was acknowledged before the kill"
    );
    (ips, ports)
}

/// `kills` rounds of writing, kill -9 and restart on one data directory.
async fn crash_and_restart(seed: u64, kills: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let node_network = format!("127.{}.{}.0", rng.random_range(16..=250u8), rng.random_range(0..=127u8) * 2);
    let ledger: Ledger = Arc::default();
    let mut highest = 0;
    let mut svclab = Svclab::start(dir.path(), &node_network, &[]).await;
    for round in 0..kills {
        let acks = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..8)
            .map(|id| {
                let (api, ledger, acks) = (format!("http://{}", svclab.api), ledger.clone(), acks.clone());
                tokio::spawn(writer(api, id, seed, round, ledger, acks))
            })
            .collect();
        let kill_after = rng.random_range(20..400);
        common::eventually(Duration::from_secs(60), "the writers' acknowledged writes", || {
            let done = acks.load(Ordering::Relaxed) >= kill_after;
            async move { done.then_some(()) }
        })
        .await;
        svclab.kill().await;
        for w in writers {
            highest = highest.max(w.await.expect("a writer panicked"));
        }
        svclab = Svclab::start(dir.path(), &node_network, &[]).await;
        let (ips, ports) = verify(&svclab, &ledger, highest).await;

        // Writes continue above every resourceVersion handed out before the kill, and new
        // services get addresses and ports no stored service holds.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for i in 0..5 {
            let body = manifest("Service", &format!("after-{round}-{i}"), 0, &mut rng, false);
            let created: Value = http
                .post(svclab.url("/api/v1/namespaces/default/services"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let rv = created["metadata"]["resourceVersion"].as_str().unwrap_or_else(|| panic!("{created}"));
            let rv: u64 = rv.parse().unwrap();
            assert!(rv > highest, "resourceVersion {rv} after the restart, {highest} was acknowledged before it");
            let ip = created["spec"]["clusterIP"].as_str().unwrap();
            let port = created["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
            assert!(!ips.contains(ip), "cluster IP {ip} was handed out again");
            assert!(!ports.contains(&port), "node port {port} was handed out again");
            let name = format!("after-{round}-{i}");
            let address = Some((ip.to_string(), port));
            ledger
                .lock()
                .unwrap()
                .insert(name, Expect { kind: "Service", acked: Some(0), address, ..Expect::default() });
            highest = rv;
        }
    }
    svclab.kill().await;
}

fn setting(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_addresses_are_not_reissued() {
    match (setting("SVCLAB_FUZZ_SEED"), setting("SVCLAB_FUZZ_KILLS")) {
        (seed, Some(kills)) => crash_and_restart(seed.unwrap_or(7), kills as usize).await,
        _ => {
            for seed in [1, 2, 3] {
                crash_and_restart(seed, 2).await;
            }
        }
    }
}
