//! `loci`: project tooling: a cluster's CA, and certificates for its instances.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use loci::credentials::{CertificateIdentity, ClusterCa, CA_CERT_FILE, CA_KEY_FILE, DENY_FILE};

#[derive(Parser)]
#[command(name = "loci", about = "Tooling for loci multitier programs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage the TLS credentials of a cluster
    Credentials {
        #[command(subcommand)]
        action: CredentialsAction,
    },
}

#[derive(Subcommand)]
enum CredentialsAction {
    /// Create a new cluster CA in CA_DIR (refuses to replace an existing CA)
    Init {
        /// Directory to create the CA in
        #[arg(default_value = "loci-ca")]
        ca_dir: PathBuf,
    },
    /// Issue an instance a certificate of the cluster CA in CA_DIR, granting it peer kinds
    Issue {
        /// The cluster CA's directory
        ca_dir: PathBuf,
        /// A peer kind the instance may be, as the module names it (e.g. `Registry`); repeat
        /// for an instance that also starts instances of other kinds under its name
        #[arg(long = "peer", value_name = "PEER", required = true)]
        peers: Vec<String>,
        /// The instance's name; it may also use names under it (`NAME/child`)
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Directory to write the instance's credentials to [default: CA_DIR/../NAME]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Print the fingerprint and serial of certificates, as deny.txt takes them
    Identify {
        /// PEM files of certificates (an instance's instance.pem)
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    let Command::Credentials { action } = command;
    match action {
        CredentialsAction::Init { ca_dir } => {
            ClusterCa::create(&ca_dir).map_err(|error| error.to_string())?;
            println!("wrote {} and {}", ca_dir.join(CA_CERT_FILE).display(), ca_dir.join(CA_KEY_FILE).display());
            println!(
                "issue each instance its certificate with `loci credentials issue {} --peer PEER --name NAME`; keep {CA_KEY_FILE} where certificates are issued, off the machines that run peers",
                ca_dir.display()
            );
            Ok(())
        }
        CredentialsAction::Issue { ca_dir, peers, name, out } => {
            let ca = ClusterCa::open(&ca_dir).map_err(|error| error.to_string())?;
            let out = out.unwrap_or_else(|| {
                let parent = ca_dir.parent().map(PathBuf::from).unwrap_or_default();
                parent.join(name.replace(['/', '\\'], "_"))
            });
            let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
            let issued = ca.issue(&peers, &name, &out).map_err(|error| error.to_string())?;
            println!("wrote the credentials of `{name}` ({}) to {}", peers.join(", "), issued.dir.display());
            println!("{}", issued.fingerprint);
            println!("{}", issued.serial);
            println!(
                "start the instance with `--credentials {}`; to revoke it, add either line above to {DENY_FILE} in the other instances' credentials",
                issued.dir.display()
            );
            Ok(())
        }
        CredentialsAction::Identify { files } => {
            use rustls::pki_types::pem::PemObject;
            for file in files {
                let certificates = rustls::pki_types::CertificateDer::pem_file_iter(&file)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
                let leaf = certificates.first().ok_or_else(|| format!("{} holds no certificate", file.display()))?;
                let identity = CertificateIdentity::of(leaf);
                let grant = loci::credentials::grant_of(leaf)
                    .map(|grant| format!("instance `{}`, peer kinds {}", grant.instance, grant.peers.join(", ")))
                    .unwrap_or_else(|error| error);
                println!("{}: {grant}\n{}\n{}", file.display(), identity.fingerprint, identity.serial);
            }
            Ok(())
        }
    }
}
