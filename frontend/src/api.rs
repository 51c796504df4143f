//! Calls to the lab endpoints. Errors come back as text to show, never swallowed.

use crate::auth::authorized;
use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use svclab_shared::doctor::Diagnosis;
use svclab_shared::lab::{
    ApplyResponse, DnsLookup, DnsLookupRequest, ExecRequest, ExecResponse, TestReport, TestRequest,
};

/// Each document's outcome (also when some failed), or, when the request as a whole was
/// refused, the metav1.Status message.
async fn documents(request: Result<Request, gloo_net::Error>) -> Result<ApplyResponse, String> {
    let response = request
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| format!("the server could not be reached: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str::<ApplyResponse>(&text).map_err(|_| {
        let refused: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        refused["message"].as_str().map(String::from).unwrap_or_else(|| format!("unexpected answer ({status})"))
    })
}

/// `POST /lab/v1/apply` (`kubectl apply -f`).
pub async fn apply(yaml: String) -> Result<ApplyResponse, String> {
    documents(authorized(Request::post("/lab/v1/apply")).header("content-type", "application/yaml").body(yaml)).await
}

/// `POST /lab/v1/apply?dryRun=All`: what applying would do, with each object's diff; nothing
/// is stored.
pub async fn apply_dry_run(yaml: String) -> Result<ApplyResponse, String> {
    let request = authorized(Request::post("/lab/v1/apply?dryRun=All")).header("content-type", "application/yaml");
    documents(request.body(yaml)).await
}

/// `POST /lab/v1/delete` (`kubectl delete -f`).
pub async fn delete(yaml: String) -> Result<ApplyResponse, String> {
    documents(authorized(Request::post("/lab/v1/delete")).header("content-type", "application/yaml").body(yaml)).await
}

/// Applies uploaded files, as a multipart upload (each result names its file).
pub async fn upload(files: web_sys::FileList) -> Result<ApplyResponse, String> {
    let form = web_sys::FormData::new().map_err(|e| format!("{e:?}"))?;
    for file in (0..files.length()).filter_map(|i| files.get(i)) {
        form.append_with_blob_and_filename("file", &file, &file.name()).map_err(|e| format!("{e:?}"))?;
    }
    documents(authorized(Request::post("/lab/v1/apply")).body(form)).await
}

/// An answer as `R`, or the message of the metav1.Status the API refused with.
async fn answer<R: DeserializeOwned>(response: Response) -> Result<R, String> {
    if !response.ok() {
        let status: serde_json::Value = response.json().await.unwrap_or_default();
        return Err(status["message"].as_str().unwrap_or("the request failed").to_string());
    }
    response.json::<R>().await.map_err(|e| e.to_string())
}

async fn post<T: Serialize, R: DeserializeOwned>(url: &str, body: &T) -> Result<R, String> {
    let request = authorized(Request::post(url)).json(body).map_err(|e| e.to_string())?;
    answer(request.send().await.map_err(|e| format!("the server could not be reached: {e}"))?).await
}

async fn get<R: DeserializeOwned>(url: &str) -> Result<R, String> {
    answer(authorized(Request::get(url)).send().await.map_err(|e| format!("the server could not be reached: {e}"))?)
        .await
}

/// Whether the API takes this page's calls (`false`: it wants a token this page lacks).
pub async fn authorized_here() -> bool {
    match authorized(Request::get("/lab/v1/addons")).send().await {
        Ok(response) => response.status() != 401,
        Err(_) => true,
    }
}

/// `POST /lab/v1/test-requests`.
pub async fn test_requests(request: &TestRequest) -> Result<TestReport, String> {
    post("/lab/v1/test-requests", request).await
}

/// The doctor's findings for a service or an HTTPRoute (`resource`: `services`, `httproutes`).
pub async fn diagnosis(resource: &str, namespace: &str, name: &str) -> Result<Diagnosis, String> {
    get(&format!("/lab/v1/namespaces/{namespace}/{resource}/{name}/diagnosis")).await
}

/// `POST /lab/v1/dns-lookups`.
pub async fn dns_lookup(request: &DnsLookupRequest) -> Result<DnsLookup, String> {
    post("/lab/v1/dns-lookups", request).await
}

/// Runs one command in a pod's container, as `kubectl exec` does.
pub async fn exec(namespace: &str, pod: &str, request: &ExecRequest) -> Result<ExecResponse, String> {
    post(&format!("/api/v1/namespaces/{namespace}/pods/{pod}/exec"), request).await
}

/// `DELETE /api/v1/namespaces/{namespace}/pods?labelSelector=…` (`kubectl delete po -l …`): the
/// names of the pods deleted.
pub async fn delete_pods(namespace: &str, selector: &str) -> Result<Vec<String>, String> {
    let selector = js_sys::encode_uri_component(selector);
    let url = format!("/api/v1/namespaces/{namespace}/pods?labelSelector={selector}");
    let response =
        authorized(Request::delete(&url)).send().await.map_err(|e| format!("the server could not be reached: {e}"))?;
    let list: serde_json::Value = answer(response).await?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect())
}

/// The endpoint timeline of a service: when each pod joined or left its endpoints, and why.
pub async fn timeline(namespace: &str, name: &str) -> Result<svclab_shared::lab::Timeline, String> {
    get(&format!("/lab/v1/namespaces/{namespace}/services/{name}/timeline")).await
}

/// `kubectl logs`: a pod's log as text.
pub async fn logs(namespace: &str, pod: &str) -> Result<String, String> {
    let url = format!("/api/v1/namespaces/{namespace}/pods/{pod}/log");
    let response =
        authorized(Request::get(&url)).send().await.map_err(|e| format!("the server could not be reached: {e}"))?;
    if !response.ok() {
        let status: serde_json::Value = response.json().await.unwrap_or_default();
        return Err(status["message"].as_str().unwrap_or("the request failed").to_string());
    }
    response.text().await.map_err(|e| e.to_string())
}
