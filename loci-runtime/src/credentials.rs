//! Cluster credentials: a cluster CA, and one certificate per instance signed by it.
//!
//! The CA ([`ClusterCa`]) lives only where certificates are issued. Each instance gets a
//! directory of its own ([`ClusterCa::issue`]) holding the CA certificate, its certificate and
//! its key. The certificate grants the peer kinds the instance may claim and names the
//! instance, as URI subject alternative names:
//!
//! - `loci:peer:<Peer>` for each granted peer kind, e.g. `loci:peer:Registry`;
//! - `loci:instance:<name>` once, e.g. `loci:instance:registry-1`.
//!
//! At the handshake each side checks that the remote's certificate grants the peer kind its
//! hello claims, and that the name it gives is the certificate's, or a name under it
//! (`w1/app1` under `w1`: instances a host starts are named after it). An optional
//! `deny.txt` in the instance's directory lists certificates refused at the TLS handshake.
//!
//! ```
//! # fn main() -> Result<(), loci::Error> {
//! # let dir = std::env::temp_dir().join(format!("loci-doc-credentials-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! use loci::credentials::ClusterCa;
//!
//! let ca = ClusterCa::create(&dir.join("ca"))?;
//! let issued = ca.issue(&["Registry"], "registry-1", &dir.join("registry-1"))?;
//! assert!(issued.dir.join("instance.pem").is_file());
//! assert_eq!(issued.fingerprint.len(), "sha256:".len() + 64);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;
use crate::wire::handshake::Grant;

/// The cluster CA certificate, trusted by every member.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The cluster CA's private key: keep it where certificates are issued, off the machines that
/// only run peers.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// An instance's certificate.
pub const INSTANCE_CERT_FILE: &str = "instance.pem";
/// An instance's private key.
pub const INSTANCE_KEY_FILE: &str = "instance-key.pem";
/// Certificates an instance refuses, by fingerprint or serial; optional.
pub const DENY_FILE: &str = "deny.txt";
/// The name instance certificates are issued for and verified against.
pub const CLUSTER_SERVER_NAME: &str = "loci.cluster";
/// The URI prefix that grants a peer kind.
pub const PEER_URI: &str = "loci:peer:";
/// The URI prefix that names the instance.
pub const INSTANCE_URI: &str = "loci:instance:";

fn fail(what: &str, error: &dyn std::fmt::Display) -> Error {
    Error::Credentials(format!("{what}: {error}"))
}

/// A cluster's certificate authority, where certificates are issued.
pub struct ClusterCa {
    dir: PathBuf,
    cert_pem: String,
    /// The CA certificate rebuilt from its PEM, to sign with (same name and key).
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCa").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// What [`ClusterCa::issue`] wrote.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The instance's credentials directory: pass it with `--credentials`.
    pub dir: PathBuf,
    /// The certificate's SHA-256 fingerprint, as `sha256:<hex>` (a line `deny.txt` takes).
    pub fingerprint: String,
    /// The certificate's serial, as `serial:<hex>` (a line `deny.txt` takes too).
    pub serial: String,
}

