//! Debugging from inside the cluster as a Kubernetes user does: a throw-away pod with a shell
//! (`kubectl run -it --rm`), a debug container added to a running pod (`kubectl debug`), and
//! exec sessions held open by background jobs.

use crate::support::{Cluster, binaries};
use std::time::Duration;

/// A kubia pod behind a `kubia` service.
async fn kubia(cluster: &Cluster) {
    cluster.kubectl(&["run", "web", "--image=luksa/kubia", "--labels=app=kubia"]).await.ok();
    cluster.kubectl(&["expose", "pod", "web", "--name=kubia", "--port=80", "--target-port=8080"]).await.ok();
    cluster.kubectl(&["wait", "--for=condition=Ready", "pod/web", "--timeout=30s"]).await.ok();
}

/// `kubectl run -i --rm --restart=Never … -- sh`: the shell reads what is piped in, its exit
/// code is kubectl's, and the pod is deleted afterwards; with `-t` it prompts and echoes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_gives_a_shell_in_a_throwaway_pod() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        kubia(&cluster).await;
        let script = "wget -qO- http://kubia\nnslookup kubia | grep Name\nexit 3\n";
        let args = ["run", "-i", "--rm", "--restart=Never", "client", "--image=busybox", "--", "sh"];
        let run = cluster.kubectl_with(&args, &[], Some(script)).await;
        assert_eq!(run.code, 3, "the shell's exit code: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("You've hit web\n"), "{}", run.stdout);
        assert!(run.stdout.contains("Name:\tkubia.default.svc.cluster.local"), "{}", run.stdout);
        assert!(run.stdout.contains("pod \"client\" deleted"), "{}", run.stdout);
        cluster
            .until(&["get", "pods", "-o", "name"], Duration::from_secs(30), "the pod deleted", |out| {
                !out.contains("pod/client")
            })
            .await;

        // A command that reads no input runs at once (and may be done before kubectl attaches:
        // it then prints the logs): a headless service's name answers SRV for each endpoint.
        cluster
            .kubectl(&["create", "service", "clusterip", "kubia-headless", "--clusterip=None", "--tcp=80:8080"])
            .await
            .ok();
        cluster.kubectl(&["set", "selector", "service", "kubia-headless", "app=kubia"]).await.ok();
        let name = "kubia-headless.default.svc.cluster.local";
        let args = [
            "run",
            "-i",
            "--rm",
            "--restart=Never",
            "srvlookup",
            "--image=tutum/dnsutils",
            "--",
            "dig",
            "SRV",
            name,
            "+short",
        ];
        let looked =
            cluster.until(&args, Duration::from_secs(30), "the SRV record", |out| out.contains(" 8080 ")).await;
        assert!(looked.starts_with("0 100 8080 10-244-"), "{looked}");
        assert!(looked.contains(&format!(".{name}.\n")), "{looked}");

        // A finished pod is not entered, in kube-apiserver's words.
        cluster.kubectl(&["run", "done", "--image=busybox", "--restart=Never", "--", "true"]).await.ok();
        let phase = ["get", "pod", "done", "-o", "jsonpath={.status.phase}"];
        cluster.until(&phase, Duration::from_secs(20), "the pod finished", |out| out == "Succeeded").await;
        let refused = cluster.kubectl(&["exec", "done", "--", "ls"]).await.fails(1);
        assert!(
            refused.contains("cannot exec into a container in a completed pod; current phase is Succeeded"),
            "{refused}"
        );

        // On a terminal: kubectl's hint, then Enter gives a prompt; what is typed is echoed.
        let keys = "\rhostname\rexit\r";
        let args = ["run", "-it", "--rm", "--restart=Never", "tty", "--image=busybox", "--", "sh"];
        let session = cluster.kubectl_tty(&args, keys).await;
        assert_eq!(session.code, 0, "{}{}", session.stdout, session.stderr);
        assert!(session.stdout.contains("If you don't see a command prompt, try pressing enter."));
        assert!(session.stdout.contains("/ # hostname\ntty\n/ # exit\n"), "{}", session.stdout);
        cluster.stop().await;
    }
}

/// `kubectl debug -i POD --image=busybox --target=kubia`: an ephemeral container joins the
/// running pod, shares its network (localhost is the app) and sees the target's processes; it
/// shows in the pod's status, its output in `kubectl logs -c`; it may not reuse a name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_adds_an_ephemeral_container_to_a_running_pod() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        kubia(&cluster).await;
        let args = ["debug", "-i", "web", "--image=busybox", "--target=web", "-c", "dbg"];
        // Without `stdinOnce` the container's input outlives the session: the shell ends at `exit`.
        let run = cluster.kubectl_with(&args, &[], Some("wget -qO- localhost:8080\nps\nexit\n")).await;
        let out = run.ok();
        assert!(out.contains("You've hit web\n"), "{out}");
        assert!(out.contains("    1 root      0:00 node app.js\n"), "the target's processes: {out}");
        assert!(out.contains("    7 root      0:00 sh\n"), "{out}");
        let status = "jsonpath={.status.ephemeralContainerStatuses[0].name} {.status.ephemeralContainerStatuses[0].state.terminated.reason}";
        cluster
            .until(&["get", "pod", "web", "-o", status], Duration::from_secs(20), "the debug container ended", |out| {
                out == "dbg Completed"
            })
            .await;
        let logs = cluster.kubectl(&["logs", "web", "-c", "dbg"]).await.ok();
        assert!(logs.contains("You've hit web\n"), "{logs}");
        let phase = cluster.kubectl(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]).await.ok();
        assert_eq!(phase, "Running", "an ephemeral container's end is not the pod's");
        let described = cluster.kubectl(&["describe", "pod", "web"]).await.ok();
        assert!(described.contains("Ephemeral Containers:\n  dbg:"), "{described}");

        let taken = cluster.kubectl(&["debug", "web", "--image=busybox", "-c", "web"]).await.fails(1);
        assert!(
            taken.contains("Pod \"web\" is invalid: spec.ephemeralContainers[1].name: Duplicate value: \"web\""),
            "{taken}"
        );
        cluster.stop().await;
    }
}

/// `kubectl exec` returns when nothing writes to it any more: a background job printing to the
/// session holds it open (its output arrives), one whose output is redirected does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_waits_for_background_jobs_that_write_to_it() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster.kubectl(&["run", "box", "--image=busybox", "--", "sleep", "3600"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/box", "--timeout=30s"]).await.ok();
        let held = cluster.kubectl(&["exec", "box", "--", "sh", "-c", "echo a; (sleep 0.2; echo b) & echo c"]).await;
        assert_eq!(held.ok(), "a\nc\nb\n");
        // A server started in the background with its output elsewhere lets the session end.
        let detached = ["exec", "box", "--", "sh", "-c", "sleep 600 > /dev/null 2>&1 & echo started"];
        let run = tokio::time::timeout(Duration::from_secs(60), cluster.kubectl(&detached)).await;
        assert_eq!(run.expect("exec returns while the job runs").ok(), "started\n");
        cluster.stop().await;
    }
}
