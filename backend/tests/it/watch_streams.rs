//! The watch streams: Kubernetes' `?watch=true` and the dashboard's websocket.

use crate::common;

use common::{KUBIA, Lab};
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio::time::timeout;

const WITHIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_existing_objects_then_changes() {
    let lab = Lab::start().await;
    let response = lab.http.get(lab.url("/api/v1/namespaces/default/services?watch=true")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    let mut events: Vec<Value> = Vec::new();
    let mut next_event = async || -> Value {
        loop {
            if let Some(i) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=i).collect();
                return serde_json::from_slice(&line).unwrap();
            }
            let chunk = timeout(WITHIN, body.next()).await.expect("an event in time").expect("stream open").unwrap();
            buffer.extend_from_slice(&chunk);
        }
    };
    let first = next_event().await;
    assert_eq!(
        (first["type"].as_str(), first["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("kubernetes"))
    );
    lab.apply(KUBIA).await;
    events.push(next_event().await);
    assert_eq!(
        (events[0]["type"].as_str(), events[0]["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("kubia"))
    );
    lab.send(reqwest::Method::DELETE, "/api/v1/namespaces/default/services/kubia", "application/json", String::new())
        .await;
    let deleted = next_event().await;
    assert_eq!(
        (deleted["type"].as_str(), deleted["object"]["metadata"]["name"].as_str()),
        (Some("DELETED"), Some("kubia"))
    );
    lab.app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_feed_syncs_then_streams() {
    let lab = Lab::start().await;
    let url = format!("ws://{}/lab/v1/watch", lab.app.api_addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    let mut next = async || -> Value {
        loop {
            let msg = timeout(WITHIN, socket.next()).await.expect("a message in time").expect("open").unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                return serde_json::from_str(&text).unwrap();
            }
        }
    };
    let sync = next().await;
    assert_eq!(sync["type"], "SYNC");
    let kinds: Vec<&str> =
        sync["object"]["objects"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"Node") && kinds.contains(&"Namespace") && kinds.contains(&"Service"), "{kinds:?}");
    lab.apply(KUBIA).await;
    // Changes follow, until the endpoints of kubia carry three ready addresses.
    loop {
        let event = next().await;
        let object = &event["object"];
        if object["kind"] == "Endpoints" && object["metadata"]["name"] == "kubia" {
            let ready = object["subsets"][0]["addresses"].as_array().map_or(0, Vec::len);
            if ready == 3 {
                // Created empty and then filled, or created once the pods were already ready.
                assert!(event["type"] == "MODIFIED" || event["type"] == "ADDED", "{event}");
                break;
            }
        }
    }
    lab.app.shutdown().await;
}

/// The dashboard's list then watch: `GET /lab/v1/state` holds every object at one
/// resourceVersion, and the feed opened from it streams only what changed after it, the changes
/// made in between included (no `SYNC`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_lists_then_watches_from_the_list() {
    let lab = Lab::start().await;
    let (status, list) = lab.get("/lab/v1/state").await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> =
        list["objects"].as_array().unwrap().iter().filter_map(|o| o["metadata"]["name"].as_str()).collect();
    assert!(names.contains(&"default") && names.contains(&"kubernetes"), "{names:?}");
    assert!(!names.contains(&"kubia"));
    let listed: u64 = list["resourceVersion"].as_str().unwrap().parse().unwrap();
    // A change after the list and before the watch.
    lab.apply(KUBIA).await;
    let url = format!("ws://{}/lab/v1/watch?resourceVersion={listed}", lab.app.api_addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    // Changes follow in order from the first after the list (the cluster's own, still settling,
    // may come first), kubia's creation among them.
    let mut last = listed;
    loop {
        let msg = timeout(WITHIN, socket.next()).await.expect("a message in time").expect("open").unwrap();
        let tokio_tungstenite::tungstenite::Message::Text(text) = msg else { continue };
        let event: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(event["type"], "SYNC", "a watch from a list starts with no SYNC");
        let version: u64 = event["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
        assert!(version > last, "changes after the list, in order: {event}");
        last = version;
        if event["object"]["metadata"]["name"] == "kubia" {
            assert_eq!(event["type"], "ADDED", "{event}");
            break;
        }
    }

    // Not a number: refused as kube-apiserver refuses a bad query, before any upgrade.
    let (status, refused) = lab.get("/lab/v1/watch?resourceVersion=latest").await;
    assert_eq!((status, refused["kind"].as_str()), (400, Some("Status")), "{refused}");
}
