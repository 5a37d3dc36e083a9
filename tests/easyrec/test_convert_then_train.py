"""Acceptance 4: ``recblocks convert easyrec X.config -o X.yaml`` then ``recblocks train X.yaml`` reaches
the same metrics as ``recblocks train X.config`` (same seed), on seed case 6 with small data."""

from __future__ import annotations

import json

from click.testing import CliRunner

from recblocks.cli.main import cli

from ._seed_runs import write_seed_case

#: a short, seeded run: the case's own num_steps/num_epochs are for the full data
SHORT = ["--set", "train.batch_size=128", "--set", "train.epochs=2", "--set", "train.seed=3",
         "--set", "train.progress=false", "--set", "train.tensorboard=false"]


def test_the_converted_yaml_trains_to_the_same_metrics_as_the_config(tmp_path):
    config = write_seed_case(6, tmp_path)
    converted = tmp_path / "seed_case_6.yaml"
    runner = CliRunner()
    result = runner.invoke(cli, ["convert", "easyrec", str(config), "-o", str(converted)])
    assert result.exit_code == 0, result.output
    metrics = {}
    for source in (config, converted):
        run_dir = tmp_path / f"run_{source.suffix[1:]}"
        result = runner.invoke(cli, ["train", str(source), "-o", str(run_dir), *SHORT])
        assert result.exit_code == 0, result.output
        metrics[source.suffix] = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        metrics[source.suffix].pop("train_samples_per_second")  # a timing, not a metric
        epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text(encoding="utf-8").splitlines()]
        metrics[source.suffix]["train_loss"] = [e["train_loss"] for e in epochs]
    assert metrics[".config"]["valid"]["auc"] > 0.0
    assert metrics[".yaml"] == metrics[".config"]
