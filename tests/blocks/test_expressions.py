"""Tests of the safe expression evaluator (``recblocks.blocks.backbone.expressions``)."""

from __future__ import annotations

import ast
import builtins
import copy
import pickle

import pytest
import torch
import torch.nn.functional as F

from recblocks.blocks.backbone import expressions
from recblocks.blocks.backbone.expressions import (
    ALLOWED_FUNCTIONS,
    compile_lambda,
    compile_slice,
    describe_allowed,
)
from recblocks.core.errors import ConfigError, ShapeError

WHERE = "backbone.blocks[2].inputs[0].input_fn"


def run(text: str, *args):
    return compile_lambda(text, WHERE)(*args)


# --------------------------------------------------------------------------- EasyRec examples
def test_easyrec_examples_give_torch_values():
    torch.manual_seed(0)
    a, b, c = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    torch.testing.assert_close(run("lambda x: tf.add_n(x)", [a, b, c]), a + b + c)
    pair = run("lambda x: [x, x]", a)
    assert isinstance(pair, list) and len(pair) == 2 and pair[0] is a and pair[1] is a
    picked = compile_lambda("lambda x, i: [x[0][i], x[1]]", WHERE, arity=2)([[a, b], c], 1)
    assert picked[0] is b and picked[1] is c
    torch.testing.assert_close(run("lambda x: tf.reduce_sum(x, axis=1, keepdims=True)", a), a.sum(1, keepdim=True))
    flat = torch.randn(3, 26 * 16)
    torch.testing.assert_close(run("lambda x: tf.reshape(x, [-1, 26, 16])", flat), flat.reshape(3, 26, 16))
    wide = torch.randn(4, 32)
    torch.testing.assert_close(run("lambda x: x[:, :16] * 2 + 1", wide), wide[:, :16] * 2 + 1)
    parts = run("lambda x: tf.unstack(x, axis=1)", torch.randn(4, 3, 5))
    assert isinstance(parts, list) and len(parts) == 3 and parts[1].shape == (4, 5)


def test_add_n_refuses_unequal_shapes():
    with pytest.raises(ShapeError, match="add_n"):
        run("lambda x: tf.add_n(x)", [torch.ones(2, 3), torch.ones(2, 1)])


# --------------------------------------------------------------------------- TF semantics
def test_reduce_family_axis_lists_and_keepdims():
    x = torch.arange(24.0).reshape(2, 3, 4)
    torch.testing.assert_close(run("lambda x: tf.reduce_sum(x, axis=[1, 2])", x), x.sum((1, 2)))
    out = run("lambda x: tf.reduce_sum(x, axis=[1, 2], keepdims=True)", x)
    assert out.shape == (2, 1, 1)
    torch.testing.assert_close(out.flatten(), x.sum((1, 2)))
    assert run("lambda x: tf.reduce_sum(x)", x).item() == pytest.approx(float(x.sum()))
    assert run("lambda x: tf.reduce_mean(x, keepdims=True)", x).shape == (1, 1, 1)
    torch.testing.assert_close(run("lambda x: tf.reduce_max(x, axis=[0, 2])", x), x.amax((0, 2)))
    torch.testing.assert_close(run("lambda x: tf.math.reduce_min(x, -1)", x), x.amin(-1))
    torch.testing.assert_close(run("lambda x: tf.reduce_prod(x + 1, axis=[1, 2])", x), (x + 1).prod(2).prod(1))
    assert run("lambda x: tf.reduce_mean(x, 1, keep_dims=True, name='m')", x).shape == (2, 1, 4)
    a, b = torch.ones(2, 3), torch.full((2, 3), 2.0)  # a list is stacked like tf.convert_to_tensor
    torch.testing.assert_close(run("lambda x: tf.reduce_sum(x, axis=0)", [a, b]), a + b)


