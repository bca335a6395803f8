//! Snapshots of a process's executable mappings: which file each range of
//! code comes from and that file's id, read once per process (and again
//! when a sampled address falls outside the snapshot).
//!
//! The `PROCMAP_QUERY` ioctl lists the mappings with the build-ids the
//! kernel read on Linux 6.11+; before that `/proc/PID/maps` is parsed and
//! each file is read through the process (`map_files`, its root), so the
//! id is that of the file that ran, never another at the same path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use augur_profile::{FileId, RawFrame, placeholder};

use super::maps_line::MapsLine;
use super::vdso::Vdso;
use super::{FrameResolver, unknown};

impl FrameResolver {
    /// Reads the executable mappings of `pid` and the file id of each
    /// mapped file; `None` if the process is gone.
    pub(super) fn snapshot(&mut self, pid: u32) -> Option<ProcessSnapshot> {
        let maps = std::fs::File::open(format!("/proc/{pid}/maps")).ok()?;
        let listed = self.list_mappings(&maps)?;
        let mut process = ProcessPaths {
            pid,
            exe: None,
            same_mount_ns: None,
        };
        let mut by_path: HashMap<&str, (Option<FileId>, Arc<str>)> = HashMap::new();
        let mut mappings = Vec::with_capacity(listed.len());
        // Code with no file is named after the executable that runs it.
        let mut exe_known: Option<Arc<str>> = None;
        let mut exe_name = |process: &mut ProcessPaths| -> Arc<str> {
            exe_known
                .get_or_insert_with(|| {
                    let exe = process
                        .exe()
                        .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned());
                    let comm = || {
                        std::fs::read_to_string(format!("/proc/{pid}/comm"))
                            .map(|c| c.trim_end().to_owned())
                            .unwrap_or_else(|_| format!("pid {pid}"))
                    };
                    Arc::from(exe.unwrap_or_else(comm))
                })
                .clone()
        };
        for entry in &listed {
            let code = match entry.name.as_str() {
                "" => Code::Anonymous {
                    exe: exe_name(&mut process),
                },
                "[vdso]" => Code::Vdso,
                special if special.starts_with('[') => Code::Special(special.into()),
                memfd if memfd.starts_with("/memfd:") => Code::Memfd {
                    exe: exe_name(&mut process),
                },
                name => {
                    let (path, replaced) = match name.strip_suffix(" (deleted)") {
                        Some(path) => (path, true),
                        None => (name, false),
                    };
                    let (file_id, path) = match by_path.get(path) {
                        Some(known) => known.clone(),
                        None => {
                            let file_id = entry.build_id.clone().or_else(|| {
                                self.mapped_file_id(&mut process, entry, path, replaced)
                            });
                            if let Some(id) = file_id.as_ref().filter(|id| !id.is_build_id()) {
                                if !self.held.iter().any(|held| held.id == *id) {
                                    let file = Self::open_mapped(&mut process, entry, path);
                                    self.hold(id, file);
                                }
                            }
                            let known = (file_id, Arc::from(path));
                            by_path.insert(path, known.clone());
                            known
                        }
                    };
                    Code::File { path, file_id }
                }
            };
            mappings.push(Mapping {
                start: entry.start,
                end: entry.end,
                offset: entry.offset,
                code,
            });
        }
        // The kernel lists mappings by address; a snapshot relies on it.
        mappings.sort_by_key(|m| m.start);
        Some(ProcessSnapshot { mappings })
    }

    /// The executable mappings in an open `/proc/PID/maps`: from the
    /// `PROCMAP_QUERY` ioctl (Linux 6.11), which also gives each mapped
    /// file's build-id as the kernel reads it from the file itself, or else
    /// from the text. `None` if the process is gone.
    fn list_mappings(&mut self, maps: &std::fs::File) -> Option<Vec<ListedMapping>> {
        if self.procmap_query {
            match query_executable_mappings(maps) {
                Ok(listed) => return Some(listed),
                Err(error) if matches!(error.raw_os_error(), Some(libc::ENOTTY | libc::EINVAL)) => {
                    tracing::debug!(%error, "no PROCMAP_QUERY on this kernel; parsing /proc/PID/maps");
                    self.procmap_query = false;
                }
                Err(_) => return None,
            }
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut &*maps, &mut text).ok()?;
        Some(
            text.lines()
                .filter_map(MapsLine::parse)
                .filter(|line| line.executable)
                .map(|line| ListedMapping {
                    start: line.start,
                    end: line.end,
                    offset: line.offset,
                    name: line.path.to_owned(),
                    build_id: None,
                })
                .collect(),
        )
    }

    /// Opens the file behind one mapping as the process maps it:
    /// `/proc/PID/map_files`, else its path in the process's mount
    /// namespace (checked against the id by the caller).
    fn open_mapped(
        process: &mut ProcessPaths,
        mapping: &ListedMapping,
        path: &str,
    ) -> std::io::Result<std::fs::File> {
        let pid = process.pid;
        std::fs::File::open(format!(
            "/proc/{pid}/map_files/{:x}-{:x}",
            mapping.start, mapping.end
        ))
        .or_else(|_| {
            if process.exe() == Some(path) {
                std::fs::File::open(format!("/proc/{pid}/exe"))
            } else {
                std::fs::File::open(format!("/proc/{pid}/root{path}"))
            }
        })
    }

    /// The file id of the file behind one mapping, read through the
    /// process: never from another file that merely has the same path.
    fn mapped_file_id(
        &mut self,
        process: &mut ProcessPaths,
        mapping: &ListedMapping,
        path: &str,
        replaced: bool,
    ) -> Option<FileId> {
        let pid = process.pid;
        if self.map_files {
            let link = format!(
                "/proc/{pid}/map_files/{:x}-{:x}",
                mapping.start, mapping.end
            );
            match self.file_ids.get(Path::new(&link)) {
                Ok(file_id) => return Some(file_id),
                Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                    tracing::debug!(%error, "reading build-ids by path: /proc/PID/map_files needs CAP_SYS_ADMIN");
                    self.map_files = false;
                }
                // Gone meanwhile; the paths below fail too, or tell.
                Err(_) => {}
            }
        }
        if replaced {
            // The path names another file now; of such files only the
            // running executable can still be read.
            if process.exe() != Some(path) {
                return None;
            }
            let exe_link = format!("/proc/{pid}/exe");
            return self.file_ids.get(Path::new(&exe_link)).ok();
        }
        if !path.starts_with('/') {
            return None;
        }
        // Paths in /proc/PID/maps are relative to the root of the mount
        // namespace the file was mapped in: ours, or the process's own.
        let own_mount_ns = &self.own_mount_ns;
        let same_mount_ns = *process.same_mount_ns.get_or_insert_with(|| {
            own_mount_ns.is_some()
                && std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok() == *own_mount_ns
        });
        let path = if same_mount_ns {
            PathBuf::from(path)
        } else {
            PathBuf::from(format!("/proc/{pid}/root{path}"))
        };
        self.file_ids.get(&path).ok()
    }
}

