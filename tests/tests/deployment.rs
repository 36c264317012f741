//! The deployment examples in `deploy/` stay consistent with the executables: the Kubernetes
//! file parses, each StatefulSet has its headless Service and the ports match, and every
//! `LOCI_*` variable the examples set is one a peer executable reads.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

fn deploy(path: &str) -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    (path, text)
}

/// Every environment variable a peer executable reads.
fn known_variables() -> Vec<String> {
    let command = loci::InstanceArgs::augment_args(clap::Command::new("peer"));
    command.get_arguments().filter_map(|arg| arg.get_env()).map(|env| env.to_string_lossy().into_owned()).collect()
}

fn loci_variables(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("LOCI_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_kubernetes_example_parses_and_its_statefulsets_have_their_services() {
    let (path, text) = deploy("kubernetes/chat.yaml");
    let documents: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|document| serde_yaml::Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect();
    let kind = |doc: &serde_yaml::Value| doc["kind"].as_str().unwrap_or_default().to_owned();
    let services: Vec<&serde_yaml::Value> = documents.iter().filter(|doc| kind(doc) == "Service").collect();
    let sets: Vec<&serde_yaml::Value> = documents.iter().filter(|doc| kind(doc) == "StatefulSet").collect();
    assert_eq!(sets.len(), 2);
    for set in sets {
        let governing = set["spec"]["serviceName"].as_str().expect("serviceName");
        let service = services
            .iter()
            .find(|service| service["metadata"]["name"].as_str() == Some(governing))
            .unwrap_or_else(|| panic!("no Service `{governing}`"));
        assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"), "`{governing}` must be headless");
        let labels = &set["spec"]["template"]["metadata"]["labels"];
        assert_eq!(&service["spec"]["selector"], labels, "`{governing}` selects other pods");
        for port in service["spec"]["ports"].as_sequence().into_iter().flatten() {
            assert_eq!(port["protocol"].as_str(), Some("UDP"), "QUIC runs over UDP");
        }
    }
}

#[test]
fn every_variable_the_examples_set_is_read_by_the_executables() {
    let known = known_variables();
    assert!(known.contains(&"LOCI_CONNECT".to_owned()), "{known:?}");
    for file in ["kubernetes/chat.yaml", "systemd/loci-registry.service", "systemd/loci-node@.service"] {
        let (path, text) = deploy(file);
        let used = loci_variables(&text);
        assert!(!used.is_empty(), "{} sets no LOCI_* variable", path.display());
        for variable in used {
            assert!(known.contains(&variable), "{} sets {variable}, which no peer reads", path.display());
        }
    }
}

#[test]
fn the_systemd_units_have_their_sections() {
    for file in ["systemd/loci-registry.service", "systemd/loci-node@.service"] {
        let (path, text) = deploy(file);
        for section in ["[Unit]", "[Service]", "[Install]"] {
            assert!(text.lines().any(|line| line.trim() == section), "{} lacks {section}", path.display());
        }
        assert!(text.lines().any(|line| line.starts_with("ExecStart=/")), "{} has no ExecStart", path.display());
    }
}
