//! Talking to the API from inside a pod, as client libraries do: the service account's token,
//! the cluster CA and the namespace mounted into every pod, the API at `https://kubernetes`,
//! and tokens made with `kubectl create token`.

use crate::support::{Cluster, binaries};
use std::time::Duration;

const DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

const ADMIN_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: admin-user
  annotations:
    kubernetes.io/service-account.name: admin-user
type: kubernetes.io/service-account-token
";

/// `curl` from `pod` to the API at `path`, with the pod's token unless `anonymous`.
async fn from_pod(cluster: &Cluster, pod: &str, path: &str, token: Option<&str>) -> String {
    let auth = match token {
        Some(file) => format!(" -H \"Authorization: Bearer $(cat {file})\""),
        None => String::new(),
    };
    let script = format!("curl -sS --cacert {DIR}/ca.crt{auth} https://kubernetes.default.svc{path}");
    cluster.kubectl(&["exec", pod, "--", "sh", "-c", &script]).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_the_api_with_their_service_account() {
    for binary in binaries() {
        let cluster = Cluster::start(&binary).await;
        cluster.kubectl(&["run", "kubia", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/kubia", "--timeout=30s"]).await.ok();

        // The ServiceAccount admission plugin mounted the account's credentials.
        let described = cluster.kubectl(&["describe", "pod", "kubia"]).await.ok();
        assert!(described.contains(&format!("{DIR} from kube-api-access-")), "{described}");
        assert!(described.contains("TokenExpirationSeconds:  3607"), "{described}");
        let listed = cluster.kubectl(&["exec", "kubia", "--", "ls", DIR]).await.ok();
        assert_eq!(listed, "ca.crt\nnamespace\ntoken\n");
        let ns = cluster.kubectl(&["exec", "kubia", "--", "cat", &format!("{DIR}/namespace")]).await.ok();
        assert_eq!(ns, "default");

        // Without a token the API server refuses; with it, it answers; the CA verifies it.
        let anonymous = from_pod(&cluster, "kubia", "/api/v1/namespaces/default/pods", None).await;
        assert!(
            anonymous.contains(r#"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""#),
            "{anonymous}"
        );
        let token = format!("{DIR}/token");
        let pods = from_pod(&cluster, "kubia", "/api/v1/namespaces/default/pods", Some(&token)).await;
        assert!(pods.contains(r#""kind":"PodList""#) && pods.contains(r#""name":"kubia""#), "{pods}");
        let unverified = cluster.kubectl(&["exec", "kubia", "--", "curl", "-sS", "https://kubernetes"]).await;
        assert!(unverified.fails(60).contains("SSL certificate problem: unable to get local issuer certificate"));
        let review = "curl -s --cacert $D/ca.crt -X POST -H \"Authorization: Bearer $(cat $D/token)\" -H 'Content-Type: application/json' -d '{}' https://kubernetes/apis/authentication.k8s.io/v1/selfsubjectreviews";
        let whoami =
            cluster.kubectl(&["exec", "kubia", "--", "env", &format!("D={DIR}"), "sh", "-c", review]).await.ok();
        assert!(whoami.contains(r#""username":"system:serviceaccount:default:default""#), "{whoami}");
        assert!(whoami.contains(r#""authentication.kubernetes.io/pod-name":["kubia"]"#), "{whoami}");

        // A token bound to a pod stops working when the pod is gone.
        let kept = cluster.kubectl(&["exec", "kubia", "--", "cat", &format!("{DIR}/token")]).await.ok();
        cluster.kubectl(&["run", "other", "--image=luksa/kubia"]).await.ok();
        cluster.kubectl(&["wait", "--for=condition=Ready", "pod/other", "--timeout=30s"]).await.ok();
        cluster.kubectl(&["exec", "other", "--", "sh", "-c", &format!("echo -n {kept} > /tmp/kept")]).await.ok();
        let before = from_pod(&cluster, "other", "/api/v1/namespaces/default/pods/kubia", Some("/tmp/kept")).await;
        assert!(before.contains(r#""kind":"Pod""#), "{before}");
        cluster.kubectl(&["delete", "pod", "kubia", "--wait"]).await.ok();
        let after = from_pod(&cluster, "other", "/api/v1/namespaces/default/pods", Some("/tmp/kept")).await;
        assert!(after.contains(r#""reason":"Unauthorized""#), "{after}");

        // A long-lived token in a Secret, as the dashboard's admin-user guide makes one: filled
        // in by the token controller, good while the Secret and the account last.
        cluster.kubectl(&["create", "serviceaccount", "admin-user"]).await.ok();
        let secret = cluster.file("admin-user.yaml", ADMIN_SECRET);
        cluster.kubectl(&["apply", "-f", secret.to_str().unwrap()]).await.ok();
        let template = [
            "get",
            "secret",
            "admin-user",
            "-o",
            "go-template={{if .data.token}}{{.data.token | base64decode}}{{end}}",
        ];
        let admin =
            cluster.until(&template, Duration::from_secs(10), "the token filled in", |out| !out.is_empty()).await;
        cluster.kubectl(&["exec", "other", "--", "sh", "-c", &format!("echo -n {admin} > /tmp/admin")]).await.ok();
        let review = format!(
            "curl -s --cacert {DIR}/ca.crt -X POST -H \"Authorization: Bearer $(cat /tmp/admin)\" -H 'Content-Type: application/json' -d '{{}}' https://kubernetes/apis/authentication.k8s.io/v1/selfsubjectreviews"
        );
        let whoami = cluster.kubectl(&["exec", "other", "--", "sh", "-c", &review]).await.ok();
        assert!(whoami.contains(r#""username":"system:serviceaccount:default:admin-user""#), "{whoami}");
        let described = cluster.kubectl(&["describe", "secret", "admin-user"]).await.ok();
        assert!(
            described.contains("kubernetes.io/service-account.uid: ") && described.contains("7 bytes"),
            "{described}"
        );
        cluster.kubectl(&["delete", "serviceaccount", "admin-user"]).await.ok();
        cluster
            .until(
                &["get", "secrets", "-o", "name"],
                Duration::from_secs(10),
                "the secret deleted with its account",
                |out| !out.contains("secret/admin-user"),
            )
            .await;
        let after = from_pod(&cluster, "other", "/api/v1/namespaces/default/pods", Some("/tmp/admin")).await;
        assert!(after.contains(r#""reason":"Unauthorized""#), "{after}");

        // A pod that opts out gets nothing mounted.
        let opt_out = r#"{"spec": {"automountServiceAccountToken": false}}"#;
        cluster.kubectl(&["run", "quiet", "--image=busybox", "--overrides", opt_out, "--", "sleep", "3600"]).await.ok();
        let quiet = cluster.kubectl(&["get", "pod", "quiet", "-o", "jsonpath={.spec.volumes}"]).await.ok();
        assert_eq!(quiet, "");

        // kubectl create token: what kube-apiserver checks, and a token the API accepts.
        let made = cluster.kubectl(&["create", "token", "default", "--duration=20m"]).await.ok();
        assert_eq!(made.trim().split('.').count(), 3, "a JWT: {made}");
        let missing = cluster.kubectl(&["create", "token", "nope"]).await.fails(1);
        assert!(missing.contains(r#"serviceaccounts "nope" not found"#), "{missing}");
        let short = cluster.kubectl(&["create", "token", "default", "--duration=5m"]).await.fails(1);
        assert!(
            short.contains(
                "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"
            ),
            "{short}"
        );
        let unbound = cluster
            .kubectl(&["create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=gone"])
            .await
            .fails(1);
        assert!(unbound.contains(r#"pods "gone" not found"#), "{unbound}");
        let whoami = cluster.kubectl(&["auth", "whoami"]).await.ok();
        assert!(whoami.contains("kubernetes-admin"), "{whoami}");
        cluster.stop().await;
    }
}
