"""The README's "Ship" commands run: train the demo, export it to ONNX, ``recblocks serve`` the export, curl /health and /predict,
then its ``recblocks.load`` example. Training is shortened (fewer rows, two steps); the serve and
curl lines run as written, on a free port instead of 8000."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from recblocks.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
FAST = ["--set", "data.synthetic.num_rows=3000", "--set", "train.max_steps=2", "--set", "train.progress=false"]


def _example(kind: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- readme-example: {kind} -->\s*```\w+\n(.*?)```", text, re.S)
    assert match, f"README has no '{kind}' example"
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readme_ship_commands_run(tmp_path: Path, monkeypatch, capsys) -> None:
    train, export, serve, health, predict = _example("ship").strip().splitlines()
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(train)
    assert argv[:2] == ["recblocks", "train"]
    result = CliRunner().invoke(cli, argv[1:] + FAST)
    assert result.exit_code == 0, result.output
    argv = shlex.split(export)
    assert argv[:2] == ["recblocks", "export"]
    result = CliRunner().invoke(cli, argv[1:])
    assert result.exit_code == 0, result.output

    port = str(_free_port())
    argv = shlex.split(serve.replace("8000", port))
    assert argv[:2] == ["recblocks", "serve"] and argv[-1] == "&"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-m", "recblocks.cli.main", *argv[1:-1]], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()[-3000:]
                assert time.monotonic() < deadline, "recblocks serve did not start"
                time.sleep(0.2)
        out = subprocess.run(health.replace("8000", port), shell=True, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout)["status"] == "ok"
        out = subprocess.run(predict.replace("8000", port), shell=True, capture_output=True, text=True, check=True)
        answer = json.loads(out.stdout)
        assert answer["rows"] == 1 and list(answer["scores"]) == ["ctr"] and 0 < answer["scores"]["ctr"][0] < 1
    finally:
        server.terminate()
        server.wait(timeout=30)

    exec(compile(_example("load"), "README.md", "exec"), {})  # noqa: S102 - the README's own example
    printed = capsys.readouterr().out
    assert printed.count("[") >= 1 and "auc" in printed
