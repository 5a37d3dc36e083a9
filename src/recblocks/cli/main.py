"""The ``recblocks`` command line: train, evaluate, predict, candidates, validate, components, convert, datasets.

Errors end in one line on stderr:

- a user error (bad config, data, paths, run directories; any :class:`RecBlocksError`)
  prints ``error (<Class>): <message>`` and exits with status 2;
- an OS error that reached the command (permission, disk full, a file in the way) prints
  ``error (FileAccessError): <path>: <problem>`` and exits 2; recblocks converts these where
  the file is touched, so this is the last resort;
- anything else is a bug in recblocks, not in the input: ``internal error (<Type>): <first
  line>`` with a hint to rerun with ``--debug``, exit status 1 (so a script, and the test
  suite, can tell bugs from user errors);
- ``--debug`` shows the full traceback instead, for every kind; Ctrl-C (and SIGTERM during
  ``train`` and ``predict``) prints ``interrupted`` and exits 130, after marking the run
  ``failed`` or removing the temporary output file.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import click

from recblocks.cli.listing import REGISTRY_KINDS, components_markdown, entry_details, fact_lines, registry
from recblocks.core.errors import ConfigError, RecBlocksError

__all__ = ["main", "cli", "default_output"]


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


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
        except BrokenPipeError:  # the reader went away (`recblocks components | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as exc:
            if debug:
                raise
            from recblocks.core.files import file_access_error

            error = file_access_error(exc, exc.filename or f"recblocks {fn.__name__}", "access")
            click.echo(f"error ({type(error).__name__}): {error}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            click.echo(f"internal error ({type(exc).__name__}): {_one_line(str(exc))}; this is a bug in recblocks, "
                       "not in your input: rerun with --debug for the traceback and report it", err=True)
            sys.exit(1)

    return click.option("--debug", is_flag=True, help="Show the full traceback on errors.")(wrapper)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so a terminated training marks its run failed."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("terminated by SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def default_output(config: str | None, demo: bool = False) -> str:
    """``runs/<name>`` for a config file: its stem with anything but letters, digits, ``_``,
    ``-`` and ``.`` replaced by ``_`` and leading dots dropped, so no name (``...yaml``,
    ``..yaml``, ``.yaml``) can point outside ``runs/``; ``run`` when nothing is left."""
    if demo:
        return "runs/demo"
    name = re.sub(r"[^\w.-]", "_", Path(config or "run").stem).lstrip(".")
    return f"runs/{name or 'run'}"


def _load(config: str | None, demo: bool, overrides: tuple[str, ...]) -> dict[str, Any]:
    from recblocks.runs.config_file import apply_overrides, load_config_file

    if demo:
        path = resources.files("recblocks") / "resources" / "demo.yaml"
        raw = load_config_file(Path(str(path)))
    elif config is None:
        raise click.UsageError("give a CONFIG file or --demo")
    else:
        raw = load_config_file(config)
    return apply_overrides(raw, list(overrides))


_SET_HELP = ("Override a config value (repeatable; the value is YAML), e.g. train.epochs=3. A list element is "
             "[3] or .3: model.backbone.blocks[3].component.params.hidden_units=[8] and "
             "model.backbone.blocks.3.component.params.hidden_units=[8] are the same. Data paths given "
             "here are relative to the current directory; those in the file to the file's folder.")


def _data_options(raw: dict[str, Any], train: str | None, valid: str | None, test: str | None) -> None:
    """``--train/--valid/--test`` into the data section (relative to the current directory)."""
    for key, value in (("train", train), ("valid", valid), ("test", test)):
        if value:
            raw.setdefault("data", {})[key] = value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recblocks")
def cli() -> None:
    """Compose, train, evaluate and ship deep recommendation models."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("recblocks").setLevel(logging.INFO)  # epoch summaries and early stopping


_DEVICE = click.option(
    "--device", metavar="DEVICE", default=None,
    help="cpu, cuda, cuda:N or auto: where the model runs (train.device for train; predict and evaluate use the "
         "CPU by default).")


def _run_torchrun(command: list[str]) -> int:
    """Run torchrun, passing its output through, but not its own report of a failed process
    (a Python traceback of the launcher): each process has printed its one-line ``error (...)``
    already, so the launcher's report is replaced by one line. Returns torchrun's exit status."""
    import re
    import subprocess

    failed = re.compile(r"^[EW]\d{4} .*torch/distributed/elastic/.*failed \(exitcode: (-?\d+)\)")
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, errors="replace")
    assert process.stderr is not None
    exit_codes: list[str] = []
    for line in process.stderr:
        match = failed.match(line)
        if match:
            exit_codes.append(match.group(1))
        if not exit_codes:
            sys.stderr.write(line)
    status = process.wait()
    if exit_codes:
        click.echo(f"error: a training process failed (exit code {exit_codes[0]}); its message is above "
                   "(torchrun's own report left out)", err=True)
    return status


