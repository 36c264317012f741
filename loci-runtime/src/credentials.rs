//! Cluster credentials: a cluster CA and a member certificate signed by it.
//!
//! Every instance of a cluster presents the member certificate and accepts only remotes whose
//! certificate chains to the cluster CA, in both directions (mutual TLS). The CA's private key
//! is only needed to issue certificates, never at run time.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// The cluster CA certificate, trusted by every member.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The cluster CA's private key: keep it off the machines that only run peers.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The member certificate every instance presents.
pub const MEMBER_CERT_FILE: &str = "member.pem";
/// The member certificate's private key.
pub const MEMBER_KEY_FILE: &str = "member-key.pem";
/// The name member certificates are issued for and verified against.
pub const CLUSTER_SERVER_NAME: &str = "loci.cluster";

/// The credentials an instance runs with.
pub(crate) struct Credentials {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub roots: rustls::RootCertStore,
}

/// Creates a new cluster CA and a member certificate in `dir`.
///
/// Refuses to overwrite an existing CA, so a cluster's trust root is never replaced by accident.
/// Returns the paths written.
pub fn create_cluster(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let fail = |what: &str, error: &dyn std::fmt::Display| Error::Credentials(format!("{what}: {error}"));
    if dir.join(CA_CERT_FILE).exists() {
        return Err(Error::Credentials(format!(
            "{} already holds a cluster CA; remove the directory first to start a new cluster",
            dir.display()
        )));
    }
    fs::create_dir_all(dir).map_err(|e| fail(&format!("cannot create {}", dir.display()), &e))?;

    let ca_key = KeyPair::generate().map_err(|e| fail("generating the CA key", &e))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA parameters", &e))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "loci cluster CA");
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| fail("signing the CA", &e))?;

    let member_key = KeyPair::generate().map_err(|e| fail("generating the member key", &e))?;
    let mut member_params =
        CertificateParams::new(vec![CLUSTER_SERVER_NAME.to_owned()]).map_err(|e| fail("member parameters", &e))?;
    member_params.distinguished_name.push(DnType::CommonName, "loci cluster member");
    member_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let member_cert = member_params
        .signed_by(&member_key, &ca_cert, &ca_key)
        .map_err(|e| fail("signing the member certificate", &e))?;

    let files = [
        (CA_CERT_FILE, ca_cert.pem(), false),
        (CA_KEY_FILE, ca_key.serialize_pem(), true),
        (MEMBER_CERT_FILE, member_cert.pem(), false),
        (MEMBER_KEY_FILE, member_key.serialize_pem(), true),
    ];
    let mut written = Vec::new();
    for (name, contents, secret) in files {
        let path = dir.join(name);
        write_file(&path, contents.as_bytes(), secret).map_err(|e| fail(&format!("writing {}", path.display()), &e))?;
        written.push(path);
    }
    Ok(written)
}

fn write_file(path: &Path, contents: &[u8], secret: bool) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    std::io::Write::write_all(&mut options.open(path)?, contents)
}

/// Loads the member credentials and the cluster CA from `dir`.
pub(crate) fn load(dir: &Path) -> Result<Credentials, Error> {
    let missing = |file: &str| {
        Error::Credentials(format!(
            "no cluster credentials in {} (missing {file}); create them with `loci credentials init {}` and give every instance the same directory with `--credentials`",
            dir.display(),
            dir.display()
        ))
    };
    for file in [CA_CERT_FILE, MEMBER_CERT_FILE, MEMBER_KEY_FILE] {
        if !dir.join(file).is_file() {
            return Err(missing(file));
        }
    }
    let unreadable = |file: &str, error: &dyn std::fmt::Display| {
        Error::Credentials(format!("cannot read {}: {error}", dir.join(file).display()))
    };
    let chain = CertificateDer::pem_file_iter(dir.join(MEMBER_CERT_FILE))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable(MEMBER_CERT_FILE, &e))?;
    let key = PrivateKeyDer::from_pem_file(dir.join(MEMBER_KEY_FILE)).map_err(|e| unreadable(MEMBER_KEY_FILE, &e))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(dir.join(CA_CERT_FILE)).map_err(|e| unreadable(CA_CERT_FILE, &e))? {
        let ca = ca.map_err(|e| unreadable(CA_CERT_FILE, &e))?;
        roots.add(ca).map_err(|e| unreadable(CA_CERT_FILE, &e))?;
    }
    if chain.is_empty() {
        return Err(unreadable(MEMBER_CERT_FILE, &"it holds no certificate"));
    }
    Ok(Credentials { chain, key, roots })
}

/// A throwaway self-signed certificate for `--insecure` instances.
pub(crate) fn ephemeral() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let certified = rcgen::generate_simple_self_signed(vec![CLUSTER_SERVER_NAME.to_owned()])
        .map_err(|e| Error::Credentials(format!("generating an ephemeral certificate: {e}")))?;
    let key =
        PrivateKeyDer::try_from(certified.key_pair.serialize_der()).map_err(|e| Error::Credentials(e.to_owned()))?;
    Ok((vec![certified.cert.der().clone()], key))
}
