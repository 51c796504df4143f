//! The API against damaged input: the chapter's manifests and the bodies kubectl sends, mutated
//! the ways fuzzers find useful and sent as every write kubectl makes (create, replace, the three
//! patches, server-side apply, delete) and as the lab's apply. svclab must never panic, every
//! answer must be a whole object or a kube-apiserver `Status` (never a 500), and afterwards the
//! store must hold only whole objects that pass validation. A quick run here; `cargo xtask fuzz
//! api --seconds N` runs it for longer (it sets `SVCLAB_FUZZ_SECONDS` and `SVCLAB_FUZZ_SEED`).

mod common;

use common::{KUBIA, Lab};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use svclab_shared::{Kind, Object};

static PANICS: AtomicUsize = AtomicUsize::new(0);

const EXAMPLES: &[&str] = &[
    KUBIA,
    include_str!("../../examples/kubia-nodeport.yaml"),
    include_str!("../../examples/kubia-loadbalancer.yaml"),
    include_str!("../../examples/kubia-ingress.yaml"),
    include_str!("../../examples/kubia-ingress-tls.yaml"),
    include_str!("../../examples/external-service.yaml"),
    include_str!("../../examples/external-service-endpoints.yaml"),
    include_str!("../../examples/external-service-externalname.yaml"),
];

/// The documents of every example, as YAML text.
fn documents() -> Vec<String> {
    EXAMPLES
        .iter()
        .flat_map(|text| text.split("\n---"))
        .map(|d| d.trim_start_matches("---").to_string())
        .filter(|d| d.contains("kind:"))
        .collect()
}

/// Text damaged the ways that break parsers: flipped bytes, cuts, YAML's special syntax, deep
/// nesting, huge numbers, invalid UTF-8, repeated or dropped lines.
fn mutate_text(rng: &mut StdRng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=bytes.len());
        match rng.random_range(0..12) {
            0 => {
                if !bytes.is_empty() {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.random_range(0..8);
                }
            }
            1 => bytes.truncate(at),
            2 => {
                let tokens: &[&str] = &[
                    "&a ",
                    "*a",
                    "!!binary ",
                    "? ",
                    "{",
                    "}",
                    "[",
                    "]",
                    "\t",
                    ": ",
                    "- ",
                    "|",
                    ">",
                    "'",
                    "\"",
                    "#",
                    "%YAML 1.1\n",
                    "<<: *a\n",
                    "!custom ",
                    "---\n",
                    "...\n",
                    "~",
                    "\\u0000",
                    "0x7FFFFFFFFFFFFFFFFF",
                    "-1",
                    "1e400",
                    ".nan",
                ];
                let t = tokens.choose(rng).unwrap();
                drop(bytes.splice(at..at, t.bytes()));
            }
            3 => {
                let depth = *[10usize, 63, 65, 200, 5_000].choose(rng).unwrap();
                let (open, close) = if rng.random() { ("[", "]") } else { ("{a: ", "}") };
                let nest = format!("{}1{}", open.repeat(depth), close.repeat(depth));
                drop(bytes.splice(at..at, nest.bytes()));
            }
            4 => drop(bytes.splice(at..at, [0xff, 0xfe, 0xc0])),
            5 => {
                let n = ["99999999999999999999", "-2147483649", "65536", "0", "-0", "1.5"].choose(rng).unwrap();
                drop(bytes.splice(at..at, n.bytes()));
            }
            6 => {
                let long = "x".repeat(*[64usize, 254, 64 * 1024].choose(rng).unwrap());
                drop(bytes.splice(at..at, long.bytes()));
            }
            7 | 8 => {
                // Drop, repeat or swap lines.
                let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                if lines.len() > 1 {
                    let i = rng.random_range(0..lines.len());
                    match rng.random_range(0..3) {
                        0 => {
                            lines.remove(i);
                        }
                        1 => lines.insert(i, lines[i].clone()),
                        _ => {
                            let j = rng.random_range(0..lines.len());
                            lines.swap(i, j);
                        }
                    }
                }
                bytes = lines.join(&b'\n');
            }
            9 => drop(bytes.splice(at..at, "\n  extra:\n    - {x: &b [1,2]}\n    - *b\n".bytes())),
            10 => bytes = bytes.iter().map(|&b| if b == b' ' && rng.random_ratio(1, 8) { b'\t' } else { b }).collect(),
            _ => bytes.extend((0..rng.random_range(1..200)).map(|_| rng.random::<u8>())),
        }
    }
    bytes
}

