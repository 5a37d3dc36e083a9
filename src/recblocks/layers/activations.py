"""The one factory for activation functions and weight initializers.

Names follow EasyRec/Keras, because configs come from there: ``'relu'``, ``'tf.nn.relu'``,
``'tf.keras.activations.gelu'``, ``'HeUniform'`` and ``'he_uniform'`` all resolve. Lookup is
case-insensitive and ignores the ``tf.nn.`` / ``tf.keras.activations.`` / ``tf.`` /
``keras.`` / ``torch.nn.`` prefixes; an unknown name raises :class:`ConfigError` with the
nearest valid name.

Semantics are Keras', not torch's, where they differ (documented traps):

* ``leaky_relu`` has slope 0.2 (``tf.nn.leaky_relu``), not torch's 0.01;
* ``prelu`` learns one slope per unit (Keras ``PReLU``), initialised to 0 (Keras), not 0.25;
* ``gelu`` is the exact erf form (Keras default ``approximate=False``);
* ``dice`` (DIN) is ``p*x + (1-p)*alpha*x`` with ``p = sigmoid(BN(x))``, BN without affine and
  epsilon 1e-9, ``alpha`` per unit initialised to 0 (EasyRec);
* ``softmax`` acts on the last axis.

Initializers use Keras formulas, with fans from the torch layout ``(out, in)``:
``he_uniform`` = U(±sqrt(6/fan_in)) (torch ``kaiming_uniform_`` with the relu gain);
``he_normal`` / ``glorot_normal`` / ``lecun_normal`` are *truncated* normals (cut at 2 std,
std rescaled by 1/0.8796) as in Keras; ``truncated_normal`` (std 0.05), ``normal``
(std 0.05) and ``uniform`` (±0.05) use the Keras default scales.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import torch
from torch import nn

from recblocks.core.errors import ConfigError, did_you_mean, format_message

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "Dice",
    "activation_key",
    "check_activation",
    "initialize",
    "initializer_key",
    "make_activation",
]

_PREFIXES = (
    "tf.keras.activations.", "keras.activations.", "tf.keras.initializers.", "keras.initializers.",
    "tf.compat.v1.", "tf.nn.", "tf.math.", "tf.", "torch.nn.functional.", "torch.nn.", "torch.", "nn.",
)

# canonical activation name -> aliases (lower-case, prefixes stripped)
_ACTIVATION_ALIASES = {
    "linear": ("linear", "identity", "none", ""),
    "relu": ("relu",),
    "relu6": ("relu6",),
    "sigmoid": ("sigmoid",),
    "tanh": ("tanh",),
    "leaky_relu": ("leaky_relu", "leakyrelu"),
    "prelu": ("prelu",),
    "gelu": ("gelu",),
    "swish": ("swish", "silu"),
    "softmax": ("softmax",),
    "elu": ("elu",),
    "selu": ("selu",),
    "dice": ("dice",),
}
_ACTIVATION_LOOKUP = {alias: key for key, aliases in _ACTIVATION_ALIASES.items() for alias in aliases}
#: Canonical activation names the factory knows.
ACTIVATIONS: tuple[str, ...] = tuple(_ACTIVATION_ALIASES)
_NEEDS_WIDTH = ("prelu", "dice")


def _normalize(name: str) -> str:
    text = name.strip()
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if text.lower().startswith(prefix):
                text, stripped = text[len(prefix):], True
                break
    # CamelCase (Keras class names such as HeUniform, LeakyReLU) -> snake_case
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text) if not text.isupper() else text
    return text.lower().replace("-", "_")


def _unknown(kind: str, name: str, normalized: str, known: tuple[str, ...], choices: list[str],
             where: str) -> ConfigError:
    """ConfigError for an unknown name; the suggestion is matched on the prefix-free spelling."""
    error = ConfigError(where, f"unknown {kind}", f"one of {list(known)}", repr(name))
    error.suggestion = did_you_mean(normalized, [c for c in choices if c])
    error.args = (format_message(where, error.problem, error.expected, error.got, error.suggestion),)
    return error


def activation_key(name: str | None, where: str = "") -> str:
    """Canonical name for an activation spelling; ``None`` means ``'linear'``.

    Example:
        >>> activation_key("tf.nn.relu"), activation_key(None), activation_key("SiLU")
        ('relu', 'linear', 'swish')
    """
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise ConfigError(where, "activation must be a name", f"one of {list(ACTIVATIONS)}", repr(name))
    norm = _normalize(name)
    key = _ACTIVATION_LOOKUP.get(norm) or _ACTIVATION_LOOKUP.get(norm.replace("_", ""))
    if key is None:
        raise _unknown("activation", name, norm, ACTIVATIONS, list(_ACTIVATION_LOOKUP), where)
    return key


def check_activation(name: str | None, where: str = "") -> None:
    """Raise ConfigError now (at build time) when ``name`` is not a known activation."""
    activation_key(name, where)


class Dice(nn.Module):
    """Data-adaptive activation of DIN (Zhou et al., KDD 2018, arXiv:1706.06978).

    ``p = sigmoid(BN(x))`` (BN without affine, epsilon 1e-9); ``y = p*x + (1-p)*alpha*x``
    with ``alpha`` learned per unit, initialised to 0. Acts on the last axis of ``(B, ..., D)``.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(width, eps=1e-9, momentum=0.01, affine=False)
        self.alpha = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        p = torch.sigmoid(self.bn(flat)).reshape(x.shape)
        return x * (p + (1.0 - p) * self.alpha)


