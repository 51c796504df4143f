//! `SelfSubjectReview` (`kubectl auth whoami`): who the API guard found the caller to be, a
//! service account by its token or the cluster's administrator.

use super::guard::Caller;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: the caller's user info.
pub async fn self_review(caller: Option<Extension<Caller>>) -> (StatusCode, Json<Value>) {
    let info = match caller.map(|Extension(c)| c).unwrap_or(Caller::Admin) {
        // What kubeadm's admin.conf authenticates as.
        Caller::Admin => {
            json!({"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]})
        }
        Caller::Account(user) => {
            let mut extra = Map::new();
            for (key, value) in user.extra {
                extra.insert(key, json!([value]));
            }
            json!({"username": user.username, "uid": user.uid, "groups": user.groups, "extra": extra})
        }
    };
    let review = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": info},
    });
    (StatusCode::CREATED, Json(review))
}
