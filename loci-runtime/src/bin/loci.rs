//! `loci`: project tooling. Today: creating cluster credentials.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Create a new cluster CA and a member certificate in DIR (refuses to replace an existing CA)
    Init {
        /// Directory to create the credentials in
        #[arg(default_value = "loci-credentials")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Credentials { action: CredentialsAction::Init { dir } } => {
            match loci::credentials::create_cluster(&dir) {
                Ok(files) => {
                    for file in files {
                        println!("wrote {}", file.display());
                    }
                    println!(
                        "give every instance `--credentials {}`; keep ca-key.pem off machines that only run peers",
                        dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
