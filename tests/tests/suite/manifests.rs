//! The Kubernetes manifests, the Dockerfile and the server cannot drift
//! apart: every container runs the image the Dockerfile's build command
//! names, the ports are the `augur` binary's own defaults (read from its
//! `--help`), the Services and the agent's `server` URL point at them, and
//! every probe path answers 200 on a real running server. The manifests are
//! read with Python's YAML parser.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use augur_tests::*;
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn have_python_yaml() -> bool {
    Command::new("python3")
        .args(["-c", "import yaml"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every document of a YAML file, as JSON.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The port of an `--flag` default in `augur SUBCOMMAND --help`.
fn default_port(subcommand: &str, flag: &str) -> u64 {
    let out = Command::new(augur_bin())
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let from = help
        .find(&format!("  {flag} <"))
        .unwrap_or_else(|| panic!("{flag} not in augur {subcommand} --help"));
    let rest = &help[from..];
    let default = rest[rest.find("[default: ").unwrap() + "[default: ".len()..]
        .split(']')
        .next()
        .unwrap();
    default.rsplit(':').next().unwrap().parse().unwrap()
}

/// The port of `--flag=ADDR` in a container's args.
fn arg_port(container: &Value, flag: &str) -> u64 {
    let prefix = format!("{flag}=");
    let arg = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {flag}= in {}", container["args"]));
    arg.rsplit(':').next().unwrap().parse().unwrap()
}

/// A container's named ports.
fn container_ports(container: &Value) -> BTreeMap<String, u64> {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn only_container(workload: &Value) -> &Value {
    let containers = workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "{}", workload["metadata"]["name"]);
    &containers[0]
}

#[test]
fn manifests_dockerfile_and_server_agree() {
    if !require(
        have_python_yaml(),
        "Python's yaml module (pip install PyYAML)",
    ) {
        return;
    }
    let root = workspace();
    let server_docs = yaml_documents(&root.join("deploy/kubernetes/augur-server.yaml"));
    let agent_docs = yaml_documents(&root.join("deploy/kubernetes/augur-agent.yaml"));
    let statefulset = find(&server_docs, "StatefulSet", "augur-server");
    let service = find(&server_docs, "Service", "augur-server");
    let daemonset = find(&agent_docs, "DaemonSet", "augur-agent");
    let server = only_container(statefulset);
    let agent = only_container(daemonset);

    // One image: the one the Dockerfile's documented build command tags.
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let tag = dockerfile
        .lines()
        .find_map(|l| {
            l.trim_start_matches('#')
                .trim()
                .strip_prefix("docker build -t ")
        })
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the Dockerfile documents `docker build -t IMAGE .`");
    assert_eq!(server["image"], tag, "the server's image");
    assert_eq!(agent["image"], tag, "the agent's image");
    assert!(dockerfile.contains(r#"ENTRYPOINT ["/usr/bin/augur"]"#));
    assert_eq!(server["args"][0], "server");
    assert_eq!(agent["args"][0], "agent");

    // Ports: the binary's defaults, everywhere.
    let http = default_port("server", "--http");
    let ingest = default_port("server", "--ingest");
    let metrics = default_port("agent", "--metrics");
    let ports = container_ports(server);
    assert_eq!(ports.get("web"), Some(&http), "{ports:?}");
    assert_eq!(ports.get("ingest"), Some(&ingest), "{ports:?}");
    assert_eq!(arg_port(server, "--http"), http);
    assert_eq!(arg_port(server, "--ingest"), ingest);
    assert_eq!(container_ports(agent).get("metrics"), Some(&metrics));
    assert_eq!(arg_port(agent, "--metrics"), metrics);
    let expose = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .expect("EXPOSE in the Dockerfile");
    for port in [http, ingest, metrics] {
        assert!(
            expose.split_whitespace().any(|p| p == port.to_string()),
            "the Dockerfile does not expose {port}"
        );
    }
    for flag in ["--http", "--ingest"] {
        let port = if flag == "--http" { http } else { ingest };
        assert!(
            dockerfile.contains(&format!(r#""{flag}", "0.0.0.0:{port}""#)),
            "the Dockerfile's CMD serves {flag} on {port}"
        );
    }

    // The Service reaches both named ports and selects the server's pods.
    let mut service_ports = BTreeMap::new();
    for port in service["spec"]["ports"].as_array().unwrap() {
        let target = port["targetPort"].as_str().unwrap();
        assert!(ports.contains_key(target), "Service targets {target}");
        assert_eq!(port["port"].as_u64(), ports.get(target).copied());
        service_ports.insert(target.to_owned(), port["port"].as_u64().unwrap());
    }
    assert_eq!(
        service_ports.keys().collect::<Vec<_>>(),
        ["ingest", "web"],
        "the Service exposes web and ingest"
    );
    let labels = &statefulset["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[key], value, "the Service selects the server's pods");
    }
    assert_eq!(
        statefulset["spec"]["serviceName"],
        service["metadata"]["name"]
    );
    // The data volume is the server's data directory.
    let claim = statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].clone();
    let data_dir = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a.as_str()?.strip_prefix("--data-dir="))
        .expect("--data-dir=");
    assert!(
        server["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == claim && m["mountPath"] == data_dir),
        "the volume {claim} is mounted at {data_dir}"
    );

    // The agents push to that Service's ingest port.
    let config = find(&agent_docs, "ConfigMap", "augur-agent")["data"]["agent.toml"]
        .as_str()
        .unwrap();
    let expected = format!(
        "server = \"http://{}.{}.svc:{}\"",
        service["metadata"]["name"].as_str().unwrap(),
        service["metadata"]["namespace"].as_str().unwrap(),
        service_ports["ingest"]
    );
    assert!(
        config.lines().any(|l| l.trim() == expected),
        "agent.toml lacks {expected}:\n{config}"
    );

    // Every probe names a port of its container and a path the server
    // answers with 200.
    let mut paths = Vec::new();
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &server[probe]["httpGet"];
        assert!(get.is_object(), "the server has no HTTP {probe}");
        assert_eq!(get["port"], "web", "{probe} port");
        paths.push(get["path"].as_str().unwrap().to_owned());
    }
    let dir = tempfile::tempdir().unwrap();
    let running = start_server(&dir.path().join("data"), "127.0.0.1:0").unwrap();
    let base = running.http.clone().unwrap();
    for path in &paths {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        assert_eq!(http_get(&url).unwrap().0, 200, "{url}");
    }
    assert!(running.terminate().unwrap().success());
}
