//! Who a process is: the labels that decide which service its samples
//! belong to.
//!
//! Facts come from `/proc/PID`: the executable and its build-id, the cgroup
//! path (systemd unit, container id, Kubernetes pod), and, when configured,
//! one environment variable naming the version. A container's Kubernetes
//! names (container, pod, namespace) come from its runtime's spec on the
//! host ([`cri`]). Default rules name the service after the systemd unit
//! when the process runs in one (`nginx.service` -> `nginx`), after
//! `namespace/container` in Kubernetes, else after the executable. Then the
//! operator's [`relabel`] rules run and may rename, prune or drop.
//!
//! Labelling is its own stage, between sampling and shipping: the resolver
//! asks it once per process it meets, and the cost follows process churn,
//! not the sample rate. The rules are configuration, but running them is
//! this stage's work, so they live here rather than in `config`.

pub mod cri;
pub mod relabel;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use augur_profile::FileId;

use cri::{ContainerMeta, ContainerNames};
use relabel::Rule;

/// Labels of one process.
pub type Labels = Arc<BTreeMap<String, String>>;

/// How processes are named.
#[derive(Clone, Debug, Default)]
pub struct IdentityConfig {
    /// Environment variable whose value becomes the `version` label; the
    /// main binary's build-id is used when unset or absent.
    pub version_env: Option<String>,
    /// Relabel rules, applied in order after the defaults.
    pub rules: Vec<Rule>,
    /// The host's `/run`, where container runtimes keep container specs;
    /// `/run` when unset (a DaemonSet mounting the host's `/run` elsewhere
    /// names that path).
    pub runtime_dir: Option<PathBuf>,
}

/// Caches process labels by pid; processes are looked up once while alive.
#[derive(Debug)]
pub struct ProcessIdentity {
    host: String,
    proc_root: PathBuf,
    config: IdentityConfig,
    /// Kubernetes names of containers, from their runtime's specs.
    containers: ContainerNames,
    /// `None`: a rule dropped the process.
    cache: HashMap<u32, Option<Labels>>,
    /// Processes whose Python frames the rules turned off.
    python_off: std::collections::HashSet<u32>,
    /// Processes whose Java frames the rules turned off.
    java_off: std::collections::HashSet<u32>,
}

impl ProcessIdentity {
    /// Labels processes of `host`, reading `/proc` under `proc_root`.
    pub fn new(host: String, proc_root: impl Into<PathBuf>, config: IdentityConfig) -> Self {
        let runtime_dir = config
            .runtime_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/run"));
        Self {
            host,
            proc_root: proc_root.into(),
            config,
            containers: ContainerNames::new(runtime_dir),
            cache: HashMap::new(),
            python_off: Default::default(),
            java_off: Default::default(),
        }
    }

    /// Labels of `pid`, or `None` if relabel rules drop it. `comm` names
    /// processes that are already gone. `exe_build_id` gives the build-id
    /// of the executable at a path, when the process is read.
    pub fn labels(
        &mut self,
        pid: u32,
        comm: &str,
        exe_build_id: impl FnOnce(&str) -> Option<FileId>,
    ) -> Option<Labels> {
        if let Some(labels) = self.cache.get(&pid) {
            return labels.clone();
        }
        let mut facts = ProcessFacts::read(
            &self.proc_root.join(pid.to_string()),
            self.config.version_env.as_deref(),
            exe_build_id,
        );
        if let Some(id) = facts
            .cgroup
            .as_deref()
            .and_then(|c| CgroupFacts::parse(c).container_id)
        {
            facts.container = self.containers.lookup(&id);
        }
        // A kernel thread has no executable, but a cgroup.
        let alive = facts.exe.is_some() || facts.cgroup.is_some();
        let applied =
            relabel::apply_with_switches(&self.config.rules, facts.labels(&self.host, pid, comm));
        if applied
            .as_ref()
            .is_some_and(|(_, switches)| !switches.python_frames)
        {
            self.python_off.insert(pid);
        } else {
            self.python_off.remove(&pid);
        }
        let labels = applied.map(|(labels, _)| Arc::new(labels));
        // Only cache what came from a live process; a vanished one may be a
        // recycled pid next time.
        if alive {
            self.cache.insert(pid, labels.clone());
        }
        labels
    }

