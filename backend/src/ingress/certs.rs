//! Certificates for the ingress: a `kubernetes.io/tls` Secret's `tls.crt`/`tls.key` read into a
//! rustls signing key (checked as Go's `tls.X509KeyPair` checks them, with its messages), what the
//! certificate says (subject, names, expiry), the self-signed default certificate an unknown SNI
//! gets (as ingress-nginx's "Fake Certificate"), and the SNI resolver over the current snapshot.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// A usable certificate and key, with what the certificate says.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub key: Arc<CertifiedKey>,
    /// The subject as OpenSSL prints it: `CN=kubia.example.com`.
    pub subject: String,
    /// The names it covers: its DNS subject alternative names, else its common name.
    pub names: Vec<String>,
}

/// Why a certificate and key cannot be used together, in Go's `crypto/tls` words, and which half
/// is at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The certificate (`tls.crt`) is missing or malformed.
    #[error("{0}")]
    Certificate(String),
    /// The key (`tls.key`) is missing, malformed, or not the certificate's.
    #[error("{0}")]
    Key(String),
}

impl CertError {
    /// The Secret's field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            CertError::Certificate(_) => "data[tls.crt]",
            CertError::Key(_) => "data[tls.key]",
        }
    }
}

/// Reads a PEM certificate chain and private key, as `kubectl create secret tls` and ingress-nginx
/// do, failing with Go's `crypto/tls` messages.
pub fn load(cert_pem: &[u8], key_pem: &[u8]) -> Result<Certificate, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(CertError::Certificate("tls: failed to find any PEM data in certificate input".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            CertError::Key("tls: failed to find any PEM data in key input".into())
        }
        _ => CertError::Key("tls: failed to parse private key".into()),
    })?;
    let (_, parsed) = x509_parser::parse_x509_certificate(&chain[0])
        .map_err(|e| CertError::Certificate(format!("x509: malformed certificate: {e}")))?;
    let subject = parsed.subject().to_string().replace(", ", ",");
    let mut names: Vec<String> = match parsed.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names = parsed.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_lowercase).collect();
    }
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|_| CertError::Key("tls: failed to parse private key".into()))?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(CertError::Key("tls: private key does not match public key".into()));
        }
        Err(e) => return Err(CertError::Certificate(format!("x509: malformed certificate: {e}"))),
    }
    Ok(Certificate { key: Arc::new(certified), subject, names })
}

/// A Secret's certificate from its `tls.crt` and `tls.key`; `None` when it lacks either.
pub fn from_secret(secret: &k8s_openapi::api::core::v1::Secret) -> Option<Result<Certificate, CertError>> {
    let data = secret.data.as_ref()?;
    Some(load(&data.get("tls.crt")?.0, &data.get("tls.key")?.0))
}

/// The ingress add-on's admission check (as ingress-nginx's validating webhook is its own): a
/// `kubernetes.io/tls` Secret's certificate and key must load and match, which is what `kubectl
/// create secret tls` checks before it sends one.
pub struct TlsSecretCheck;

impl crate::registry::AdmissionCheck for TlsSecretCheck {
    fn validate(&self, object: &svclab_shared::Object) -> Vec<svclab_shared::validation::FieldError> {
        const REDACTED: &str = "\"<secret contents redacted>\"";
        let svclab_shared::Object::Secret(secret) = object else { return Vec::new() };
        if secret.type_.as_deref() != Some("kubernetes.io/tls") {
            return Vec::new();
        }
        match from_secret(secret) {
            Some(Err(e)) => vec![svclab_shared::validation::FieldError::invalid(e.field(), REDACTED, e.to_string())],
            _ => Vec::new(),
        }
    }
}

/// Whether `host` is covered by a certificate name (`*.example.com` covers one label).
pub fn covers(names: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    names.iter().any(|n| match n.strip_prefix("*.") {
        Some(parent) => host.split_once('.').is_some_and(|(_, rest)| rest == parent),
        None => *n == host,
    })
}

/// The certificate served to a client whose SNI names no configured host, as ingress-nginx's
/// `O=Acme Co, CN=Kubernetes Ingress Controller Fake Certificate`.
pub fn default_certificate() -> Certificate {
    let key = rcgen::KeyPair::generate().expect("ECDSA key generation works");
    let mut params = rcgen::CertificateParams::new(vec!["ingress.local".to_string()]).expect("a valid name");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "Acme Co");
    dn.push(rcgen::DnType::CommonName, "Kubernetes Ingress Controller Fake Certificate");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key).expect("self-signing works");
    load(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).expect("a generated pair matches")
}

/// Certificates by lower-case host name, as the current Ingresses' `tls` sections give them.
#[derive(Clone, Debug, Default)]
pub struct Certificates {
    pub by_host: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` entries, keyed by `example.com`.
    pub wildcards: HashMap<String, Arc<CertifiedKey>>,
}

impl Certificates {
    pub fn lookup(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = host.to_ascii_lowercase();
        if let Some(key) = self.by_host.get(&host) {
            return Some(key.clone());
        }
        let (_, parent) = host.split_once('.')?;
        self.wildcards.get(parent).cloned()
    }
}

/// Picks the certificate for a TLS handshake by SNI from the snapshot current at that moment, so
/// changes apply to new handshakes and never disturb connections already open.
#[derive(Debug)]
pub struct SniResolver {
    pub certificates: watch::Receiver<Arc<Certificates>>,
    pub default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = hello.server_name().and_then(|name| self.certificates.borrow().lookup(name));
        Some(found.unwrap_or_else(|| self.default.clone()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed certificate for `cn` (as `openssl req -x509 -subj /CN=…` makes) and its key.
    pub fn self_signed(cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_pair_loads_and_names_its_subject() {
        let (cert, key) = self_signed("kubia.example.com");
        let loaded = load(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(loaded.subject, "CN=kubia.example.com");
        assert_eq!(loaded.names, ["kubia.example.com"]);
        assert!(covers(&loaded.names, "KUBIA.example.com"));
        assert!(!covers(&loaded.names, "foo.example.com"));
    }

    #[test]
    fn bad_pairs_fail_with_gos_messages() {
        let (cert, _) = self_signed("a.example.com");
        let (_, other_key) = self_signed("b.example.com");
        assert_eq!(
            load(cert.as_bytes(), other_key.as_bytes()).unwrap_err(),
            CertError::Key("tls: private key does not match public key".into())
        );
        assert_eq!(
            load(b"junk", other_key.as_bytes()).unwrap_err(),
            CertError::Certificate("tls: failed to find any PEM data in certificate input".into())
        );
        let no_key = load(cert.as_bytes(), b"junk").unwrap_err();
        assert_eq!(
            (no_key.field(), no_key.to_string().as_str()),
            ("data[tls.key]", "tls: failed to find any PEM data in key input")
        );
    }

    #[test]
    fn wildcards_cover_one_label() {
        let names = vec!["*.example.com".to_string()];
        assert!(covers(&names, "foo.example.com"));
        assert!(!covers(&names, "a.foo.example.com"));
        assert!(!covers(&names, "example.com"));
        let default = default_certificate();
        assert_eq!(default.subject, "O=Acme Co,CN=Kubernetes Ingress Controller Fake Certificate");
    }
}
