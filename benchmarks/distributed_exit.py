"""Launch the 2-process data-parallel test worker again and again and count the runs that fail.

Run from the repository root (opt-in; each run takes 5-10 s)::

    PYTHONPATH=src .venv/bin/python benchmarks/distributed_exit.py --runs 60

Each run is ``torchrun --nproc_per_node 2 tests/training/test_distributed_worker.py OUT`` (the
worker of ``tests/training/test_distributed.py``: DDP training, gathered metrics, an interrupted
run, a partly used model). A failed run prints its exit code, the files it had written and the
end of its stderr. This is how the exit abort of gloo runs ("terminate called without an active
exception", SIGABRT in rank 0 after the work was done) was counted: 2 of 50 runs beside other work
before ``distributed`` released the process group at interpreter exit, 0 of 120 after. The abort
needs a loaded machine to show; run it beside other work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from recblocks.training import distributed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    worker = ROOT / "tests" / "training" / "test_distributed_worker.py"
    failed = 0
    for index in range(args.runs):
        out = tempfile.mkdtemp(prefix="recblocks_ddp_exit_")
        command = distributed.launch_command(2, [])[:-2] + [str(worker), out]
        start = time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        print(f"run {index}: exit {done.returncode}, {time.time() - start:.1f}s", flush=True)
        if done.returncode:
            failed += 1
            print(f"  files written: {sorted(os.listdir(out))}\n{done.stderr[-1500:]}", flush=True)
    print(f"failed: {failed} of {args.runs}")


if __name__ == "__main__":
    main()
