//! What the Gateway model is built from ([`Inputs`]) and the shape of each condition it reports
//! ([`Outcome`]), beneath the model and the helpers it calls (filters, references).

use crate::ingress::backend::ServiceLookup;
use k8s_openapi::api::core::v1::Namespace;
use rustls::sign::CertifiedKey;
use std::sync::Arc;
use svclab_shared::gateway::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};

/// A condition's outcome: fine, or false with a reason and message.
pub type Outcome = Result<(), (&'static str, String)>;

/// Loads a `kubernetes.io/tls` Secret's certificate (namespace, name), or says why it cannot.
pub type LoadCertificate<'a> = &'a dyn Fn(&str, &str) -> Result<Arc<CertifiedKey>, CertificateError>;

/// Why a listener's certificate reference cannot be used (its `ResolvedRefs` condition's
/// message), the Secret named `namespace/name`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CertificateError {
    #[error("Secret {0} does not exist")]
    Missing(String),
    #[error("Secret {0} is not of type kubernetes.io/tls")]
    NotTls(String),
    #[error("Secret {0} has no tls.crt and tls.key")]
    NoKeyPair(String),
    #[error("Secret {secret}: {error}")]
    Invalid { secret: String, error: crate::ingress::certs::CertError },
}

/// What the model is built from.
pub struct Inputs<'a> {
    pub classes: &'a [GatewayClass],
    pub gateways: &'a [Gateway],
    pub routes: &'a [HttpRoute],
    pub grants: &'a [ReferenceGrant],
    pub namespaces: &'a [Namespace],
    pub services: &'a dyn ServiceLookup,
    /// A `kubernetes.io/tls` Secret's certificate, or why it cannot be used.
    pub certificate: LoadCertificate<'a>,
}
