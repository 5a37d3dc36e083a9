"""CONTRIBUTING.md's walk-through runs: the code it shows is extracted and executed here.

The component module is executed as a module, registered in a scoped copy of the registry,
checked like the contract test checks every component (its docstring example, every
``examples`` case), then its hand-computed test runs, the config using it is validated and
trained, and its generated Python block is built. The task type, metric and optimizer
examples run the same way. Every registration is removed when its scope ends.
"""

from __future__ import annotations

import doctest
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

import recblocks.blocks.compose as compose
from recblocks.core.errors import ConfigError
from recblocks.core.registry import COMPONENTS
from recblocks.metrics import METRICS, MetricCollection
from recblocks.tasks import TASKS, build_task
from recblocks.testing import check_component
from recblocks.training import OPTIMIZERS, TrainConfig
from recblocks.runs import plan_rows, train_run

CONTRIBUTING = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"


def example(name: str) -> str:
    """The code block after ``<!-- contributing: name -->``."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    match = re.search(rf"<!-- contributing: {re.escape(name)} -->\s*```\w+\n(.*?)```", text, re.S)
    assert match, f"CONTRIBUTING.md has no '{name}' example"
    return match.group(1)


def run_module(code: str, name: str) -> types.ModuleType:
    """Execute ``code`` as the module ``name`` (so classes get a real ``__module__``)."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(code, f"CONTRIBUTING.md:{name}", "exec"), module.__dict__)  # noqa: S102 - our own document
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture
def scoped_module():
    names: list[str] = []

    def _run(code: str, name: str) -> types.ModuleType:
        names.append(name)
        return run_module(code, name)

    yield _run
    for name in names:
        sys.modules.pop(name, None)


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_adding_a_component_end_to_end(tmp_path: Path, scoped_module: Any) -> None:
    with COMPONENTS.scoped():
        module = scoped_module(example("component"), "contributing_weighted_sum")
        entry = COMPONENTS.get("WeightedFieldSum")
        assert entry.cls is module.WeightedFieldSum and entry.input_kind == "fields"

        # what tests/layers/test_docstrings.py and test_contract.py do for every registration
        finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for test in finder.find(module.WeightedFieldSum, globs=dict(module.__dict__)):
            runner.run(test)
        assert runner.summarize(verbose=False).failed == 0
        assert entry.examples, "the walk-through component must carry contract examples"
        for params, spec in entry.examples:
            check_component("WeightedFieldSum", params, spec)

        # its test file
        namespace = dict(module.__dict__)
        exec(compile(example("component-test"), "CONTRIBUTING.md:component-test", "exec"), namespace)  # noqa: S102
        tests = [fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)]
        assert tests
        for fn in tests:
            fn()

        # a config using it validates and trains
        raw = yaml.safe_load(example("component-config"))
        _, rows, _ = plan_rows(raw, fit_data=False)
        pooled = next(r for r in rows if r["block"] == "pooled")
        assert pooled["output"] == "(B, 4)" and pooled["params"] == 2  # one weight per field
        result = train_run(raw, tmp_path / "run")
        assert 0.0 <= result.valid_metrics["auc"] <= 1.0
        weights = load_file(tmp_path / "run" / "model.safetensors")
        pooled_weights = [value for key, value in weights.items() if "pooled" in key and key.endswith("weights")]
        assert len(pooled_weights) == 1 and pooled_weights[0].shape == (2,)
        assert not torch.equal(pooled_weights[0], torch.ones(2))  # trained from initial_weight=1.0

        # its Python block comes from the registration
        exec(compile(example("component-python"), "CONTRIBUTING.md:component-python", "exec"), {})  # noqa: S102
        assert compose.WeightedFieldSumBlock().merge == "list"
    assert "WeightedFieldSum" not in COMPONENTS
    with pytest.raises(AttributeError):
        compose.WeightedFieldSumBlock  # noqa: B018


def test_adding_a_task_type(scoped_module: Any) -> None:
    with TASKS.scoped():
        module = scoped_module(example("task"), "contributing_hinge_task")
        task = build_task({"type": "svm", "label": "click", "margin": 2.0})
        assert isinstance(task, module.HingeTask) and task.metrics == ["auc", "accuracy"]
        # margin 2: max(0, 2 - 1*1) = 1 for a positive at z=1; max(0, 2 + 0.5) = 2.5 for a negative at z=0.5
        assert float(task.loss(torch.tensor([1.0, 0.5]), torch.tensor([1.0, 0.0]))) == pytest.approx(1.75)
        assert MetricCollection(task.metrics, task.metric_kind).names == ["auc", "accuracy"]
    with pytest.raises(ConfigError, match=r"task.type: unknown task type"):
        build_task({"type": "svm", "label": "click"})


def test_adding_a_metric_and_an_optimizer(scoped_module: Any) -> None:
    with METRICS.scoped(), OPTIMIZERS.scoped():
        scoped_module(example("metric"), "contributing_metric")
        scoped_module(example("optimizer"), "contributing_optimizer")
        metrics = MetricCollection(["max_error"], "regression")
        metrics.update(torch.tensor([1.0, 5.0]), torch.tensor([2.0, 2.0]))
        assert metrics.compute() == {"max_error": 3.0}
        assert TrainConfig(optimizer={"name": "RMS_prop_optimizer", "momentum": 0.9}).optimizer.name == "rmsprop"
    assert "max_error" not in METRICS and "rmsprop" not in OPTIMIZERS


def test_adding_a_block_kind(tmp_path: Path, scoped_module: Any) -> None:
    from recblocks.blocks.backbone import BLOCK_KINDS
    from recblocks.datasets import synthetic_schema
    from recblocks.datasets.synthetic import SyntheticConfig

    with BLOCK_KINDS.scoped():
        scoped_module(example("block-kind"), "contributing_clip_kind")
        backbone = yaml.safe_load(example("block-kind-config"))
        synthetic = SyntheticConfig(num_rows=400, num_dense=1, vocab_sizes=[20, 30], seed=0)
        features = synthetic_schema(synthetic)
        raw = {"data": {"synthetic": synthetic.model_dump()}, "features": features,
               "model": {"feature_groups": [{"group_name": "all", "feature_names": [f["name"] for f in features]}],
                         "backbone": backbone, "task": {"type": "binary", "label": "label"}},
               "train": {"epochs": 1, "batch_size": 64, "progress": False}}
        _, rows, _ = plan_rows(raw, fit_data=False)
        bodies = {row["block"]: row["body"] for row in rows}
        assert bodies["clipped"] == "clip [-2, 2]" and bodies["head"].startswith("clip [-1, 3]")
        result = train_run(raw, tmp_path / "run")
        assert 0.0 <= result.valid_metrics["auc"] <= 1.0
    assert "clip" not in BLOCK_KINDS
    with pytest.raises(ConfigError, match="clip"):
        plan_rows(raw, fit_data=False)
