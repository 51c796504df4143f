//! Service account tokens, as kube-apiserver issues and checks them: JWTs signed with the
//! cluster's service-account key (ECDSA P-256, `ES256`), naming an account and the object they
//! are bound to (a pod, a secret, a node), for audiences and a lifetime. A token authenticates
//! while it has not expired, was issued for the API server's audience, and what it names still
//! exists with the uid it had (a token bound to a deleted pod stops working with it).

use crate::store::Store;
use crate::store::durable::write_private;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use k8s_openapi::api::core::v1::{Node, Pod, Secret, ServiceAccount};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The object a token is bound to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub name: String,
    pub uid: String,
}

/// The `kubernetes.io` claim: whose token it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    pub namespace: String,
    pub serviceaccount: Bound,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Bound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Bound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Bound>,
}

/// A token's claims, as kube-apiserver writes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    pub nbf: i64,
    pub sub: String,
}

/// The issuer of legacy tokens, those kept in `kubernetes.io/service-account-token` Secrets.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// A legacy token's claims: no audience, no expiry; it lives as long as its Secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LegacyClaims {
    pub iss: String,
    #[serde(rename = "kubernetes.io/serviceaccount/namespace")]
    pub namespace: String,
    #[serde(rename = "kubernetes.io/serviceaccount/secret.name")]
    pub secret: String,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.name")]
    pub account: String,
    #[serde(rename = "kubernetes.io/serviceaccount/service-account.uid")]
    pub account_uid: String,
    pub sub: String,
}

/// What a TokenRequest asks for, once checked.
pub struct Grant {
    pub namespace: String,
    pub account: Bound,
    pub audiences: Vec<String>,
    pub seconds: i64,
    /// The object the token is bound to: its kind (`Pod`, `Secret`, `Node`) and reference.
    pub bound: Option<(String, Bound)>,
}

/// Who a token says the caller is.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: Vec<(String, String)>,
}

/// Why a token does not authenticate.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not valid: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("{0} no longer exists, or is another object of the same name")]
    Gone(String),
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a PKCS#8 ECDSA key: {source}")]
    Key { path: String, source: rcgen::Error },
}

/// The cluster's token issuer: its signing key and issuer URL.
pub struct Issuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The key's id (`kid`): a hash of its public key, as kube-apiserver derives it.
    kid: String,
    /// The issuer and the API server's audience: `https://kubernetes.default.svc.<domain>`.
    pub url: String,
}

impl Issuer {
    /// An issuer with a new key (a cluster kept in memory).
    pub fn generate(domain: &str) -> Issuer {
        let key = rcgen::KeyPair::generate().expect("ECDSA key generation works");
        Issuer::with_key(&key, domain)
    }

    /// The issuer of a kept cluster: its key read from `path`, or made and written there (owner
    /// only) the first time, so that tokens outlive a restart.
    pub fn load_or_create(path: &Path, domain: &str) -> Result<Issuer, KeyError> {
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(pem) => {
                let key = rcgen::KeyPair::from_pem(&pem)
                    .map_err(|source| KeyError::Key { path: path.display().to_string(), source })?;
                Ok(Issuer::with_key(&key, domain))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = rcgen::KeyPair::generate().expect("ECDSA key generation works");
                write_private(path, key.serialize_pem().as_bytes()).map_err(io)?;
                Ok(Issuer::with_key(&key, domain))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn with_key(key: &rcgen::KeyPair, domain: &str) -> Issuer {
        use base64::Engine;
        use rcgen::PublicKeyData;
        use sha2::Digest;
        let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(key.subject_public_key_info()));
        Issuer {
            encoding: EncodingKey::from_ec_der(&key.serialize_der()),
            decoding: DecodingKey::from_ec_der(key.public_key_raw()),
            kid,
            url: format!("https://kubernetes.default.svc.{}", domain.trim_end_matches('.')),
        }
    }

    /// Signs a token for `grant`, valid from now; its text and when it expires (Unix seconds).
    pub fn issue(&self, grant: &Grant) -> (String, i64) {
        let now = jiff::Timestamp::now().as_second();
        let mut kubernetes = KubernetesClaim {
            namespace: grant.namespace.clone(),
            serviceaccount: grant.account.clone(),
            ..Default::default()
        };
        match &grant.bound {
            Some((kind, bound)) if kind == "Pod" => kubernetes.pod = Some(bound.clone()),
            Some((kind, bound)) if kind == "Secret" => kubernetes.secret = Some(bound.clone()),
            Some((_, bound)) => kubernetes.node = Some(bound.clone()),
            None => {}
        }
        let claims = Claims {
            aud: grant.audiences.clone(),
            exp: now + grant.seconds,
            iat: now,
            iss: self.url.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes,
            nbf: now,
            sub: format!("system:serviceaccount:{}:{}", grant.namespace, grant.account.name),
        };
        let header = Header { kid: Some(self.kid.clone()), ..Header::new(Algorithm::ES256) };
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).expect("ES256 signing works");
        (token, claims.exp)
    }