@cli.command()
@click.argument("config", required=False)
@click.option("--demo", is_flag=True, help="Train DeepFM on the built-in synthetic dataset.")
@click.option("--train", "train_path", help="Training data (overrides data.train).")
@click.option("--valid", "valid_path", help="Validation data (overrides data.valid).")
@click.option("--test", "test_path", help="Test data (overrides data.test).")
@click.option("--output", "-o", help="Run directory [default: runs/<config name>].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier recblocks run in --output (only the files its run.json lists).")
@click.option("--resume", "resume", metavar="RUN_DIR",
              help="Continue the interrupted (killed or failed) run RUN_DIR from its last checkpoint, with its "
                   "own config (a CONFIG given too must be the same).")
@click.option("--init-from", "init_from", metavar="RUN_DIR",
              help="Start from the weights of the finished run RUN_DIR (train.init_from; warm start).")
@_DEVICE
@click.option("--nproc", type=click.IntRange(min=1), default=None, metavar="N",
              help="Data-parallel training in N processes on this machine: runs this command under torchrun "
                   "(python -m torch.distributed.run --standalone --nproc_per_node N); each process trains on its "
                   "shard, train.batch_size rows per process and step (docs/distributed/ddp.md).")
@_handle_errors
def train(config: str | None, demo: bool, train_path: str | None, valid_path: str | None, test_path: str | None,
          output: str | None, overrides: tuple[str, ...], overwrite: bool, resume: str | None,
          init_from: str | None, device: str | None, nproc: int | None) -> None:
    """Train the model described by CONFIG and save a run directory."""
    from recblocks.runs import resume_run, train_run
    from recblocks.training import distributed

    if nproc is not None and nproc > 1 and not distributed.launched():
        if resume is None or config or demo:  # a bad config is one error here, not one per process
            from recblocks.runs import plan_rows

            raw_config = _load(config, demo, overrides)
            _data_options(raw_config, train_path, valid_path, test_path)
            plan_rows(raw_config, fit_data=False, output=None if resume else output or default_output(config, demo),
                      overwrite=overwrite)
        args = [*([config] if config else []), *(["--demo"] if demo else []),
                *[item for flag, value in (("--train", train_path), ("--valid", valid_path), ("--test", test_path),
                                           ("--output", output), ("--resume", resume), ("--init-from", init_from),
                                           ("--device", device))
                  if value for item in (flag, value)],
                *[item for override in overrides for item in ("--set", override)],
                *(["--overwrite"] if overwrite else [])]
        sys.exit(_run_torchrun(distributed.launch_command(nproc, ["train", *args])))

    if resume is not None:
        for flag, value in (("--output", output), ("--overwrite", overwrite), ("--init-from", init_from)):
            if value:
                from recblocks.runs import ResumeError

                raise ResumeError(flag, "--resume continues a run in its own folder with its own settings",
                                  f"--resume {resume} without {flag}", flag)
    raw = _load(config, demo, overrides) if resume is None or config or demo or overrides else None
    if raw is None and (train_path or valid_path or test_path):
        raise click.UsageError("--train/--valid/--test with --resume need the CONFIG file too (the data must not change)")
    if raw is not None:
        _data_options(raw, train_path, valid_path, test_path)
    if init_from:
        raw.setdefault("train", {})["init_from"] = init_from  # type: ignore[union-attr]
    if device is not None:
        from recblocks.training.devices import resolve_device

        resolve_device(device, "--device")  # a CUDA request without CUDA fails before any data is read
        if raw is not None and resume is None:
            raw.setdefault("train", {})["device"] = device
    with _sigterm_as_interrupt():
        if resume is not None:
            result = resume_run(resume, raw, command="train", device=device)
        else:
            result = train_run(raw, output or default_output(config, demo), overwrite=overwrite,  # type: ignore[arg-type]
                               command="train")
    main_rank = distributed.is_main()
    distributed.shutdown()
    if not main_rank:  # rank 0 reports the run
        return
    click.echo("")
    if result.init_from:
        from recblocks.runs.warm_start import describe_warm_start

        click.echo(describe_warm_start(result.init_from))
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


