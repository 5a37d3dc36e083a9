"""Side channels: the backbone passes the forward context to components that declare
``uses_context``, in every body kind, and RankModel turns what they add into loss terms and
extra outputs. Nothing is left on a module between calls."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import recblocks.layers  # noqa: F401  (registers components)
from recblocks.core import ConfigError, ForwardContext
from recblocks.features.batch import Batch
from recblocks.features.schema import Schema
from recblocks.models import ModelOutput, RankModel, parse_model_config
from tests.context_probe import register_probe

SCHEMA = Schema([{"name": "user", "kind": "sparse", "embedding_dim": 4},
                 {"name": "item", "kind": "sparse", "embedding_dim": 4}])
VOCAB = {"user": 10, "item": 10}
GROUPS = [{"group_name": "all", "feature_names": ["user", "item"]}]
DEEP = {"name": "deep", "inputs": [{"feature_group_name": "all"}],
        "component": {"class_name": "MLP", "params": {"hidden_units": [8]}}}


def probe(**params: Any) -> dict[str, Any]:
    return {"class_name": "AuxiliaryProbe", "params": {"label": "click", "loss_weight": 0.5, **params}}


def build(blocks: list[dict[str, Any]], **backbone: Any) -> RankModel:
    config = {"feature_groups": GROUPS, "backbone": {"blocks": blocks, **backbone},
              "task": {"type": "binary", "label": "click"}, "model_params": {"l2_regularization": 0.01}}
    torch.manual_seed(0)
    return RankModel(SCHEMA, parse_model_config(config), VOCAB)


def labelled(rows: int = 6) -> Batch:
    g = torch.Generator().manual_seed(0)
    features = {name: torch.randint(1, 10, (rows,), generator=g) for name in ("user", "item")}
    return Batch(features, {"click": (torch.arange(rows) % 2).float()})


@pytest.fixture(autouse=True)
def _probe(monkeypatch: pytest.MonkeyPatch) -> None:
    register_probe(monkeypatch)


def test_a_context_component_adds_a_weighted_loss_and_an_extra_output() -> None:
    model = build([DEEP, {"name": "aux", "inputs": [{"block_name": "deep"}], "component": probe()}],
                  concat_blocks=["aux"])
    assert {s.name: s.uses_context for s in model.backbone.plan.steps} == {"all": False, "deep": False, "aux": True}
    seen: dict[str, torch.Tensor] = {}
    model.backbone.blocks["deep"].register_forward_hook(lambda m, i, o: seen.__setitem__("deep", o))
    batch = labelled()
    model.train()
    outputs = model(batch)
    assert isinstance(outputs, ModelOutput) and list(outputs.auxiliary) == ["aux"]
    score = model.backbone.blocks["aux"].score(seen["deep"]).squeeze(-1)
    value, weight = outputs.auxiliary["aux"]
    torch.testing.assert_close(value, F.binary_cross_entropy_with_logits(score, batch.labels["click"]))
    assert weight == 0.5
    torch.testing.assert_close(outputs.extra["aux_score"], torch.sigmoid(score))
    terms = model.loss(outputs, batch)
    assert terms.names() == ["task/ctr", "aux/aux", "regularization"]
    task = F.binary_cross_entropy_with_logits(outputs.logits["ctr"], batch.labels["click"])
    torch.testing.assert_close(terms.tasks["ctr"], task)
    torch.testing.assert_close(terms.total, terms.regularization + task + 0.5 * value)
    assert float(terms.regularization.detach()) > 0
    # predictions: activated task outputs, then the extra outputs; eval mode adds no loss
    model.eval()
    again = model(batch.features)
    assert again.auxiliary == {} and list(model.predictions(again)) == ["ctr", "aux_score"]
    assert again.extra is not outputs.extra and not hasattr(model, "_last_lookups")  # nothing kept on modules


@pytest.mark.parametrize("body", ["layers", "recurrent", "repeat", "package"])
def test_every_body_kind_passes_the_context(body: str) -> None:
    blocks: list[dict[str, Any]] = [DEEP]
    packages: list[dict[str, Any]] = []
    if body == "layers":
        blocks.append({"name": "aux", "inputs": [{"block_name": "deep"}],
                       "layers": [{"component": {"class_name": "MLP", "params": {"hidden_units": [4]}}},
                                  {"component": probe()}]})
    elif body == "recurrent":
        blocks.append({"name": "aux", "inputs": [{"block_name": "deep"}],
                       "recurrent": {"num_steps": 1, "component": probe()}})
    elif body == "repeat":
        blocks.append({"name": "aux", "inputs": [{"block_name": "deep"}],
                       "repeat": {"num_repeat": 1, "component": probe()}})
    else:
        packages.append({"name": "tower", "blocks": [{"name": "inner", "inputs": [{"use_package_input": True}],
                                                       "component": probe()}]})
        blocks.append({"name": "aux", "inputs": [{"package_name": "tower", "package_input": "deep"}]})
    model = build(blocks, packages=packages, concat_blocks=["aux"])
    model.train()
    outputs = model(labelled())
    assert list(outputs.auxiliary) == ["aux"] and outputs.extra["aux_score"].shape == (6,)
    outputs.auxiliary["aux"][0].backward()
    assert all(p.grad is not None for name, p in model.named_parameters() if "score" in name)


def test_a_loss_name_added_twice_names_the_loss() -> None:
    model = build([DEEP, {"name": "aux", "inputs": [{"block_name": "deep"}],
                          "repeat": {"num_repeat": 2, "output_concat_axis": -1,
                                     "component": probe(output_name=None)}}])
    with pytest.raises(ConfigError, match=r"^loss 'aux': the auxiliary loss is added twice in one forward pass"):
        model(labelled())
    twice = build([DEEP, {"name": "a", "inputs": [{"block_name": "deep"}], "component": probe(loss_name="x")},
                   {"name": "b", "inputs": [{"block_name": "a"}], "component": probe(loss_name="y")}],
                  concat_blocks=["b"])
    with pytest.raises(ConfigError, match=r"^output 'aux_score': the extra output is added twice"):
        twice(labelled())


def test_a_missing_label_names_the_label_with_a_suggestion() -> None:
    model = build([DEEP, {"name": "aux", "inputs": [{"block_name": "deep"}], "component": probe(label="clik")}])
    model.train()
    with pytest.raises(ConfigError, match=r"^label 'clik': a block reads a label the batch does not hold; "
                                          r"expected one of \['click'\], got 'clik'; did you mean 'click'\?"):
        model(labelled())
    model.eval()
    assert model.predict(labelled().features)["aux_score"].shape == (6,)  # no label read when predicting


def test_an_extra_output_named_like_a_task_is_refused_on_the_first_batch() -> None:
    model = build([DEEP, {"name": "aux", "inputs": [{"block_name": "deep"}], "component": probe(output_name="ctr")}])
    batch = labelled()
    with pytest.raises(ConfigError, match="output 'ctr': an extra output has the name of a task"):
        model.check_outputs(model(batch), batch)


def test_forward_context_rules() -> None:
    context = ForwardContext(training=False)
    context.add_loss("l", torch.tensor(1.0))
    with pytest.raises(ConfigError, match="a distinct name per added loss"):
        context.add_loss("l", torch.tensor(2.0))
    with pytest.raises(ConfigError, match="loss name: a loss needs a non-empty name without '/'"):
        context.add_loss("a/b", torch.tensor(2.0))
    from recblocks.core import ShapeError

    with pytest.raises(ShapeError, match=r"loss 'v': an auxiliary loss must be a scalar tensor; expected shape \(\), "
                                         r"got \(3,\)"):
        context.add_loss("v", torch.ones(3))
    with pytest.raises(ConfigError, match="label 'click': .*expected a batch with labels"):
        context.label("click")
    context.add_output("o", torch.ones(2))
    with pytest.raises(ConfigError, match="output 'o': the extra output is added twice"):
        context.add_output("o", torch.ones(2))
    assert list(context.losses) == ["l"] and context.losses["l"][1] == 1.0 and not context.training
