//! How the profiler benchmarks measure a process: CPU and peak RSS from
//! `wait4`, CPU so far from schedstat, and BPF programs' run time from
//! fdinfo (with the kernel's statistics turned on).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// CPU time (user + system) of an rusage.
pub fn rusage_cpu(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Reaps `pid` if it has exited, returning its status and resource usage
/// (its own plus that of the children it reaped).
pub fn try_reap(
    pid: libc::pid_t,
) -> anyhow::Result<Option<(std::process::ExitStatus, libc::rusage)>> {
    use std::os::unix::process::ExitStatusExt;
    let mut status = 0;
    // SAFETY: rusage is plain data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is the caller's unreaped child.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            return Ok(Some((std::process::ExitStatus::from_raw(status), usage)));
        }
        if reaped == 0 {
            return Ok(None);
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).with_context(|| format!("wait4({pid})"));
        }
    }
}

/// Waits up to `limit` for `pid` to exit, then kills it and fails.
pub fn reap_within(
    pid: libc::pid_t,
    limit: Duration,
) -> anyhow::Result<(std::process::ExitStatus, libc::rusage)> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(reaped) = try_reap(pid)? {
            return Ok(reaped);
        }
        if Instant::now() > deadline {
            // SAFETY: kill and wait on a pid the caller spawned and has not reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            bail!("process {pid} did not exit within {limit:?}; killed it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CPU time of a live process so far.
pub struct CpuReading {
    /// Nanoseconds on CPU per thread (`/proc/PID/task/TID/schedstat`).
    threads: BTreeMap<u32, u64>,
    /// User + system time of the whole process (`/proc/PID/stat`), also
    /// counting exited threads, at clock-tick resolution.
    ticks: Duration,
}

impl CpuReading {
    /// Reads `pid`'s CPU time; `None` when it is gone.
    pub fn take(pid: libc::pid_t) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after `(comm)`: state is field 3, utime 14, stime 15.
        let (_, rest) = stat.rsplit_once(") ")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz <= 0 {
            return None;
        }
        let mut threads = BTreeMap::new();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
            let entry = entry.ok()?;
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let Ok(schedstat) = std::fs::read_to_string(entry.path().join("schedstat")) else {
                continue;
            };
            if let Some(ns) = schedstat
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
            {
                threads.insert(tid, ns);
            }
        }
        Some(Self {
            threads,
            ticks: Duration::from_secs_f64(ticks as f64 / hz as f64),
        })
    }

    /// CPU time used since `earlier`: nanosecond-exact when the same threads
    /// ran throughout, else from the coarser process totals.
    pub fn since(&self, earlier: &CpuReading) -> Duration {
        if !self.threads.is_empty() && self.threads.keys().eq(earlier.threads.keys()) {
            let now: u64 = self.threads.values().sum();
            let then: u64 = earlier.threads.values().sum();
            return Duration::from_nanos(now.saturating_sub(then));
        }
        self.ticks.saturating_sub(earlier.ticks)
    }
}

/// Keeps the kernel's BPF run-time statistics on while alive
/// (`BPF_ENABLE_STATS`; closing the fd turns them off again, even on a crash).
pub struct BpfStats {
    _fd: std::os::fd::OwnedFd,
}

impl BpfStats {
    /// Turns the statistics on (root).
    pub fn enable() -> anyhow::Result<Self> {
        use std::os::fd::FromRawFd;
        const BPF_ENABLE_STATS: libc::c_long = 32;
        const BPF_STATS_RUN_TIME: u32 = 0;
        // `union bpf_attr` is larger; the kernel zero-checks the bytes past
        // the size we pass, so a bare `enable_stats.type` is enough.
        let attr = BPF_STATS_RUN_TIME;
        // SAFETY: bpf(2) reads `size_of::<u32>()` bytes from a valid pointer.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_ENABLE_STATS,
                &attr as *const u32,
                std::mem::size_of::<u32>() as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("bpf(BPF_ENABLE_STATS)");
        }
        // SAFETY: the kernel just returned this fd to us and nothing else owns it.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
        Ok(Self { _fd: fd })
    }
}