    /// Forgets one process (its pid is being reused).
    pub fn forget(&mut self, pid: u32) {
        self.cache.remove(&pid);
        self.python_off.remove(&pid);
        self.java_off.remove(&pid);
    }

    /// Whether the relabel rules let `pid`'s Python frames be read (see
    /// [`relabel::PYTHON_FRAMES`]); ask after its labels were made.
    pub fn python_frames(&self, pid: u32) -> bool {
        !self.python_off.contains(&pid)
    }

    /// Whether the relabel rules let `pid`'s Java frames be read (see
    /// [`relabel::JAVA_FRAMES`]).
    pub fn java_frames(&self, pid: u32) -> bool {
        !self.java_off.contains(&pid)
    }

    /// Pids with cached labels.
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.cache.keys().copied()
    }

    /// Keeps only the processes `keep` accepts (the live ones).
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.cache.retain(|&pid, _| keep(pid));
        self.python_off.retain(|&pid| keep(pid));
        self.java_off.retain(|&pid| keep(pid));
    }
}

/// File ids of mapped files ([`FileId`]: the GNU build-id, else a content
/// id), cached by file identity (device, inode, size, modification time): a
/// binary that many processes map is read once, and a file rewritten in
/// place is read again.
#[derive(Debug, Default)]
pub struct FileIds {
    by_file: HashMap<FileIdentity, FileId>,
}

type FileIdentity = (u64, u64, u64, i64, i64);

fn file_identity(meta: &std::fs::Metadata) -> FileIdentity {
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

impl FileIds {
    /// Files remembered at most; all are forgotten beyond it.
    const MAX_FILES: usize = 16_384;

    /// The file id of the file at `path` (links followed, so
    /// `/proc/PID/exe` and `/proc/PID/map_files/...` name the mapped file);
    /// an error when it cannot be read.
    pub fn get(&mut self, path: &Path) -> std::io::Result<FileId> {
        // One stat on a hit; a file is opened once per identity.
        let identity = file_identity(&std::fs::metadata(path)?);
        if let Some(id) = self.by_file.get(&identity) {
            return Ok(id.clone());
        }
        let file = std::fs::File::open(path)?;
        // Keyed by the file actually opened, should the path have moved on.
        let identity = file_identity(&file.metadata()?);
        let id = file_id(&file)?;
        if self.by_file.len() >= Self::MAX_FILES {
            self.by_file.clear();
        }
        self.by_file.insert(identity, id.clone());
        Ok(id)
    }

    /// Files whose id is cached.
    pub fn len(&self) -> usize {
        self.by_file.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.by_file.is_empty()
    }
}

/// What `/proc/PID` says about a process.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProcessFacts {
    /// Executable path (`(deleted)` suffix removed).
    pub exe: Option<String>,
    /// Build-id of the executable, hex.
    pub build_id: Option<String>,
    /// Contents of `/proc/PID/cgroup`.
    pub cgroup: Option<String>,
    /// Value of the configured version variable.
    pub version: Option<String>,
    /// `HOSTNAME` from the environment (the pod name in Kubernetes).
    pub hostname_env: Option<String>,
    /// Kubernetes namespace from the pod's service-account mount.
    pub namespace: Option<String>,
    /// What the container runtime says of the process's container.
    pub container: Option<ContainerMeta>,
}

/// Longest environment read from a process.
const MAX_ENVIRON: u64 = 256 << 10;

