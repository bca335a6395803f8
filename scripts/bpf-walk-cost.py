#!/usr/bin/env python3
"""BPF cost per sample of the frame-pointer walk, for docs/benchmarks.md.

For each augur binary, in turn and ROUNDS times over (so that a change in
the host's load falls on every binary alike), runs `augur up` with
`unwinder = UNWINDER` (frame-pointers or auto) at 99 Hz while two copies of a fixture keep
both CPUs busy for SECONDS of CPU time each: main -> descend x DEPTH -> spin,
built with frame pointers, so every user stack is DEPTH + 4 frames deep
(with __libc_start_call_main). Prints the run time per run of the agent's
`sample_stack` (`run_time_ns / run_cnt`, with BPF_ENABLE_STATS held by this
script), and the IRQ work interrupts the host took per run (`bpf_find_vma`
in interrupt context defers its unlock to one). Needs root and cc. Usage:
    scripts/bpf-walk-cost.py SECONDS DEPTH ROUNDS UNWINDER AUGUR...
"""
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time

FIXTURE = r"""
#include <stdlib.h>
#include <time.h>
static double cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}
__attribute__((noinline)) void spin(double end)
{
	while (cpu() < end)
		for (volatile int i = 0; i < 100000; i++)
			;
}
__attribute__((noinline)) void descend(int n, double end)
{
	if (n == 0)
		spin(end);
	else
		descend(n - 1, end);
	__asm__ volatile("" ::: "memory");
}
int main(int argc, char **argv)
{
	descend(atoi(argv[1]), cpu() + atof(argv[2]));
	return 0;
}
"""

CONFIG = """
[sampling]
unwinder = "{unwinder}"

[debuginfo]
upload = false

[[relabel]]
action = "keep"
source_labels = ["exe"]
regex = ".*/augur-deep"
"""

SYS_BPF = 321
BPF_ENABLE_STATS = 32


def enable_bpf_stats() -> int:
    """Keeps run-time statistics on while the returned fd is open."""
    attr = ctypes.create_string_buffer(128)  # enable_stats.type = BPF_STATS_RUN_TIME
    fd = ctypes.CDLL(None, use_errno=True).syscall(SYS_BPF, BPF_ENABLE_STATS, attr, 128)
    if fd < 0:
        sys.exit(f"BPF_ENABLE_STATS failed: errno {ctypes.get_errno()}")
    return fd


def sample_stack_stats(pid: int) -> tuple[int, int]:
    """(run_time_ns, run_cnt) of the perf-event program `pid` holds (its
    sample_stack), from the fdinfo of its program fd."""
    fdinfo = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fdinfo):
        try:
            fields = dict(
                line.split(":", 1) for line in open(os.path.join(fdinfo, fd)) if ":" in line
            )
        except OSError:
            continue
        if fields.get("prog_type", "").strip() == "7":  # BPF_PROG_TYPE_PERF_EVENT
            return int(fields.get("run_time_ns", 0)), int(fields.get("run_cnt", 0))
    sys.exit(f"no perf-event program held by pid {pid}")


def irq_work_interrupts() -> int:
    """IRQ work interrupts on every CPU so far (/proc/interrupts IWI)."""
    for line in open("/proc/interrupts"):
        fields = line.split()
        if fields and fields[0] == "IWI:":
            return sum(int(f) for f in fields[1:] if f.isdigit())
    return 0


def measure(augur: str, fixture: str, config: str, depth: int, seconds: float, tmp: str) -> str:
    data = os.path.join(tmp, "data")
    shutil.rmtree(data, ignore_errors=True)
    up = subprocess.Popen(
        [augur, "up", "--data-dir", data, "--http", "127.0.0.1:0", "--ingest", "127.0.0.1:0",
         "--config", config, "--frequency", "99"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(5)
        time0, runs0 = sample_stack_stats(up.pid)
        iwi0 = irq_work_interrupts()
        load = " ".join(open("/proc/loadavg").read().split()[:3])
        work = [subprocess.Popen([fixture, str(depth), str(seconds)]) for _ in range(2)]
        for w in work:
            w.wait()
        time1, runs1 = sample_stack_stats(up.pid)
        iwi1 = irq_work_interrupts()
    finally:
        up.terminate()
        up.wait()
    runs = max(1, runs1 - runs0)
    return (
        f"| {augur} | {depth + 4} | {(time1 - time0) / 1000 / runs:.2f} | {runs} "
        f"| {(iwi1 - iwi0) / runs:.2f} | {load} |"
    )


def main() -> None:
    seconds, depth, rounds = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    unwinder = sys.argv[4]
    binaries = sys.argv[5:]
    stats = enable_bpf_stats()
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "deep.c")
        fixture = os.path.join(tmp, "augur-deep")
        config = os.path.join(tmp, "fp.toml")
        open(source, "w").write(FIXTURE)
        open(config, "w").write(CONFIG.format(unwinder=unwinder))
        subprocess.run(
            ["cc", "-O1", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer",
             "-fno-optimize-sibling-calls", "-fno-inline", "-o", fixture, source],
            check=True,
        )
        print("| augur | user frames | BPF us/run | runs | IRQ work interrupts per run | load average at start |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for _ in range(rounds):
            for augur in binaries:
                print(measure(augur, fixture, config, depth, seconds, tmp), flush=True)
    os.close(stats)


if __name__ == "__main__":
    main()