impl ClusterCa {
    /// Creates a new cluster CA in `dir` (`ca.pem`, and `ca-key.pem` readable by the owner only).
    ///
    /// Refuses to overwrite an existing CA, so a cluster's trust root is never replaced by accident.
    pub fn create(dir: &Path) -> Result<Self, Error> {
        if dir.join(CA_CERT_FILE).exists() {
            return Err(Error::Credentials(format!(
                "{} already holds a cluster CA; remove the directory first to start a new cluster",
                dir.display()
            )));
        }
        fs::create_dir_all(dir).map_err(|e| fail(&format!("cannot create {}", dir.display()), &e))?;
        let key = KeyPair::generate().map_err(|e| fail("generating the CA key", &e))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA parameters", &e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.distinguished_name.push(DnType::CommonName, "loci cluster CA");
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).map_err(|e| fail("signing the CA", &e))?;
        let cert_pem = cert.pem();
        write_file(&dir.join(CA_CERT_FILE), cert_pem.as_bytes(), false)?;
        write_file(&dir.join(CA_KEY_FILE), key.serialize_pem().as_bytes(), true)?;
        Ok(ClusterCa { dir: dir.to_owned(), cert_pem, cert, key })
    }

    /// Opens the cluster CA in `dir`, to issue certificates with it.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let read = |file: &str| {
            fs::read_to_string(dir.join(file)).map_err(|e| {
                fail(
                    &format!(
                        "cannot read {} (a cluster CA made by `loci credentials init` holds it)",
                        dir.join(file).display()
                    ),
                    &e,
                )
            })
        };
        let cert_pem = read(CA_CERT_FILE)?;
        let key = KeyPair::from_pem(&read(CA_KEY_FILE)?).map_err(|e| fail("the CA key", &e))?;
        let params = CertificateParams::from_ca_cert_pem(&cert_pem).map_err(|e| fail("the CA certificate", &e))?;
        let cert = params.self_signed(&key).map_err(|e| fail("the CA certificate and key do not match", &e))?;
        Ok(ClusterCa { dir: dir.to_owned(), cert_pem, cert, key })
    }

    /// The directory the CA lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Issues instance `instance` a certificate granting the peer kinds `peers`, and writes
    /// its credentials directory `out`: the CA certificate, the certificate and its key.
    /// An existing certificate in `out` is replaced (instances load it again on reload), each
    /// file at once, never half written. `out/ca.pem` becomes this CA's certificate alone.
    pub fn issue(&self, peers: &[&str], instance: &str, out: &Path) -> Result<Issued, Error> {
        if peers.is_empty() {
            return Err(Error::Credentials("a certificate must grant at least one peer kind".to_owned()));
        }
        for name in peers.iter().chain([&instance]) {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
                return Err(Error::Credentials(format!(
                    "`{name}` cannot go in a certificate: peer kinds and instance names are non-empty, without spaces or `/` (names under an instance's, `{instance}/...`, are covered by its certificate)"
                )));
            }
        }
        let key = KeyPair::generate().map_err(|e| fail("generating the instance key", &e))?;
        let mut names =
            vec![SanType::DnsName(CLUSTER_SERVER_NAME.try_into().map_err(|e| fail("the cluster server name", &e))?)];
        let uris = peers.iter().map(|peer| format!("{PEER_URI}{peer}")).chain([format!("{INSTANCE_URI}{instance}")]);
        for uri in uris {
            names.push(SanType::URI(uri.as_str().try_into().map_err(|e| fail(&format!("`{uri}`"), &e))?));
        }
        let mut params = CertificateParams::default();
        params.subject_alt_names = names;
        params.distinguished_name.push(DnType::CommonName, instance);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(random_serial()?);
        let cert = params.signed_by(&key, &self.cert, &self.key).map_err(|e| fail("signing the certificate", &e))?;

        fs::create_dir_all(out).map_err(|e| fail(&format!("cannot create {}", out.display()), &e))?;
        write_file(&out.join(CA_CERT_FILE), self.cert_pem.as_bytes(), false)?;
        // The key first: an instance that reloads between the two writes sees a pair that
        // does not match and keeps its old credentials, rather than a new key with no use.
        write_file(&out.join(INSTANCE_KEY_FILE), key.serialize_pem().as_bytes(), true)?;
        write_file(&out.join(INSTANCE_CERT_FILE), cert.pem().as_bytes(), false)?;
        let identity = CertificateIdentity::of(cert.der());
        Ok(Issued { dir: out.to_owned(), fingerprint: identity.fingerprint, serial: identity.serial })
    }
}

fn random_serial() -> Result<rcgen::SerialNumber, Error> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| Error::Credentials("no randomness".to_owned()))?;
    // A positive DER integer: the top bit clear.
    bytes[0] &= 0x7f;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

/// Writes `path` whole or not at all (a new file renamed over the old one): an instance that
/// loads its credentials while they are issued again never reads half a file.
fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let file_name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = path.with_file_name(format!(".{file_name}.{}-{write}.partial", std::process::id()));
    let _ = fs::remove_file(&partial);
    options
        .open(&partial)
        .and_then(|mut file| std::io::Write::write_all(&mut file, contents))
        .and_then(|()| fs::rename(&partial, path))
        .map_err(|e| {
            let _ = fs::remove_file(&partial);
            fail(&format!("writing {}", path.display()), &e)
        })
}

/// How a certificate is named in `deny.txt` and in logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// `sha256:<hex>` of the certificate's DER encoding.
    pub fingerprint: String,
    /// `serial:<hex>` of the certificate's serial number.
    pub serial: String,
}

