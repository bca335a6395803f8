#!/usr/bin/env python3
"""Churn of new binaries, for the unwinder's cost in docs/benchmarks.md.

Writes a copy of this host's python3 whose GNU build-id differs in its last
four bytes (a new binary to the agent, so a new unwind table if it gets
one), runs it for about one second of wall time in a busy loop, deletes it,
and starts over with the next id, for SECONDS seconds. Usage:
    scripts/unwind-churn.py SECONDS [DIR]
"""
import os
import subprocess
import sys
import time


def main() -> None:
    seconds = float(sys.argv[1])
    directory = sys.argv[2] if len(sys.argv) > 2 else "/tmp/augur-churn"
    os.makedirs(directory, exist_ok=True)
    source = os.path.realpath("/usr/bin/python3")
    data = bytearray(open(source, "rb").read())
    notes = subprocess.run(["readelf", "-n", source], capture_output=True, text=True).stdout
    build_id = bytes.fromhex(
        next(line.split()[-1] for line in notes.splitlines() if "Build ID" in line)
    )
    at = data.find(build_id)
    if at < 0 or data.find(build_id, at + 1) >= 0:
        sys.exit("the build-id is not found exactly once in the file")
    # The copy finds its standard library under the real prefix.
    env = dict(os.environ, PYTHONHOME=sys.base_prefix)
    busy = "import time\nt = time.time()\nwhile time.time() - t < 1: pass"
    stop = time.time() + seconds
    count = 0
    try:
        while time.time() < stop:
            count += 1
            end = at + len(build_id)
            data[end - 4 : end] = count.to_bytes(4, "little")
            path = os.path.join(directory, f"python-{count}")
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o755)
            try:
                subprocess.run([path, "-c", busy], env=env, check=True)
            finally:
                os.unlink(path)
    finally:
        print(f"unwind-churn: {count} new binaries", file=sys.stderr)


if __name__ == "__main__":
    main()
