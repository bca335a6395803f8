//! Kubernetes container names, from the container runtime's own state.
//!
//! A cgroup path gives a container's id and its pod's UID, not its name.
//! The runtimes Kubernetes uses keep each container's OCI spec on the host,
//! with the names as annotations: containerd's CRI plugin under
//! `/run/containerd/io.containerd.runtime.v2.task/k8s.io/<id>/config.json`
//! (`io.kubernetes.cri.container-name`, `...sandbox-name`,
//! `...sandbox-namespace`), CRI-O under
//! `/run/containers/storage/overlay-containers/<id>/userdata/config.json`
//! (`io.kubernetes.container.name`, `io.kubernetes.pod.name`,
//! `io.kubernetes.pod.namespace`). Reading them needs no API server and no
//! CRI socket, and works the same for a DaemonSet that mounts the host's
//! `/run` elsewhere (give that root). Answers are cached per container id.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest spec file read.
const MAX_SPEC: u64 = 4 << 20;
/// Most container ids remembered.
const MAX_CACHED: usize = 16_384;

/// What the runtime knows of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerMeta {
    /// The container's name in its pod spec.
    pub container: Option<String>,
    /// The pod's name.
    pub pod: Option<String>,
    /// The pod's namespace.
    pub namespace: Option<String>,
}

/// Finds container names under a host's `/run` (or wherever it is mounted).
#[derive(Debug)]
pub struct ContainerNames {
    run: PathBuf,
    cache: HashMap<String, Option<ContainerMeta>>,
}

impl ContainerNames {
    /// Looks under `run`, the host's `/run`.
    pub fn new(run: impl Into<PathBuf>) -> Self {
        Self {
            run: run.into(),
            cache: HashMap::new(),
        }
    }

    /// The names of container `id` (64 hex digits), if a runtime knows it.
    pub fn lookup(&mut self, id: &str) -> Option<ContainerMeta> {
        if !id.bytes().all(|b| b.is_ascii_hexdigit()) || id.is_empty() || id.len() > 128 {
            // Only hex ids go into paths.
            return None;
        }
        if let Some(found) = self.cache.get(id) {
            return found.clone();
        }
        let found = self.read(id);
        if self.cache.len() >= MAX_CACHED {
            self.cache.clear();
        }
        // A miss may be a container not started yet: only hits are kept.
        if found.is_some() {
            self.cache.insert(id.to_owned(), found.clone());
        }
        found
    }

    fn read(&self, id: &str) -> Option<ContainerMeta> {
        let containerd = self
            .run
            .join("containerd/io.containerd.runtime.v2.task/k8s.io")
            .join(id)
            .join("config.json");
        let crio = self
            .run
            .join("containers/storage/overlay-containers")
            .join(id)
            .join("userdata/config.json");
        [
            (
                containerd,
                [
                    "io.kubernetes.cri.container-name",
                    "io.kubernetes.cri.sandbox-name",
                    "io.kubernetes.cri.sandbox-namespace",
                ],
            ),
            (
                crio,
                [
                    "io.kubernetes.container.name",
                    "io.kubernetes.pod.name",
                    "io.kubernetes.pod.namespace",
                ],
            ),
        ]
        .into_iter()
        .find_map(|(path, keys)| annotations(&path, &keys))
    }
}

fn annotations(path: &Path, keys: &[&str; 3]) -> Option<ContainerMeta> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_SPEC)
        .read_to_string(&mut text)
        .ok()?;
    let spec: serde_json::Value = serde_json::from_str(&text).ok()?;
    let annotations = spec.get("annotations")?.as_object()?;
    let get = |k: &str| {
        annotations
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let meta = ContainerMeta {
        container: get(keys[0]),
        pod: get(keys[1]),
        namespace: get(keys[2]),
    };
    (meta != ContainerMeta::default()).then_some(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3b4f0c8e2d1a9f7e6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";

    #[test]
    fn containerd_and_cri_o_specs_name_the_container() {
        let run = tempfile::tempdir().unwrap();
        let dir = run
            .path()
            .join("containerd/io.containerd.runtime.v2.task/k8s.io")
            .join(ID);
        std::fs::create_dir_all(&dir).unwrap();
        // As containerd's CRI plugin writes it (trimmed).
        std::fs::write(
            dir.join("config.json"),
            r#"{"ociVersion":"1.1.0","process":{"args":["/app"]},
                "annotations":{"io.kubernetes.cri.container-type":"container",
                "io.kubernetes.cri.container-name":"checkout",
                "io.kubernetes.cri.sandbox-name":"checkout-7d9f8b6c5-x2k4p",
                "io.kubernetes.cri.sandbox-namespace":"shop"}}"#,
        )
        .unwrap();
        let other = "aa".repeat(32);
        let userdata = run
            .path()
            .join("containers/storage/overlay-containers")
            .join(&other)
            .join("userdata");
        std::fs::create_dir_all(&userdata).unwrap();
        std::fs::write(
            userdata.join("config.json"),
            r#"{"annotations":{"io.kubernetes.container.name":"search",
                "io.kubernetes.pod.name":"search-0","io.kubernetes.pod.namespace":"shop"}}"#,
        )
        .unwrap();

        let mut names = ContainerNames::new(run.path());
        assert_eq!(
            names.lookup(ID),
            Some(ContainerMeta {
                container: Some("checkout".into()),
                pod: Some("checkout-7d9f8b6c5-x2k4p".into()),
                namespace: Some("shop".into()),
            })
        );
        assert_eq!(
            names.lookup(&other).unwrap().container.as_deref(),
            Some("search")
        );
        assert_eq!(names.lookup(&"bb".repeat(32)), None);
        // Ids are never paths.
        assert_eq!(names.lookup("../../etc"), None);
        // Cached: still answered after the runtime removed its state.
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names.lookup(ID).unwrap().namespace.as_deref(), Some("shop"));
    }
}