impl CertificateIdentity {
    /// The identity of the DER-encoded certificate `der`. A certificate that does not parse
    /// still has a fingerprint; its serial is then empty.
    pub fn of(der: &[u8]) -> Self {
        let fingerprint = format!("sha256:{}", hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()));
        let serial = x509_parser::parse_x509_certificate(der)
            .map(|(_, cert)| format!("serial:{}", hex(cert.tbs_certificate.raw_serial())))
            .unwrap_or_default();
        CertificateIdentity { fingerprint, serial }
    }
}

impl CertificateIdentity {
    /// The identity of the first certificate in PEM file `path` (an instance's `instance.pem`).
    pub fn of_pem_file(path: &Path) -> Result<Self, Error> {
        let certificate = CertificateDer::pem_file_iter(path)
            .and_then(|mut certs| certs.next().ok_or(rustls::pki_types::pem::Error::NoItemsFound))
            .and_then(|cert| cert)
            .map_err(|e| fail(&format!("cannot read a certificate from {}", path.display()), &e))?;
        Ok(Self::of(&certificate))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What a certificate grants: its `loci:peer:` and `loci:instance:` names. A certificate with
/// no instance name, or one that does not parse, grants nothing.
pub fn grant_of(der: &[u8]) -> Result<Grant, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("unreadable certificate: {e}"))?;
    let names = cert
        .subject_alternative_name()
        .map_err(|e| format!("unreadable subject alternative names: {e}"))?
        .map(|san| san.value.general_names.clone())
        .unwrap_or_default();
    let mut peers = Vec::new();
    let mut instance = None;
    for name in names {
        if let x509_parser::extensions::GeneralName::URI(uri) = name {
            if let Some(peer) = uri.strip_prefix(PEER_URI) {
                peers.push(peer.to_owned());
            } else if let Some(name) = uri.strip_prefix(INSTANCE_URI) {
                instance = Some(name.to_owned());
            }
        }
    }
    let instance = instance.ok_or_else(|| {
        format!(
            "the certificate names no instance (no `{INSTANCE_URI}` name): it is not a loci instance certificate; issue one with `loci credentials issue`"
        )
    })?;
    Ok(Grant { peers, instance })
}

/// Certificates refused at the TLS handshake, from `deny.txt`: one `sha256:<hex>` fingerprint
/// or `serial:<hex>` serial per line (as `loci credentials issue` prints them); `#` starts
/// a comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenyList {
    entries: Vec<String>,
}

impl DenyList {
    /// Parses the text of a deny list; errors name the first line that is neither.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let entry = line.to_ascii_lowercase();
            let valid = match entry.split_once(':') {
                Some(("sha256", digest)) => digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
                Some(("serial", serial)) => !serial.is_empty() && serial.chars().all(|c| c.is_ascii_hexdigit()),
                _ => false,
            };
            if !valid {
                return Err(format!(
                    "line {}: `{line}` is neither `sha256:<64 hex digits>` nor `serial:<hex digits>`",
                    number + 1
                ));
            }
            entries.push(entry);
        }
        Ok(DenyList { entries })
    }

    /// Whether the DER-encoded certificate `der` is on the list.
    pub fn denies(&self, der: &[u8]) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let identity = CertificateIdentity::of(der);
        self.entries.iter().any(|entry| *entry == identity.fingerprint || *entry == identity.serial)
    }

    /// How many certificates it lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The credentials an instance runs with, loaded from its directory.
pub(crate) struct Credentials {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub roots: rustls::RootCertStore,
    pub deny: DenyList,
    /// What the instance's own certificate grants.
    pub grant: Grant,
}

