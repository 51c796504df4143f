//! What kubectl needs of the API besides the chapter's walk: discovery (`api-resources`, `get
//! all`, short names), paged lists, OpenAPI validation and `explain`, every patch kubectl sends,
//! protobuf bodies, `auth can-i` (and `--list`), `cp`, and kube-apiserver's errors for bad input, with nothing
//! stored half-way.

use crate::support::{Cluster, binaries, row, table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_paging_and_explain() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let resources = cluster.kubectl(&["api-resources"]).await.ok();
        let resources = table(&resources);
        assert_eq!(row(&resources, "services")[1..], ["svc", "v1", "true", "Service"]);
        assert_eq!(row(&resources, "deployments")[1..], ["deploy", "apps/v1", "true", "Deployment"]);
        let ingresses: Vec<&Vec<String>> = resources.iter().filter(|r| r[0] == "ingresses").collect();
        assert!(ingresses.iter().any(|r| r[1..3] == ["ing", "networking.k8s.io/v1"]), "{ingresses:?}");
        assert!(
            ingresses.iter().any(|r| r[1..3] == ["", "extensions/v1beta1"]),
            "the chapter's version too: {ingresses:?}"
        );
        let namespaced = cluster.kubectl(&["api-resources", "--namespaced=false", "-o", "name"]).await.ok();
        assert!(namespaced.lines().any(|l| l == "nodes") && !namespaced.lines().any(|l| l == "pods"), "{namespaced}");

        let kubia = cluster.file("kubia.yaml", crate::KUBIA);
        cluster.kubectl(&["create", "-f", kubia.to_str().unwrap()]).await.ok();
        let all = cluster.kubectl(&["get", "all"]).await.ok();
        for name in ["replicationcontroller/kubia", "service/kubia", "service/kubernetes"] {
            assert!(all.contains(name), "{all}");
        }
        // Pages of one, each following the last's continue token, list everything once.
        let paged = cluster.kubectl(&["get", "pods", "-A", "--chunk-size=1", "-o", "name"]).await.ok();
        let whole = cluster.kubectl(&["get", "pods", "-A", "-o", "name"]).await.ok();
        assert_eq!(paged, whole);
        let listed = cluster.kubectl(&["get", "svc", "-o", "yaml"]).await.ok();
        assert!(listed.starts_with("apiVersion: v1\nitems:\n"), "{listed}");
        assert!(listed.ends_with("kind: List\nmetadata:\n  resourceVersion: \"\"\n"), "{listed}");

        let explained = cluster.kubectl(&["explain", "service.spec.ports"]).await.ok();
        assert!(explained.contains("FIELD: ports <[]ServicePort>"), "{explained}");
        assert!(explained.contains("port\t<integer> -required-"), "{explained}");
        assert!(explained.contains("The port that will be exposed by this service."), "{explained}");
        let version = cluster.kubectl(&["version", "-o", "json"]).await.ok();
        assert!(version.contains("\"gitVersion\": \"v1.35.0\""), "{version}");
        // A SelfSubjectAccessReview (protobuf from kubectl): no RBAC here, so everything is allowed.
        assert_eq!(cluster.kubectl(&["auth", "can-i", "create", "pods"]).await.ok(), "yes\n");
        assert_eq!(
            cluster.kubectl(&["auth", "can-i", "delete", "deployments", "-n", "kube-system"]).await.ok(),
            "yes\n"
        );
        assert_eq!(cluster.kubectl(&["auth", "can-i", "get", "/healthz"]).await.ok(), "yes\n");
        // A SelfSubjectRulesReview: every verb on every resource and URL.
        let rules = table(&cluster.kubectl(&["auth", "can-i", "--list"]).await.ok());
        assert_eq!(rules[0], ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]);
        assert_eq!(rules[1..], [["*.*", "[]", "[]", "[*]"], ["", "[*]", "[]", "[*]"]]);
        cluster.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_kube_apiservers_errors_and_stores_nothing() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let missing = cluster.kubectl(&["get", "svc", "nonexist"]).await.fails(1);
        assert_eq!(missing, "Error from server (NotFound): services \"nonexist\" not found\n");
        let kept = cluster.kubectl(&["delete", "namespace", "kube-system"]).await.fails(1);
        assert_eq!(
            kept,
            "Error from server (Forbidden): namespaces \"kube-system\" is forbidden: this namespace may not be deleted\n"
        );
        cluster.kubectl(&["get", "service", "kube-dns", "-n", "kube-system"]).await.ok();

        let typo = cluster.file(
            "typo.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: typo\nspec:\n  ports:\n  - port: 80\n    targetPrt: 8080\n",
        );
        let refused = cluster.kubectl(&["create", "-f", typo.to_str().unwrap()]).await.fails(1);
        assert!(
            refused.contains(": Service in version \"v1\" cannot be handled as a Service: strict decoding error: unknown field \"spec.ports[0].targetPrt\""),
            "{refused}"
        );
        assert!(refused.starts_with("Error from server (BadRequest): error when creating"), "{refused}");
        cluster.kubectl(&["get", "svc", "typo"]).await.fails(1);
        let warned = cluster.kubectl(&["create", "-f", typo.to_str().unwrap(), "--validate=warn"]).await;
        assert!(warned.stderr.contains("Warning: unknown field \"spec.ports[0].targetPrt\""), "{}", warned.stderr);
        assert_eq!(warned.ok(), "service/typo created\n");
        let again = cluster.kubectl(&["create", "-f", typo.to_str().unwrap(), "--validate=false"]).await.fails(1);
        assert!(again.contains("(AlreadyExists)") && again.contains("services \"typo\" already exists"), "{again}");

        let invalid = cluster.file(
            "invalid.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: invalid\nspec:\n  ports:\n  - port: 0\n",
        );
        let refused = cluster.kubectl(&["apply", "-f", invalid.to_str().unwrap()]).await.fails(1);
        assert!(refused.contains("The Service \"invalid\" is invalid: \n"), "{refused}");
        assert!(
            refused.contains("* spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive\n"),
            "{refused}"
        );
        cluster.kubectl(&["get", "svc", "invalid"]).await.fails(1);
        let clash = cluster.file(
            "clash.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: clash\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 30123\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: clash2\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 30123\n",
        );
        let out = cluster.kubectl(&["create", "-f", clash.to_str().unwrap()]).await;
        assert_eq!(out.stdout, "service/clash created\n");
        assert!(
            out.fails(1).contains("spec.ports[0].nodePort: Invalid value: 30123: provided port is already allocated")
        );
        cluster.stop().await;
    }
}

