"""How long the default `klverify report` takes, end to end (target: under 60 s on 2 cores).

    python benchmarks/bench_report.py [--repeats 3]

Runs the real command in a temporary directory, as a user would, and prints each wall
time, the median, and the number of cells. Run it on a quiet machine: it measures the
whole matrix (every installed backend, path, dtype and case, gradients included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "klverify", "report", "-q"],
                cwd=tmp,
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - start)
            data = json.loads((Path(tmp) / "klverify-report.json").read_text())
        print(
            f"run {len(times)}: {times[-1]:.1f} s, exit {done.returncode}, "
            f"{len(data['cells'])} cells, {data['counts']}"
        )
    print(f"median wall time: {statistics.median(times):.1f} s over {len(times)} runs")


if __name__ == "__main__":
    main()
