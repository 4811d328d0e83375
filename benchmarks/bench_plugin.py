"""What the klverify pytest plugin costs: at pytest start-up, and per ``assert_kl_close``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_plugin.py            # defaults: 30 start-ups, 15 checks
    .venv/bin/python benchmarks/bench_plugin.py --startup-repeats 60 --check-repeats 30

1. Start-up: ``python -m pytest --co -q`` on a tiny test directory, with the plugin
   disabled (``-p no:klverify``) and enabled, interleaved, median of each. torch is
   installed but no test uses it, the case the plugin must not slow down. Also the
   import time of ``klverify.testing.plugin`` alone (``-X importtime``, median).
2. One ``assert_kl_close`` on batch 8 × vocab 32000 float32 torch logits (Hinton's loss,
   ``reduction="batchmean"``, T = 2): the whole check, the exact reference inside it, and
   the rest (input conversion, tolerance, comparison), medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY_TESTS = """
def test_one():
    assert 1 + 1 == 2


def test_two():
    assert "kl" in "klverify"
"""


def _run(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def startup(repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_tiny.py").write_text(TINY_TESTS)
        Path(tmp, "pytest.ini").write_text("[pytest]\n")
        base = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
        without, with_ = [], []
        _run(base, tmp)  # warm the file-system cache and .pyc files
        for _ in range(repeats):
            without.append(_run([*base, "-p", "no:klverify"], tmp))
            with_.append(_run(base, tmp))
        imports = [_import_time() for _ in range(max(5, repeats // 3))]
    return {
        "without": statistics.median(without),
        "with": statistics.median(with_),
        "import": statistics.median(imports),
    }


def _import_time() -> float:
    """Cumulative microseconds importing klverify.testing.plugin after pytest is loaded."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest, klverify.testing.plugin"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    ).stderr
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "klverify.testing.plugin":
            return int(parts[1]) / 1e6
    raise RuntimeError("klverify.testing.plugin not found in -X importtime output")


def check(repeats: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from klverify.divergence import kl
    from klverify.testing.assertions import check_kl_close

    torch.manual_seed(0)
    teacher, student = torch.randn(8, 32000), torch.randn(8, 32000)
    T = 2.0
    loss = F.kl_div(
        F.log_softmax(student / T, -1), F.log_softmax(teacher / T, -1), reduction="batchmean",
        log_target=True,
    )  # fmt: skip
    kwargs = {"space": "logits", "temperature": T, "reduction": "batchmean"}
    record, message = check_kl_close(loss, teacher, student, **kwargs)
    assert record.passed, message
    totals, refs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        check_kl_close(loss, teacher, student, **kwargs)
        totals.append(time.perf_counter() - start)
        start = time.perf_counter()
        kl(teacher, student, backend="reference", **kwargs)
        refs.append(time.perf_counter() - start)
    total, ref = statistics.median(totals), statistics.median(refs)
    return {"total": total, "reference": ref, "rest": total - ref}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--startup-repeats", type=int, default=30)
    parser.add_argument("--check-repeats", type=int, default=15)
    args = parser.parse_args()
    s = startup(args.startup_repeats)
    print(f"pytest --co start-up, median of {args.startup_repeats} (torch installed, unused):")
    print(f"  without plugin (-p no:klverify)  {s['without'] * 1e3:8.1f} ms")
    print(f"  with plugin                      {s['with'] * 1e3:8.1f} ms")
    print(f"  difference                       {(s['with'] - s['without']) * 1e3:8.1f} ms")
    print(f"  import of klverify.testing.plugin {s['import'] * 1e3:7.2f} ms (-X importtime)")
    c = check(args.check_repeats)
    print(f"assert_kl_close, 8 x 32000 float32 logits, median of {args.check_repeats}:")
    print(f"  whole check                      {c['total'] * 1e3:8.1f} ms")
    print(f"  exact reference inside it        {c['reference'] * 1e3:8.1f} ms")
    print(f"  the rest (conversion, tolerance) {c['rest'] * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
