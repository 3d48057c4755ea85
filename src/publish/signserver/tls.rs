//! The TLS client configuration of the SignServer client: trust anchors from a PEM CA file
//! (or the system's store) and, for SignServers that require client authentication, a PEM
//! certificate chain and key; rustls with ring. Reads only the files it is given, once, at
//! start; an unusable file is an error naming the key and the file, never a silent fallback.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::SignServerSection;

/// Reads the PEM files and makes the TLS client configuration (ring, rustls defaults).
pub fn client_config(cfg: &SignServerSection) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            for cert in certs(path, "signserver.ca_file")? {
                roots
                    .add(cert)
                    .map_err(|e| format!("signserver.ca_file {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("signserver: the system trust store holds no usable CA \
                            certificate; set signserver.ca_file"
                    .into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("signserver: TLS: {e}"))?
        .with_root_certificates(roots);
    let config = match (&cfg.client_cert, &cfg.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "signserver.client_cert")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("signserver.client_key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("signserver.client_cert {}: {e}", cert.display()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let list = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{key} {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key} {shown}: {e}"))?;
    if list.is_empty() {
        return Err(format!("{key} {shown}: holds no certificate"));
    }
    Ok(list)
}
