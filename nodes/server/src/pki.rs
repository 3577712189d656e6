//! The cluster's certificates and credentials: a CA generated once per data directory, a
//! serving certificate for the API (re-issued at each start for the current addresses), and
//! the bearer token written into the kubeconfig.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Errors while creating or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o on {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate generation")]
    Cert(#[from] rcgen::Error),
    #[error("tls configuration")]
    Tls(#[from] rustls::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Loaded credentials of one control-plane node.
pub struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    /// Bearer token that grants full access (the admin token of the kubeconfig).
    pub admin_token: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `data` to `path` with mode 0600, atomically.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn ca_params() -> Result<CertificateParams, Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kumo-ca");
    dn.push(DnType::OrganizationName, "kumo");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2035, 1, 1);
    Ok(p)
}

fn random_token() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..48)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

impl Pki {
    /// Loads the CA and token from `dir/pki` (creating them the first time) and issues a
    /// serving certificate for `hosts` (DNS names or IP addresses).
    pub fn load_or_create(dir: &Path, hosts: &[String]) -> Result<Self, Error> {
        let pki = dir.join("pki");
        fs::create_dir_all(&pki).map_err(io(&pki))?;
        let ca_key_path = pki.join("ca.key");
        let ca_cert_path = pki.join("ca.crt");
        let token_path = pki.join("admin.token");
        let (ca_key, ca_pem) = if ca_key_path.exists() {
            let key = fs::read_to_string(&ca_key_path).map_err(io(&ca_key_path))?;
            let cert = fs::read_to_string(&ca_cert_path).map_err(io(&ca_cert_path))?;
            (KeyPair::from_pem(&key)?, cert)
        } else {
            let key = KeyPair::generate()?;
            let cert = ca_params()?.self_signed(&key)?;
            write_private(&ca_cert_path, cert.pem().as_bytes())?;
            write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
            (key, cert.pem())
        };
        let admin_token = if token_path.exists() {
            fs::read_to_string(&token_path)
                .map_err(io(&token_path))?
                .trim()
                .to_string()
        } else {
            let t = random_token();
            write_private(&token_path, t.as_bytes())?;
            t
        };
        let issuer = Issuer::new(ca_params()?, &ca_key);
        let mut names: Vec<String> = vec![
            "localhost".into(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            "kubernetes.default.svc.cluster.local".into(),
            "127.0.0.1".into(),
            "10.96.0.1".into(),
        ];
        for h in hosts {
            if !names.contains(h) {
                names.push(h.clone());
            }
        }
        let mut params = CertificateParams::new(names.clone())?;
        // rcgen treats every SAN as a DNS name; turn the IP literals into IP SANs.
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(ip) => Ok(rcgen::SanType::IpAddress(ip)),
                Err(_) => n.clone().try_into().map(rcgen::SanType::DnsName),
            })
            .collect::<Result<_, _>>()?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Self {
            ca_pem,
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
            admin_token,
        })
    }

    /// A rustls server configuration (ring provider, HTTP/2 and HTTP/1.1 by ALPN).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        let certs = rustls_pemfile::certs(&mut self.server_cert_pem.as_bytes())
            .chain(rustls_pemfile::certs(&mut self.ca_pem.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let key = rustls_pemfile::private_key(&mut self.server_key_pem.as_bytes())
            .map_err(|e| Error::Invalid(e.to_string()))?
            .ok_or_else(|| Error::Invalid("no private key".into()))?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Renders a kubeconfig for `server` (an https URL) with the CA and the admin token.
pub fn kubeconfig(server: &str, ca_pem: &str, token: &str) -> String {
    kubeconfig_multi(&[server.to_string()], ca_pem, token)
}

/// A kubeconfig whose current context (`kumo`) is the first URL, with a context
/// `kumo-node-N` for each further one.
pub fn kubeconfig_multi(urls: &[String], ca_pem: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut clusters = String::new();
    let mut contexts = String::new();
    for (i, u) in urls.iter().enumerate() {
        let name = if i == 0 {
            "kumo".to_string()
        } else {
            format!("kumo-node-{}", i + 1)
        };
        clusters.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {u}\n    certificate-authority-data: {ca}\n"
        ));
        contexts.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: kumo-admin\n    namespace: default\n"
        ));
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n- name: kumo-admin\n  user:\n    token: {token}\ncontexts:\n{contexts}current-context: kumo\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_kept_and_server_cert_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let a = Pki::load_or_create(dir.path(), &["127.0.0.2".into()]).unwrap();
        let b = Pki::load_or_create(dir.path(), &["127.0.0.3".into()]).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.admin_token, b.admin_token);
        assert_ne!(a.server_cert_pem, b.server_cert_pem);
        a.server_config().unwrap();
    }
}