def test_l2_normalize_follows_tf():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    out = run("lambda x: tf.nn.l2_normalize(x, axis=-1)", x)
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.8], [0.0, 0.0]]))  # eps keeps a zero row zero
    expected = x / torch.sqrt(torch.clamp_min((x * x).sum(), 1e-12))
    torch.testing.assert_close(run("lambda x: tf.math.l2_normalize(x)", x), expected)  # axis=None: all axes
    small = torch.tensor([[1e-8, 0.0]])
    torch.testing.assert_close(run("lambda x: tf.nn.l2_normalize(x, 1, epsilon=1e-4)", small), small / 1e-2)


def test_stop_gradient_passes_the_value_and_blocks_the_gradient():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    out = run("lambda x: tf.stop_gradient(x * 3) + x", x)
    torch.testing.assert_close(out, torch.tensor([4.0, 8.0]))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(2))  # only the + x term carries a gradient


def test_unstack_split_and_friends():
    x = torch.arange(24.0).reshape(2, 12)
    pieces = run("lambda x: tf.split(x, 3, axis=1)", x)
    assert [p.shape for p in pieces] == [(2, 4)] * 3
    torch.testing.assert_close(pieces[2], x[:, 8:])
    sizes = run("lambda x: tf.split(x, [2, -1, 3], 1)", x)
    assert [p.shape[1] for p in sizes] == [2, 7, 3]
    with pytest.raises(ShapeError, match="equal parts"):
        run("lambda x: tf.split(x, 5, axis=1)", x)
    with pytest.raises(ShapeError, match="num=3"):
        run("lambda x: tf.unstack(x, num=3, axis=0)", x)
    assert [t.shape for t in run("lambda x: tf.unstack(x)", x)] == [(12,), (12,)]
    torch.testing.assert_close(run("lambda x: tf.concat([x, x], -1)", x), torch.cat([x, x], -1))
    assert run("lambda x: tf.stack([x, x], axis=1)", x).shape == (2, 2, 12)
    assert run("lambda x: tf.expand_dims(x, 1)", x).shape == (2, 1, 12)
    assert run("lambda x: tf.squeeze(tf.expand_dims(x, -1), axis=[2])", x).shape == (2, 12)
    with pytest.raises(ShapeError, match="size 1"):
        run("lambda x: tf.squeeze(x, axis=1)", x)
    assert run("lambda x: tf.transpose(tf.reshape(x, [2, 3, 4]))", x).shape == (4, 3, 2)
    assert run("lambda x: tf.transpose(tf.reshape(x, [2, 3, 4]), perm=[0, 2, 1])", x).shape == (2, 4, 3)
    torch.testing.assert_close(run("lambda x: tf.gather(x, [0, 5], axis=1)", x), x[:, [0, 5]])
    assert run("lambda x: tf.gather(x, [[0, 1], [1, 1]])", x).shape == (2, 2, 12)
    torch.testing.assert_close(run("lambda x: tf.matmul(x, x, transpose_b=True)", x), x @ x.T)
    torch.testing.assert_close(run("lambda x: tf.nn.softmax(x)", x), torch.softmax(x, -1))
    torch.testing.assert_close(run("lambda x: tf.maximum(x - 5, 0.0)", x), torch.relu(x - 5))
    torch.testing.assert_close(run("lambda x: tf.multiply(x, 2)", x), x * 2)
    assert run("lambda x: tf.cast(x > 3, tf.float32)", x).dtype == torch.float32
    assert run("lambda x: tf.reshape(x, [tf.shape(x)[0], 3, -1])", x).shape == (2, 3, 4)