impl ProcessFacts {
    /// Reads the facts of the process whose `/proc` directory is `dir`;
    /// `exe_build_id` gives the build-id of the executable at a path (read
    /// through `dir/exe`, which opens the running binary even if it was
    /// deleted or replaced by a deploy).
    pub fn read(
        dir: &Path,
        version_env: Option<&str>,
        exe_build_id: impl FnOnce(&str) -> Option<FileId>,
    ) -> Self {
        let exe_link = std::fs::read_link(dir.join("exe")).ok();
        let exe = exe_link.as_ref().map(|p| {
            p.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_owned()
        });
        let build_id = exe.as_deref().and_then(exe_build_id).map(|id| id.to_hex());
        let cgroup = std::fs::read_to_string(dir.join("cgroup")).ok();
        let in_pod = cgroup
            .as_deref()
            .map(CgroupFacts::parse)
            .is_some_and(|f| f.pod_uid.is_some());
        let environ = if version_env.is_some() || in_pod {
            read_environ(&dir.join("environ"))
        } else {
            HashMap::new()
        };
        let namespace = in_pod
            .then(|| {
                std::fs::read_to_string(
                    dir.join("root/var/run/secrets/kubernetes.io/serviceaccount/namespace"),
                )
                .ok()
            })
            .flatten()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        Self {
            exe,
            build_id,
            cgroup,
            version: version_env.and_then(|name| environ.get(name).cloned()),
            hostname_env: in_pod.then(|| environ.get("HOSTNAME").cloned()).flatten(),
            namespace,
            container: None,
        }
    }

    /// Default labels plus meta labels (`__comm`, `__cgroup`, `__pid`) for
    /// relabel rules to use.
    pub fn labels(&self, host: &str, pid: u32, comm: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                labels.insert(k.to_owned(), v.to_owned());
            }
        };
        put("host", host);
        put("__comm", comm);
        put("__pid", &pid.to_string());
        if let Some(exe) = &self.exe {
            put("exe", exe);
        }
        if let Some(id) = &self.build_id {
            put("build_id", id);
        }
        let version = self.version.clone().or_else(|| {
            self.build_id
                .as_ref()
                .map(|id| id.chars().take(12).collect())
        });
        if let Some(version) = &version {
            put("version", version);
        }
        let facts = self
            .cgroup
            .as_deref()
            .map(CgroupFacts::parse)
            .unwrap_or_default();
        if let Some(path) = &facts.path {
            put("__cgroup", path);
        }
        if let Some(unit) = &facts.unit {
            put("unit", unit);
        }
        if let Some(id) = &facts.container_id {
            put("container_id", id);
        }
        // The runtime's names are authoritative; the process's own
        // `HOSTNAME` and service-account mount are the fallback.
        let runtime = self.container.clone().unwrap_or_default();
        if let Some(container) = &runtime.container {
            put("container", container);
        }
        let pod = runtime.pod.as_ref().or(self
            .hostname_env
            .as_ref()
            .filter(|_| facts.pod_uid.is_some()));
        let namespace = runtime
            .namespace
            .as_ref()
            .or(self.namespace.as_ref().filter(|_| facts.pod_uid.is_some()));
        if let Some(uid) = &facts.pod_uid {
            put("pod_uid", uid);
        }
        if let Some(pod) = pod {
            put("pod", pod);
        }
        if let Some(ns) = namespace {
            put("namespace", ns);
        }
        let exe_name = self
            .exe
            .as_deref()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty());
        let kubernetes = namespace
            .zip(runtime.container.as_ref())
            .map(|(ns, container)| format!("{ns}/{container}"));
        let service = facts
            .unit
            .as_deref()
            .and_then(|u| u.strip_suffix(".service"))
            .map(str::to_owned)
            .or(kubernetes)
            .or(exe_name)
            .unwrap_or_else(|| {
                if comm.is_empty() {
                    "unknown".to_owned()
                } else {
                    comm.to_owned()
                }
            });
        put("service", &service);
        labels
    }
}

fn read_environ(path: &Path) -> HashMap<String, String> {
    let mut bytes = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(MAX_ENVIRON).read_to_end(&mut bytes);
    }
    bytes
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let text = std::str::from_utf8(entry).ok()?;
            let (k, v) = text.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The file id of the file at `path`, hex.
pub fn read_file_id(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    file_id(&file).ok().map(|id| id.to_hex())
}

/// The file id of an open file: its GNU build-id if it is an ELF file with
/// one, else its content id.
pub fn file_id(file: &std::fs::File) -> std::io::Result<FileId> {
    use object::Object;

    if file.metadata()?.len() == 0 {
        // Nothing to map.
        return Ok(FileId::from_file_bytes(&[]));
    }
    // SAFETY: read-only map; a file truncated underneath us could fault,
    // the accepted risk of every mmap-based ELF reader.
    let data = unsafe { memmap2::Mmap::map(file) }?;
    let build_id = object::File::parse(&*data)
        .ok()
        .and_then(|elf| elf.build_id().ok().flatten())
        .and_then(|id| FileId::from_bytes(id).ok());
    Ok(build_id.unwrap_or_else(|| FileId::from_file_bytes(&data)))
}