/// What a snapshot learns about a process only when it needs it.
pub(super) struct ProcessPaths {
    pub(super) pid: u32,
    /// Its executable's path, once read.
    pub(super) exe: Option<Option<String>>,
    /// Whether it shares the agent's mount namespace, once read.
    pub(super) same_mount_ns: Option<bool>,
}

impl ProcessPaths {
    /// The path of the process's executable, read once.
    pub(super) fn exe(&mut self) -> Option<&str> {
        let pid = self.pid;
        self.exe
            .get_or_insert_with(|| {
                std::fs::read_link(format!("/proc/{pid}/exe"))
                    .ok()
                    .map(|p| {
                        p.to_string_lossy()
                            .trim_end_matches(" (deleted)")
                            .to_owned()
                    })
            })
            .as_deref()
    }
}

/// One executable mapping of a process, its file id not settled yet.
pub(super) struct ListedMapping {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) offset: u64,
    /// Path (` (deleted)` when unlinked), `[name]`, or empty for anonymous
    /// memory.
    pub(super) name: String,
    /// The build-id the kernel read from the mapped file, if it did.
    pub(super) build_id: Option<FileId>,
}

/// `struct procmap_query` of `linux/fs.h`.
#[repr(C)]
#[derive(Default)]
pub(super) struct ProcmapQuery {
    pub(super) size: u64,
    pub(super) query_flags: u64,
    pub(super) query_addr: u64,
    pub(super) vma_start: u64,
    pub(super) vma_end: u64,
    pub(super) vma_flags: u64,
    pub(super) vma_page_size: u64,
    pub(super) vma_offset: u64,
    pub(super) inode: u64,
    pub(super) dev_major: u32,
    pub(super) dev_minor: u32,
    pub(super) vma_name_size: u32,
    pub(super) build_id_size: u32,
    pub(super) vma_name_addr: u64,
    pub(super) build_id_addr: u64,
}

/// `_IOWR('f', 17, struct procmap_query)`.
pub(super) const PROCMAP_QUERY: u64 = 0xC068_6611;
pub(super) const PROCMAP_QUERY_VMA_EXECUTABLE: u64 = 0x04;
pub(super) const PROCMAP_QUERY_COVERING_OR_NEXT_VMA: u64 = 0x10;

