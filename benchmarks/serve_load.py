"""Load test of ``recblocks serve``: requests/s and latency percentiles under concurrency.

Run from the repository root (opt-in; nothing in the test suite runs it)::

    .venv/bin/python benchmarks/serve_load.py                          # demo DeepFM, C=8, N=2000, 1 row each
    .venv/bin/python benchmarks/serve_load.py --concurrency 32 --requests 5000 --rows 4
    .venv/bin/python benchmarks/serve_load.py --run runs/x --data test.parquet
    .venv/bin/python benchmarks/serve_load.py --export onnx              # serve an export of the run

Without ``--run`` it trains the built-in demo DeepFM for one epoch on 20,000 synthetic rows into
``benchmarks/_work/serve_demo`` (once; git-ignored) and sends rows of the same synthetic draw.
The server runs in its own process (``recblocks serve``, started here on a free port, stopped
at the end); ``--concurrency`` client threads, each on one keep-alive connection, send
``--requests`` POST /predict requests in all, each of ``--rows`` rows taken in turn from the data,
after ``--warmup`` requests that are not timed. It prints requests/s, rows/s, latency p50 / p90 /
p99 / max (ms), errors by status, the server's batching counters (GET /health: batches, mean
rows per batch) and the machine's load average and CPU count, since the figures mean little on
a machine busy with other work.

With ``--export onnx|torchscript|torch-export`` the run is first exported (``recblocks export``,
into ``<run>-export-<format>`` under ``benchmarks/_work``) and the server is given the export
folder, so the requests are scored by that graph (ONNX Runtime, TorchScript or ``torch.export``)
instead of the eager model.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "serve_demo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo_run() -> tuple[Path, list[dict]]:
    from recblocks.datasets.synthetic import make_synthetic

    run = WORK / "run"
    if not (run / "run.json").is_file() or json.loads((run / "run.json").read_text())["status"] != "complete":
        subprocess.run([sys.executable, "-m", "recblocks.cli.main", "train", "--demo", "-o", str(run), "--overwrite",
                        "--set", "data.synthetic.num_rows=20000", "--set", "train.epochs=1",
                        "--set", "train.progress=false"], check=True, cwd=ROOT)
    import yaml

    section = yaml.safe_load((run / "config.yaml").read_text())["data"]["synthetic"]
    table = make_synthetic(**{**section, "num_rows": 2000, "seed": section.get("seed", 0) + 1})
    return run, table.to_pylist()


def _exported(run: Path, fmt: str) -> Path:
    """``recblocks export RUN --format FMT`` into a folder beside the benchmark's work (made anew)."""
    target = WORK / f"{run.name}-export-{fmt}"
    subprocess.run([sys.executable, "-m", "recblocks.cli.main", "export", str(run), "--format", fmt,
                    "-o", str(target), "--overwrite"], check=True, cwd=ROOT)
    return target


def _rows(path: str) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).slice(0, 5000).to_pylist()


def _client(host: str, port: int, bodies: list[bytes], latencies: list[float], statuses: list[int]) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    for body in bodies:
        start = time.perf_counter()
        conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        latencies.append(time.perf_counter() - start)
        statuses.append(answer.status)
    conn.close()


def _send(port: int, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], list[int]]:
    shares = [bodies[i::concurrency] for i in range(concurrency)]
    latencies: list[list[float]] = [[] for _ in shares]
    statuses: list[list[int]] = [[] for _ in shares]
    threads = [threading.Thread(target=_client, args=("127.0.0.1", port, s, lat, st))
               for s, lat, st in zip(shares, latencies, statuses)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, sum(latencies, []), sum(statuses, [])


def _health(port: int) -> dict:
    """GET /health on a fresh connection (the server closes keep-alive connections idle for 5 s)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/health")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a trained run directory (default: the demo DeepFM, trained once)")
    parser.add_argument("--data", help="Parquet file whose rows are sent (needed with --run)")
    parser.add_argument("--concurrency", "-c", type=int, default=8)
    parser.add_argument("--requests", "-n", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=1, help="rows per request")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--export", choices=("onnx", "torchscript", "torch-export"),
                        help="serve an export of the run in this format instead of the run directory")
    args = parser.parse_args()
    if args.run:
        if not args.data:
            parser.error("--run needs --data (the rows to send)")
        run, rows = Path(args.run), _rows(args.data)
    else:
        run, rows = _demo_run()
    served = _exported(run, args.export) if args.export else run
    total = args.warmup + args.requests
    bodies = [json.dumps({"rows": [rows[(i * args.rows + j) % len(rows)] for j in range(args.rows)]}).encode()
              for i in range(total)]
    port = _free_port()
    log = (WORK / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "recblocks.cli.main", "serve", str(served), "--port", str(port),
                               "--max-rows", str(max(args.rows, 1024)), "--max-wait-ms", str(args.max_wait_ms)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: {(WORK / 'server.log').read_text()[-2000:]}")
                time.sleep(0.2)
        _send(port, bodies[:args.warmup], args.concurrency)
        before = _health(port)
        elapsed, latencies, statuses = _send(port, bodies[args.warmup:], args.concurrency)
        after = _health(port)
    except OSError as error:
        raise SystemExit(f"the server failed under load ({error!r}); its log: "
                         f"{(WORK / 'server.log').read_text()[-3000:]}") from None
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    ms = np.asarray(latencies) * 1000
    batches = after["batches"] - before["batches"]
    rows_scored = after["rows"] - before["rows"]
    errors = {s: statuses.count(s) for s in sorted(set(statuses)) if s != 200}
    scorer = after.get("model") or f"{after.get('format')} export"
    print(f"served: {served} ({scorer}); concurrency {args.concurrency}, {args.requests} requests of "
          f"{args.rows} row(s), max_wait_ms {args.max_wait_ms}")
    print(f"requests/s {args.requests / elapsed:.1f}  rows/s {args.requests * args.rows / elapsed:.1f}  "
          f"wall {elapsed:.2f} s")
    print(f"latency ms: p50 {np.percentile(ms, 50):.2f}  p90 {np.percentile(ms, 90):.2f}  "
          f"p99 {np.percentile(ms, 99):.2f}  max {ms.max():.2f}")
    print(f"server batches {batches}, mean rows per batch {rows_scored / max(batches, 1):.2f}; "
          f"errors {errors or 'none'}")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
