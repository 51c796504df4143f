//! The API's bearer token, when svclab listens beyond loopback: asked for once (the
//! [`TokenPrompt`](crate::components::token::TokenPrompt)), kept for this browser session, sent
//! with every call (`Authorization`) and every WebSocket (the subprotocol kube-apiserver takes a
//! token in, since a browser cannot give a WebSocket headers).

use gloo_net::http::RequestBuilder;

const KEY: &str = "svclab-token";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// The token given this session, if any.
pub fn token() -> Option<String> {
    storage()?.get_item(KEY).ok().flatten().filter(|t| !t.is_empty())
}

/// Keeps the token for this browser session.
pub fn remember(token: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(KEY, token.trim());
    }
}

/// A call with the token, when there is one.
pub fn authorized(request: RequestBuilder) -> RequestBuilder {
    match token() {
        Some(token) => request.header("authorization", &format!("Bearer {token}")),
        None => request,
    }
}

/// The WebSocket subprotocol that carries the token: `base64url.bearer.authorization.k8s.io.…`.
pub fn protocol() -> Option<String> {
    let token = token()?;
    let b64 = web_sys::window()?.btoa(&token).ok()?;
    let url_safe: String = b64
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    Some(format!("base64url.bearer.authorization.k8s.io.{url_safe}"))
}

/// Opens a WebSocket offering `protocols`, and the token's protocol when there is a token.
pub fn websocket(url: &str, protocols: &[&str]) -> Result<web_sys::WebSocket, wasm_bindgen::JsValue> {
    let offered = js_sys::Array::new();
    for p in protocols {
        offered.push(&(*p).into());
    }
    if let Some(auth) = protocol() {
        offered.push(&auth.into());
    }
    web_sys::WebSocket::new_with_str_sequence(url, &offered)
}
