//! `augur record -- CMD`: profile one command tree locally, like `perf record`,
//! and write the result as pprof, folded text or SVG.
//!
//! The command is started held at a gate (a shell waiting to exec it), the BPF sampler is loaded with a
//! filter for the child's process tree, and only then is the gate opened, so
//! the first instructions are sampled too. Maps are drained often so that
//! processes are normalized while their mappings can still be read.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use augur_agent::{Collector, ProfileSpec, SamplerOptions};
use augur_profile::{FileId, Location, Profile, ProfileType, RawFrame, Sample};
use augur_symbolizer::{DebugInfoLocator, FrameRequest, Symbolizer};
use clap::Args;

use crate::Format;

/// Arguments of `augur record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Samples per second on each CPU (for the cpu profile).
    #[arg(long, default_value_t = 99)]
    frequency: u64,
    /// What to sample: cpu, a counter as NAME[:PERIOD] (page-faults,
    /// context-switches, cycles, instructions, cache-misses, branch-misses),
    /// heap growth in bytes (brk, mmap),
    /// or memory[:MEAN_BYTES] (allocations and what the command held when
    /// it exited: one pprof with alloc_objects, alloc_space, inuse_objects
    /// and inuse_space; folded and SVG show inuse_space).
    #[arg(long = "profile", default_value = "cpu", value_parser = parse_profile_name)]
    profile_name: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "pprof")]
    format: Format,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
    /// The command to run, after `--`.
    #[arg(trailing_var_arg = true, required = true, num_args = 1..)]
    command: Vec<String>,
}

fn parse_profile_name(text: &str) -> Result<String, String> {
    ProfileSpec::parse(text, 99).map(|_| text.to_owned())
}

/// How often maps are drained while the command runs.
const DRAIN_EVERY: Duration = Duration::from_millis(500);

/// Runs the command under the sampler and writes its profile.
pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let (gate_read, gate_write) = pipe().context("creating the start gate")?;
    let gate_fd = gate_read.as_raw_fd();
    // std's spawn waits for exec, so the gate sits in a shell that execs the
    // command (keeping its pid) once the sampler is attached.
    let mut command = std::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg("read -r _ <&3; exec 3<&-; exec \"$@\"")
        .arg("augur-record")
        .args(&args.command);
    // SAFETY: between fork and exec the child only calls dup2(2) or fcntl(2),
    // which are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec, so clear it explicitly.
            let ok = if gate_fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(gate_fd, 3) == 3
            };
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {:?}", args.command[0]))?;
    drop(gate_read);
    let started = Instant::now();

    let spec =
        ProfileSpec::parse(&args.profile_name, args.frequency).map_err(anyhow::Error::msg)?;
    let mut objects = [MaybeUninit::uninit()];
    let options = SamplerOptions {
        profile: spec,
        filter_tgid: Some(child.id()),
        drain_interval: DRAIN_EVERY,
        unwinder: Default::default(),
        unwind_maps: None,
        // One command, profiled from its start: whole stacks at once.
        unwind_min_age: Duration::ZERO,
        python: true,
        python_maps: None,
        memory: Default::default(),
        java: true,
        java_maps: None,
    };
    let mut collector = match Collector::start(
        &[spec],
        &options,
        augur_agent::host_name(),
        augur_agent::IdentityConfig::default(),
        &mut objects,
    ) {
        Ok(c) => c,
        Err(error) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error)
                .context("starting the sampler (needs root or CAP_BPF + CAP_PERFMON)");
        }
    };
    let mut gate = std::fs::File::from(gate_write);
    std::io::Write::write_all(&mut gate, &[1]).context("opening the start gate")?;
    drop(gate);

    // Per profile type (the memory profile has four), stacks and values.
    // A gauge's values are those of the last window: what was held then.
    let mut stacks: Vec<(ProfileType, HashMap<Vec<RawFrame>, u64>)> = spec
        .kind
        .profile_types()
        .into_iter()
        .map(|t| (t, HashMap::new()))
        .collect();
    let mut paths: HashMap<FileId, String> = HashMap::new();
    // Open copies of binaries replaced while they ran: the collector's
    // own are closed with it, before symbolization.
    let mut replaced: HashMap<FileId, std::fs::File> = HashMap::new();
    let mut lost: HashMap<String, u64> = HashMap::new();
    let mut accumulate = |collector: &mut Collector<'_>| -> anyhow::Result<()> {
        collector.track_new_processes();
        for (batch, _) in collector.collect().context("draining the sampler")? {
            for (id, path) in batch.binaries {
                // A binary replaced while it ran is read through the copy
                // the resolver holds open; its path names another file.
                if let Some(readable) = collector.readable_path(&id) {
                    if let (false, Ok(file)) =
                        (replaced.contains_key(&id), std::fs::File::open(readable))
                    {
                        replaced.insert(id.clone(), file);
                    }
                }
                paths.entry(id).or_insert(path);
            }
            for (reason, n) in batch.dropped {
                *lost.entry(reason).or_default() += n;
            }
            let gauge = augur_profile::types::aggregation(&batch.profile_type.name)
                == augur_profile::Aggregation::Gauge;
            let slot = match stacks.iter().position(|(t, _)| *t == batch.profile_type) {
                Some(i) => i,
                None => {
                    stacks.push((batch.profile_type.clone(), HashMap::new()));
                    stacks.len() - 1
                }
            };
            let values = &mut stacks[slot].1;
            if gauge {
                values.clear();
            }
            for sample in batch.samples {
                *values.entry(sample.frames).or_default() += sample.count;
            }
        }
        Ok(())
    };
    let mut next_drain = Instant::now() + DRAIN_EVERY;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the command")? {
            break status;
        }
        // Wakes as soon as the command's tree starts a new process.
        collector.wait_for_new_processes(Duration::from_millis(20));
        if Instant::now() >= next_drain {
            next_drain += DRAIN_EVERY;
            accumulate(&mut collector)?;
        }
    };
    accumulate(&mut collector)?;
    let elapsed = started.elapsed();
    if let Some((kernel, user)) = collector.python_stats() {
        tracing::debug!(?kernel, ?user, "python walker");
    }
    if let Some(java) = collector.java_stats() {
        tracing::debug!(?java, "java walker");
    }
    if let Some(stats) = collector.unwind_stats() {
        tracing::debug!(kernel = ?stats.kernel, "unwinder");
    }
    drop(collector);

    let readable_paths: HashMap<FileId, String> = replaced
        .iter()
        .map(|(id, file)| {
            use std::os::fd::AsRawFd;
            (id.clone(), format!("/proc/self/fd/{}", file.as_raw_fd()))
        })
        .collect();
    let profiles: Vec<Profile> = stacks
        .into_iter()
        .map(|(profile_type, stacks)| {
            build_profile(
                &args,
                spec,
                profile_type,
                stacks,
                &paths,
                &readable_paths,
                elapsed,
            )
        })
        .collect();
    drop(replaced);
    let Some(profile) = profiles.last() else {
        bail!("no samples were taken; did the command run long enough?");
    };
    let bytes = match args.format {
        Format::Pprof if profiles.len() > 1 => {
            augur_wire::pprof::encode_types(&profiles).context("encoding pprof")?
        }
        Format::Pprof => augur_wire::pprof::encode(profile).context("encoding pprof")?,
        Format::Folded => augur_profile::render::folded(profile).into_bytes(),
        Format::Svg => augur_profile::render::svg(
            profile,
            &format!("augur record: {}", args.command.join(" ")),
        )
        .context("rendering the flame graph")?,
    };
    std::fs::write(&args.output, bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let total: u64 = profiles.iter().map(Profile::total).sum();
    let values: Vec<String> = profiles
        .iter()
        .map(|p| {
            format!(
                "{} {} of {}",
                p.total().saturating_mul(p.period),
                p.profile_type.unit,
                p.profile_type.name
            )
        })
        .collect();
    eprintln!(
        "augur record: {} over {:.1}s written to {}{}",
        values.join(", "),
        elapsed.as_secs_f64(),
        args.output.display(),
        if lost.is_empty() {
            String::new()
        } else {
            format!(" (lost or degraded: {lost:?})")
        }
    );
    if total == 0 {
        bail!("no samples were taken; did the command run long enough?");
    }
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(signal)) => ExitCode::from((128 + signal).clamp(0, 255) as u8),
        _ => ExitCode::FAILURE,
    })
}

