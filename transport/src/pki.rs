//! The cluster CA, node identities, and the certificate checks of mutual TLS.
//!
//! A node's certificate carries its id three times: subject CN `kumo-node-<id>`, a DNS SAN
//! `kumo-node-<id>` (the server name a dialler asks for) and a URI SAN `kumo://node/<id>`
//! (the authoritative one). Both sides verify the peer's chain against the cluster CA with
//! webpki, then read the id from the certificate: the dialler requires the id it dialled,
//! the listener records the id and hands it to the handler as `from`.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName as TlsName, RootCertStore, SignatureScheme};

use crate::NodeId;
use crate::error::{Error, Result};

/// ALPN protocol of Kumo's node-to-node transport. `kumo/2` added the kind byte at the
/// start of every QUIC stream (requests and long-lived streams), so a node speaking
/// `kumo/1` fails the handshake instead of misreading requests.
pub(crate) const ALPN: &[u8] = b"kumo/2";
const NODE_NAME_PREFIX: &str = "kumo-node-";
const NODE_URI_PREFIX: &str = "kumo://node/";

/// The DNS name (and CN) that a node's certificate carries: `kumo-node-<id>`.
pub fn node_server_name(node: NodeId) -> String {
    format!("{NODE_NAME_PREFIX}{node}")
}

/// The URI SAN that names a node: `kumo://node/<id>`.
pub fn node_uri(node: NodeId) -> String {
    format!("{NODE_URI_PREFIX}{node}")
}

fn pki(msg: impl Into<String>) -> Error {
    Error::Pki(msg.into())
}

/// The certificate authority of one cluster. Callers persist it with [`ClusterCa::to_pem`]
/// and load it with [`ClusterCa::from_pem`].
pub struct ClusterCa {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCa").finish_non_exhaustive()
    }
}

/// CA parameters. The CN carries a fingerprint of the key so that two clusters' CAs have
/// different names (a foreign certificate then fails as "unknown issuer").
fn ca_params(key: &KeyPair) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    let tag: String = key
        .public_key_raw()
        .iter()
        .skip(1)
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    dn.push(DnType::CommonName, format!("kumo-cluster-ca-{tag}"));
    dn.push(DnType::OrganizationName, "kumo");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = SystemTime::now();
    p.not_before = (now - Duration::from_secs(3600)).into();
    p.not_after = (now + Duration::from_secs(20 * 365 * 86_400)).into();
    Ok(p)
}

impl ClusterCa {
    /// Generates a new CA (ECDSA P-256, valid for 20 years).
    ///
    /// # Panics
    /// Only if the system's random number generator fails; see [`ClusterCa::try_generate`].
    pub fn generate() -> ClusterCa {
        Self::try_generate().expect("generating a P-256 key and self-signing it")
    }