/// The mistakes people make in pod templates, refused with kube-apiserver's words and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_mistakes_are_refused_and_nothing_is_stored() {
    let deployment = |selector: &str, resources: &str, mount: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kubia\nspec:\n  selector:\n    matchLabels: {{{selector}}}\n  template:\n    metadata:\n      labels: {{app: kubia, tier: web}}\n    spec:\n      containers:\n      - name: kubia\n        image: luksa/kubia\n        resources: {resources}\n        volumeMounts: [{{name: {mount}, mountPath: /data}}]\n      volumes: [{{name: data, emptyDir: {{}}}}]\n"
        )
    };
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let unmounted = cluster.file("unmounted.yaml", &deployment("app: kubia", "{}", "date"));
        let refused = cluster.kubectl(&["apply", "-f", unmounted.to_str().unwrap()]).await.fails(1);
        assert!(
            refused.contains("The Deployment \"kubia\" is invalid: spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"date\""),
            "{refused}"
        );
        let lots = cluster.file("lots.yaml", &deployment("app: kubia", "{limits: {cpu: lots}}", "data"));
        let refused = cluster.kubectl(&["apply", "-f", lots.to_str().unwrap()]).await.fails(1);
        assert!(refused.starts_with("Error from server (BadRequest): error when creating"), "{refused}");
        assert!(
            refused.contains("Deployment in version \"v1\" cannot be handled as a Deployment: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
            "{refused}"
        );
        let over =
            cluster.file("over.yaml", &deployment("app: kubia", "{requests: {cpu: 2}, limits: {cpu: 1}}", "data"));
        let refused = cluster.kubectl(&["apply", "-f", over.to_str().unwrap()]).await.fails(1);
        assert!(
            refused.contains("spec.template.spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"),
            "{refused}"
        );
        cluster.kubectl(&["get", "deployment", "kubia"]).await.fails(1);

        let good = cluster.file(
            "good.yaml",
            &deployment("app: kubia", "{requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 1}}", "data"),
        );
        assert_eq!(
            cluster.kubectl(&["apply", "-f", good.to_str().unwrap()]).await.ok(),
            "deployment.apps/kubia created\n"
        );
        let moved = cluster.file("moved.yaml", &deployment("app: kubia, tier: web", "{}", "data"));
        let refused = cluster.kubectl(&["apply", "-f", moved.to_str().unwrap()]).await.fails(1);
        assert!(
            refused.contains("The Deployment \"kubia\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"kubia\", \"tier\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"),
            "{refused}"
        );
        let selector =
            cluster.kubectl(&["get", "deployment", "kubia", "-o", "jsonpath={.spec.selector.matchLabels}"]).await.ok();
        assert_eq!(selector, "{\"app\":\"kubia\"}");
        let negative = ["patch", "deployment", "kubia", "--subresource=scale", "-p", r#"{"spec":{"replicas":-1}}"#];
        let refused = cluster.kubectl(&negative).await.fails(1);
        assert!(
            refused.contains(
                "The Scale \"kubia\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
            ),
            "{refused}"
        );
        cluster.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_kubectl_sends() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let v1 = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    a: \"1\"\n    b: \"2\"\nspec:\n  type: NodePort\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n  - name: https\n    port: 443\n    targetPort: 8443\n";
        let file = cluster.file("web.yaml", v1);
        assert_eq!(cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok(), "service/web created\n");
        assert_eq!(cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok(), "service/web unchanged\n");
        let node_port = cluster.kubectl(&["get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"]).await.ok();
        // A three-way strategic merge patch: a label dropped, a port changed, a port deleted.
        let v2 = v1
            .replace("    b: \"2\"\n", "")
            .replace("targetPort: 8080", "targetPort: 9090")
            .replace("  - name: https\n    port: 443\n    targetPort: 8443\n", "");
        std::fs::write(&file, v2).unwrap();
        assert_eq!(cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok(), "service/web configured\n");
        let got = cluster
            .kubectl(&["get", "svc", "web", "-o", "jsonpath={.metadata.labels} {.spec.ports[*].port} {.spec.ports[0].targetPort} {.spec.ports[0].nodePort}"])
            .await
            .ok();
        assert_eq!(got, format!("{{\"a\":\"1\"}} 80 9090 {node_port}"), "the allocated node port is kept");

        let patched =
            cluster.kubectl(&["patch", "svc", "web", "-p", r#"{"spec":{"sessionAffinity":"ClientIP"}}"#]).await.ok();
        assert_eq!(patched, "service/web patched\n");
        let json = r#"[{"op":"replace","path":"/metadata/labels/a","value":"3"}]"#;
        cluster.kubectl(&["patch", "svc", "web", "--type=json", "-p", json]).await.ok();
        cluster
            .kubectl(&["patch", "svc", "web", "--type=merge", "-p", r#"{"metadata":{"annotations":{"x":"y"}}}"#])
            .await
            .ok();
        let got = cluster
            .kubectl(&[
                "get",
                "svc",
                "web",
                "-o",
                "jsonpath={.spec.sessionAffinity} {.metadata.labels.a} {.metadata.annotations.x}",
            ])
            .await
            .ok();
        assert_eq!(got, "ClientIP 3 y");
        assert_eq!(cluster.kubectl(&["annotate", "svc", "web", "note=hi"]).await.ok(), "service/web annotated\n");
        let bad =
            cluster.kubectl(&["patch", "svc", "web", "-p", r#"{"spec":{"ports":[{"name":"x"}]}}"#]).await.fails(1);
        assert!(bad.contains("Error from server"), "{bad}");

        // Server-side apply: created, then merged; a field someone else set is a conflict
        // until forced; a label the applier stops applying goes.
        let ssa = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssa\n  labels:\n    tier: web\nspec:\n  selector:\n    app: ssa\n  ports:\n  - port: 80\n    targetPort: 8080\n";
        let file = cluster.file("ssa.yaml", ssa);
        let applied = cluster.kubectl(&["apply", "--server-side", "-f", file.to_str().unwrap()]).await.ok();
        assert_eq!(applied, "service/ssa serverside-applied\n");
        cluster
            .kubectl(&["patch", "svc", "ssa", "-p", r#"{"spec":{"ports":[{"port":80,"targetPort":9090}]}}"#])
            .await
            .ok();
        std::fs::write(&file, ssa.replace("  labels:\n    tier: web\n", "")).unwrap();
        let refused = cluster.kubectl(&["apply", "--server-side", "-f", file.to_str().unwrap()]).await.fails(1);
        assert!(
            refused.contains("Apply failed with 1 conflict: conflict with \"kubectl-patch\" using v1: .spec.ports[port=80,protocol=\"TCP\"].targetPort"),
            "{refused}"
        );
        let forced =
            cluster.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", file.to_str().unwrap()]).await.ok();
        assert_eq!(forced, "service/ssa serverside-applied\n");
        let got = cluster
            .kubectl(&["get", "svc", "ssa", "-o", "jsonpath={.spec.ports[0].targetPort} {.metadata.labels}"])
            .await
            .ok();
        assert_eq!(got, "8080 ", "the applied port is back and the dropped label is gone");
        let managers = cluster
            .kubectl(&[
                "get",
                "svc",
                "ssa",
                "--show-managed-fields",
                "-o",
                "jsonpath={.metadata.managedFields[*].manager}",
            ])
            .await
            .ok();
        assert!(managers.contains("kubectl"), "{managers}");

        // Typed clients post protobuf: `kubectl create deployment`, `create service`, `create secret`.
        let created = cluster
            .kubectl(&["create", "deployment", "kubia", "--image=luksa/kubia", "--replicas=3", "--port=8080"])
            .await
            .ok();
        assert_eq!(created, "deployment.apps/kubia created\n");
        let created = cluster.kubectl(&["create", "service", "nodeport", "kubia", "--tcp=80:8080"]).await.ok();
        assert_eq!(created, "service/kubia created\n");
        let created =
            cluster.kubectl(&["create", "secret", "generic", "creds", "--from-literal=user=admin"]).await.ok();
        assert_eq!(created, "secret/creds created\n");
        let user = cluster.kubectl(&["get", "secret", "creds", "-o", "jsonpath={.data.user}"]).await.ok();
        assert_eq!(user, "YWRtaW4=");
        let out = cluster
            .until(&["get", "deploy", "kubia"], std::time::Duration::from_secs(20), "3 ready", |out| {
                out.contains("3/3")
            })
            .await;
        assert_eq!(row(&table(&out), "kubia")[1..4], ["3/3", "3", "3"]);
        let rolled = cluster.kubectl(&["rollout", "status", "deployment/kubia"]).await.ok();
        assert!(rolled.contains("successfully rolled out"), "{rolled}");

        // A pod for another scheduler waits until something binds it (the binding subresource).
        let pending = cluster.file(
            "custom.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: custom\nspec:\n  schedulerName: my-scheduler\n  containers:\n  - name: kubia\n    image: luksa/kubia\n",
        );
        cluster.kubectl(&["create", "-f", pending.to_str().unwrap()]).await.ok();
        let node = cluster.kubectl(&["get", "po", "custom", "-o", "jsonpath={.spec.nodeName}"]).await.ok();
        assert_eq!(node, "", "the default scheduler leaves it alone");
        let binding = cluster.file(
            "binding.json",
            r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"custom"},"target":{"apiVersion":"v1","kind":"Node","name":"node-2"}}"#,
        );
        cluster
            .kubectl(&[
                "create",
                "--raw",
                "/api/v1/namespaces/default/pods/custom/binding",
                "-f",
                binding.to_str().unwrap(),
            ])
            .await
            .ok();
        cluster
            .until(
                &["get", "po", "custom", "-o", "wide"],
                std::time::Duration::from_secs(20),
                "running on node-2",
                |out| row(&table(out), "custom")[2] == "Running" && row(&table(out), "custom")[6] == "node-2",
            )
            .await;
        cluster.stop().await;
    }
}

/// `kubectl cp` both ways, a file, a directory and a binary file: kubectl runs `tar` in the
/// container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cp_copies_files_and_directories_both_ways() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster.kubectl(&["run", "box", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/box", "--timeout=30s"]).await.ok();
        let file = cluster.file("notes.txt", "hello from the host\n");
        cluster.file("tree/a.txt", "a\n");
        let nested = cluster.file("tree/sub/b.txt", "b\n");
        let tree = nested.parent().unwrap().parent().unwrap().to_str().unwrap().to_string();

        cluster.kubectl(&["cp", file.to_str().unwrap(), "box:/tmp/notes.txt"]).await.ok();
        assert_eq!(
            cluster.kubectl(&["exec", "box", "--", "cat", "/tmp/notes.txt"]).await.ok(),
            "hello from the host\n"
        );
        cluster.kubectl(&["cp", &tree, "box:/data"]).await.ok();
        assert_eq!(cluster.kubectl(&["exec", "box", "--", "cat", "/data/sub/b.txt"]).await.ok(), "b\n");

        let back = file.with_file_name("back.txt");
        cluster.kubectl(&["cp", "box:/tmp/notes.txt", back.to_str().unwrap()]).await.ok();
        assert_eq!(std::fs::read_to_string(&back).unwrap(), "hello from the host\n");
        let copy = file.with_file_name("copy");
        cluster.kubectl(&["cp", "box:/data", copy.to_str().unwrap()]).await.ok();
        assert_eq!(std::fs::read_to_string(copy.join("a.txt")).unwrap(), "a\n");
        assert_eq!(std::fs::read_to_string(copy.join("sub/b.txt")).unwrap(), "b\n");

        // Bytes that are not text, 200 KB of every value, in and out unchanged.
        let binary: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let image = file.with_file_name("image.bin");
        std::fs::write(&image, &binary).unwrap();
        cluster.kubectl(&["cp", image.to_str().unwrap(), "box:/tmp/image.bin"]).await.ok();
        let out = file.with_file_name("image-back.bin");
        cluster.kubectl(&["cp", "box:/tmp/image.bin", out.to_str().unwrap()]).await.ok();
        assert!(std::fs::read(&out).unwrap() == binary, "the copy differs");
        cluster.stop().await;
    }
}

/// `kubectl attach`: what the container's main process writes from then on (kubia logs each
/// request it answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_streams_what_the_container_writes() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        for pod in ["server", "client"] {
            cluster.kubectl(&["run", pod, "--image=luksa/kubia"]).await.ok();
        }
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/server", "pod/client", "--timeout=30s"]).await.ok();
        let ip = cluster.kubectl(&["get", "pod", "server", "-o", "jsonpath={.status.podIP}"]).await.ok();
        let mut attached = cluster.watch(&["attach", "server"]);
        // Requests until one shows: kubectl says on stderr when it is attached, which the watch
        // does not read.
        let url = format!("http://{ip}:8080");
        let requests = async {
            loop {
                let answer = cluster.kubectl(&["exec", "client", "--", "curl", "-s", &url]).await.ok();
                assert_eq!(answer, "You've hit server\n");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        };
        let seen = tokio::select! {
            seen = attached.until(|line| line.starts_with("Received request from")) => seen,
            () = requests => unreachable!(),
        };
        assert!(!seen.iter().any(|l| l.contains("Kubia server starting")), "only what came after: {seen:?}");
        drop(attached);
        cluster.stop().await;
    }
}

/// A `kind: List` file (what `kubectl get -o yaml` writes for several objects): kubectl
/// validates it client-side against the protobuf OpenAPI v2 document, so a good one applies and a
/// typo in an item is kubectl's own error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_files_apply_and_are_validated() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("kubia.yaml", crate::KUBIA);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        let listed = cluster.kubectl(&["get", "service/kubia", "rc/kubia", "-o", "yaml"]).await.ok();
        assert!(listed.starts_with("apiVersion: v1\nitems:"), "{listed}");
        cluster.kubectl(&["delete", "-f", file.to_str().unwrap()]).await.ok();
        let list = cluster.file("list.yaml", &listed);
        let applied = cluster.kubectl(&["apply", "-f", list.to_str().unwrap()]).await.ok();
        assert_eq!(applied, "service/kubia created\nreplicationcontroller/kubia created\n");

        let typo = cluster.file("typo.yaml", &listed.replace("targetPort: 8080", "targetPrt: 8080"));
        let refused = cluster.kubectl(&["apply", "-f", typo.to_str().unwrap()]).await.fails(1);
        assert!(
            refused.contains(
                "ValidationError(Service.spec.ports[0]): unknown field \"targetPrt\" in io.k8s.api.core.v1.ServicePort"
            ),
            "{refused}"
        );
        cluster.stop().await;
    }
}

