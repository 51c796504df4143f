//! `/healthz`, `/livez` and `/readyz`, as kube-apiserver answers them: `ok`, or with `?verbose`
//! each check (`[+]ping ok`) and the verdict; a single check at `/readyz/<name>`.

use super::ApiState;
use crate::error::ApiError;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// `/healthz`, `/livez`, `/readyz`, and a check under them (`/readyz/store`).
pub fn is_health_path(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz"]
        .iter()
        .any(|p| path.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// One check: its name and what it found wrong.
type Check = (&'static str, Result<(), String>);

/// The checks: `ping` always passes; `store` fails once the durable store can no longer commit.
/// `/livez` asks only `ping` (a store that cannot commit is not fixed by a restart of the
/// process that would lose what it holds).
fn checks(state: &ApiState) -> Vec<Check> {
    let store = state.registry.store().writable().map_err(|e| e.to_string());
    vec![("ping", Ok(())), ("store", store)]
}

/// kube-apiserver's report: every check when verbose or failing, then the verdict.
fn report(endpoint: &str, checks: &[Check], verbose: bool) -> Response {
    let failed = checks.iter().any(|(_, r)| r.is_err());
    if !verbose && !failed {
        return "ok".into_response();
    }
    let mut text = String::new();
    for (name, result) in checks {
        match result {
            Ok(()) => text.push_str(&format!("[+]{name} ok\n")),
            // kube-apiserver keeps the reason out of the response (it is in its log).
            Err(_) => text.push_str(&format!("[-]{name} failed: reason withheld\n")),
        }
    }
    let (code, verdict) =
        if failed { (StatusCode::INTERNAL_SERVER_ERROR, "failed") } else { (StatusCode::OK, "passed") };
    text.push_str(&format!("{endpoint} check {verdict}\n"));
    (code, text).into_response()
}

pub async fn livez(State(state): State<ApiState>, Query(query): Query<HashMap<String, String>>) -> Response {
    report("livez", &checks(&state)[..1], query.contains_key("verbose"))
}

pub async fn readyz(State(state): State<ApiState>, Query(query): Query<HashMap<String, String>>) -> Response {
    report("readyz", &checks(&state), query.contains_key("verbose"))
}

pub async fn healthz(State(state): State<ApiState>, Query(query): Query<HashMap<String, String>>) -> Response {
    report("healthz", &checks(&state), query.contains_key("verbose"))
}

/// `/readyz/<check>`: that check alone, `ok` or a 500.
pub async fn readyz_check(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match checks(&state).into_iter().find(|(n, _)| *n == name) {
        Some((_, Ok(()))) => "ok".into_response(),
        Some((name, Err(_))) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("internal server error: {name} failed\n")).into_response()
        }
        None => ApiError::PathNotFound.into_response(),
    }
}