def test_torch_spellings_methods_and_python_syntax():
    x = torch.randn(4, 6)
    torch.testing.assert_close(run("lambda x: torch.cat([x, x], dim=1)", x), torch.cat([x, x], 1))
    torch.testing.assert_close(run("lambda x: x.sum(dim=1, keepdim=True)", x), x.sum(1, keepdim=True))
    torch.testing.assert_close(run("lambda x: F.normalize(x, dim=-1)", x), F.normalize(x, dim=-1))
    torch.testing.assert_close(run("lambda x: x @ x.T", x), x @ x.T)
    assert run("lambda x: x.unsqueeze(1).shape[1]", x) == 1
    doubled = run("lambda x: [t * 2 for t in tf.split(x, 3, axis=1) if t.shape[1] > 0]", x)
    torch.testing.assert_close(torch.cat(doubled, 1), x * 2)
    assert run("lambda x: [a + b for a, b in zip(x, [10, 20])]", [1, 2]) == [11, 22]
    assert run("lambda x: sum(v * v for v in range(4))", None) == 14
    assert run("lambda x: [*x, len(x)]", (5, 6)) == [5, 6, 2]
    assert run("lambda x: x[0] if len(x) == 1 else tuple(x)", [1, 2]) == (1, 2)
    assert run("lambda x: 0 < len(x) <= 3 and not x[0]", [0, 1]) is True
    assert run("lambda x: [x for x in x]", [3, 4]) == [3, 4]
    assert run("lambda x: max(x) // 2 % 3 ** 2 - -1", [7, 9]) == 5
    assert run("lambda x: tf.reduce_sum(x, axis=1, name='ignored')", x).shape == (4,)


# --------------------------------------------------------------------------- slices
def test_slices():
    a, b, c = torch.ones(2), torch.zeros(2), torch.full((2,), 2.0)
    assert compile_slice("[1]", WHERE)([a, b, c]) is b
    assert compile_slice("[0:2]", WHERE)([a, b, c]) == [a, b]
    assert compile_slice("[-1]", WHERE)([a, b, c]) is c
    x = torch.arange(12.0).reshape(3, 4)
    torch.testing.assert_close(compile_slice("[:, 0]", WHERE)(x), x[:, 0])
    torch.testing.assert_close(compile_slice("[..., 1:3]", WHERE)(x), x[..., 1:3])
    assert compile_slice("[:, None]", WHERE)(x).shape == (3, 1, 4)
    torch.testing.assert_close(compile_slice(" [:, : x.shape[1] // 2]", WHERE)(x), x[:, :2])
    repeat = compile_slice("[i]", WHERE, index_var="i")
    assert repeat.arity == 2 and [repeat([a, b, c], i) for i in range(3)] == [a, b, c]
    assert compile_slice("[0][1]", WHERE)([[a, b]]) is b


@pytest.mark.parametrize(
    "text", ["[1]; import os", "1", ".shape", "[0] + 1", "[0](1)", "", "[0].sum()", "[__import__('os')]",
             "[0] if True else 1", "[lambda: 1]", "[0]\nimport os"],
)
def test_slice_rejects_anything_but_a_subscript_suffix(text):
    with pytest.raises(ConfigError) as info:
        compile_slice(text, WHERE)
    assert WHERE in str(info.value)


def test_slice_out_of_range_is_a_shape_error():
    with pytest.raises(ShapeError) as info:
        compile_slice("[3]", WHERE)([1, 2])
    assert WHERE in str(info.value) and "[3]" in str(info.value) and "IndexError" in str(info.value)


# --------------------------------------------------------------------------- meta tensors
def test_meta_tensors_give_shapes():
    meta = [torch.empty(3, 16, device="meta"), torch.empty(3, 16, device="meta")]
    cases = {
        "lambda x: tf.add_n(x)": (3, 16),
        "lambda x: tf.concat(x, axis=-1)": (3, 32),
        "lambda x: tf.reduce_sum(tf.stack(x, axis=1), axis=1, keepdims=True)": (3, 1, 16),
        "lambda x: tf.reshape(x[0], [-1, 4, 4])": (3, 4, 4),
        "lambda x: tf.nn.l2_normalize(x[1], axis=-1) * 2 + 1": (3, 16),
        "lambda x: tf.gather(x[0], [1, 3], axis=1)": (3, 2),
        "lambda x: tf.matmul(tf.expand_dims(x[0], 2), tf.expand_dims(x[1], 1))": (3, 16, 16),
        "lambda x: x[0][:, :8].transpose(0, 1)": (8, 3),
    }
    for text, shape in cases.items():
        out = run(text, meta)
        assert out.device.type == "meta" and tuple(out.shape) == shape, text
    parts = run("lambda x: tf.split(x[0], [4, -1], axis=1)", meta)
    assert [tuple(p.shape) for p in parts] == [(3, 4), (3, 12)] and parts[0].is_meta
    assert len(run("lambda x: tf.unstack(tf.reshape(x[0], [3, 4, 4]), axis=1)", meta)) == 4
    with pytest.raises(ShapeError) as info:
        run("lambda x: tf.reshape(x[0], [-1, 5])", meta)
    assert WHERE in str(info.value) and "tf.reshape(x[0], [-1, 5])" in str(info.value)


