"""``recblocks serve``: real HTTP against a trained run; scores equal ``recblocks predict``."""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.serve.app import Limits, create_app
from recblocks.serve.scorer import RunScorer
from tests.runs.small_zoo import small_data, train_small
from tests.serve.helpers import request, running


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A few-step DIN run (list columns, ids, a GAUC group) and what `recblocks predict` wrote for its test rows."""
    root = tmp_path_factory.mktemp("serve")
    data = small_data("ml100k_seq", root)
    if isinstance(data, str):
        pytest.skip(data)
    run = train_small("ml100k_seq/din.yaml", data, root / "run")
    result = CliRunner().invoke(cli, ["predict", str(run), "--data", str(data / "test.parquet"),
                                      "-o", str(root / "p.parquet")])
    assert result.exit_code == 0, result.output
    return run, data / "test.parquet", root / "p.parquet"


@pytest.fixture(scope="module")
def scorer(trained: tuple[Path, Path, Path]) -> RunScorer:
    return RunScorer(trained[0])


def test_http_scores_equal_recblocks_predict_and_bad_rows_are_named(trained, scorer) -> None:
    _, test, predicted = trained
    rows = pq.read_table(test).to_pylist()  # every column of the file, labels included: extra keys are ignored
    written = pq.read_table(predicted).column("ctr").to_numpy()
    with running(create_app(scorer, Limits(max_rows=512))) as url:
        status, health = request(f"{url}/health")
        assert status == 200 and health["status"] == "ok" and health["outputs"] == ["ctr"]
        assert "hist_movie_id" in health["columns"] and health["model"] == "DIN"
        status, answer = request(f"{url}/predict", {"rows": rows})
        assert status == 200 and answer["rows"] == len(rows)
        assert np.array_equal(np.asarray(answer["scores"]["ctr"], dtype=np.float32), written)

        bad = [dict(r) for r in rows[:5]]
        bad[3]["hist_movie_id"] = {"id": 7}
        status, answer = request(f"{url}/predict", {"rows": bad})
        assert status == 422 and answer["error"].startswith("rows[3].hist_movie_id: "), answer
        bad[3] = {k: v for k, v in rows[3].items() if k != "movie_id"} | {"movie_idd": "1"}
        status, answer = request(f"{url}/predict", {"rows": bad})
        assert status == 422 and "rows[3].movie_id: missing" in answer["error"]
        assert "did you mean 'movie_idd'" in answer["error"]
        bad[3] = dict(rows[3], age=1.5)
        status, answer = request(f"{url}/predict", {"rows": bad})
        assert status == 422 and answer["error"].startswith("rows[3].age: expected a string or an integer id")

        status, answer = request(f"{url}/predict", {"rows": rows[:7]})  # still serving, the same scores up to
        assert status == 200  # float32 rounding: a matmul over 7 rows may round one ulp apart from one over 300
        np.testing.assert_allclose(np.asarray(answer["scores"]["ctr"], np.float32), written[:7], rtol=1e-6, atol=1e-7)


def test_hostile_requests_are_bounded(scorer) -> None:
    limits = Limits(max_rows=4, max_body_bytes=20_000, max_depth=5)
    row = {c: ["1"] if scorer.kinds[c] == "id_list" else "1" for c in scorer.columns}
    with running(create_app(scorer, limits)) as url:
        cases = [
            (None, b"x" * 20_001, 413, "body: at most 20000 bytes"),
            ({"rows": [row] * 5}, None, 413, "rows: at most 4 rows per request, got 5"),
            (None, b"[" * 5000 + b"]" * 5000, 400, "nested deeper than 5"),
            ({"rows": [{"a": [[[[1]]]]}]}, None, 400, "nested deeper than 5"),
            (None, b"{not json", 400, "body: not JSON"),
            ({"row": [row]}, None, 422, "expected an object {\"rows\""),
            ({"rows": []}, None, 422, "rows: expected a non-empty list"),
            ({"rows": [row, 3]}, None, 422, "rows[1]: expected an object"),
            ({"rows": [row], "x": 1}, None, 422, "unknown keys ['x']"),
            ({"rows": [row, dict(row, hist_movie_id="1")]}, None, 422, "rows[1].hist_movie_id: expected a list"),
        ]
        for body, raw, status, message in cases:
            got, answer = request(f"{url}/predict", body, raw)
            assert got == status and message in answer["error"], (message, got, answer)
        status, answer = request(f"{url}/predict", {"rows": [row]})
        assert status == 200 and len(answer["scores"]["ctr"]) == 1
        status, spec = request(f"{url}/openapi.json")
        assert status == 200 and "/predict" in spec["paths"] and "/health" in spec["paths"]


class _Flaky:
    """A scorer that fails on a row holding ``"boom"`` and sleeps on ``"slow"``."""

    columns, outputs = ["x"], ["p"]

    def check(self, rows):
        pass

    def score(self, rows):
        import time

        if any(r.get("x") == "boom" for r in rows):
            raise RuntimeError("boom\nsecond line of a traceback-like message")
        if any(r.get("x") == "slow" for r in rows):
            time.sleep(0.8)
        return {"p": [float(len(str(r.get("x")))) for r in rows]}


def test_unknown_errors_are_one_line_500_timeouts_504_and_serving_goes_on(caplog) -> None:
    with running(create_app(_Flaky(), Limits(timeout=0.5, max_wait_ms=20))) as url:
        status, answer = request(f"{url}/predict", {"rows": [{"x": "boom"}]})
        assert status == 500 and answer == {"error": "internal error: RuntimeError: boom"}
        assert "POST /predict failed" in caplog.text  # logged with its traceback
        status, answer = request(f"{url}/predict", {"rows": [{"x": "slow"}]})
        assert status == 504 and "not answered within 0.5 s" in answer["error"]
        time.sleep(0.6)  # the timed-out scoring still holds the worker thread until it ends
        with concurrent.futures.ThreadPoolExecutor(8) as pool:  # one bad request in a shared batch fails alone
            bodies = [{"rows": [{"x": "boom" if i == 3 else "a" * i}]} for i in range(8)]
            answers = list(pool.map(lambda b: request(f"{url}/predict", b), bodies))
        assert [s for s, _ in answers] == [500 if i == 3 else 200 for i in range(8)]
        assert all(a["scores"]["p"] == [float(i)] for i, (_, a) in enumerate(answers) if i != 3)
        status, health = request(f"{url}/health")
        assert status == 200 and health["requests"] >= 10


def test_serve_command_help_lists_the_limits() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--host", "--max-rows", "--max-body-bytes", "--timeout", "--max-batch-rows"):
        assert option in result.output
    result = CliRunner().invoke(cli, ["serve", "/nonexistent/run", "--port", "0"])
    assert result.exit_code != 0 and "/nonexistent/run" in result.output and "Traceback" not in result.output
    assert len(json.dumps(result.output).splitlines()) == 1


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_export_folder_is_served_by_its_own_graph(trained, fmt, tmp_path) -> None:
    from recblocks.serve.scorer import ExportScorer, scorer_for

    run, test, predicted = trained
    result = CliRunner().invoke(cli, ["export", str(run), "--format", fmt, "--output", str(tmp_path / "pkg")])
    assert result.exit_code == 0, result.output
    scorer = scorer_for(tmp_path / "pkg")
    assert isinstance(scorer, ExportScorer) and scorer.outputs == ["ctr"]
    rows = pq.read_table(test).to_pylist()[:64]
    written = pq.read_table(predicted).column("ctr").to_numpy()[:64]
    with running(create_app(scorer, Limits(max_rows=512))) as url:
        status, health = request(f"{url}/health")
        assert status == 200 and health["format"] == fmt and health["run"] == str(run.resolve())
        status, answer = request(f"{url}/predict", {"rows": rows})
        assert status == 200
        np.testing.assert_allclose(np.asarray(answer["scores"]["ctr"]), written, rtol=0, atol=1e-6)
        bad = [dict(r) for r in rows[:3]]
        bad[1]["hist_movie_id"] = {"id": 7}
        status, answer = request(f"{url}/predict", {"rows": bad})
        assert status == 422 and answer["error"].startswith("rows[1].hist_movie_id: "), answer
        status, _ = request(f"{url}/predict", {"rows": rows[:2]})
        assert status == 200  # still serving