/// Server-side dry runs do everything a write does but store it: `kubectl diff` shows what an
/// apply would change, `--dry-run=server` answers with the object as it would be (a service
/// with the addresses it would get), and nothing is created, changed, scaled, deleted or
/// allocated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dry_runs_and_diff_change_nothing() {
    const NODEPORT: &str = include_str!("../../../examples/kubia-nodeport.yaml");
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        let file = cluster.file("kubia-nodeport.yaml", NODEPORT);
        cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).await.ok();
        let changed = cluster.file("changed.yaml", &NODEPORT.replace("30123", "30124"));
        let diff = cluster.kubectl(&["diff", "-f", changed.to_str().unwrap()]).await;
        assert_eq!(diff.code, 1, "a difference: {}{}", diff.stdout, diff.stderr);
        assert!(diff.stdout.contains("-  - nodePort: 30123\n+  - nodePort: 30124\n"), "{}", diff.stdout);
        let node_port = ["get", "svc", "kubia-nodeport", "-o", "jsonpath={.spec.ports[0].nodePort}"];
        assert_eq!(cluster.kubectl(&node_port).await.ok(), "30123");
        assert_eq!(cluster.kubectl(&["diff", "-f", file.to_str().unwrap()]).await.code, 0, "no difference");
        let out = cluster.kubectl(&["apply", "-f", changed.to_str().unwrap(), "--dry-run=server"]).await.ok();
        assert_eq!(out, "service/kubia-nodeport configured (server dry run)\n");
        assert_eq!(cluster.kubectl(&node_port).await.ok(), "30123");

        // Created as it would be, and not at all.
        let uid = [
            "create",
            "deployment",
            "dry",
            "--image=luksa/kubia",
            "--dry-run=server",
            "-o",
            "jsonpath={.metadata.uid}",
        ];
        assert_eq!(cluster.kubectl(&uid).await.ok().len(), 36);
        let missing = cluster.kubectl(&["get", "deployment", "dry"]).await.fails(1);
        assert!(missing.contains("deployments.apps \"dry\" not found"), "{missing}");
        let service = [
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=80:8080",
            "--node-port=30200",
            "--dry-run=server",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ];
        assert!(cluster.kubectl(&service).await.ok().starts_with("10."), "a cluster IP, shown");
        cluster.kubectl(&["get", "service", "np"]).await.fails(1);
        let service = ["create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30200"];
        cluster.kubectl(&service).await.ok();

        // Scaled and deleted, not really: the service's node port stays taken.
        cluster.kubectl(&["create", "deployment", "web", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["scale", "deployment", "web", "--replicas=5", "--dry-run=server"]).await.ok();
        let replicas = ["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"];
        assert_eq!(cluster.kubectl(&replicas).await.ok(), "1");
        let deleted = cluster.kubectl(&["delete", "svc", "kubia-nodeport", "--dry-run=server"]).await.ok();
        // (kubectl 1.37 names the namespace.)
        assert!(deleted.starts_with("service \"kubia-nodeport\" deleted") && deleted.ends_with(" (server dry run)\n"));
        let taken = cluster.file("taken.yaml", &NODEPORT.replace("name: kubia-nodeport", "name: another"));
        let refused = cluster.kubectl(&["create", "-f", taken.to_str().unwrap()]).await.fails(1);
        assert!(refused.contains("provided port is already allocated"), "{refused}");
        // A dry run asked in any other words is refused, not made for real (the dashboard's too).
        for path in ["/api/v1/namespaces/default/services?dryRun=Yes", "/lab/v1/apply?dryRun=Yes"] {
            let refused = cluster.kubectl(&["create", "--raw", path, "-f", taken.to_str().unwrap()]).await.fails(1);
            assert!(
                refused.contains(r#"dryRun: Unsupported value: []string{"Yes"}: supported values: "All""#),
                "{refused}"
            );
        }
        cluster.kubectl(&["get", "service", "another"]).await.fails(1);
        cluster.stop().await;
    }
}
