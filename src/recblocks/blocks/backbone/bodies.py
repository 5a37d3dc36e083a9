"""Build a block's body (component, lambda, sequential layers, recurrent, repeat) for a known input spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recblocks.blocks.backbone.config import BlockConfig, ComponentConfig, LayerConfig, RecurrentConfig, RepeatConfig
from recblocks.blocks.backbone.expressions import compile_lambda, compile_slice
from recblocks.blocks.containers import LambdaModule, RecurrentBlock, RepeatBlock, SequentialBlock
from recblocks.core.errors import ConfigError, RecBlocksError, ShapeError
from recblocks.core.params import join_path, parse_params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import describe_spec, spec_from_value, spec_to_meta

__all__ = ["Body", "build_body", "build_component"]


@dataclass
class Body:
    """A built body: a module (or a bare expression), its output spec and a description."""

    kind: str
    module: nn.Module | None
    fn: Any
    output_spec: Any
    description: str


def build_component(cfg: ComponentConfig, in_spec: Any, path: str, where: str) -> tuple[nn.Module, Any]:
    """Look up, validate params, build for ``in_spec`` and return (module, output spec)."""
    entry = COMPONENTS.get(cfg.class_name, join_path(path, "class_name"))
    params = parse_params(entry.params, cfg.params, join_path(path, "params"))
    try:
        module = entry.cls.from_spec(params, in_spec, where=where)
        out_spec = module.output_spec(in_spec)
    except RecBlocksError:
        raise
    except Exception as exc:  # noqa: BLE001 - surface any build failure with the place
        raise ShapeError(where, f"{entry.name} cannot be built for input {describe_spec(in_spec)}",
                         "an input the component accepts", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                         ) from None
    return module, out_spec


def _lambda(text: str, in_spec: Any, path: str, where: str) -> tuple[LambdaModule, Any]:
    fn = compile_lambda(text, f"{path} ({where})", arity=1)
    try:
        out = fn(spec_to_meta(in_spec))
    except RecBlocksError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ShapeError(where, f"lambda failed on input {describe_spec(in_spec)}", "an expression that fits",
                         str(exc).splitlines()[0]) from None
    return LambdaModule(fn, text), spec_from_value(out, where)


def _recurrent(cfg: RecurrentConfig, in_spec: Any, path: str, where: str) -> tuple[nn.Module, Any]:
    fixed = cfg.fixed_input_index
    if fixed is not None:
        if not isinstance(in_spec, (list, tuple)):
            raise ShapeError(where, "recurrent with fixed_input_index needs a list input",
                             "a list (e.g. input_fn: 'lambda x: [x, x]')", describe_spec(in_spec))
        if not -len(in_spec) <= fixed < len(in_spec):
            raise ConfigError(join_path(path, "fixed_input_index"), "fixed_input_index is out of range",
                              f"an index into the {len(in_spec)} inputs", fixed)
    steps, spec = [], in_spec
    for i in range(cfg.num_steps):
        step, out = build_component(cfg.component, spec, join_path(path, "component"), f"{where} step {i}")
        steps.append(step)
        if fixed is None:
            spec = out
        else:
            k = fixed % len(spec)
            spec = [spec[j] if j == k else (out[j] if isinstance(out, (list, tuple)) else out)
                    for j in range(len(spec))]
    if fixed is not None:
        spec = list(spec)
        del spec[fixed % len(spec)]
        spec = spec[0] if len(spec) == 1 else spec
    return RecurrentBlock(steps, fixed), spec


def _repeat(cfg: RepeatConfig, in_spec: Any, path: str, where: str) -> tuple[nn.Module, Any]:
    select = None
    if cfg.input_slice and cfg.input_fn:
        raise ConfigError(path, "repeat takes input_slice or input_fn, not both", "one of them", "both")
    if cfg.input_slice:
        select = compile_slice(cfg.input_slice, join_path(path, "input_slice") + f" ({where})", index_var="i")
    elif cfg.input_fn:
        select = compile_lambda(cfg.input_fn, join_path(path, "input_fn") + f" ({where})", arity=2)
    heads, outs = [], []
    meta = spec_to_meta(in_spec)
    for i in range(cfg.num_repeat):
        spec = in_spec
        if select is not None:
            try:
                spec = spec_from_value(select(meta, i), where)
            except RecBlocksError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise ShapeError(where, f"repeat input selection failed for i={i}", "a selection that fits",
                                 str(exc).splitlines()[0]) from None
        head, out = build_component(cfg.component, spec, join_path(path, "component"), f"{where} repeat {i}")
        heads.append(head)
        outs.append(out)
    if len(outs) == 1:
        spec_out: Any = outs[0]
    elif cfg.output_concat_axis is not None:
        try:
            spec_out = spec_from_value(torch.cat(spec_to_meta(outs), dim=cfg.output_concat_axis), where)
        except RuntimeError as exc:
            raise ShapeError(where, "repeat outputs cannot be concatenated", "equal shapes",
                             str(exc).splitlines()[0]) from None
    else:
        spec_out = outs
    return RepeatBlock(heads, select, cfg.output_concat_axis), spec_out


def _layer(cfg: LayerConfig, in_spec: Any, path: str, where: str) -> tuple[nn.Module, Any, str]:
    bodies = cfg.bodies()
    if len(bodies) != 1:
        raise ConfigError(path, "a layer needs exactly one of lambda, component, recurrent, repeat",
                          "one body", bodies or "none")
    kind = bodies[0]
    if kind == "component":
        module, out = build_component(cfg.component, in_spec, join_path(path, "component"), where)
        return module, out, cfg.component.class_name  # type: ignore[union-attr]
    if kind == "lambda_":
        module, out = _lambda(cfg.lambda_.expression, in_spec, join_path(path, "lambda"), where)  # type: ignore[union-attr]
        return module, out, "lambda"
    if kind == "recurrent":
        module, out = _recurrent(cfg.recurrent, in_spec, join_path(path, "recurrent"), where)  # type: ignore[arg-type]
        return module, out, f"recurrent x{cfg.recurrent.num_steps}"  # type: ignore[union-attr]
    module, out = _repeat(cfg.repeat, in_spec, join_path(path, "repeat"), where)  # type: ignore[arg-type]
    return module, out, f"repeat x{cfg.repeat.num_repeat}"  # type: ignore[union-attr]


def build_body(block: BlockConfig, in_spec: Any, path: str, where: str) -> Body:
    """Build the body of a non-input block for its merged input spec."""
    if block.layers:
        modules, descs, spec = [], [], in_spec
        for i, layer in enumerate(block.layers):
            module, spec, desc = _layer(layer, spec, join_path(path, "layers", i), f"{where} layer {i}")
            modules.append(module)
            descs.append(desc)
        return Body("layers", SequentialBlock(modules), None, spec, " -> ".join(descs))
    if block.component is not None:
        module, out = build_component(block.component, in_spec, join_path(path, "component"), where)
        return Body("component", module, None, out, block.component.class_name)
    if block.lambda_ is not None:
        module, out = _lambda(block.lambda_.expression, in_spec, join_path(path, "lambda"), where)
        return Body("lambda", None, module.fn, out, "lambda")
    if block.recurrent is not None:
        module, out = _recurrent(block.recurrent, in_spec, join_path(path, "recurrent"), where)
        return Body("recurrent", module, None, out,
                    f"recurrent {block.recurrent.component.class_name} x{block.recurrent.num_steps}")
    if block.repeat is not None:
        module, out = _repeat(block.repeat, in_spec, join_path(path, "repeat"), where)
        return Body("repeat", module, None, out,
                    f"repeat {block.repeat.component.class_name} x{block.repeat.num_repeat}")
    return Body("empty", None, None, in_spec, "merge")


