//! Sections 5.5 to 5.7: a readiness probe added with `kubectl edit`, a pod made ready from
//! inside with `kubectl exec … touch /var/ready`, a headless service looked up from a pod
//! `kubectl run` made, and the troubleshooting tools: logs, watches, labels, scale, expose.

use crate::support::{Cluster, binaries, row, table};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(20);

/// A `KUBE_EDITOR` that adds the chapter's readiness probe under the kubia container.
const ADD_PROBE: &str = r#"#!/bin/sh
sed -i -E 's/^( *)- image: luksa\/kubia$/&\n\1  readinessProbe:\n\1    exec:\n\1      command:\n\1      - ls\n\1      - \/var\/ready/' "$1"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_5_readiness_probes() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let kubia = cluster.file("kubia.yaml", crate::KUBIA);
        cluster.kubectl(&["create", "-f", kubia.to_str().unwrap()]).await.ok();
        let editor = cluster.file("add-probe.sh", ADD_PROBE);
        std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let edited =
            cluster.kubectl_with(&["edit", "rc", "kubia"], &[("KUBE_EDITOR", editor.to_str().unwrap())], None).await;
        assert_eq!(edited.ok(), "replicationcontroller/kubia edited\n");
        let probe = cluster
            .kubectl(&[
                "get",
                "rc",
                "kubia",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].readinessProbe.exec.command}",
            ])
            .await
            .ok();
        assert_eq!(probe, r#"["ls","/var/ready"]"#);

        // The existing pods keep running without the probe; new ones start unready.
        cluster.kubectl(&["delete", "po", "-l", "app=kubia"]).await.ok();
        let out = cluster
            .until(&["get", "po", "-l", "app=kubia"], WITHIN, "three unready pods", |out| {
                let pods = table(out);
                pods.len() == 4 && pods.iter().skip(1).all(|r| r[1] == "0/1" && r[2] == "Running")
            })
            .await;
        let pod = table(&out)[1][0].clone();
        let run = cluster.kubectl(&["get", "endpoints", "kubia"]).await;
        // As from a Kubernetes 1.33+ API server.
        let deprecated = "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice\n";
        assert_eq!(run.stderr, deprecated);
        let endpoints = table(&run.ok());
        assert_eq!(row(&endpoints, "kubia")[1], "<none>");

        cluster.kubectl(&["exec", &pod, "--", "touch", "/var/ready"]).await.ok();
        cluster
            .until(&["get", "po", &pod], WITHIN, "the pod ready after touch /var/ready", |out| {
                row(&table(out), &pod)[1] == "1/1"
            })
            .await;
        let out =
            cluster.until(&["get", "endpoints", "kubia"], WITHIN, "one endpoint", |out| out.contains(":8080")).await;
        assert_eq!(row(&table(&out), "kubia")[1].matches(":8080").count(), 1, "{out}");
        let described = cluster.kubectl(&["describe", "po", &pod]).await.ok();
        // kubectl 1.32 writes `#success=1 #failure=3`, later ones `successThreshold=1 failureThreshold=3`.
        let probe = described.lines().find(|l| l.trim_start().starts_with("Readiness:")).expect("the probe");
        assert!(probe.contains("exec [ls /var/ready] delay=0s timeout=1s period=10s"), "{probe}");
        assert!(
            probe.ends_with("#success=1 #failure=3") || probe.ends_with("successThreshold=1 failureThreshold=3"),
            "{probe}"
        );
        cluster.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_6_headless_services_and_dns() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let kubia = cluster.file("kubia.yaml", crate::KUBIA);
        cluster.kubectl(&["create", "-f", kubia.to_str().unwrap()]).await.ok();
        let headless = cluster.file(
            "kubia-svc-headless.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: kubia-headless\nspec:\n  clusterIP: None\n  ports:\n  - port: 80\n    targetPort: 8080\n  selector:\n    app: kubia\n",
        );
        cluster.kubectl(&["create", "-f", headless.to_str().unwrap()]).await.ok();
        let services = table(&cluster.kubectl(&["get", "svc", "kubia-headless"]).await.ok());
        assert_eq!(row(&services, "kubia-headless")[2], "None");
        let ran = cluster
            .kubectl(&[
                "run",
                "dnsutils",
                "--image=tutum/dnsutils",
                "--restart=Never",
                "--command",
                "--",
                "sleep",
                "infinity",
            ])
            .await
            .ok();
        assert_eq!(ran, "pod/dnsutils created\n");
        cluster.until(&["get", "po", "dnsutils"], WITHIN, "dnsutils running", |out| out.contains("Running")).await;
        cluster
            .until(&["get", "endpoints", "kubia-headless"], WITHIN, "three endpoints", |out| {
                out.matches(":8080").count() == 3
            })
            .await;
        let lookup = cluster.kubectl(&["exec", "dnsutils", "--", "nslookup", "kubia-headless"]).await.ok();
        assert!(lookup.contains("Name:\tkubia-headless.default.svc.cluster.local"), "{lookup}");
        assert_eq!(lookup.matches("Address: 10.244.").count(), 3, "one address per ready pod: {lookup}");
        let lookup = cluster.kubectl(&["exec", "dnsutils", "--", "nslookup", "kubia"]).await.ok();
        assert_eq!(lookup.matches("Address: 10.").count(), 1, "one cluster IP: {lookup}");
        cluster.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_7_logs_watches_labels_and_scaling() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let kubia = cluster.file("kubia.yaml", crate::KUBIA);
        cluster.kubectl(&["create", "-f", kubia.to_str().unwrap()]).await.ok();
        let out = cluster
            .until(&["get", "po", "-l", "app=kubia"], WITHIN, "three running pods", |out| {
                out.matches("Running").count() == 3
            })
            .await;
        let pods: Vec<String> = table(&out).iter().skip(1).map(|r| r[0].clone()).collect();

        // The app logs each request with the address the pod saw: the client pod's.
        let through_kubia = ["exec", pods[0].as_str(), "--", "curl", "-s", "http://kubia"];
        cluster.until(&through_kubia, WITHIN, "kubia answers", |out| out.starts_with("You've hit kubia-")).await;
        let client_ip = cluster.kubectl(&["get", "po", &pods[0], "-o", "jsonpath={.status.podIP}"]).await.ok();
        let mut seen = String::new();
        for pod in &pods {
            seen.push_str(&cluster.kubectl(&["logs", pod]).await.ok());
        }
        assert_eq!(seen.matches("Kubia server starting...\n").count(), 3, "{seen}");
        assert!(seen.contains(&format!("Received request from ::ffff:{client_ip}\n")), "{seen}");
        let tail = cluster.kubectl(&["logs", &pods[0], "--tail=1"]).await.ok();
        assert_eq!(tail.lines().count(), 1);
        let previous = cluster.kubectl(&["logs", &pods[0], "--previous"]).await.fails(1);
        assert!(
            previous.contains(&format!("previous terminated container \"kubia\" in pod \"{}\" not found", pods[0])),
            "{previous}"
        );

        // curl prints 000 for a service no pod backs, as curl does.
        let empty = cluster.file("empty.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: empty\nspec:\n  selector:\n    app: nothing\n  ports:\n  - port: 80\n");
        cluster.kubectl(&["create", "-f", empty.to_str().unwrap()]).await.ok();
        let code = cluster
            .kubectl(&["exec", &pods[0], "--", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://empty"])
            .await;
        assert_eq!((code.stdout.as_str(), code.code), ("000", 7), "{}", code.stderr);

        // Labels, scaling and exposing, as kubectl prints them.
        assert_eq!(
            cluster.kubectl(&["label", "po", &pods[0], "enabled=true"]).await.ok(),
            format!("pod/{} labeled\n", pods[0])
        );
        let labelled = cluster.kubectl(&["get", "po", "-l", "enabled=true", "-o", "name"]).await.ok();
        assert_eq!(labelled, format!("pod/{}\n", pods[0]));
        assert_eq!(
            cluster.kubectl(&["scale", "rc", "kubia", "--replicas=2"]).await.ok(),
            "replicationcontroller/kubia scaled\n"
        );
        let scaled = cluster.kubectl(&["scale", "rc", "kubia", "--current-replicas=2", "--replicas=3"]).await.ok();
        assert_eq!(scaled, "replicationcontroller/kubia scaled\n");
        let exposed = cluster
            .kubectl(&["expose", "rc", "kubia", "--name", "kubia-http", "--port=80", "--target-port=8080"])
            .await
            .ok();
        assert_eq!(exposed, "service/kubia-http exposed\n");

        // kubectl get svc -w: the list, then a line per change.
        let mut watch = cluster.watch(&["get", "svc", "-w"]);
        let nodeport = cluster.file("nodeport.yaml", include_str!("../../../examples/kubia-nodeport.yaml"));
        let mut lines = watch.until(|l| l.starts_with("kubia-http")).await;
        cluster.kubectl(&["create", "-f", nodeport.to_str().unwrap()]).await.ok();
        lines.extend(watch.until(|l| l.starts_with("kubia-nodeport")).await);
        assert!(lines[0].starts_with("NAME "), "{lines:?}");
        assert!(lines.last().unwrap().contains("80:30123/TCP"), "{lines:?}");
        cluster.stop().await;
    }
}
