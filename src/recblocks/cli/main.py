"""The ``recblocks`` command line: train, evaluate, predict, validate, components, datasets.

User errors (bad config, bad data) exit with status 2 and one short message naming the
place; ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import click

from recblocks.core.errors import RecBlocksError

__all__ = ["main", "cli"]


def _handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.pop("debug", False)
        try:
            return fn(*args, **kwargs)
        except RecBlocksError as exc:
            if debug:
                raise
            click.echo(f"error ({type(exc).__name__}): {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return click.option("--debug", is_flag=True, help="Show the full traceback on errors.")(wrapper)


def _load(config: str | None, demo: bool, overrides: tuple[str, ...]) -> dict[str, Any]:
    from recblocks.training.config_file import apply_overrides, load_config_file

    if demo:
        path = resources.files("recblocks") / "resources" / "demo.yaml"
        raw = load_config_file(Path(str(path)))
    elif config is None:
        raise click.UsageError("give a CONFIG file or --demo")
    else:
        raw = load_config_file(config)
    return apply_overrides(raw, list(overrides))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recblocks")
def cli() -> None:
    """Compose, train, evaluate and ship deep recommendation models."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("recblocks").setLevel(logging.INFO)  # epoch summaries and early stopping


@cli.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--demo", is_flag=True, help="Train DeepFM on the built-in synthetic dataset.")
@click.option("--train", "train_path", help="Training data (overrides data.train).")
@click.option("--valid", "valid_path", help="Validation data (overrides data.valid).")
@click.option("--test", "test_path", help="Test data (overrides data.test).")
@click.option("--output", "-o", help="Run directory [default: runs/<config name>].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. train.epochs=3.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory.")
@_handle_errors
def train(config: str | None, demo: bool, train_path: str | None, valid_path: str | None, test_path: str | None,
          output: str | None, overrides: tuple[str, ...], overwrite: bool) -> None:
    """Train the model described by CONFIG and save a run directory."""
    from recblocks.training.experiment import train_run

    raw = _load(config, demo, overrides)
    for key, value in (("train", train_path), ("valid", valid_path), ("test", test_path)):
        if value:
            raw.setdefault("data", {})[key] = value
    name = "demo" if demo else Path(config or "run").stem
    result = train_run(raw, output or f"runs/{name}", overwrite=overwrite)
    click.echo("")
    if result.valid_metrics:
        click.echo("valid: " + _fmt(result.valid_metrics))
    if result.test_metrics:
        click.echo("test:  " + _fmt(result.test_metrics))
    for split, value in result.bayes_auc.items():
        click.echo(f"Bayes-optimal AUC of the planted data ({split}): {value:.4f}")
    if result.data_report:
        click.echo(result.data_report)
    click.echo(f"run directory: {result.run_dir}")


