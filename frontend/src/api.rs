//! Calls to the lab endpoints. Errors come back as text to show, never swallowed.

use gloo_net::http::Request;
use svclab_shared::lab::{ApplyResponse, TestReport, TestRequest};

/// `POST /lab/v1/apply`. The answer lists every document's outcome, also when some failed.
pub async fn apply(yaml: String) -> Result<ApplyResponse, String> {
    let response = Request::post("/lab/v1/apply")
        .header("content-type", "application/yaml")
        .body(yaml)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| format!("the server could not be reached: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    // Each document's outcome; or, when the request as a whole was refused, a metav1.Status.
    serde_json::from_str::<ApplyResponse>(&text).map_err(|_| {
        let refused: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        refused["message"].as_str().map(String::from).unwrap_or_else(|| format!("unexpected answer ({status})"))
    })
}

/// `POST /lab/v1/test-requests`.
pub async fn test_requests(request: &TestRequest) -> Result<TestReport, String> {
    let response = Request::post("/lab/v1/test-requests")
        .json(request)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| format!("the server could not be reached: {e}"))?;
    if !response.ok() {
        let status: serde_json::Value = response.json().await.unwrap_or_default();
        return Err(status["message"].as_str().unwrap_or("the request failed").to_string());
    }
    response.json::<TestReport>().await.map_err(|e| e.to_string())
}