    /// The claims of a token this issuer signed for the API server, not yet expired.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.url]);
        validation.set_audience(&[&self.url]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)?.claims)
    }

    /// Signs a legacy token of `account` for the Secret `secret` in `namespace`.
    pub fn issue_legacy(&self, namespace: &str, secret: &str, account: &Bound) -> String {
        let claims = LegacyClaims {
            iss: LEGACY_ISSUER.into(),
            namespace: namespace.into(),
            secret: secret.into(),
            account: account.name.clone(),
            account_uid: account.uid.clone(),
            sub: format!("system:serviceaccount:{namespace}:{}", account.name),
        };
        let header = Header { kid: Some(self.kid.clone()), ..Header::new(Algorithm::ES256) };
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("ES256 signing works")
    }

    /// The claims of a legacy token this issuer signed.
    pub fn legacy_claims(&self, token: &str) -> Result<LegacyClaims, TokenError> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[LEGACY_ISSUER]);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        Ok(jsonwebtoken::decode::<LegacyClaims>(token, &self.decoding, &validation)?.claims)
    }

    /// Who a legacy token authenticates: while its Secret holds it and its account is the one
    /// it was made for.
    fn authenticate_legacy(&self, store: &Store, token: &str) -> Result<User, TokenError> {
        let claims = self.legacy_claims(token)?;
        let ns = claims.namespace.as_str();
        let secret = store.get_typed::<Secret>(ns, &claims.secret);
        let holds = secret.and_then(|s| s.data?.get("token").map(|t| t.0 == token.as_bytes())).unwrap_or(false);
        let account = store.get_typed::<ServiceAccount>(ns, &claims.account);
        if !holds || account.and_then(|a| a.metadata.uid).as_deref() != Some(claims.account_uid.as_str()) {
            return Err(TokenError::Gone(format!("secret {ns}/{}", claims.secret)));
        }
        Ok(User {
            username: claims.sub,
            uid: claims.account_uid,
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            extra: Vec::new(),
        })
    }

    /// Who a token authenticates, checked against what exists now: the account, and the
    /// object it is bound to, each with the uid the token names (or, for a legacy token, the
    /// Secret that holds it).
    pub fn authenticate(&self, store: &Store, token: &str) -> Result<User, TokenError> {
        let claims = match self.verify(token) {
            Ok(claims) => claims,
            Err(bound) => return self.authenticate_legacy(store, token).map_err(|_| bound),
        };
        let k = &claims.kubernetes;
        let ns = k.namespace.as_str();
        let uid_of = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| meta.uid.clone();
        let same = |found: Option<String>, bound: &Bound, what: String| {
            if found.as_deref() == Some(bound.uid.as_str()) { Ok(()) } else { Err(TokenError::Gone(what)) }
        };
        let account = store.get_typed::<ServiceAccount>(ns, &k.serviceaccount.name);
        let what = format!("serviceaccount {ns}/{}", k.serviceaccount.name);
        same(account.and_then(|a| uid_of(&a.metadata)), &k.serviceaccount, what)?;
        let mut extra = vec![("authentication.kubernetes.io/credential-id".to_string(), format!("JTI={}", claims.jti))];
        if let Some(pod) = &k.pod {
            let found = store.get_typed::<Pod>(ns, &pod.name).and_then(|p| uid_of(&p.metadata));
            same(found, pod, format!("pod {ns}/{}", pod.name))?;
            extra.push(("authentication.kubernetes.io/pod-name".into(), pod.name.clone()));
            extra.push(("authentication.kubernetes.io/pod-uid".into(), pod.uid.clone()));
        }
        if let Some(secret) = &k.secret {
            let found = store.get_typed::<Secret>(ns, &secret.name).and_then(|s| uid_of(&s.metadata));
            same(found, secret, format!("secret {ns}/{}", secret.name))?;
        }
        if let Some(node) = &k.node {
            let found = store.get_typed::<Node>("", &node.name).and_then(|n| uid_of(&n.metadata));
            same(found, node, format!("node {}", node.name))?;
            extra.push(("authentication.kubernetes.io/node-name".into(), node.name.clone()));
            extra.push(("authentication.kubernetes.io/node-uid".into(), node.uid.clone()));
        }
        Ok(User {
            username: claims.sub,
            uid: k.serviceaccount.uid.clone(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(seconds: i64) -> Grant {
        Grant {
            namespace: "default".into(),
            account: Bound { name: "default".into(), uid: "u1".into() },
            audiences: vec!["https://kubernetes.default.svc.cluster.local".into()],
            seconds,
            bound: Some(("Pod".into(), Bound { name: "kubia".into(), uid: "p1".into() })),
        }
    }

    #[test]
    fn a_token_carries_its_account_and_pod_and_verifies_with_its_issuer_only() {
        let issuer = Issuer::generate("cluster.local");
        let (token, exp) = issuer.issue(&grant(3600));
        let claims = issuer.verify(&token).expect("a valid token");
        assert_eq!(claims.sub, "system:serviceaccount:default:default");
        assert_eq!(claims.kubernetes.pod.as_ref().map(|p| p.name.as_str()), Some("kubia"));
        assert_eq!(claims.exp, exp);
        assert!(Issuer::generate("cluster.local").verify(&token).is_err(), "another key's token");
        let mut tampered = token.clone();
        tampered.insert(token.find('.').unwrap() + 2, 'x');
        assert!(issuer.verify(&tampered).is_err());
        // For another audience: not the API server's.
        let other = Grant { audiences: vec!["vault".into()], ..grant(3600) };
        assert!(issuer.verify(&issuer.issue(&other).0).is_err());
        // Expired (beyond the leeway).
        assert!(issuer.verify(&issuer.issue(&grant(-120)).0).is_err());
    }

    #[test]
    fn the_key_is_kept_and_read_back() {
        let dir = std::env::temp_dir().join(format!("svclab-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.sa.key");
        let first = Issuer::load_or_create(&path, "cluster.local").unwrap();
        let (token, _) = first.issue(&grant(600));
        let again = Issuer::load_or_create(&path, "cluster.local").unwrap();
        assert!(again.verify(&token).is_ok(), "a restarted cluster honours its tokens");
        std::fs::write(&path, "junk").unwrap();
        let refused = Issuer::load_or_create(&path, "cluster.local").err().expect("junk refused");
        assert!(refused.to_string().contains("not a PKCS#8 ECDSA key"), "{refused}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