    /// Generates a new CA, reporting failure instead of panicking.
    pub fn try_generate() -> Result<ClusterCa> {
        let key = KeyPair::generate()?;
        let params = ca_params(&key)?;
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from its certificate and private key in PEM.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<ClusterCa> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        let der = first_cert(cert_pem)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| pki(format!("CA certificate: {e}")))?;
        if !parsed.is_ca() {
            return Err(pki("the certificate is not a CA"));
        }
        if parsed.public_key().raw != issuer.key().subject_public_key_info() {
            return Err(pki("the CA key does not match the CA certificate"));
        }
        Ok(ClusterCa {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    /// The CA certificate and private key in PEM: `(cert_pem, key_pem)`.
    pub fn to_pem(&self) -> (String, String) {
        (self.cert_pem.clone(), self.key_pem.clone())
    }

    /// The CA certificate in PEM (what every node trusts).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues the identity of `node`, valid from an hour ago for `not_after_days` days.
    /// `hosts` are extra SANs (IP addresses or DNS names) for the node's addresses.
    pub fn issue(
        &self,
        node: NodeId,
        hosts: &[String],
        not_after_days: u32,
    ) -> Result<NodeIdentity> {
        let now = SystemTime::now();
        self.issue_with_validity(
            node,
            hosts,
            now - Duration::from_secs(3600),
            now + Duration::from_secs(u64::from(not_after_days) * 86_400),
        )
    }

    /// Issues the identity of `node` with an explicit validity window (tests use it to
    /// make expired certificates).
    pub fn issue_with_validity(
        &self,
        node: NodeId,
        hosts: &[String],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<NodeIdentity> {
        let name = node_server_name(node);
        let mut sans = vec![
            SanType::DnsName(name.clone().try_into()?),
            SanType::URI(node_uri(node).try_into()?),
        ];
        for h in hosts {
            if h.starts_with(NODE_NAME_PREFIX) || h.starts_with("kumo://") {
                return Err(pki(format!("host {h:?} would name a node")));
            }
            sans.push(match h.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    h.clone()
                        .try_into()
                        .map_err(|_| pki(format!("invalid host name {h:?}")))?,
                ),
            });
        }
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = sans;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "kumo");
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(NodeIdentity {
            node,
            cert_chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_cert_pem: self.cert_pem.clone(),
        })
    }
}

/// What a node presents and trusts: its certificate chain and key, and the cluster CA.
/// A data directory stores it as `node.crt`, `node.key` and `cluster-ca.crt`
/// ([`NodeIdentity::save`], [`NodeIdentity::load`]).
#[derive(Clone)]
pub struct NodeIdentity {
    pub node: NodeId,
    pub cert_chain_pem: String,
    pub key_pem: String,
    pub ca_cert_pem: String,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// File names of an identity in a directory.
pub const NODE_CERT_FILE: &str = "node.crt";
pub const NODE_KEY_FILE: &str = "node.key";
pub const CA_CERT_FILE: &str = "cluster-ca.crt";

impl NodeIdentity {
    /// Builds an identity from PEM, reading the node id from the certificate.
    pub fn from_pem(cert_chain_pem: &str, key_pem: &str, ca_cert_pem: &str) -> Result<Self> {
        let node = node_id_of(&first_cert(cert_chain_pem)?).map_err(Error::Pki)?;
        let id = NodeIdentity {
            node,
            cert_chain_pem: cert_chain_pem.to_string(),
            key_pem: key_pem.to_string(),
            ca_cert_pem: ca_cert_pem.to_string(),
        };
        id.parts()?;
        Ok(id)
    }

    /// `(cert_chain_pem, key_pem, ca_cert_pem)`.
    pub fn to_pem(&self) -> (String, String, String) {
        (
            self.cert_chain_pem.clone(),
            self.key_pem.clone(),
            self.ca_cert_pem.clone(),
        )
    }

    /// Writes `node.crt`, `node.key` (mode 0600) and `cluster-ca.crt` into `dir`, each
    /// atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir)?;
        write_file(
            &dir.join(NODE_CERT_FILE),
            self.cert_chain_pem.as_bytes(),
            0o644,
        )?;
        write_file(&dir.join(NODE_KEY_FILE), self.key_pem.as_bytes(), 0o600)?;
        write_file(&dir.join(CA_CERT_FILE), self.ca_cert_pem.as_bytes(), 0o644)
    }

    /// Reads an identity written by [`NodeIdentity::save`].
    pub fn load(dir: &Path) -> Result<Self> {
        let cert = fs::read_to_string(dir.join(NODE_CERT_FILE))?;
        let key = fs::read_to_string(dir.join(NODE_KEY_FILE))?;
        let ca = fs::read_to_string(dir.join(CA_CERT_FILE))?;
        Self::from_pem(&cert, &key, &ca)
    }

