//! The chapter's sidebar on CertificateSigningRequests, with a real `openssl`: a request is
//! created, approved (as `kubectl certificate approve`) or denied, and the built-in signer issues
//! a certificate the cluster CA verifies.

use crate::common;

use common::{Lab, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

fn run(program: &str, args: &[&str], dir: &std::path::Path) -> Vec<u8> {
    let out = Command::new(program).args(args).current_dir(dir).output().expect("runs");
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A new key (`jane.key`) and a PKCS#10 request for `subject`, base64-encoded for `spec.request`.
fn make_request(dir: &std::path::Path, key: &[&str], subject: &str) -> String {
    let mut args = vec!["req", "-new", "-nodes", "-keyout", "jane.key", "-out", "jane.csr", "-subj", subject];
    args.extend_from_slice(key);
    run("openssl", &args, dir);
    String::from_utf8(run("base64", &["-w0", "jane.csr"], dir)).unwrap()
}

fn csr(name: &str, request: &str, signer: &str, usages: &[&str]) -> String {
    json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
        "spec": {"request": request, "signerName": signer, "usages": usages}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_request_gets_a_certificate_the_cluster_ca_verifies() {
    let lab = Lab::start().await;
    let dir = std::env::temp_dir().join(format!("svclab-csr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let request = make_request(&dir, &["-newkey", "rsa:2048"], "/CN=jane/O=dev");

    let client = "kubernetes.io/kube-apiserver-client";
    let (code, created) =
        lab.send(Method::POST, CSRS, "application/json", csr("jane", &request, client, &["client auth"])).await;
    assert_eq!(code, 201, "{created}");
    let (code, other) =
        lab.send(Method::POST, CSRS, "application/json", csr("joe", &request, client, &["client auth"])).await;
    assert_eq!(code, 201, "{other}");
    assert_eq!(created["status"]["certificate"], Value::Null, "nothing is issued before approval");

    let (code, approved) = lab
        .send(Method::POST, "/lab/v1/certificatesigningrequests/jane/approve", "application/json", String::new())
        .await;
    assert_eq!(code, 200, "{approved}");
    assert_eq!(approved["message"], "certificatesigningrequest.certificates.k8s.io/jane approved");
    let certificate = eventually(Duration::from_secs(10), "the signed certificate", || async {
        let (_, csr) = lab.get(&format!("{CSRS}/jane")).await;
        csr["status"]["certificate"].as_str().map(String::from)
    })
    .await;
    let (_, csr_now) = lab.get(&format!("{CSRS}/jane")).await;
    assert_eq!(csr_now["status"]["conditions"][0]["reason"], "KubectlApprove");

    std::fs::write(dir.join("cert.b64"), &certificate).unwrap();
    run("sh", &["-c", "base64 -d cert.b64 > jane.crt"], &dir);
    let ca = lab.http.get(lab.url("/lab/v1/ca.crt")).send().await.unwrap().text().await.unwrap();
    std::fs::write(dir.join("ca.crt"), ca).unwrap();
    let verified = run("openssl", &["verify", "-CAfile", "ca.crt", "jane.crt"], &dir);
    assert_eq!(String::from_utf8_lossy(&verified).trim(), "jane.crt: OK");
    let text = String::from_utf8(run(
        "openssl",
        &["x509", "-in", "jane.crt", "-noout", "-subject", "-ext", "extendedKeyUsage"],
        &dir,
    ))
    .unwrap();
    assert!(text.contains("CN = jane") && text.contains("O = dev"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    // The certificate really belongs to the key that made the request.
    let key_pub = run("openssl", &["pkey", "-in", "jane.key", "-pubout"], &dir);
    let cert_pub = run("sh", &["-c", "openssl x509 -in jane.crt -noout -pubkey"], &dir);
    assert_eq!(key_pub, cert_pub);

    // Denied: never issued, and it cannot be approved afterwards.
    let (code, denied) =
        lab.send(Method::POST, "/lab/v1/certificatesigningrequests/joe/deny", "application/json", String::new()).await;
    assert_eq!(code, 200, "{denied}");
    let (code, err) = lab
        .send(Method::POST, "/lab/v1/certificatesigningrequests/joe/approve", "application/json", String::new())
        .await;
    assert_eq!(code, 400);
    assert_eq!(err["message"], "error: certificatesigningrequest \"joe\" is already Denied");
    // Through the approval subresource, Approved and Denied together are refused.
    let (_, mut joe) = lab.get(&format!("{CSRS}/joe")).await;
    joe["status"]["conditions"].as_array_mut().unwrap().push(json!({"type": "Approved", "status": "True"}));
    let (code, err) = lab.send(Method::PUT, &format!("{CSRS}/joe/approval"), "application/json", joe.to_string()).await;
    assert_eq!(code, 422, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("Approved and Denied conditions are mutually exclusive"),
        "{err}"
    );
    let (_, joe) = lab.get(&format!("{CSRS}/joe")).await;
    assert_eq!(joe["status"]["certificate"], Value::Null);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signer_refuses_usages_its_signer_does_not_allow_and_bad_requests_are_invalid() {
    let lab = Lab::start().await;
    let dir = std::env::temp_dir().join(format!("svclab-csr-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let request = make_request(&dir, &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"], "/CN=web");
    let body = csr("web", &request, "kubernetes.io/kube-apiserver-client", &["server auth"]);
    let (code, _) = lab.send(Method::POST, CSRS, "application/json", body).await;
    assert_eq!(code, 201);
    lab.send(Method::POST, "/lab/v1/certificatesigningrequests/web/approve", "application/json", String::new()).await;
    let failed = eventually(Duration::from_secs(10), "the Failed condition", || async {
        let (_, csr) = lab.get(&format!("{CSRS}/web")).await;
        let conditions = csr["status"]["conditions"].as_array().cloned().unwrap_or_default();
        conditions.into_iter().find(|c| c["type"] == "Failed")
    })
    .await;
    assert_eq!(failed["reason"], "SignerValidationFailure");
    assert_eq!(failed["message"], "invalid usage for kubernetes.io/kube-apiserver-client certificate: server auth");

    let (code, err) = lab.send(Method::POST, CSRS, "application/json", csr("junk", "aGVsbG8=", "", &[])).await;
    assert_eq!(code, 422, "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(message.starts_with("CertificateSigningRequest.certificates.k8s.io \"junk\" is invalid: ["), "{message}");
    assert!(
        message.contains("spec.request: Invalid value: []byte{…}: PEM block type must be CERTIFICATE REQUEST"),
        "{message}"
    );
    assert!(message.contains("spec.signerName: Required value"), "{message}");
    std::fs::remove_dir_all(&dir).ok();
}