/// What a `/proc/PID/cgroup` file tells about identity.
#[derive(Debug, Default, PartialEq, Eq)]
struct CgroupFacts {
    path: Option<String>,
    unit: Option<String>,
    container_id: Option<String>,
    pod_uid: Option<String>,
}

impl CgroupFacts {
    fn parse(text: &str) -> Self {
        let mut facts = Self::default();
        for line in text.lines() {
            // `hierarchy:controllers:path`; cgroup v2 is `0::path`, and the
            // v1 systemd hierarchy is `N:name=systemd:path`.
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !(controllers.is_empty() || controllers == "name=systemd") {
                continue;
            }
            if path != "/" && (facts.path.is_none() || controllers.is_empty()) {
                facts.path = Some(path.to_owned());
            }
            for segment in path.split('/').filter(|s| !s.is_empty()) {
                if let Some(id) = container_id(segment) {
                    facts.container_id = Some(id);
                } else if let Some(uid) = pod_uid(segment) {
                    facts.pod_uid = Some(uid);
                } else if is_service_unit(segment) {
                    // The innermost service wins (a unit inside a container's init).
                    facts.unit = Some(segment.to_owned());
                }
            }
        }
        facts
    }
}

/// A system service unit that names a workload; per-user managers and
/// container scopes do not.
fn is_service_unit(segment: &str) -> bool {
    segment.ends_with(".service")
        && !segment.starts_with("user@")
        && container_id(segment).is_none()
}