    /// Parsed chain, key and CA.
    fn parts(
        &self,
    ) -> Result<(
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        CertificateDer<'static>,
    )> {
        let chain = rustls_pemfile::certs(&mut self.cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pki(format!("node certificate: {e}")))?;
        if chain.is_empty() {
            return Err(pki("no node certificate"));
        }
        let key = rustls_pemfile::private_key(&mut self.key_pem.as_bytes())
            .map_err(|e| pki(format!("node key: {e}")))?
            .ok_or_else(|| pki("no node key"))?;
        let ca = first_cert(&self.ca_cert_pem)?;
        Ok((chain, key, ca))
    }
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn first_cert(pem: &str) -> Result<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .ok_or_else(|| pki("no certificate in PEM"))?
        .map_err(|e| pki(format!("certificate PEM: {e}")))
}

/// The node id a certificate names: its single `kumo://node/<id>` URI SAN, which any
/// `kumo-node-<n>` DNS SAN or CN must agree with.
pub fn node_id_of(cert: &CertificateDer<'_>) -> Result<NodeId, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("unparsable certificate: {e}"))?;
    let mut uri_ids = Vec::new();
    let mut name_ids = Vec::new();
    let parse = |s: &str, what: &str| {
        s.parse::<NodeId>()
            .map_err(|_| format!("certificate {what} names an invalid node id {s:?}"))
    };
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("certificate SAN: {e}"))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::URI(u) => {
                    if let Some(id) = u.strip_prefix(NODE_URI_PREFIX) {
                        uri_ids.push(parse(id, "URI")?);
                    }
                }
                x509_parser::extensions::GeneralName::DNSName(d) => {
                    if let Some(id) = d.strip_prefix(NODE_NAME_PREFIX) {
                        name_ids.push(parse(id, "DNS name")?);
                    }
                }
                _ => {}
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Some(id) = cn
            .as_str()
            .ok()
            .and_then(|s| s.strip_prefix(NODE_NAME_PREFIX))
        {
            name_ids.push(parse(id, "CN")?);
        }
    }
    let id = match uri_ids.as_slice() {
        [id] => *id,
        [] => return Err("certificate names no node (no kumo://node/<id> URI)".into()),
        _ => return Err("certificate names more than one node".into()),
    };
    if let Some(other) = name_ids.iter().find(|n| **n != id) {
        return Err(format!(
            "certificate names node {id} in its URI but node {other} in a name"
        ));
    }
    Ok(id)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca: CertificateDer<'static>) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots.add(ca)?;
    Ok(Arc::new(roots))
}

/// The listener's check of a dialler: chain to the cluster CA, then a readable node id.
#[derive(Debug)]
struct NodeClientVerifier {
    local: NodeId,
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for NodeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[TlsName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let refuse = |reason: String| {
            tracing::warn!(node = self.local, %reason, "refused incoming peer");
            rustls::Error::General(reason)
        };
        if let Err(e) = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            let claimed = node_id_of(end_entity)
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into());
            return Err(refuse(format!(
                "certificate of claimed node {claimed} rejected: {e}"
            )));
        }
        node_id_of(end_entity).map_err(refuse)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The dialler's check of a listener: chain to the cluster CA and valid for the server