_ALLOW_UNFINISHED = click.option(
    "--allow-unfinished", is_flag=True,
    help="Use a run whose training did not finish (killed, crashed, failed, still running), with a warning.")


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@cli.command()
@click.argument("run_dir")
@click.option("--data", required=True, help="Data to score (Parquet or CSV).")
@_ALLOW_UNFINISHED
@_DEVICE
@_handle_errors
def evaluate(run_dir: str, data: str, allow_unfinished: bool, device: str | None) -> None:
    """Evaluate a trained RUN_DIR on --data with its fitted preprocessing."""
    from recblocks.runs import evaluate_run

    metrics, report = evaluate_run(run_dir, data, allow_unfinished=allow_unfinished, warn=_warn, device=device)
    click.echo(_fmt(metrics))
    if report:
        click.echo(report)


@cli.command()
@click.argument("run_dir")
@click.option("--data", required=True, help="Data to score (Parquet or CSV).")
@click.option("--output", "-o", required=True, help="Where to write scores: a new .parquet, .csv or .tsv file.")
@click.option("--passthrough", multiple=True, help="Input column to copy next to the scores (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier recblocks prediction file (Parquet only).")
@_ALLOW_UNFINISHED
@_DEVICE
@_handle_errors
def predict(run_dir: str, data: str, output: str, passthrough: tuple[str, ...], overwrite: bool,
            allow_unfinished: bool, device: str | None) -> None:
    """Score --data with a trained RUN_DIR; one column per task."""
    from recblocks.runs import predict_run

    with _sigterm_as_interrupt():  # a terminated predict removes its temporary file
        rows, report = predict_run(run_dir, data, output, list(passthrough) or None, overwrite=overwrite,
                                   allow_unfinished=allow_unfinished, warn=_warn, device=device)
    click.echo(f"wrote {rows} rows to {output}")
    if report:
        click.echo(report)


@cli.command("export")
@click.argument("run_dir")
@click.option("--format", "fmt", required=True, metavar="onnx|torchscript|torch-export",
              help="Serving format of the graph.")
@click.option("--output", "-o", required=True, help="Folder to write the package to (new or empty).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in --output.")
@_ALLOW_UNFINISHED
@_handle_errors
def export_command(run_dir: str, fmt: str, output: str, overwrite: bool, allow_unfinished: bool) -> None:
    """Write a trained RUN_DIR as a serving package: graph, preprocess.json, manifest.json (docs/export.md)."""
    from recblocks.export import export_run

    path = export_run(run_dir, fmt, output, overwrite=overwrite, allow_unfinished=allow_unfinished)
    click.echo(f"exported {run_dir} as {fmt} to {path}")


@cli.command()
@click.argument("run_dir")
@click.option("--input", "input_path", help="Users to find candidates for (Parquet or CSV with the user tower's "
              "columns).")
@click.option("-k", "k", default=10, show_default=True, type=int, help="Candidates per user.")
@click.option("--ann", is_flag=True, help="Search an HNSW index (faiss; the 'ann' extra) instead of exactly.")
@click.option("--include-seen", is_flag=True, help="Keep the items each user had in the training data.")
@click.option("--output", "-o", help="Where to write the candidates: a new .parquet file.")
@click.option("--export-items", metavar="PATH", help="Also write the catalogue's item ids and embeddings (.parquet).")
@click.option("--overwrite", is_flag=True, help="Replace recblocks' own earlier output files.")
@_ALLOW_UNFINISHED
@_handle_errors
def candidates(run_dir: str, input_path: str | None, k: int, ann: bool, include_seen: bool, output: str | None,
               export_items: str | None, overwrite: bool, allow_unfinished: bool) -> None:
    """Top-K items per user of --input from a trained retrieval RUN_DIR (model_class: MatchModel)."""
    from recblocks.runs.candidates import candidates_run

    if (input_path is None) != (output is None):
        raise click.UsageError("--input and --output go together (the users and where their candidates go)")
    if input_path is None and export_items is None:
        raise click.UsageError("give --input USERS --output FILE, or --export-items FILE, or both")
    with _sigterm_as_interrupt():
        table = candidates_run(run_dir, input_path, k, output, ann=ann, exclude_seen=not include_seen,
                               overwrite=overwrite, export_items=export_items, allow_unfinished=allow_unfinished,
                               warn=_warn)
    if table is not None:
        click.echo(f"wrote {k} candidates for {table.num_rows} users to {output}")
    if export_items:
        click.echo(f"wrote the item embeddings to {export_items}")