/// One BPF program's run-time statistics, from an fdinfo file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgRuns {
    /// `prog_id`.
    pub id: u32,
    /// `prog_type` (7 is `BPF_PROG_TYPE_PERF_EVENT`).
    pub prog_type: u32,
    /// `run_time_ns`: total time in the program while statistics were on.
    pub run_time_ns: u64,
    /// `run_cnt`: runs while statistics were on.
    pub run_cnt: u64,
}

impl ProgRuns {
    /// `BPF_PROG_TYPE_PERF_EVENT`.
    pub const PERF_EVENT: u32 = 7;

    /// The program in one fdinfo file's text; `None` for fds that are not
    /// BPF programs.
    pub fn parse_fdinfo(text: &str) -> Option<Self> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Some(Self {
            id: u32::try_from(field("prog_id")?).ok()?,
            prog_type: u32::try_from(field("prog_type")?).ok()?,
            run_time_ns: field("run_time_ns")?,
            run_cnt: field("run_cnt").unwrap_or(0),
        })
    }

    /// Every BPF program `pid` holds open, once each.
    pub fn of_process(pid: libc::pid_t) -> Vec<Self> {
        let mut programs: BTreeMap<u32, Self> = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
            return Vec::new();
        };
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            if let Some(program) = Self::parse_fdinfo(&text) {
                programs.insert(program.id, program);
            }
        }
        programs.into_values().collect()
    }

    /// The perf-event program run most often among `programs` (the
    /// sampler's `sample_stack`, not an exit hook that a busy host may run
    /// more often at low sample rates).
    pub fn sampler(programs: &[Self]) -> Option<Self> {
        programs
            .iter()
            .filter(|p| p.prog_type == Self::PERF_EVENT)
            .max_by_key(|p| p.run_cnt)
            .copied()
    }

    /// What ran from `earlier` to `self` (the same program read twice).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            run_time_ns: self.run_time_ns.saturating_sub(earlier.run_time_ns),
            run_cnt: self.run_cnt.saturating_sub(earlier.run_cnt),
            ..*self
        }
    }

    /// Mean microseconds per run; `None` without runs.
    pub fn us_per_run(&self) -> Option<f64> {
        (self.run_cnt > 0).then(|| self.run_time_ns as f64 / 1e3 / self.run_cnt as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_program_from_fdinfo() {
        let text = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t2077\n\
                    prog_type:\t7\nprog_jited:\t1\nprog_tag:\tab12\nmemlock:\t8192\n\
                    prog_id:\t4242\nrun_time_ns:\t1500000\nrun_cnt:\t100\n\
                    recursion_misses:\t0\nverified_insns:\t900\n";
        let program = ProgRuns::parse_fdinfo(text).expect("a program");
        assert_eq!(
            program,
            ProgRuns {
                id: 4242,
                prog_type: 7,
                run_time_ns: 1_500_000,
                run_cnt: 100
            }
        );
        assert_eq!(program.us_per_run(), Some(15.0));
        // A map's fdinfo has neither prog_id nor run_time_ns.
        assert_eq!(
            ProgRuns::parse_fdinfo("map_type:\t1\nkey_size:\t4\nmap_id:\t9\n"),
            None
        );
        let later = ProgRuns {
            run_time_ns: 2_500_000,
            run_cnt: 150,
            ..program
        };
        assert_eq!(later.since(&program).us_per_run(), Some(20.0));
        assert_eq!(program.since(&program).us_per_run(), None);
    }

    #[test]
    fn picks_the_busiest_perf_event_program() {
        let program = |id, prog_type, run_cnt| ProgRuns {
            id,
            prog_type,
            run_time_ns: 1,
            run_cnt,
        };
        let programs = [program(1, 26, 900), program(2, 7, 40), program(3, 7, 80)];
        assert_eq!(ProgRuns::sampler(&programs).map(|p| p.id), Some(3));
        assert_eq!(ProgRuns::sampler(&programs[..1]), None);
    }
}
