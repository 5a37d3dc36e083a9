"""Acceptance 1 of issue 12: the seed's EasyRec cases trained one epoch with EasyRec's protocol.

Opt-in (minutes of CPU). Each case is the fixture pipeline (tests/easyrec/fixtures/
seed_case_N_pipeline.config) followed by the seed's verbatim ``model_config`` block, written as one
``.config`` beside its data and read by :func:`recblocks.runs.load_config_file`, as ``recblocks
train`` reads it. Only the run's seed, the progress bar and TensorBoard are set from here; the
train section (Adam, exponential decay 1e-3 halved every 1000 steps, batch 1024 or 4096, one epoch)
is the config's.

* Cases 1, 2, 3, 6 (Wide&Deep, DeepFM, DCN, MLP backbones): MovieLens-100K written in EasyRec's
  ML-1M example layout (:func:`recblocks.datasets.easyrec_files.prepare_movielens_example_files`:
  rating 3 dropped, 4-5 positive), shuffled and cut 90/10 into train and test as EasyRec's script
  does; one epoch; AUC on the test tenth. There is no model selection, so the test tenth is the
  only evaluation. The seed's figures are on MovieLens-1M (about 665k training rows, 9x more than
  ML-100K's 65.6k): they are printed beside ours for orientation, not as a target.
* Cases 4, 5 (DLRM, DLRM with periodic numeric embeddings): the synthetic Criteo-like table
  (label, I1..I13, C1..C26, ``--criteo-rows`` rows), cut 90/10; AUC on the test tenth beside the
  Bayes-optimal AUC of the same rows (the AUC of the true probabilities). The seed's Criteo
  figures are printed for orientation only.

Each seed (``--seeds``) draws its own split and its own initialisation. Prints a Markdown table
(mean ± sample std over the seeds); per-run figures go to stderr.

    nice .venv/bin/python benchmarks/easyrec_cases.py [--seeds 0,1,2] [--cases 1,2,3,4,5,6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import csv_list, mean_std  # noqa: E402  (benchmarks/ is not a package)

from recblocks.datasets.easyrec_files import prepare_movielens_example_files, write_header_less  # noqa: E402
from recblocks.datasets.synthetic import bayes_auc, make_synthetic  # noqa: E402
from recblocks.easyrec import parse_pipeline_config  # noqa: E402
from recblocks.runs import load_config_file, train_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "easyrec" / "fixtures"
ML100K = ROOT.parent / "shared" / "data" / "ml-100k"
#: case -> (name, data, the seed's published figure and what it was measured on)
CASES = {
    1: ("Wide&Deep (backbone)", "movielens", "0.8854 (ML-1M)"),
    2: ("DeepFM (backbone)", "movielens", "0.8872 (ML-1M)"),
    3: ("DCN_v2 (backbone)", "movielens", "0.8770 (ML-1M)"),
    6: ("MLP (Keras layers)", "movielens", "0.8616 (ML-1M)"),
    4: ("DLRM (backbone)", "criteo", "0.7993 (Criteo)"),
    5: ("DLRM (periodic)", "criteo", "0.7998 (Criteo)"),
}


def _case_text(number: int) -> str:
    return (FIXTURES / f"seed_case_{number}_pipeline.config").read_text(encoding="utf-8") + \
        (FIXTURES / f"seed_case_{number}.config").read_text(encoding="utf-8")


def run_case(number: int, seed: int, criteo_rows: int, folder: Path) -> dict[str, Any]:
    """Train case ``number`` once in ``folder``; its test AUC (and the Bayes AUC for Criteo-like data)."""
    text = _case_text(number)
    pipeline = parse_pipeline_config(text)
    train, valid = folder / pipeline["train_input_path"], folder / pipeline["eval_input_path"]
    train.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    if CASES[number][1] == "movielens":
        files = prepare_movielens_example_files(ML100K, folder / "_ml", test_fraction=0.1, seed=seed)
        files["train"].rename(train)
        files["test"].rename(valid)
    else:
        fields = [f["input_name"] for f in pipeline["data_config"]["input_fields"]]
        table = make_synthetic(num_rows=criteo_rows, seed=seed)
        cut = int(criteo_rows * 0.9)
        write_header_less(table.slice(0, cut), train, fields, pipeline["data_config"].get("separator", ","))
        write_header_less(table.slice(cut), valid, fields, pipeline["data_config"].get("separator", ","))
        out["bayes_auc"] = bayes_auc(table.slice(cut))
    config = folder / f"seed_case_{number}.config"
    config.write_text(text, encoding="utf-8")
    raw = load_config_file(config)
    raw["train"].update(seed=seed, progress=False, tensorboard=False)
    start = time.time()
    result = train_run(raw, folder / "run")
    out.update(auc=result.valid_metrics["auc"], steps=result.history.global_step,
               seconds=round(time.time() - start, 1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=csv_list, default=["0", "1", "2"])
    parser.add_argument("--cases", type=csv_list, default=[str(c) for c in CASES])
    parser.add_argument("--criteo-rows", type=int, default=200_000)
    args = parser.parse_args(argv)
    cases = [int(c) for c in args.cases]
    if any(CASES[c][1] == "movielens" for c in cases) and not ML100K.is_dir():
        print(f"MovieLens-100K is absent ({ML100K}); nothing to do")
        return 0
    rows = []
    for number in cases:
        runs = []
        for seed in (int(s) for s in args.seeds):
            with tempfile.TemporaryDirectory() as folder:
                record = run_case(number, seed, args.criteo_rows, Path(folder))
            print(f"case {number} seed {seed}: {record}", file=sys.stderr, flush=True)
            runs.append(record)
        name, data, published = CASES[number]
        bayes = mean_std([r["bayes_auc"] for r in runs]) if "bayes_auc" in runs[0] else "-"
        where = "ML-100K, 90/10" if data == "movielens" else f"synthetic Criteo-like, {args.criteo_rows:,} rows, 90/10"
        rows.append(f"| {number} | {name} | {where} | {runs[0]['steps']} | {mean_std([r['auc'] for r in runs])} | "
                    f"{bayes} | {published} |")
    print(f"seeds {', '.join(args.seeds)}; one epoch; AUC on the held-out tenth (mean ± std)\n")
    print("| case | model | data | steps | AUC | Bayes-optimal AUC | seed's figure (other data) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