# --------------------------------------------------------------------------- safety
MALICIOUS = [
    "__import__('os').system('echo hi')",
    "lambda x: __import__('os')",
    "lambda x: open('/etc/passwd')",
    "lambda x: x.__class__",
    "lambda x: ().__class__.__bases__[0].__subclasses__()",
    "lambda x: getattr(x, 'shape')",
    "lambda x: eval('1')",
    "lambda x: exec('1')",
    "lambda x: globals()",
    "lambda x: (lambda: 1)()",
    "lambda x: [c for c in ().__class__.__mro__]",
    "lambda x: x.shape.__class__",
    "lambda x: tf.__dict__",
    "lambda x: torch.load('f')",
    "lambda x: torch.nn.Module",
    "lambda x: f'{x}'",
    "lambda x: (y := 1)",
    "lambda x, *a: x",
    "lambda x, **k: x",
    "lambda x, y=1: x",
    "import os",
    "x + 1",
    "lambda x: tf",
    "lambda x: len",
    "lambda x: tf.add_n",
    "lambda x: x.numpy()",
    "lambda x: x.add_(1)",
    "lambda x: x.shape(0)",
    "lambda x: x[0](1)",
    "lambda x: {1: x}",
    "lambda x: {x}",
    "lambda x: b'abc'",
    "lambda x: torch.add(x, x, out=x)",
    "lambda x: tf.reduce_sum(**x)",
    "lambda x: type(x)",
    "lambda tf: tf",
    "lambda _x: _x",
    "lambda x: x._version",
    "lambda x: torch._C",
    "lambda x: [y for y.z in x]",
    "lambda x: (yield x)",
    "lambda x: x if x else __builtins__",
    "lambda x: x << 2",
    "lambda x: vars()",
    "lambda x: compile('1', 'f', 'eval')",
    "lambda x: x.data_ptr()",
    "lambda x: torch.nn.functional.__dict__",
    "lambda x: 1; import os",
]


@pytest.mark.parametrize("text", MALICIOUS)
def test_malicious_texts_are_config_errors(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        compile_lambda(text.replace("echo hi", "touch pwned"), WHERE)
    assert WHERE in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_nothing_is_executed_and_no_code_object_is_compiled(monkeypatch):
    calls = []

    def only_ast(source, filename, mode, flags=0, *args, **kwargs):
        assert flags & ast.PyCF_ONLY_AST, "a code object was compiled"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def recording_import(name, *args, **kwargs):
        calls.append(name)
        return real_import(name, *args, **kwargs)

    real_compile, real_import = builtins.compile, builtins.__import__
    monkeypatch.setattr(builtins, "compile", only_ast)
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: calls.append("eval"))
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: calls.append("exec"))
    monkeypatch.setattr(builtins, "__import__", recording_import)
    try:
        fn = compile_lambda("lambda x: [tf.reduce_sum(t, axis=1) for t in x]", WHERE)
        out = fn([torch.ones(2, 3)])
        for text in MALICIOUS:
            with pytest.raises(ConfigError):
                compile_lambda(text, WHERE)
    finally:
        monkeypatch.undo()
    assert not {"eval", "exec", "os", "subprocess"} & set(calls) and out[0].tolist() == [3.0, 3.0]