/// Every executable mapping of the process whose maps file is `maps`, one
/// ioctl each, with the build-ids the kernel reads from the mapped files.
pub(super) fn query_executable_mappings(
    maps: &std::fs::File,
) -> std::io::Result<Vec<ListedMapping>> {
    use std::os::fd::AsRawFd;

    let mut name = vec![0u8; libc::PATH_MAX as usize];
    let mut build_id = [0u8; FileId::MAX_LEN];
    let mut listed = Vec::new();
    let mut addr = 0;
    loop {
        let mut query = ProcmapQuery {
            size: std::mem::size_of::<ProcmapQuery>() as u64,
            query_flags: PROCMAP_QUERY_VMA_EXECUTABLE | PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
            query_addr: addr,
            vma_name_size: name.len() as u32,
            vma_name_addr: name.as_mut_ptr() as u64,
            build_id_size: build_id.len() as u32,
            build_id_addr: build_id.as_mut_ptr() as u64,
            ..Default::default()
        };
        // SAFETY: `query` is a procmap_query of the size it declares, and
        // its buffers are as large as it says and live across the call.
        let ret = unsafe { libc::ioctl(maps.as_raw_fd(), PROCMAP_QUERY as _, &mut query) };
        if ret < 0 {
            let error = std::io::Error::last_os_error();
            // No executable mapping at or above `addr`: done.
            if error.raw_os_error() == Some(libc::ENOENT) {
                return Ok(listed);
            }
            return Err(error);
        }
        let name_len = (query.vma_name_size as usize)
            .saturating_sub(1)
            .min(name.len());
        let id_len = (query.build_id_size as usize).min(build_id.len());
        listed.push(ListedMapping {
            start: query.vma_start,
            end: query.vma_end,
            offset: query.vma_offset,
            name: String::from_utf8_lossy(&name[..name_len]).into_owned(),
            build_id: FileId::from_bytes(&build_id[..id_len]).ok(),
        });
        if query.vma_end <= addr {
            return Ok(listed);
        }
        addr = query.vma_end;
    }
}

/// What the resolver keeps of one process: its executable mappings as they
/// were when it was first sampled, each file with the build-id of the file
/// mapped then. It outlives the process, and a binary replaced on disk by a
/// deploy keeps the build-id that ran.
pub(super) struct ProcessSnapshot {
    /// By start address.
    pub(super) mappings: Vec<Mapping>,
}

/// One executable mapping.
pub(super) struct Mapping {
    pub(super) start: u64,
    pub(super) end: u64,
    /// File offset mapped at `start`.
    pub(super) offset: u64,
    pub(super) code: Code,
}

/// What an executable mapping holds.
pub(super) enum Code {
    /// Part of a file, with the id of the file mapped when the snapshot
    /// was taken; `None` when that file could not be read.
    File {
        path: Arc<str>,
        file_id: Option<FileId>,
    },
    /// The kernel's vDSO.
    Vdso,
    /// Anonymous executable memory (JIT code) of the process running `exe`.
    Anonymous { exe: Arc<str> },
    /// Code mapped from a memfd, which has no file on disk.
    Memfd { exe: Arc<str> },
    /// Another special mapping, by its name (`[vsyscall]`, `[uprobes]`).
    Special(Arc<str>),
}

impl ProcessSnapshot {
    /// The mapping holding `addr`.
    pub(super) fn mapping(&self, addr: u64) -> Option<&Mapping> {
        let i = self.mappings.partition_point(|m| m.start <= addr);
        let mapping = self.mappings.get(i.checked_sub(1)?)?;
        (addr < mapping.end).then_some(mapping)
    }

    pub(super) fn has_vdso_code(&self, addrs: &[u64]) -> bool {
        addrs.iter().any(|&a| {
            matches!(
                self.mapping(a),
                Some(Mapping {
                    code: Code::Vdso,
                    ..
                })
            )
        })
    }

    /// The frame of `addr`, and the path of its binary as a hint for
    /// finding debug info.
    pub(super) fn frame(&self, addr: u64, vdso: Option<&Vdso>) -> (RawFrame, Option<Arc<str>>) {
        let Some(mapping) = self.mapping(addr) else {
            return (unknown(placeholder::UNMAPPED), None);
        };
        let file_offset = addr - mapping.start + mapping.offset;
        match &mapping.code {
            Code::File {
                file_id: Some(file_id),
                path,
            } => (
                RawFrame::User {
                    build_id: file_id.clone(),
                    file_offset,
                },
                Some(path.clone()),
            ),
            Code::File {
                path,
                file_id: None,
            } => (unknown(&placeholder::unreadable_file(path)), None),
            // Only this host can name the vDSO.
            Code::Vdso => match vdso.and_then(|v| v.function(file_offset)) {
                Some(name) => (
                    RawFrame::Named {
                        function: name.to_owned(),
                        origin: "vdso".to_owned(),
                    },
                    None,
                ),
                None => (unknown(placeholder::VDSO), None),
            },
            Code::Anonymous { exe } => (unknown(&placeholder::anonymous_code(exe)), None),
            Code::Memfd { exe } => (unknown(&placeholder::memfd_code(exe)), None),
            Code::Special(name) => (unknown(&placeholder::special_mapping(name)), None),
        }
    }
}