/// A value with one field changed to something of another shape.
fn mutate_value(rng: &mut StdRng, value: &mut Value) {
    let replacement = || -> Vec<Value> {
        vec![
            Value::Null,
            json!(true),
            json!(-1),
            json!(u64::MAX),
            json!(1e300),
            json!(""),
            json!("x".repeat(300)),
            json!("10.96.0.1"),
            json!("None"),
            json!([]),
            json!([{}]),
            json!({}),
            json!({"name": 7, "port": "http"}),
            json!("\u{0}\u{202e}"),
        ]
    };
    match value {
        Value::Object(map) if !map.is_empty() && rng.random_ratio(3, 4) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys.choose(rng).unwrap().clone();
            if rng.random_ratio(1, 6) {
                map.remove(&key);
            } else {
                mutate_value(rng, map.get_mut(&key).unwrap());
            }
        }
        Value::Array(items) if !items.is_empty() && rng.random_ratio(3, 4) => {
            let i = rng.random_range(0..items.len());
            mutate_value(rng, &mut items[i]);
        }
        _ => *value = replacement().choose(rng).unwrap().clone(),
    }
}

struct Sent {
    method: reqwest::Method,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
}

fn collection(kind: Kind, namespace: &str) -> String {
    let group = match kind.api_version() {
        "v1" => "/api/v1".to_string(),
        other => format!("/apis/{other}"),
    };
    if kind.namespaced() {
        format!("{group}/namespaces/{namespace}/{}", kind.plural())
    } else {
        format!("{group}/{}", kind.plural())
    }
}

/// One request made from a seed document.
fn request(rng: &mut StdRng, doc: &str) -> Sent {
    let value: Value = serde_saphyr_free_parse(doc);
    let kind = Object::kind_of(&value).unwrap_or(Kind::Service);
    let name = value["metadata"]["name"].as_str().unwrap_or("x").to_string();
    let base = collection(kind, "default");
    let named = format!("{base}/{name}");
    let post = reqwest::Method::POST;
    let mut structural = value.clone();
    for _ in 0..rng.random_range(1..4) {
        mutate_value(rng, &mut structural);
    }
    let json_text = |v: &Value| serde_json::to_vec(v).unwrap();
    match rng.random_range(0..10) {
        0 => Sent {
            method: post,
            path: "/lab/v1/apply".into(),
            content_type: "application/yaml",
            body: mutate_text(rng, doc),
        },
        1 => Sent { method: post, path: base, content_type: "application/yaml", body: mutate_text(rng, doc) },
        2 => Sent { method: post, path: base, content_type: "application/json", body: json_text(&structural) },
        3 => {
            let text = String::from_utf8_lossy(&json_text(&value)).to_string();
            Sent { method: post, path: base, content_type: "application/json", body: mutate_text(rng, &text) }
        }
        4 => Sent {
            method: reqwest::Method::PUT,
            path: named,
            content_type: "application/json",
            body: json_text(&structural),
        },
        5 => {
            let patch = json!({"metadata": structural["metadata"].clone(), "spec": structural["spec"].clone()});
            let content_type =
                *["application/merge-patch+json", "application/strategic-merge-patch+json"].choose(rng).unwrap();
            Sent { method: reqwest::Method::PATCH, path: named, content_type, body: json_text(&patch) }
        }
        6 => {
            let mut ops = json!([
                {"op": "replace", "path": "/spec/ports/0/port", "value": 8080},
                {"op": "add", "path": "/metadata/labels/x", "value": "y"},
                {"op": "remove", "path": "/spec/selector"},
                {"op": "move", "from": "/spec", "path": "/spec/x"},
                {"op": "test", "path": "/kind", "value": "Service"},
                {"op": "copy", "from": "/metadata", "path": "/spec/template/metadata"}
            ]);
            mutate_value(rng, &mut ops);
            Sent {
                method: reqwest::Method::PATCH,
                path: named,
                content_type: "application/json-patch+json",
                body: json_text(&ops),
            }
        }
        7 => {
            let path = format!("{named}?fieldManager=fuzz&force={}", rng.random::<bool>());
            Sent {
                method: reqwest::Method::PATCH,
                path,
                content_type: "application/apply-patch+yaml",
                body: mutate_text(rng, doc),
            }
        }
        8 => {
            let mut options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": "x"}, "propagationPolicy": "Background"});
            mutate_value(rng, &mut options);
            Sent {
                method: reqwest::Method::DELETE,
                path: named,
                content_type: "application/json",
                body: json_text(&options),
            }
        }
        _ => {
            let queries = [
                "labelSelector=app%3Dkubia",
                "labelSelector=app+in+(a,b",
                "labelSelector=%FF",
                "fieldSelector=metadata.name%3D%3Dx",
                "fieldSelector=spec.nodeName!=",
                "limit=-1",
                "limit=99999999999999999999",
                "continue=%%%",
                "continue=eyJ4IjoxfQ",
                "resourceVersion=abc",
                "watch=true&timeoutSeconds=0",
                "watch=1&resourceVersion=1&timeoutSeconds=1",
                "fieldValidation=Nope",
                "includeObject=Object",
            ];
            let path = format!("{base}?{}", queries.choose(rng).unwrap());
            Sent { method: reqwest::Method::GET, path, content_type: "application/json", body: vec![] }
        }
    }
}

