//! The certificate signer (kube-controller-manager's `csrsigning`): approved
//! CertificateSigningRequests for the built-in signers get `status.certificate`, issued by the
//! cluster CA from the request's subject, names and key with the usages asked for; a request
//! its signer can't honour gets a `Failed` condition. Requests for other signers are left alone,
//! as on a cluster where no such signer runs.

use super::runtime::{Action, Reconciler};
use crate::ca::ClusterCa;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::{Kind, Object};

/// The signers kube-controller-manager runs, and the usages each allows (and requires).
fn signer_rules(signer: &str) -> Option<(&'static [&'static str], Option<&'static str>)> {
    const CLIENT: &[&str] = &["digital signature", "key encipherment", "client auth"];
    const SERVING: &[&str] = &["digital signature", "key encipherment", "server auth"];
    match signer {
        "kubernetes.io/kube-apiserver-client" | "kubernetes.io/kube-apiserver-client-kubelet" => {
            Some((CLIENT, Some("client auth")))
        }
        "kubernetes.io/kubelet-serving" => Some((SERVING, Some("server auth"))),
        "kubernetes.io/legacy-unknown" => Some((&svclab_shared::validation::KEY_USAGES, None)),
        _ => None,
    }
}

/// Why a signer refuses a request: the message of the `Failed` condition it sets.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no signer for this signerName")]
    UnknownSigner,
    #[error("invalid usage for {signer} certificate: {usage}")]
    InvalidUsage { signer: String, usage: String },
    #[error("missing required usage for {signer} certificate: {usage}")]
    MissingUsage { signer: String, usage: String },
    /// The request is not a PEM certificate request, or could not be signed.
    #[error("{0}")]
    Certificate(#[from] rcgen::Error),
}

/// Issues the certificate a request asks for, or says why the signer refuses it.
pub fn sign(ca: &ClusterCa, csr: &CertificateSigningRequest) -> Result<String, SignError> {
    let spec = &csr.spec;
    let (allowed, required) = signer_rules(&spec.signer_name).ok_or(SignError::UnknownSigner)?;
    let usages = spec.usages.clone().unwrap_or_default();
    let signer = || spec.signer_name.clone();
    if let Some(bad) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
        return Err(SignError::InvalidUsage { signer: signer(), usage: bad.clone() });
    }
    if let Some(required) = required.filter(|r| !usages.iter().any(|u| u == r)) {
        return Err(SignError::MissingUsage { signer: signer(), usage: required.to_string() });
    }
    let pem = String::from_utf8_lossy(&spec.request.0);
    let mut request = rcgen::CertificateSigningRequestParams::from_pem(&pem)?;
    let now = time::OffsetDateTime::now_utc();
    let lifetime = spec.expiration_seconds.map(i64::from).unwrap_or(365 * 24 * 3600).clamp(600, 365 * 24 * 3600);
    let params = &mut request.params;
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::seconds(lifetime);
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.serial_number = Some(rand::random::<[u8; 16]>().map(|b| b & 0x7f).to_vec().into());
    params.key_usages = usages
        .iter()
        .filter_map(|u| match u.as_str() {
            "digital signature" | "signing" => Some(Ku::DigitalSignature),
            "content commitment" => Some(Ku::ContentCommitment),
            "key encipherment" => Some(Ku::KeyEncipherment),
            "key agreement" => Some(Ku::KeyAgreement),
            "data encipherment" => Some(Ku::DataEncipherment),
            "cert sign" => Some(Ku::KeyCertSign),
            "crl sign" => Some(Ku::CrlSign),
            "encipher only" => Some(Ku::EncipherOnly),
            "decipher only" => Some(Ku::DecipherOnly),
            _ => None,
        })
        .collect();
    params.extended_key_usages = usages
        .iter()
        .filter_map(|u| match u.as_str() {
            "server auth" => Some(Eku::ServerAuth),
            "client auth" => Some(Eku::ClientAuth),
            "code signing" => Some(Eku::CodeSigning),
            "email protection" => Some(Eku::EmailProtection),
            "timestamping" => Some(Eku::TimeStamping),
            "ocsp signing" => Some(Eku::OcspSigning),
            "any" => Some(Eku::Any),
            _ => None,
        })
        .collect();
    params.use_authority_key_identifier_extension = true;
    let cert = request.signed_by(ca.issuer())?;
    Ok(cert.pem())
}

fn has(csr: &CertificateSigningRequest, kind: &str) -> bool {
    csr.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == kind))
}

pub struct CsrSigningController {
    registry: Registry,
    ca: Arc<ClusterCa>,
}

impl CsrSigningController {
    pub fn new(registry: Registry, ca: Arc<ClusterCa>) -> Self {
        CsrSigningController { registry, ca }
    }
}

impl Reconciler for CsrSigningController {
    fn name(&self) -> &'static str {
        "csrsigning"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        if object.kind() == Kind::CertificateSigningRequest { vec![ObjectKey::of(object)] } else { vec![] }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let Some(csr) = self.registry.store().get_typed::<CertificateSigningRequest>("", &key.name) else {
            return Action::AwaitChange;
        };
        let issued = csr.status.as_ref().and_then(|s| s.certificate.as_ref()).is_some_and(|c| !c.0.is_empty());
        if !has(&csr, "Approved") || has(&csr, "Denied") || has(&csr, "Failed") || issued {
            return Action::AwaitChange;
        }
        if signer_rules(&csr.spec.signer_name).is_none() {
            return Action::AwaitChange;
        }
        let mut updated = csr.clone();
        let status = updated.status.get_or_insert_with(Default::default);
        match sign(&self.ca, &csr) {
            Ok(pem) => status.certificate = Some(ByteString(pem.into_bytes())),
            Err(refused) => {
                let now = Time(jiff::Timestamp::now());
                status.conditions.get_or_insert_with(Vec::new).push(CertificateSigningRequestCondition {
                    type_: "Failed".into(),
                    status: "True".into(),
                    reason: Some("SignerValidationFailure".into()),
                    message: Some(refused.to_string()),
                    last_update_time: Some(now.clone()),
                    last_transition_time: Some(now),
                });
            }
        }
        match self.registry.update_status(&Object::CertificateSigningRequest(updated)) {
            Ok(_) => Action::AwaitChange,
            Err(_) => Action::RequeueAfter(Duration::from_millis(50)),
        }
    }
}