def make_activation(name: str | None, where: str = "", width: int | None = None) -> nn.Module:
    """A fresh activation module for ``name`` (``None``/``'linear'`` give ``nn.Identity``).

    ``width`` (the size of the last axis) is required by the learned ones (``prelu``, ``dice``).

    Example:
        >>> make_activation("tf.nn.leaky_relu")
        LeakyReLU(negative_slope=0.2)
        >>> make_activation("relu6x")
        Traceback (most recent call last):
        ...
        recblocks.core.errors.ConfigError: unknown activation; expected one of ['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'leaky_relu', 'prelu', 'gelu', 'swish', 'softmax', 'elu', 'selu', 'dice'], got 'relu6x'; did you mean 'relu6'?
    """
    key = activation_key(name, where)
    if key in _NEEDS_WIDTH and (width is None or width < 1):
        raise ConfigError(where, f"activation '{key}' learns one weight per unit and needs the input width",
                          "a known width", width)
    if key == "linear":
        return nn.Identity()
    if key == "relu":
        return nn.ReLU()
    if key == "relu6":
        return nn.ReLU6()
    if key == "sigmoid":
        return nn.Sigmoid()
    if key == "tanh":
        return nn.Tanh()
    if key == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if key == "prelu":
        return nn.PReLU(int(width), init=0.0)  # type: ignore[arg-type]
    if key == "gelu":
        return nn.GELU()
    if key == "swish":
        return nn.SiLU()
    if key == "softmax":
        return nn.Softmax(dim=-1)
    if key == "elu":
        return nn.ELU()
    if key == "selu":
        return nn.SELU()
    return Dice(int(width))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- initializers

_TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def _fans(tensor: torch.Tensor) -> tuple[int, int]:
    """Keras fans for the torch layout: (out, in, *kernel) -> fan_in = in*k, fan_out = out*k."""
    if tensor.dim() == 0:
        return 1, 1
    if tensor.dim() == 1:
        return tensor.shape[0], tensor.shape[0]
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _uniform(limit: float) -> Callable[[torch.Tensor], None]:
    return lambda t: nn.init.uniform_(t, -limit, limit)


def _truncated(std: float) -> Callable[[torch.Tensor], None]:
    return lambda t: nn.init.trunc_normal_(t, 0.0, std, -2.0 * std, 2.0 * std)


def _scaled(scale: float, mode: str, distribution: str) -> Callable[[torch.Tensor, int, int], None]:
    """Keras VarianceScaling."""

    def init(tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
        variance = scale / max(1.0, fan)
        if distribution == "uniform":
            _uniform(math.sqrt(3.0 * variance))(tensor)
        else:
            _truncated(math.sqrt(variance) / _TRUNC_STD)(tensor)

    return init


_INITIALIZERS: dict[str, Callable[[torch.Tensor, int, int], None]] = {
    "he_uniform": _scaled(2.0, "fan_in", "uniform"),
    "he_normal": _scaled(2.0, "fan_in", "normal"),
    "glorot_uniform": _scaled(1.0, "fan_avg", "uniform"),
    "glorot_normal": _scaled(1.0, "fan_avg", "normal"),
    "lecun_uniform": _scaled(1.0, "fan_in", "uniform"),
    "lecun_normal": _scaled(1.0, "fan_in", "normal"),
    "truncated_normal": lambda t, fi, fo: _truncated(0.05)(t),
    "normal": lambda t, fi, fo: nn.init.normal_(t, 0.0, 0.05),
    "uniform": lambda t, fi, fo: _uniform(0.05)(t),
    "zeros": lambda t, fi, fo: nn.init.zeros_(t),
    "ones": lambda t, fi, fo: nn.init.ones_(t),
    "orthogonal": lambda t, fi, fo: nn.init.orthogonal_(t),
}
_INIT_ALIASES = {
    "xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal",
    "random_normal": "normal", "random_uniform": "uniform", "truncated_normal_initializer": "truncated_normal",
    "zero": "zeros", "one": "ones", "zeros_initializer": "zeros", "ones_initializer": "ones",
}
#: Canonical initializer names the factory knows.
INITIALIZERS: tuple[str, ...] = tuple(_INITIALIZERS)


def initializer_key(name: str, where: str = "") -> str:
    """Canonical name for an initializer spelling (``'HeUniform'`` -> ``'he_uniform'``).

    Example:
        >>> initializer_key("tf.keras.initializers.GlorotUniform"), initializer_key("xavier_uniform")
        ('glorot_uniform', 'glorot_uniform')
    """
    if not isinstance(name, str):
        raise ConfigError(where, "initializer must be a name", f"one of {list(INITIALIZERS)}", repr(name))
    norm = _normalize(name)
    key = _INIT_ALIASES.get(norm, norm)
    if key not in _INITIALIZERS:
        raise _unknown("initializer", name, norm, INITIALIZERS, [*_INITIALIZERS, *_INIT_ALIASES], where)
    return key


@torch.no_grad()
def initialize(tensor: torch.Tensor, name: str, where: str = "", fan_in: int | None = None,
               fan_out: int | None = None) -> torch.Tensor:
    """Fill ``tensor`` in place with the Keras initializer ``name`` and return it.

    Fans default to the torch layout ``(out, in)``; pass them for tensors laid out otherwise
    (e.g. a stack of per-layer vectors).

    Example:
        >>> w = initialize(torch.empty(64, 10), "he_uniform")
        >>> bool(w.abs().max() <= (6 / 10) ** 0.5)
        True
    """
    init = _INITIALIZERS[initializer_key(name, where)]
    default_in, default_out = _fans(tensor)
    init(tensor, fan_in or default_in, fan_out or default_out)
    return tensor