fn build_profile(
    args: &RecordArgs,
    spec: ProfileSpec,
    profile_type: ProfileType,
    stacks: HashMap<Vec<RawFrame>, u64>,
    paths: &HashMap<FileId, String>,
    readable_paths: &HashMap<FileId, String>,
    elapsed: Duration,
) -> Profile {
    // Symbolize every distinct user frame once, from this host's files.
    let mut unique: Vec<(FileId, u64)> = stacks
        .keys()
        .flatten()
        .filter_map(|f| match f {
            RawFrame::User {
                build_id,
                file_offset,
            } => Some((build_id.clone(), *file_offset)),
            _ => None,
        })
        .collect();
    unique.sort();
    unique.dedup();
    let hints: HashMap<&FileId, Vec<String>> = paths
        .iter()
        .map(|(id, p)| {
            (
                id,
                readable_paths
                    .get(id)
                    .into_iter()
                    .chain([p])
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    let empty = Vec::new();
    let requests: Vec<FrameRequest<'_>> = unique
        .iter()
        .map(|(id, offset)| FrameRequest {
            build_id: id,
            file_offset: *offset,
            path_hints: hints.get(id).unwrap_or(&empty),
        })
        .collect();
    let mut symbolizer =
        Symbolizer::new(DebugInfoLocator::new(vec!["/usr/lib/debug".into()], true));
    let results = symbolizer.symbolize(&requests);
    let symbols: HashMap<(FileId, u64), Vec<augur_profile::Symbol>> = unique
        .into_iter()
        .zip(results)
        .filter_map(|(key, r)| r.ok().map(|s| (key, s)))
        .collect();

    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let samples = stacks
        .into_iter()
        .map(|(frames, count)| Sample {
            locations: frames
                .into_iter()
                .map(|frame| {
                    let (path, syms) = match &frame {
                        RawFrame::User {
                            build_id,
                            file_offset,
                        } => (
                            paths.get(build_id).cloned(),
                            symbols
                                .get(&(build_id.clone(), *file_offset))
                                .cloned()
                                .unwrap_or_default(),
                        ),
                        // Named already (runtime frames by themselves,
                        // through `Location::new`) or never.
                        _ => (None, Vec::new()),
                    };
                    Location::new(frame, path, syms)
                })
                .collect(),
            count,
        })
        .collect();
    let service = std::path::Path::new(&args.command[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.command[0].clone());
    Profile {
        service,
        profile_type,
        period: spec.sample_value(),
        start_unix_nanos: end - elapsed.as_nanos() as i64,
        end_unix_nanos: end,
        samples,
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
