//! Who a process is: the labels that decide which service its samples belong to.
//!
//! The service name comes from the process's systemd unit when it runs in one
//! (`nginx.service` -> `nginx`), and otherwise from its executable's name.
//! Container ids found in cgroup paths become a label. Richer identity
//! (relabel rules, Kubernetes) builds on this.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// Labels of one process.
pub type Labels = Arc<BTreeMap<String, String>>;

/// Caches process labels by pid; processes are looked up once while alive.
#[derive(Debug)]
pub struct ProcessIdentity {
    host: String,
    proc_root: std::path::PathBuf,
    cache: HashMap<u32, Labels>,
}

impl ProcessIdentity {
    /// Labels processes of `host`, reading `/proc` under `proc_root`.
    pub fn new(host: String, proc_root: impl Into<std::path::PathBuf>) -> Self {
        Self {
            host,
            proc_root: proc_root.into(),
            cache: HashMap::new(),
        }
    }

    /// Labels of `pid`; `comm` names processes that are already gone.
    pub fn labels(&mut self, pid: u32, comm: &str) -> Labels {
        if let Some(labels) = self.cache.get(&pid) {
            return labels.clone();
        }
        let dir = self.proc_root.join(pid.to_string());
        let cgroup = std::fs::read_to_string(dir.join("cgroup")).ok();
        let exe = std::fs::read_link(dir.join("exe")).ok();
        let labels = Arc::new(labels_for(
            &self.host,
            comm,
            exe.as_deref(),
            cgroup.as_deref(),
        ));
        // Only cache what came from a live process; a vanished one may be a
        // recycled pid next time.
        if exe.is_some() {
            self.cache.insert(pid, labels.clone());
        }
        labels
    }

    /// Forgets one process (its pid is being reused).
    pub fn forget(&mut self, pid: u32) {
        self.cache.remove(&pid);
    }

    /// Forgets processes that no longer exist.
    pub fn evict_exited(&mut self) {
        let root = self.proc_root.clone();
        self.cache
            .retain(|pid, _| root.join(pid.to_string()).exists());
    }
}

/// Builds labels from what `/proc` said about a process.
pub fn labels_for(
    host: &str,
    comm: &str,
    exe: Option<&Path>,
    cgroup: Option<&str>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("host".to_owned(), host.to_owned());
    let exe_name = exe
        .and_then(|p| p.file_name())
        .map(|n| {
            n.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_owned()
        })
        .filter(|n| !n.is_empty());
    if let Some(path) = exe {
        labels.insert(
            "exe".to_owned(),
            path.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_owned(),
        );
    }
    let mut service = None;
    if let Some(cgroup) = cgroup {
        let facts = CgroupFacts::parse(cgroup);
        if let Some(unit) = facts.unit {
            service = unit.strip_suffix(".service").map(str::to_owned);
            labels.insert("unit".to_owned(), unit);
        }
        if let Some(id) = facts.container_id {
            labels.insert("container_id".to_owned(), id);
        }
    }
    let service = service.or(exe_name).unwrap_or_else(|| {
        if comm.is_empty() {
            "unknown".to_owned()
        } else {
            comm.to_owned()
        }
    });
    labels.insert("service".to_owned(), service);
    labels
}

/// What a `/proc/PID/cgroup` file tells about identity.
#[derive(Debug, Default, PartialEq, Eq)]
struct CgroupFacts {
    unit: Option<String>,
    container_id: Option<String>,
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
            for segment in path.split('/').filter(|s| !s.is_empty()) {
                if let Some(id) = container_id(segment) {
                    facts.container_id = Some(id);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_service_names_the_service() {
        let l = labels_for(
            "h",
            "nginx",
            Some(Path::new("/usr/sbin/nginx")),
            Some("0::/system.slice/web-frontend.service\n"),
        );
        assert_eq!(l["service"], "web-frontend");
        assert_eq!(l["unit"], "web-frontend.service");
        assert_eq!(l["exe"], "/usr/sbin/nginx");
        assert_eq!(l["host"], "h");
    }

    #[test]
    fn sessions_and_user_managers_fall_back_to_the_executable() {
        let l = labels_for(
            "h",
            "fixture",
            Some(Path::new("/tmp/x/fixture (deleted)")),
            Some("0::/user.slice/user-0.slice/user@0.service/app.slice/session-3.scope\n"),
        );
        assert_eq!(l["service"], "fixture");
        assert_eq!(l["exe"], "/tmp/x/fixture");
        assert!(!l.contains_key("unit"));
    }

    #[test]
    fn container_ids_are_labels() {
        let id = "a".repeat(64);
        let l = labels_for(
            "h",
            "redis-server",
            Some(Path::new("/usr/bin/redis-server")),
            Some(&format!("0::/system.slice/docker-{id}.scope\n")),
        );
        assert_eq!(l["container_id"], id);
        assert_eq!(l["service"], "redis-server");
    }

    #[test]
    fn vanished_process_uses_comm() {
        let l = labels_for("h", "kworker/0:1", None, None);
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
}