/// Extracts a 64-hex-digit container id from `docker-<id>.scope`,
/// `cri-containerd-<id>.scope`, `crio-<id>.scope` or a bare `<id>` segment.
fn container_id(segment: &str) -> Option<String> {
    let trimmed = segment.strip_suffix(".scope").unwrap_or(segment);
    let id = trimmed.rsplit(['-', ':']).next()?;
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// Extracts a pod UID from `kubepods-burstable-pod<uid>.slice` (systemd
/// driver, `_` for `-`) or `pod<uid>` (cgroupfs driver).
fn pod_uid(segment: &str) -> Option<String> {
    let trimmed = segment.strip_suffix(".slice").unwrap_or(segment);
    let start = trimmed.rfind("pod")? + 3;
    let uid = trimmed[start..].replace('_', "-");
    let looks_like_uid = uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    looks_like_uid.then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(exe: &str, cgroup: &str) -> ProcessFacts {
        ProcessFacts {
            exe: Some(exe.to_owned()),
            cgroup: Some(cgroup.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn systemd_service_names_the_service() {
        let l = facts("/usr/sbin/nginx", "0::/system.slice/web-frontend.service\n")
            .labels("h", 1, "nginx");
        assert_eq!(l["service"], "web-frontend");
        assert_eq!(l["unit"], "web-frontend.service");
        assert_eq!(l["exe"], "/usr/sbin/nginx");
        assert_eq!(l["host"], "h");
        assert_eq!(l["__cgroup"], "/system.slice/web-frontend.service");
    }

    #[test]
    fn sessions_and_user_managers_fall_back_to_the_executable() {
        let l = facts(
            "/tmp/x/fixture",
            "0::/user.slice/user-0.slice/user@0.service/app.slice/session-3.scope\n",
        )
        .labels("h", 1, "fixture");
        assert_eq!(l["service"], "fixture");
        assert!(!l.contains_key("unit"));
    }

    #[test]
    fn containers_and_pods_are_labels() {
        let id = "a".repeat(64);
        let cg = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_1111_2222_333344445555.slice/cri-containerd-{id}.scope\n"
        );
        let mut f = facts("/usr/bin/redis-server", &cg);
        f.hostname_env = Some("cache-7d9f8b-x2k4q".into());
        f.namespace = Some("shop".into());
        let l = f.labels("h", 1, "redis-server");
        assert_eq!(l["container_id"], id);
        assert_eq!(l["pod_uid"], "1b2c3d4e-0000-1111-2222-333344445555");
        assert_eq!(l["pod"], "cache-7d9f8b-x2k4q");
        assert_eq!(l["namespace"], "shop");
        assert_eq!(l["service"], "redis-server");
    }

    #[test]
    fn runtime_names_the_container_and_the_default_service() {
        let id = "b".repeat(64);
        let cg = format!(
            "0::/kubepods.slice/kubepods-pod1b2c3d4e_0000_1111_2222_333344445555.slice/cri-containerd-{id}.scope\n"
        );
        let mut f = facts("/usr/bin/redis-server", &cg);
        // The process's own HOSTNAME may be overridden; the runtime wins.
        f.hostname_env = Some("not-the-pod".into());
        f.container = Some(ContainerMeta {
            container: Some("redis".into()),
            pod: Some("cache-7d9f8b-x2k4q".into()),
            namespace: Some("shop".into()),
        });
        let l = f.labels("h", 1, "redis-server");
        assert_eq!(l["container"], "redis");
        assert_eq!(l["pod"], "cache-7d9f8b-x2k4q");
        assert_eq!(l["namespace"], "shop");
        assert_eq!(l["service"], "shop/redis");
    }

    #[test]
    fn identity_reads_container_names_from_the_runtime_dir() {
        // A fake /proc entry in a containerd container, and containerd's
        // spec for it under a fake /run.
        let id = "c".repeat(64);
        let root = tempfile::tempdir().unwrap();
        let proc_dir = root.path().join("proc/4242");
        std::fs::create_dir_all(&proc_dir).unwrap();
        std::fs::write(
            proc_dir.join("cgroup"),
            format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_0000_1111_2222_333344445555.slice/cri-containerd-{id}.scope\n"),
        )
        .unwrap();
        let spec_dir = root
            .path()
            .join("run/containerd/io.containerd.runtime.v2.task/k8s.io")
            .join(&id);
        std::fs::create_dir_all(&spec_dir).unwrap();
        std::fs::write(
            spec_dir.join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.container-name":"api","io.kubernetes.cri.sandbox-name":"api-5f6d-abcde","io.kubernetes.cri.sandbox-namespace":"payments"}}"#,
        )
        .unwrap();
        let mut identity = ProcessIdentity::new(
            "h".into(),
            root.path().join("proc"),
            IdentityConfig {
                runtime_dir: Some(root.path().join("run")),
                ..Default::default()
            },
        );
        let l = identity.labels(4242, "api", |_| None).unwrap();
        assert_eq!(l["container_id"], id);
        assert_eq!(l["container"], "api");
        assert_eq!(l["pod"], "api-5f6d-abcde");
        assert_eq!(l["namespace"], "payments");
        assert_eq!(l["service"], "payments/api");
    }

    #[test]
    fn version_comes_from_the_environment_or_the_build_id() {
        let mut f = facts("/srv/app", "0::/\n");
        f.build_id = Some("0123456789abcdef0123".into());
        assert_eq!(f.labels("h", 1, "app")["version"], "0123456789ab");
        f.version = Some("v2.3.1".into());
        assert_eq!(f.labels("h", 1, "app")["version"], "v2.3.1");
    }

    #[test]
    fn vanished_process_uses_comm() {
        let l = ProcessFacts::default().labels("h", 1, "kworker/0:1");
        assert_eq!(l["service"], "kworker/0:1");
    }

    #[test]
    fn v1_systemd_hierarchy_is_read() {
        let text = "4:memory:/x\n1:name=systemd:/system.slice/cron.service\n0::/\n";
        assert_eq!(
            CgroupFacts::parse(text).unit.as_deref(),
            Some("cron.service")
        );
    }

    #[test]
    fn own_process_facts_are_read_from_proc() {
        let mut file_ids = FileIds::default();
        let me = ProcessFacts::read(Path::new("/proc/self"), Some("PATH"), |_| {
            file_ids.get(Path::new("/proc/self/exe")).ok()
        });
        let exe = std::env::current_exe().unwrap();
        assert_eq!(me.exe.as_deref(), Some(exe.to_str().unwrap()));
        assert!(me.version.is_some(), "PATH is set in the test environment");
        assert!(me.cgroup.is_some());
        assert_eq!(me.build_id, read_file_id(&exe));
    }
}