@cli.command()
@click.argument("run_dir")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--max-rows", default=1024, show_default=True, type=click.IntRange(1), help="Rows per request.")
@click.option("--max-body-bytes", default=1 << 20, show_default=True, type=click.IntRange(1),
              help="Bytes per request body.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.001),
              help="Seconds a request may take before it is answered 504.")
@click.option("--max-batch-rows", default=4096, show_default=True, type=click.IntRange(1),
              help="Rows of concurrent requests scored in one batch.")
@click.option("--max-wait-ms", default=2.0, show_default=True, type=click.FloatRange(0),
              help="How long a request waits for others to batch with.")
@_handle_errors
def serve(run_dir: str, port: int, host: str, max_rows: int, max_body_bytes: int, timeout: float,
          max_batch_rows: int, max_wait_ms: float) -> None:
    """Serve a trained RUN_DIR, or a folder `recblocks export` wrote (scored by its ONNX Runtime,
    TorchScript or torch.export graph), over HTTP: POST /predict, GET /health, docs at /docs."""
    from recblocks.serve.app import Limits
    from recblocks.serve.server import serve_run

    serve_run(run_dir, host, port, Limits(max_rows=max_rows, max_body_bytes=max_body_bytes, timeout=timeout,
                                          max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms))


@cli.command()
@click.argument("config")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--train", "train_path", help="Training data (overrides data.train).")
@click.option("--valid", "valid_path", help="Validation data (overrides data.valid).")
@click.option("--test", "test_path", help="Test data (overrides data.test).")
@click.option("--output", "-o", help="Also check this run directory as 'train --output' would (nothing is written).")
@click.option("--no-data", is_flag=True,
              help="Check the config alone: read no data (embedding tables get placeholder sizes).")
@click.option("--plot", "plot_path", metavar="PATH",
              help="Also draw the model graph to PATH: .png, .svg or .mmd (Mermaid text).")
@click.option("--overwrite", is_flag=True, help="Replace a picture recblocks drew earlier at --plot PATH; "
              "with --output, check as 'train --overwrite' would.")
@_handle_errors
def validate(config: str, overrides: tuple[str, ...], train_path: str | None, valid_path: str | None,
             test_path: str | None, output: str | None, no_data: bool, plot_path: str | None, overwrite: bool) -> None:
    """Check CONFIG as train does before its first step (config, data, run directory) and print
    the execution plan; a config validate accepts trains."""
    from recblocks.viz.diagram import check_plot_path, plot_model
    from recblocks.runs import plan_rows

    if plot_path:
        check_plot_path(plot_path, overwrite)  # fail before building the model
    raw = _load(config, False, overrides)
    _data_options(raw, train_path, valid_path, test_path)
    model, rows, note = plan_rows(raw, fit_data=not no_data, output=output, overwrite=overwrite)
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
        written = plot_model(model, plot_path, overwrite)
        click.echo(f"model graph written to {written}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--kind", type=click.Choice(REGISTRY_KINDS), default="component", show_default=True,
              help="Which registry to list.")
@click.option("--details", "details", metavar="NAME", default=None,
              help="Print everything about one component: facts, params, formula, shapes, example.")
@click.option("--markdown", is_flag=True, help="Print the component reference (docs/components.md) as Markdown.")
@_handle_errors
def components(as_json: bool, kind: str, details: str | None, markdown: bool) -> None:
    """List registered components (or task types, metrics, optimizers...) and their facts."""
    if details is not None:
        click.echo(entry_details(details))
        return
    if markdown:
        click.echo(components_markdown(), nl=False)
        return
    rows = registry(kind).describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo(f"{row['name']} - {row['summary']}" if row["summary"] else row["name"])
        for line in fact_lines(kind, row):
            click.echo(line)


_CONVERT_MARK = "# Written by `recblocks convert easyrec`"


@cli.group()
def convert() -> None:
    """Convert configs of other libraries into recblocks run configs."""


