//! The cluster's certificate authority (`CN=kubernetes`): it signs approved
//! CertificateSigningRequests and the API's in-cluster serving certificate, and is what pods'
//! `ca.crt` and `kube-root-ca.crt` hold. A durable cluster keeps it beside its database
//! (`<name>.ca.crt` and the owner-only `<name>.ca.key`, as kube-apiserver reads its `--client-ca-file`
//! and the controller manager its signing key), so certificates issued before a restart still verify.

use crate::store::durable::write_private;
use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};
use std::path::Path;

/// The cluster's certificate authority.
pub struct ClusterCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA certificate, PEM (what `ca.crt` holds on a cluster).
    pub pem: String,
}

/// A kept CA that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not the cluster's CA certificate and key: {source}")]
    Invalid { path: String, source: rcgen::Error },
}

impl ClusterCa {
    /// A new CA, valid for ten years.
    pub fn generate() -> ClusterCa {
        let key = rcgen::KeyPair::generate().expect("ECDSA key generation works");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("no names is valid");
        params.distinguished_name.push(rcgen::DnType::CommonName, "kubernetes");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![Ku::DigitalSignature, Ku::KeyEncipherment, Ku::KeyCertSign];
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
        let cert = params.self_signed(&key).expect("self-signing works");
        ClusterCa { pem: cert.pem(), issuer: rcgen::Issuer::new(params, key) }
    }

    /// The CA kept at `cert` and `key`, or a new one written there when either is missing (a
    /// start stopped between the two writes leaves a key without its certificate).
    pub fn load_or_create(cert: &Path, key: &Path) -> Result<ClusterCa, CaError> {
        let read = |path: &Path| match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CaError::Io { path: path.display().to_string(), source }),
        };
        if let (Some(cert_pem), Some(key_pem)) = (read(cert)?, read(key)?) {
            let invalid = |source| CaError::Invalid { path: cert.display().to_string(), source };
            let pair = rcgen::KeyPair::from_pem(&key_pem).map_err(invalid)?;
            let issuer = rcgen::Issuer::from_ca_cert_pem(&cert_pem, pair).map_err(invalid)?;
            return Ok(ClusterCa { pem: cert_pem, issuer });
        }
        let ca = ClusterCa::generate();
        for path in [cert, key] {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CaError::Io { path: path.display().to_string(), source: e });
                }
                _ => {}
            }
        }
        for (path, pem) in [(key, ca.issuer.key().serialize_pem()), (cert, ca.pem.clone())] {
            write_private(path, pem.as_bytes())
                .map_err(|source| CaError::Io { path: path.display().to_string(), source })?;
        }
        Ok(ca)
    }

    /// What signs certificates in the CA's name.
    pub fn issuer(&self) -> &rcgen::Issuer<'static, rcgen::KeyPair> {
        &self.issuer
    }

    /// A serving certificate for `names` (DNS names and IP addresses), issued by the CA, with
    /// its new key: what kube-apiserver's `apiserver.crt` is to its in-cluster clients.
    pub fn serving(
        &self,
        names: &[String],
    ) -> (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate().expect("ECDSA key generation works");
        let mut params = rcgen::CertificateParams::new(names.to_vec()).expect("the API server's names are valid");
        params.distinguished_name.push(rcgen::DnType::CommonName, "kube-apiserver");
        params.key_usages = vec![Ku::DigitalSignature, Ku::KeyEncipherment];
        params.extended_key_usages = vec![Eku::ServerAuth];
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).expect("the CA signs");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        (cert.der().clone(), key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_ca_is_the_same_ca_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.ca.crt"), dir.path().join("c.ca.key"));
        let first = ClusterCa::load_or_create(&cert, &key).unwrap();
        let again = ClusterCa::load_or_create(&cert, &key).unwrap();
        assert_eq!(first.pem, again.pem);
        // What the reloaded CA signs verifies against the certificate written at first.
        let (leaf, _) = again.serving(&["kubernetes".into()]);
        let (_, parsed) = x509_parser::parse_x509_certificate(&leaf).unwrap();
        let pem = x509_parser::pem::parse_x509_pem(first.pem.as_bytes()).unwrap().1;
        let root = pem.parse_x509().unwrap();
        assert!(parsed.verify_signature(Some(root.public_key())).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // A key left without its certificate (a start stopped between the writes): a new CA.
        std::fs::remove_file(&cert).unwrap();
        let fresh = ClusterCa::load_or_create(&cert, &key).unwrap();
        assert_ne!(fresh.pem, first.pem);
        std::fs::write(&cert, "garbage").unwrap();
        let err = ClusterCa::load_or_create(&cert, &key).err().unwrap().to_string();
        assert!(err.contains("not the cluster's CA certificate and key"), "{err}");
    }
}