/// Loads an instance's credentials from `dir`.
pub(crate) fn load(dir: &Path) -> Result<Credentials, Error> {
    for file in [CA_CERT_FILE, INSTANCE_CERT_FILE, INSTANCE_KEY_FILE] {
        if dir.join(file).is_file() {
            continue;
        }
        let hint = if dir.join(CA_KEY_FILE).is_file() {
            format!(
                "{} is a cluster CA, not an instance's credentials; issue this instance its own with `loci credentials issue {} --peer PEER --name NAME` and pass the directory that writes",
                dir.display(),
                dir.display()
            )
        } else {
            format!(
                "no instance credentials in {} (missing {file}); create a cluster CA with `loci credentials init CA_DIR`, issue this instance a certificate with `loci credentials issue CA_DIR --peer PEER --name NAME`, and pass the directory it writes with `--credentials`",
                dir.display()
            )
        };
        return Err(Error::Credentials(hint));
    }
    let unreadable =
        |file: &str, error: &dyn std::fmt::Display| fail(&format!("cannot read {}", dir.join(file).display()), error);
    let chain = CertificateDer::pem_file_iter(dir.join(INSTANCE_CERT_FILE))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable(INSTANCE_CERT_FILE, &e))?;
    let key =
        PrivateKeyDer::from_pem_file(dir.join(INSTANCE_KEY_FILE)).map_err(|e| unreadable(INSTANCE_KEY_FILE, &e))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(dir.join(CA_CERT_FILE)).map_err(|e| unreadable(CA_CERT_FILE, &e))? {
        let ca = ca.map_err(|e| unreadable(CA_CERT_FILE, &e))?;
        roots.add(ca).map_err(|e| unreadable(CA_CERT_FILE, &e))?;
    }
    let leaf = chain.first().ok_or_else(|| unreadable(INSTANCE_CERT_FILE, &"it holds no certificate"))?;
    let grant = grant_of(leaf).map_err(|e| unreadable(INSTANCE_CERT_FILE, &e))?;
    let deny = match fs::read_to_string(dir.join(DENY_FILE)) {
        Ok(text) => DenyList::parse(&text).map_err(|e| unreadable(DENY_FILE, &e))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => DenyList::default(),
        Err(error) => return Err(unreadable(DENY_FILE, &error)),
    };
    Ok(Credentials { chain, key, roots, deny, grant })
}

/// The files of `dir` whose change makes an instance load its credentials again, with their
/// modification times (`None` for a file that is missing).
pub(crate) fn modified(dir: &Path) -> Vec<Option<std::time::SystemTime>> {
    [CA_CERT_FILE, INSTANCE_CERT_FILE, INSTANCE_KEY_FILE, DENY_FILE]
        .iter()
        .map(|file| fs::metadata(dir.join(file)).and_then(|meta| meta.modified()).ok())
        .collect()
}

/// A throwaway self-signed certificate for `--insecure` instances.
pub(crate) fn ephemeral() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let certified = rcgen::generate_simple_self_signed(vec![CLUSTER_SERVER_NAME.to_owned()])
        .map_err(|e| Error::Credentials(format!("generating an ephemeral certificate: {e}")))?;
    let key =
        PrivateKeyDer::try_from(certified.key_pair.serialize_der()).map_err(|e| Error::Credentials(e.to_owned()))?;
    Ok((vec![certified.cert.der().clone()], key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loci-credentials-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn an_issued_certificate_grants_its_peer_kinds_and_names_its_instance() {
        let dir = temp("grant");
        let ca = ClusterCa::create(&dir.join("ca")).unwrap();
        let issued = ca.issue(&["Worker", "Executor"], "w1", &dir.join("w1")).unwrap();
        let creds = load(&issued.dir).unwrap();
        assert_eq!(creds.grant, Grant { peers: vec!["Worker".into(), "Executor".into()], instance: "w1".into() });
        assert!(creds.deny.is_empty());
        // The CA opened again issues certificates of the same cluster.
        let again = ClusterCa::open(&dir.join("ca")).unwrap().issue(&["Master"], "m", &dir.join("m")).unwrap();
        assert_ne!(again.fingerprint, issued.fingerprint);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cluster_directory_is_not_an_instances_credentials() {
        let dir = temp("ca-only");
        ClusterCa::create(&dir).unwrap();
        let error = load(&dir).err().unwrap().to_string();
        assert!(error.contains("is a cluster CA, not an instance's credentials"), "{error}");
        assert!(ClusterCa::create(&dir).is_err(), "an existing CA is never replaced");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_deny_list_matches_fingerprints_and_serials_and_names_bad_lines() {
        let dir = temp("deny");
        let ca = ClusterCa::create(&dir.join("ca")).unwrap();
        let issued = ca.issue(&["Node"], "n", &dir.join("n")).unwrap();
        let der = load(&issued.dir).unwrap().chain.remove(0);
        let other = ca.issue(&["Node"], "o", &dir.join("o")).unwrap();
        for entry in [&issued.fingerprint, &issued.serial] {
            let list =
                DenyList::parse(&format!("# revoked\n{}  # n\n{}\n", entry.to_uppercase(), other.serial)).unwrap();
            assert!(list.denies(&der), "{entry}");
        }
        assert!(!DenyList::parse(&other.fingerprint).unwrap().denies(&der));
        let error = DenyList::parse("sha256:abc\n").unwrap_err();
        assert!(error.starts_with("line 1: `sha256:abc`"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