def test_evaluation_does_not_revisit_the_ast(monkeypatch):
    fn = compile_lambda("lambda x: tf.nn.relu(x[:, :2] * 2 + x.sum(dim=1, keepdim=True))", WHERE)
    monkeypatch.setattr(expressions._Compiler, "expr", lambda *a: pytest.fail("compiled again"))
    monkeypatch.setattr(ast, "parse", lambda *a, **k: pytest.fail("parsed again"))
    assert fn(torch.ones(2, 4)).shape == (2, 2)


def test_length_and_depth_caps():
    for text in [
        "lambda x: " + " + ".join(["x"] * 700),  # > 2000 characters
        "lambda x: " + "-" * 60 + "x",  # nested 60 deep
        "lambda x: " + "[" * 55 + "x" + "]" * 55,
        "lambda x: " + "(" * 300 + "x" + ")" * 300,  # beyond the parser's own limit
        "lambda x: x" + "[0]" * 60,
    ]:
        with pytest.raises(ConfigError) as info:
            compile_lambda(text, WHERE)
        assert WHERE in str(info.value)
    assert run("lambda x: " + "-" * 20 + "x", 3) == 3


@pytest.mark.parametrize(
    "text",
    ["lambda x: [0] * 10 ** 7", "lambda x: list(range(10 ** 9))", "lambda x: 2 ** 10 ** 6",
     "lambda x: [a for a in range(2000) for b in range(2000)]",
     "lambda x: [list(range(9000)) for a in range(9000)]",
     "lambda x: [y + y for y in [list(range(5000))] * 1000]"],
)
def test_runaway_evaluation_is_a_config_error_over_budget(text):
    fn = compile_lambda(text, WHERE)
    with pytest.raises(ConfigError, match="is too expensive") as info:
        fn([1, 2])
    assert WHERE in str(info.value) and text in str(info.value)


@pytest.mark.parametrize("text", ["lambda x: '%s' % x", "lambda x: sum([[1], [2]], [])", "lambda x: x.shape"])
def test_ill_typed_evaluation_is_a_shape_error(text):
    fn = compile_lambda(text, WHERE)
    with pytest.raises(ShapeError) as info:
        fn([1, 2])
    assert WHERE in str(info.value) and text in str(info.value)


def test_did_you_mean_and_arity_messages():
    with pytest.raises(ConfigError, match=r"did you mean 'tf.reduce_sum'\?") as info:
        compile_lambda("lambda x: tf.reduce_summ(x, axis=1)", WHERE)
    assert WHERE in str(info.value) and "tf.reduce_summ" in str(info.value)
    with pytest.raises(ConfigError, match=r"did you mean 'sum'\?"):
        compile_lambda("lambda x: x.summ(dim=1)", WHERE)
    with pytest.raises(ConfigError, match=r"did you mean 'x'\?"):
        compile_lambda("lambda x: X + 1", WHERE)
    with pytest.raises(ConfigError, match="exactly 2 parameter") as info:
        compile_lambda("lambda x: x", WHERE, arity=2)
    assert WHERE in str(info.value)
    with pytest.raises(ConfigError, match="takes 1 argument"):
        compile_lambda("lambda x: x", WHERE)(1, 2)


def test_pickle_deepcopy_repr_and_allow_list():
    fn = compile_lambda("lambda x, i: x[i] * 2", WHERE, arity=2)
    for clone in (pickle.loads(pickle.dumps(fn)), copy.deepcopy(fn)):
        assert clone(torch.ones(3), 1).item() == 2.0 and clone.where == WHERE
    assert pickle.loads(pickle.dumps(compile_slice("[i]", WHERE, index_var="i")))([4, 5], 1) == 5
    assert "lambda x, i" in repr(fn)
    assert {"tf.add_n", "tf.nn.l2_normalize", "torch.cat", "len"} <= set(ALLOWED_FUNCTIONS)
    text = describe_allowed()
    assert "reduce_sum" in text and "Tensor methods" in text and "unsqueeze" in text
