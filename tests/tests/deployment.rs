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

/// The node StatefulSet gives each pod its own certificate: its init container, run here with
/// its mount paths moved into a scratch directory, picks the pod's files out of a Secret laid
/// out as the file's comment says, and the node is named as its certificate.
#[cfg(unix)]
#[test]
fn each_kubernetes_node_pod_gets_its_own_certificate() {
    use std::os::unix::fs::PermissionsExt;

    let (path, text) = deploy("kubernetes/chat.yaml");
    let documents: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|document| serde_yaml::Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect();
    let nodes = documents
        .iter()
        .find(|doc| doc["kind"].as_str() == Some("StatefulSet") && doc["metadata"]["name"].as_str() == Some("node"))
        .expect("the node StatefulSet");
    let pod = &nodes["spec"]["template"]["spec"];
    let init = &pod["initContainers"][0];
    let script = init["command"][2].as_str().expect("sh -c SCRIPT");
    let mount = |container: &serde_yaml::Value, volume: &str| {
        container["volumeMounts"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|m| m["name"].as_str() == Some(volume))
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("no mount of `{volume}`"))
            .to_owned()
    };
    let (secret_at, copied_at) = (mount(init, "every-node"), mount(init, "credentials"));
    let node = &pod["containers"][0];
    let env = |name: &str| {
        node["env"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|e| e["name"].as_str() == Some(name))
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("no {name}"))
            .to_owned()
    };
    assert_eq!(env("LOCI_CREDENTIALS"), mount(node, "credentials"), "the node reads what the init container copied");
    assert_eq!(env("LOCI_NAME"), "$(POD_NAME)");
    // Only the init container sees every node's key; the node sees its own, in memory.
    let mounts = node["volumeMounts"].as_sequence().expect("volumeMounts");
    assert!(mounts.iter().all(|m| m["name"].as_str() != Some("every-node")), "the node mounts every node's keys");
    let volume = |name: &str| {
        pod["volumes"].as_sequence().into_iter().flatten().find(|v| v["name"].as_str() == Some(name)).cloned()
    };
    assert_eq!(volume("credentials").expect("a credentials volume")["emptyDir"]["medium"].as_str(), Some("Memory"));

    // The Secret as the comment makes it: the CA certificate once, two files per pod.
    let scratch = std::env::temp_dir().join(format!("loci-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let ca = loci::credentials::ClusterCa::create(&scratch.join("ca")).unwrap();
    let secret = scratch.join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    for pod in ["node-0", "node-1"] {
        let issued = ca.issue(&["Node"], pod, &scratch.join(pod)).unwrap();
        std::fs::copy(issued.dir.join("ca.pem"), secret.join("ca.pem")).unwrap();
        std::fs::copy(issued.dir.join("instance.pem"), secret.join(format!("{pod}.instance.pem"))).unwrap();
        std::fs::copy(issued.dir.join("instance-key.pem"), secret.join(format!("{pod}.instance-key.pem"))).unwrap();
    }
    std::fs::write(secret.join("deny.txt"), "# nobody yet\n").unwrap();
    let copied = scratch.join("copied");
    std::fs::create_dir_all(&copied).unwrap();
    let script = script.replace(&secret_at, secret.to_str().unwrap()).replace(&copied_at, copied.to_str().unwrap());
    let status = std::process::Command::new("sh").args(["-c", &script]).env("POD_NAME", "node-1").status().unwrap();
    assert!(status.success(), "the init container's script failed: {script}");

    use rustls::pki_types::pem::PemObject;
    let certificate = rustls::pki_types::CertificateDer::from_pem_file(copied.join("instance.pem")).unwrap();
    let grant = loci::credentials::grant_of(&certificate).unwrap();
    assert_eq!((grant.instance.as_str(), grant.peers.as_slice()), ("node-1", ["Node".to_owned()].as_slice()));
    assert_eq!(
        std::fs::read(copied.join("instance-key.pem")).unwrap(),
        std::fs::read(scratch.join("node-1/instance-key.pem")).unwrap()
    );
    assert_eq!(std::fs::read_to_string(copied.join("deny.txt")).unwrap(), "# nobody yet\n");
    for file in ["ca.pem", "instance.pem", "instance-key.pem", "deny.txt"] {
        let mode = std::fs::metadata(copied.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400, "{file}");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