def _fmt(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--data", required=True, help="Data to score (Parquet or CSV).")
@_handle_errors
def evaluate(run_dir: str, data: str) -> None:
    """Evaluate a trained RUN_DIR on --data with its fitted preprocessing."""
    from recblocks.training.experiment import evaluate_run

    metrics, report = evaluate_run(run_dir, data)
    click.echo(_fmt(metrics))
    if report:
        click.echo(report)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--data", required=True, help="Data to score (Parquet or CSV).")
@click.option("--output", "-o", required=True, help="Where to write scores (.parquet or .csv).")
@click.option("--passthrough", multiple=True, help="Input column to copy next to the scores (repeatable).")
@_handle_errors
def predict(run_dir: str, data: str, output: str, passthrough: tuple[str, ...]) -> None:
    """Score --data with a trained RUN_DIR; one column per task."""
    from recblocks.training.experiment import predict_run

    rows, report = predict_run(run_dir, data, output, list(passthrough) or None)
    click.echo(f"wrote {rows} rows to {output}")
    if report:
        click.echo(report)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
@click.option("--no-data", is_flag=True, help="Do not read the training file to size embedding tables.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also draw the model graph to PATH: .png, .svg or .mmd (Mermaid text).")
@_handle_errors
def validate(config: str, overrides: tuple[str, ...], no_data: bool, plot_path: str | None) -> None:
    """Check CONFIG without training and print the execution plan."""
    from recblocks.blocks.backbone.diagram import check_plot_path, plot_model
    from recblocks.training.experiment import plan_rows

    if plot_path:
        check_plot_path(plot_path)  # fail before building the model
    raw = _load(config, False, overrides)
    model, rows, note = plan_rows(raw, fit_data=not no_data)
    widths = {"block": max(18, *(len(r["block"]) + len(r["scope"]) + 1 for r in rows)),
              "body": max(30, *(len(r["body"]) for r in rows)), "output": max(28, *(len(r["output"]) for r in rows))}
    header = f"{'block':<{widths['block']}} {'body':<{widths['body']}} {'output':<{widths['output']}} {'params':>9}  inputs"
    click.echo(header)
    click.echo("-" * len(header))
    for row in rows:
        name = row["block"] if row["scope"] in ("backbone", "model") else f"{row['scope']}.{row['block']}"
        click.echo(f"{name:<{widths['block']}} {row['body']:<{widths['body']}} {row['output']:<{widths['output']}} "
                   f"{row['params']:>9,}  {', '.join(row['inputs'])}")
    total = sum(p.numel() for p in model.parameters())
    click.echo(f"\nconfig OK: {len(rows)} steps, {total:,} parameters ({note})")
    if plot_path:
        written = plot_model(model, plot_path)
        click.echo(f"model graph written to {written}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def components(as_json: bool) -> None:
    """List registered components and their parameters."""
    import recblocks.layers  # noqa: F401  (registration)
    from recblocks.core.registry import COMPONENTS

    rows = COMPONENTS.describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        alias = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        click.echo(f"{row['name']}{alias} - {row['summary']}")
        for p in row["params"]:
            click.echo(f"    {p['name']}: {p['type']} = {p['default']}")


@cli.group()
def datasets() -> None:
    """Prepare public datasets."""


@datasets.group()
def prepare() -> None:
    """Convert a dataset to Parquet."""


@prepare.command("movielens")
@click.option("--source", required=True, type=click.Path(file_okay=False), help="GroupLens ML-100K or ML-1M folder.")
@click.option("--output", "-o", required=True, help="A .parquet file, or a folder when --split is given.")
@click.option("--label", default="easyrec", show_default=True, help="'easyrec' (4-5 -> 1, 1-2 -> 0, 3 dropped) or 'threshold:N'.")
@click.option("--split", type=click.Choice(["none", "random", "temporal"]), default="none", show_default=True)
@click.option("--seed", default=2024, show_default=True, type=int)
@_handle_errors
def prepare_movielens_cmd(source: str, output: str, label: str, split: str, seed: int) -> None:
    """Read MovieLens in GroupLens layout into EasyRec's columns."""
    from recblocks.datasets.movielens import prepare_movielens

    info = prepare_movielens(source, output, label=_label_protocol(label), split=None if split == "none" else split,
                             seed=seed)
    import pyarrow.parquet as pq

    for name, path in dict(info).items():
        meta = pq.read_metadata(path)
        labels = pq.read_table(path, columns=["label"]).column("label").to_numpy()
        rate = float(labels.mean()) if len(labels) else float("nan")
        click.echo(f"{name}: {path} ({meta.num_rows:,} rows, positive rate {rate:.3f})")


def _label_protocol(text: str) -> Any:
    """``--label`` of ``datasets prepare movielens``: ``easyrec`` or ``{"threshold": N}`` from ``threshold:N``."""
    from recblocks.core.errors import ConfigError

    kind, colon, value = text.partition(":")
    if text == "easyrec":
        return text
    if kind != "threshold" or not colon:
        raise ConfigError("--label", "unknown label protocol", "'easyrec' or 'threshold:N' (e.g. threshold:4)",
                          repr(text[:60]), choices=["easyrec", "threshold"])
    try:
        threshold = int(value)
    except ValueError:
        try:
            threshold = float(value)
        except ValueError:
            threshold = float("nan")
    if threshold != threshold or threshold in (float("inf"), float("-inf")):
        raise ConfigError("--label", "the rating threshold must be a number", "threshold:N with a number N, "
                          "e.g. threshold:4", repr(text[:60]))
    return {"threshold": threshold}


def main() -> None:
    """Console entry point."""
    cli(prog_name="recblocks")


if __name__ == "__main__":
    main()
