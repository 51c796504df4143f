use super::*;
use serde_json::json;
use std::time::Duration;

fn object(v: serde_json::Value) -> Object {
    Object::from_value(v).unwrap()
}

fn service(name: &str) -> Object {
    object(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.9", "selector": {"app": name}, "ports": [{"port": 80}]}}))
}

fn endpoints(name: &str, ip: &str, trigger: &str) -> Object {
    object(json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name, "namespace": "default",
            "annotations": {crate::controllers::endpoints::TRIGGER_TIME: trigger}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"port": 8080}]}]}))
}

/// The next batch, within a deadline.
async fn next(sub: &mut Subscription) -> Vec<Arc<Update>> {
    let cancel = CancellationToken::new();
    tokio::time::timeout(Duration::from_secs(5), sub.next_batch(&cancel)).await.expect("an update").expect("running")
}

/// Polls the batches until `done` holds for the informer's cache, with a deadline.
async fn until(informer: &Informer, sub: &mut Subscription, done: impl Fn(&Informer) -> bool) -> Vec<Arc<Update>> {
    let mut seen = Vec::new();
    while !done(informer) {
        seen.extend(next(sub).await);
    }
    seen
}

#[tokio::test]
async fn services_and_their_endpoints_reach_every_subscriber_as_one_state() {
    let store = Store::new();
    store.create(service("kubia")).unwrap();
    let informer = Informer::new();
    let cancel = CancellationToken::new();
    let running = tokio::spawn(informer.clone().run(store.clone(), cancel.clone()));
    let mut early = informer.subscribe();
    let first = next(&mut early).await;
    assert!(first[0].relist, "a subscription starts with a relist");
    until(&informer, &mut early, |i| i.get("default", "kubia").is_some()).await;

    store.create(endpoints("kubia", "10.244.1.5", "2026-01-01T00:00:00Z")).unwrap();
    let seen = until(&informer, &mut early, |i| i.get("default", "kubia").is_some_and(|s| s.endpoints.is_some())).await;
    let (key, state) = seen.iter().flat_map(|u| u.changed.iter()).last().unwrap();
    assert_eq!(key, &ObjectKey::new(Kind::Service, "default", "kubia"), "named by the Service's key");
    let state = state.as_ref().unwrap();
    assert_eq!(state.facts.cluster_ip, Some("10.96.0.9".parse().unwrap()));
    assert!(state.facts.selector.is_some());
    assert_eq!(seen.iter().map(|u| u.triggers.len()).sum::<usize>(), 1, "the Endpoints change is measured");

    // A late subscriber starts from the same state.
    let mut late = informer.subscribe();
    let relist = next(&mut late).await;
    let (_, state) = &relist[0].changed[0];
    assert_eq!(state.as_ref().unwrap().endpoints.as_ref().unwrap().metadata.name.as_deref(), Some("kubia"));

    // Endpoints without a Service are not a service; a deleted Service is gone, for both.
    store.create(endpoints("orphan", "10.244.1.6", "2026-01-01T00:00:01Z")).unwrap();
    store.delete(&ObjectKey::new(Kind::Service, "default", "kubia"), None).unwrap();
    let seen = until(&informer, &mut late, |i| i.get("default", "kubia").is_none()).await;
    assert!(seen.iter().flat_map(|u| u.changed.iter()).any(|(k, s)| k.name == "kubia" && s.is_none()));
    assert!(informer.get("default", "orphan").is_none());
    assert!(informer.inner.cache.read().unwrap().is_empty());
    cancel.cancel();
    running.await.unwrap();
    assert!(late.next_batch(&CancellationToken::new()).await.is_none(), "subscribers see the end");
}

fn slice(service: &str, ip: &str, hint: Option<&str>) -> Object {
    let mut endpoint = json!({"addresses": [ip], "conditions": {"ready": true}});
    if let Some(zone) = hint {
        endpoint["hints"] = json!({"forZones": [{"name": zone}]});
    }
    object(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-1"), "namespace": "default",
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": [{"name": "", "port": 8080}], "endpoints": [endpoint]}))
}

#[tokio::test]
async fn slices_add_their_hints_and_stand_in_for_missing_endpoints() {
    let store = Store::new();
    store.create(service("kubia")).unwrap();
    store.create(endpoints("kubia", "10.244.1.5", "2026-01-01T00:00:00Z")).unwrap();
    store.create(service("external")).unwrap();
    let informer = Informer::new();
    let cancel = CancellationToken::new();
    let running = tokio::spawn(informer.clone().run(store.clone(), cancel.clone()));
    let mut sub = informer.subscribe();
    until(&informer, &mut sub, |i| i.get("default", "kubia").is_some_and(|s| s.endpoints.is_some())).await;

    // A hinted slice: the service is published again, with the hint by address.
    store.create(slice("kubia", "10.244.1.5", Some("zone-a"))).unwrap();
    let ip: Ipv4Addr = "10.244.1.5".parse().unwrap();
    let hinted = |i: &Informer| i.get("default", "kubia").is_some_and(|s| s.sliced.hints.contains_key(&ip));
    until(&informer, &mut sub, hinted).await;
    assert_eq!(informer.get("default", "kubia").unwrap().sliced.hints[&ip].zones, ["zone-a"]);

    // A service with no Endpoints object gets the endpoints its user's slice stands for.
    store.create(slice("external", "10.1.2.3", None)).unwrap();
    let sliced = |i: &Informer| i.get("default", "external").is_some_and(|s| s.endpoints.is_some());
    until(&informer, &mut sub, sliced).await;
    let state = informer.get("default", "external").unwrap();
    let subset = &state.endpoints.as_ref().unwrap().subsets.as_ref().unwrap()[0];
    assert_eq!(subset.addresses.as_ref().unwrap()[0].ip, "10.1.2.3");
    store.delete(&ObjectKey::new(Kind::EndpointSlice, "default", "external-1"), None).unwrap();
    until(&informer, &mut sub, |i| i.get("default", "external").is_some_and(|s| s.endpoints.is_none())).await;
    cancel.cancel();
    running.await.unwrap();
}