@convert.command("easyrec")
@click.argument("config")
@click.option("--output", "-o", required=True, help="Where to write the run config: a new .yaml file.")
@click.option("--overwrite", is_flag=True, help="Replace a file an earlier 'convert easyrec' wrote.")
@_handle_errors
def convert_easyrec(config: str, output: str, overwrite: bool) -> None:
    """Translate the EasyRec pipeline CONFIG (protobuf text) into a recblocks run config (YAML).

    Data paths are written absolute (resolved against CONFIG's folder); settings that have no
    effect in recblocks are listed as comments at the top.
    """
    import yaml

    from recblocks.core.files import atomic_write_text, check_output_file
    from recblocks.easyrec.load import load_easyrec_file
    from recblocks.runs.config_paths import resolve_data_paths

    def is_own(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.readline().startswith(_CONVERT_MARK)
        except OSError:
            return False

    target = check_output_file(output, is_own=is_own, overwrite=overwrite, what="converted config")
    notes: list[str] = []
    raw = resolve_data_paths(load_easyrec_file(config, notes), config)
    header = [f"{_CONVERT_MARK} from {config}."] + [f"# note: {' '.join(n.split())}" for n in notes]
    atomic_write_text(target, "\n".join(header) + "\n" + yaml.safe_dump(raw, sort_keys=False))
    click.echo(f"wrote {target}" + (f" ({len(notes)} notes at the top)" if notes else ""))


@cli.group()
def datasets() -> None:
    """Prepare public datasets."""


@datasets.group()
def prepare() -> None:
    """Convert a dataset to Parquet."""


@prepare.command("movielens")
@click.option("--source", required=True, help="GroupLens ML-100K or ML-1M folder.")
@click.option("--output", "-o", required=True, help="A .parquet file, or a folder when --split is given.")
@click.option("--format", "fmt", type=click.Choice(["easyrec", "ctr", "easyrec-example"]), default="easyrec",
              show_default=True,
              help="Columns: EasyRec's MovieLens columns, or those of the fixed ml-100k-ctr split (label, user_id, "
                   "movie_id, gender, age bucket, occupation, zip3, release_year, genres, genre_first, timestamp); "
                   "easyrec-example: the header-less tab-separated movies_train_data / movies_test_data of EasyRec's "
                   "ML-1M example configs (90/10 shuffled by --seed) in the --output folder.")
@click.option("--label", default=None, help="'easyrec' (4-5 -> 1, 1-2 -> 0, 3 dropped) or 'threshold:N'; "
                                            "default: easyrec, or threshold:4 with --format ctr.")
@click.option("--split", type=click.Choice(["none", "random", "temporal", "leave_last_out", "unseen_users"]),
              default="none", show_default=True,
              help="random: seeded 80/10/10; temporal: oldest 80% train, newest 10% test; leave_last_out (ctr): "
                   "each user's last rating test, second-last valid; unseen_users (ctr): users split 80/10/10.")
@click.option("--seed", default=2024, show_default=True, type=int)
@click.option("--overwrite", is_flag=True, help="Replace files an earlier 'datasets prepare' wrote.")
@click.option("--history", default=0, show_default=True, type=int,
              help="Add each row's previous N movie ids and genres (strictly earlier ratings); 0: none.")
@click.option("--history-ratings", is_flag=True,
              help="With --history: also add hist_rating, the rating of each history movie, and hist_rating_rel, each rating against the mean of the row's history (below/typical/above; easyrec format).")
@click.option("--like", is_flag=True, help="Add a second label 'like' (rating 5) after 'label', for two-task models.")
@_handle_errors
def prepare_movielens_cmd(source: str, output: str, fmt: str, label: str | None, split: str, seed: int,
                          overwrite: bool, history: int, history_ratings: bool, like: bool) -> None:
    """Read MovieLens in GroupLens layout into EasyRec's or ml-100k-ctr's columns, optionally split.

    `--format ctr --split random --seed 2024` on ML-100K reproduces ../shared/data/ml-100k-ctr row for row
    (plus a timestamp column). `--history N` adds each row's previous N movies and genres (`--history-ratings`: and their ratings);
    `--like` a second label.
    """
    if fmt == "easyrec-example":
        from recblocks.datasets.easyrec_files import prepare_movielens_example_files

        if label is not None or split != "none" or history or history_ratings or like or overwrite:
            raise ConfigError("--format easyrec-example", "EasyRec's example files have their own label and split",
                              "only --source, --output and --seed", "other options")
        for name, path in prepare_movielens_example_files(source, output, seed=seed).items():
            click.echo(f"{name}: {path}")
        return
    from recblocks.datasets.movielens import prepare_movielens

    info = prepare_movielens(source, output, label=None if label is None else _label_protocol(label),
                             split=None if split == "none" else split, seed=seed, overwrite=overwrite, format=fmt,
                             history=history or None, like=like, history_ratings=history_ratings)
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