/// name `kumo-node-<id>`, then the node id in the certificate is the one dialled.
#[derive(Debug)]
struct NodeServerVerifier {
    local: NodeId,
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for NodeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let dialled = match server_name {
            ServerName::DnsName(n) => n
                .as_ref()
                .strip_prefix(NODE_NAME_PREFIX)
                .and_then(|s| s.parse::<NodeId>().ok()),
            _ => None,
        };
        let refuse = |reason: String| {
            tracing::warn!(node = self.local, peer = ?dialled, %reason, "refused peer");
            rustls::Error::General(reason)
        };
        let Some(dialled) = dialled else {
            return Err(refuse(format!(
                "server name {server_name:?} does not name a node"
            )));
        };
        let presented = node_id_of(end_entity);
        if let Ok(presented) = &presented
            && *presented != dialled
            && dialled != crate::ANY_NODE
        {
            return Err(refuse(format!(
                "dialled node {dialled} but the peer's certificate is for node {presented}"
            )));
        }
        // Dialling ANY_NODE (a first contact known only by address): any node certified by
        // the cluster CA will do, checked under the name its certificate claims.
        let claimed_name;
        let name = match (&presented, dialled) {
            (Ok(p), crate::ANY_NODE) => {
                claimed_name = ServerName::try_from(node_server_name(*p))
                    .map_err(|e| refuse(format!("bad node name: {e}")))?;
                &claimed_name
            }
            _ => server_name,
        };
        if let Err(e) =
            self.inner
                .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
        {
            return Err(refuse(format!(
                "certificate of node {dialled} rejected: {e}"
            )));
        }
        presented.map_err(refuse)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// rustls configurations (TLS 1.3 only, ALPN `kumo/2`) for one node's identity.
pub(crate) fn tls_configs(
    identity: &NodeIdentity,
) -> Result<(rustls::ServerConfig, rustls::ClientConfig)> {
    let (chain, key, ca) = identity.parts()?;
    let roots = roots(ca)?;
    let provider = provider();
    let verify_err = |e: rustls::client::VerifierBuilderError| pki(format!("verifier: {e}"));

    let client_verifier = Arc::new(NodeClientVerifier {
        local: identity.node,
        inner: rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(verify_err)?,
    });
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain.clone(), key.clone_key())?;
    server.alpn_protocols = vec![ALPN.to_vec()];

    let server_verifier = Arc::new(NodeServerVerifier {
        local: identity.node,
        inner: rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(verify_err)?,
    });
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(server_verifier)
        .with_client_auth_cert(chain, key)?;
    client.alpn_protocols = vec![ALPN.to_vec()];
    Ok((server, client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_its_node() {
        let ca = ClusterCa::generate();
        let id = ca
            .issue(42, &["127.0.0.1".into(), "host-a".into()], 30)
            .unwrap();
        assert_eq!(id.node, 42);
        let der = first_cert(&id.cert_chain_pem).unwrap();
        assert_eq!(node_id_of(&der), Ok(42));
        let again =
            NodeIdentity::from_pem(&id.cert_chain_pem, &id.key_pem, &id.ca_cert_pem).unwrap();
        assert_eq!(again.node, 42);
    }

    #[test]
    fn ca_round_trips_through_pem() {
        let ca = ClusterCa::generate();
        let (cert, key) = ca.to_pem();
        let loaded = ClusterCa::from_pem(&cert, &key).unwrap();
        let id = loaded.issue(3, &[], 1).unwrap();
        // A certificate issued by the reloaded CA chains to the original CA certificate.
        let (server, _) = tls_configs(&id).unwrap();
        drop(server);
        let roots = roots(first_cert(&cert).unwrap()).unwrap();
        let v = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .unwrap();
        let der = first_cert(&id.cert_chain_pem).unwrap();
        v.verify_server_cert(
            &der,
            &[],
            &ServerName::try_from("kumo-node-3").unwrap(),
            &[],
            UnixTime::now(),
        )
        .unwrap();
        // A foreign key does not load with this certificate.
        let other = ClusterCa::generate();
        assert!(ClusterCa::from_pem(&cert, &other.to_pem().1).is_err());
    }

    #[test]
    fn hosts_cannot_name_another_node() {
        let ca = ClusterCa::generate();
        assert!(ca.issue(1, &["kumo-node-2".into()], 1).is_err());
        assert!(ca.issue(1, &["kumo://node/2".into()], 1).is_err());
    }

    #[test]
    fn identity_saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::generate();
        let id = ca.issue(9, &[], 1).unwrap();
        id.save(&dir.path().join("pki")).unwrap();
        let back = NodeIdentity::load(&dir.path().join("pki")).unwrap();
        assert_eq!(back.node, 9);
        assert_eq!(back.to_pem(), id.to_pem());
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("pki").join(NODE_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
