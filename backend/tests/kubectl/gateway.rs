//! Gateway API through kubectl, as on a cluster with the CRDs installed: the chapter's Ingress
//! converted to a Gateway and an HTTPRoute applied, `kubectl wait` for the Gateway, the CRDs'
//! columns, `kubectl describe httproute` with the conditions, and curl through the address.

use crate::support::{Cluster, binaries, row, table};
use std::time::Duration;

const KUBIA: &str = include_str!("../../../examples/kubia.yaml");
const NODE_PORT: &str = include_str!("../../../examples/kubia-nodeport.yaml");
const GATEWAY: &str = include_str!("../../../examples/kubia-gateway.yaml");
const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_and_routes_as_kubectl_shows_them() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let files: Vec<String> = [("kubia.yaml", KUBIA), ("nodeport.yaml", NODE_PORT), ("gateway.yaml", GATEWAY)]
            .iter()
            .map(|(name, text)| cluster.file(name, text).to_string_lossy().into_owned())
            .collect();
        let args: Vec<&str> = ["apply"].into_iter().chain(files.iter().flat_map(|f| ["-f", f.as_str()])).collect();
        let applied = cluster.kubectl(&args).await.ok();
        assert!(applied.contains("gateway.gateway.networking.k8s.io/kubia created\n"), "{applied}");
        assert!(applied.contains("httproute.gateway.networking.k8s.io/kubia-kubia-example-com created\n"), "{applied}");
        let waited =
            cluster.kubectl(&["wait", "--for=condition=Programmed", "gateway/kubia", "--timeout=30s"]).await.ok();
        assert_eq!(waited, "gateway.gateway.networking.k8s.io/kubia condition met\n");

        let classes = table(&cluster.kubectl(&["get", "gatewayclasses"]).await.ok());
        assert_eq!(classes[0][..3], ["NAME", "CONTROLLER", "ACCEPTED"]);
        assert_eq!(row(&classes, "svclab")[1..3], ["svclab.io/gateway-controller", "True"]);
        let gateways = table(&cluster.kubectl(&["get", "gtw"]).await.ok());
        assert_eq!(gateways[0][..4], ["NAME", "CLASS", "ADDRESS", "PROGRAMMED"]);
        let gateway = row(&gateways, "kubia");
        assert_eq!((gateway[1].as_str(), gateway[3].as_str()), ("svclab", "True"));
        let address = gateway[2].clone();
        let both = cluster.kubectl(&["get", "gateways,httproutes"]).await.ok();
        assert!(
            both.contains("httproute.gateway.networking.k8s.io/kubia-kubia-example-com   [\"kubia.example.com\"]"),
            "{both}"
        );

        let described = cluster.kubectl(&["describe", "httproute", "kubia-kubia-example-com"]).await.ok();
        for line in [
            "Reason:                Accepted",
            "Reason:                ResolvedRefs",
            "Controller Name:         svclab.io/gateway-controller",
        ] {
            assert!(described.contains(line), "{line} in {described}");
        }
        let page = cluster
            .until(&["get", "endpoints", "kubia-nodeport"], WITHIN, "three endpoints", |out| {
                row(&table(out), "kubia-nodeport")[1].matches(',').count() == 2
            })
            .await;
        assert!(!page.is_empty());
        // Applied again with a change: kubectl patches custom resources with a JSON merge patch
        // (the OpenAPI says they take no strategic one), and `kubectl patch` says so when asked.
        let changed = cluster.file("gateway2.yaml", &GATEWAY.replace("- name: kubia-nodeport", "- name: kubia"));
        let applied = cluster.kubectl(&["apply", "-f", changed.to_str().unwrap()]).await.ok();
        assert!(
            applied.contains("httproute.gateway.networking.k8s.io/kubia-kubia-example-com configured"),
            "{applied}"
        );
        let patched = cluster
            .kubectl(&["patch", "httproute", "kubia-kubia-example-com", "-p", r#"{"metadata":{"labels":{"a":"b"}}}"#])
            .await;
        assert!(patched.stderr.contains("application/strategic-merge-patch+json is not supported by gateway.networking.k8s.io/v1, Kind=HTTPRoute"), "{patched:?}");
        let merged = cluster
            .kubectl(&[
                "patch",
                "httproute",
                "kubia-kubia-example-com",
                "--type=merge",
                "-p",
                r#"{"spec":{"rules":[{"backendRefs":[{"name":"kubia-nodeport","port":80}]}]}}"#,
            ])
            .await
            .ok();
        assert_eq!(merged, "httproute.gateway.networking.k8s.io/kubia-kubia-example-com patched\n");
        let client = reqwest::Client::new();
        let answer = client.get(format!("http://{address}/")).header("host", "kubia.example.com").send().await.unwrap();
        assert!(answer.text().await.unwrap().starts_with("You've hit kubia-"));
        cluster.stop().await;
    }
}