/// Seeds are the repository's own examples, which always parse.
fn serde_saphyr_free_parse(doc: &str) -> Value {
    svclab::api::yaml::value(doc).expect("the examples parse")
}

/// Whether an answer is a whole object or a Status that matches its code.
fn check_answer(sent: &Sent, code: u16, body: &[u8]) -> Result<(), String> {
    let describe = || format!("{} {} ({})", sent.method, sent.path, sent.content_type);
    if code >= 500 {
        return Err(format!("{} answered {code}: {}", describe(), String::from_utf8_lossy(body)));
    }
    if sent.method == reqwest::Method::GET && sent.path.contains("watch=") && code == 200 {
        return Ok(()); // a stream of events, checked by the watch tests
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!("{} answered {code} with a body that is not JSON ({e}): {}", describe(), String::from_utf8_lossy(body))
    })?;
    if code >= 400 {
        let whole = value["kind"] == "Status"
            && value["code"] == code
            && value["message"].as_str().is_some_and(|m| !m.is_empty());
        let lab = sent.path.starts_with("/lab/") && value["results"].is_array();
        if !whole && !lab {
            return Err(format!("{} answered {code} without a Status: {value}", describe()));
        }
    } else if value["kind"].as_str().is_none_or(str::is_empty) && !value["results"].is_array() {
        return Err(format!("{} answered {code} without an object: {value}", describe()));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_requests_get_statuses_and_leave_only_whole_valid_objects() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let lab = Lab::start().await;
    let (code, _) = lab.apply(KUBIA).await;
    assert_eq!(code, 200);
    let seconds: u64 = std::env::var("SVCLAB_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let seed: u64 = std::env::var("SVCLAB_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(11);
    let mut rng = StdRng::seed_from_u64(seed);
    let docs = documents();
    assert!(docs.len() >= 8, "{} seed documents", docs.len());

    let started = Instant::now();
    let (mut sent_count, mut refused) = (0u64, 0u64);
    let mut failures = Vec::new();
    while sent_count < 1_500 || started.elapsed() < Duration::from_secs(seconds) {
        let doc = docs.choose(&mut rng).unwrap();
        let sent = request(&mut rng, doc);
        let response = lab
            .http
            .request(sent.method.clone(), lab.url(&sent.path))
            .header("content-type", sent.content_type)
            .body(sent.body.clone())
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        sent_count += 1;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{} {}: no answer ({e})", sent.method, sent.path));
                continue;
            }
        };
        let code = response.status().as_u16();
        refused += u64::from(code >= 400);
        let body = response.bytes().await.unwrap_or_default();
        if let Err(e) = check_answer(&sent, code, &body) {
            failures.push(e);
        }
        if failures.len() > 20 {
            break;
        }
    }
    assert!(failures.is_empty(), "{} bad answers (seed {seed}):\n{}", failures.len(), failures.join("\n"));
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "svclab panicked (seed {seed})");

    // Only whole objects that pass validation are stored.
    let (_, objects) = lab.app.registry.store().snapshot();
    for object in &objects {
        let meta = object.metadata();
        let what = format!("{} {}/{}", object.kind().name(), object.namespace(), object.name());
        assert!(
            !object.name().is_empty() && meta.uid.is_some() && meta.resource_version.is_some(),
            "{what} is not whole"
        );
        let errors = svclab_shared::validation::validate(object);
        assert!(errors.is_empty(), "{what} is stored but invalid: {errors:?}");
        let again = Object::from_value(serde_json::to_value(&**object).unwrap());
        assert!(again.is_ok(), "{what} does not read back: {again:?}");
    }
    // And it still takes a good manifest.
    let fresh = "apiVersion: v1\nkind: Service\nmetadata:\n  name: after-the-fuzz\nspec:\n  ports:\n  - port: 80\n";
    let (code, body) = lab.apply(fresh).await;
    assert_eq!(code, 200, "{body}");
    println!(
        "sent {sent_count} requests ({refused} refused) in {:?}; {} objects stored (seed {seed})",
        started.elapsed(),
        objects.len()
    );
    lab.app.shutdown().await;
}
