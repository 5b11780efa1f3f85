//! TLS (rustls): used when `ssl = on` and a certificate and key are configured.
//! Without it, SSLRequest is answered 'N' and clients continue in clear text
//! (or give up, if they require TLS).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{SqlError, SqlResult};
use crate::settings::Values;

pub fn acceptor(dir: &Path, s: &Values) -> SqlResult<Option<tokio_rustls::TlsAcceptor>> {
    if !s.bool("ssl") {
        return Ok(None);
    }
    let resolve = |name: &str| {
        let p = Path::new(s.get_or_default(name));
        if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
    };
    let cert_path = resolve("ssl_cert_file");
    let key_path = resolve("ssl_key_file");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| SqlError::new("F0000", format!("could not load server certificate file \"{}\": {e}", cert_path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| SqlError::new("F0000", format!("bad certificate in \"{}\": {e}", cert_path.display())))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| SqlError::new("F0000", format!("could not load private key file \"{}\": {e}", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SqlError::new("F0000", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| SqlError::new("F0000", format!("invalid certificate/key: {e}")))?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}
