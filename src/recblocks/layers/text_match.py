"""Matching measures between two token-id texts (EasyRec's custom ops ``EditDistance``, ``OverlapFeature``).

EasyRec runs these ops on raw strings inside the model. In recblocks the model never sees
strings: the preprocessor splits each text column into token ids (a ``multi`` or ``sequence``
feature with a ``separator``, optionally ``normalize``-d, see :mod:`recblocks.features.text`),
and a ``raw_input`` block hands the two id tensors to the component. The ids of the two
features must mean the same tokens: give them one vocabulary (the same ``embedding_name``)
or hash both into the same ``hash_bucket_size``.

Token layout (the schema's): ``0`` is padding (rows are left-aligned, so a row's length is its
count of non-zero ids), ``1`` an unknown or missing token, ``2..`` known tokens. An unknown
token differs from every token, itself included (two different unseen words share id 1).
A missing text is one unknown token, so it matches nothing.

``TextNormalize`` is registered only to point EasyRec configs at the feature option.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_BUCKETS, MAX_EMBEDDING_DIM, MAX_TABLE_ROWS
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.features.schema import FIRST_ID, PADDING_ID
from recblocks.layers.base import Component
from recblocks.layers.field_inputs import named_error

__all__ = ["EditDistance", "EditDistanceParams", "OverlapFeature", "OverlapFeatureParams", "TextNormalize",
           "TextNormalizeParams", "FeatureHead", "MatchHeadParams", "token_ids", "token_matches"]

#: The expected input of the two-text components, in words (used in errors).
TOKEN_PAIR = "[ids_a (B, L_a) long, ids_b (B, L_b) long] (a raw_input block over two text features)"

_NORMALIZE_FNS = {"log1p": torch.log1p, "sqrt": torch.sqrt, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
NormalizeFn = Literal["log1p", "sqrt", "sigmoid", "tanh"]


def token_pair_spec(spec: Any, where: str, component: str, count: int = 2, expected: str = TOKEN_PAIR) -> list[int]:
    """Check a list of ``count`` id tensors ``(B,)`` or ``(B, L)`` long; return each ``L`` (1 for ``(B,)``)."""
    if not isinstance(spec, (list, tuple)) or len(spec) != count or not all(isinstance(s, TensorSpec) for s in spec):
        raise named_error(where, component, f"input must be a list of {count} id tensors", expected,
                          describe_spec(spec))
    lengths = []
    for s in spec:
        if s.dtype != "long" or s.rank > 2:
            raise named_error(where, component, "token ids must be long tensors (B,) or (B, L)", expected,
                              describe_spec(spec))
        lengths.append(s.shape[0] if s.rank == 2 else 1)
    return lengths


def token_ids(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (B, L), lengths (B,))`` of a token-id tensor ``(B,)`` or ``(B, L)`` (padding ``0`` not counted)."""
    ids = ids.long()
    if ids.dim() == 1:
        ids = ids.unsqueeze(1)
    return ids, (ids != PADDING_ID).sum(dim=1)


def token_matches(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B, L_a, L_b)`` bool: ``a_i == b_j`` for known tokens (``>= 2``); unknown and padding match nothing.

    Example:
        >>> token_matches(torch.tensor([[2, 1, 3]]), torch.tensor([[3, 1]])).int().tolist()
        [[[0, 0], [0, 0], [1, 0]]]
    """
    return (a.unsqueeze(2) == b.unsqueeze(1)) & (a >= FIRST_ID).unsqueeze(2)


class FeatureHead(nn.Module):
    """EasyRec's output of a matching op: ``normalize_fn``, then ``boundaries``, then an embedding per feature.

    ``M`` float features ``(B, M)``: unchanged (after ``normalize_fn``); with ``boundaries``
    bucketized into ids ``0..len(boundaries)`` (``x < b_0`` -> 0, ``b_{i-1} <= x < b_i`` -> i,
    as TF's ``Bucketize``), ``(B, M)`` long; with ``embedding_dim`` too, each feature's bucket
    looked up in its own row range of one table, ``(B, M*D)``.
    """

    def __init__(self, num_features: int, normalize_fn: str | None, boundaries: list[float],
                 embedding_dim: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.fn = _NORMALIZE_FNS[normalize_fn] if normalize_fn else None
        self.register_buffer("boundaries", torch.tensor(boundaries, dtype=torch.float32), persistent=False)
        self.bucketize = bool(boundaries)
        buckets = len(boundaries) + 1
        self.embeddings = None
        if embedding_dim:
            self.embeddings = nn.Parameter(torch.empty(num_features * buckets, embedding_dim))
            nn.init.uniform_(self.embeddings, -0.05, 0.05)
            self.register_buffer("offsets", torch.arange(num_features) * buckets, persistent=False)

    def output_spec(self) -> TensorSpec:
        if self.embeddings is not None:
            return TensorSpec((self.num_features * self.embeddings.shape[1],))
        return TensorSpec((self.num_features,), "long" if self.bucketize else "float")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fn is not None:
            x = self.fn(x)
        if not self.bucketize:
            return x
        ids = torch.bucketize(x.float().contiguous(), self.boundaries, right=True)
        if self.embeddings is None:
            return ids
        return nn.functional.embedding(ids + self.offsets, self.embeddings).flatten(1)


class MatchHeadParams(Params):
    """The output options shared by the matching ops: ``normalize_fn``, ``boundaries``, ``embedding_dim``."""

    normalize_fn: NormalizeFn | None = None
    boundaries: list[float] = Field(default_factory=list, max_length=MAX_BUCKETS - 1)
    embedding_dim: int = Field(default=0, ge=0, le=MAX_EMBEDDING_DIM)

    @model_validator(mode="after")
    def _check_head(self) -> "MatchHeadParams":
        if list(self.boundaries) != sorted(set(self.boundaries)):
            raise ValueError("'boundaries' must be strictly increasing")
        if self.embedding_dim and not self.boundaries:
            raise ValueError("embedding_dim looks up bucket ids: set 'boundaries' too (or embedding_dim: 0)")
        return self


# ---------------------------------------------------------------------------- EditDistance
class EditDistanceParams(Params):
    """Parameters of :class:`EditDistance` (EasyRec ``EditDistance`` st_params)."""

    embedding_size: int = Field(default=512, ge=1, le=MAX_TABLE_ROWS)
    embedding_dim: int = Field(default=4, ge=0, le=MAX_EMBEDDING_DIM)
    normalize: bool = False

    @model_validator(mode="after")
    def _normalized_is_not_embedded(self) -> "EditDistanceParams":
        if self.normalize and self.embedding_dim:
            raise ValueError("normalize gives a float in [0, 1], which is not embedded: set embedding_dim: 0")
        return self


def levenshtein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Levenshtein distance ``(B,)`` between token-id rows ``a (B, L_a)`` and ``b (B, L_b)`` (padding ignored).

    One loop over the positions of ``a``; each row of the table is computed for the whole
    batch at once: ``t_j = min(D[i-1][j] + 1, D[i-1][j-1] + cost_ij)``, then the insertions
    ``D[i][j] = min_k<=j (t_k + j - k) = j + cummin_k(t_k - k)``.

    Example:
        >>> levenshtein(torch.tensor([[2, 3, 4, 4, 5, 6]]), torch.tensor([[7, 3, 4, 4, 3, 6, 8]])).tolist()
        [3]
    """
    a, len_a = token_ids(a)
    b, len_b = token_ids(b)
    batch, lb = b.shape
    cost = (~token_matches(a, b)).long()  # (B, L_a, L_b)
    steps = torch.arange(lb + 1, device=b.device)
    row = steps.expand(batch, lb + 1)
    rows = [row]
    for i in range(a.shape[1]):
        t = torch.minimum(row[:, 1:] + 1, row[:, :-1] + cost[:, i])
        t = torch.cat([torch.full_like(row[:, :1], i + 1), t], dim=1)
        row = steps + torch.cummin(t - steps, dim=1).values
        rows.append(row)
    table = torch.stack(rows, dim=1)  # (B, L_a + 1, L_b + 1)
    at_a = table.gather(1, len_a.view(batch, 1, 1).expand(batch, 1, lb + 1)).squeeze(1)
    return at_a.gather(1, len_b.view(batch, 1)).squeeze(1)


@COMPONENTS.register(
    "EditDistance", params=EditDistanceParams, input_kind="fields", positional=("embedding_size", "embedding_dim"),
    examples=[({"embedding_size": 8, "embedding_dim": 3}, [TensorSpec((4,), "long"), TensorSpec((5,), "long")]),
              ({"embedding_dim": 0, "normalize": True}, [TensorSpec((3,), "long"), TensorSpec((), "long")])],
    export_refused={"onnx": "its Levenshtein recursion uses torch.cummin, which has no ONNX operator "
                            "(use --format torchscript or torch-export)"},
)
class EditDistance(Component):
    """Levenshtein distance between two token-id texts, embedded (EasyRec ``EditDistance``; Levenshtein, 1966).

    ``d(a, b)`` is the least number of token insertions, deletions and substitutions turning
    ``a`` into ``b`` (over each row's ``len`` tokens; padding ignored; an unknown token differs
    from every token). As EasyRec: ``y = E[clip(d, 0, embedding_size - 1)]`` with a table of
    ``embedding_size x embedding_dim``. With ``embedding_dim: 0`` the distance itself,
    ``(B, 1)`` float, or ``d / max(len_a, len_b)`` with ``normalize``. EasyRec measures
    characters of UTF-8 strings; here the tokens are what the features' ``separator`` splits
    (see the module docstring for the feature setup).

    Args:
        embedding_size: table rows; longer distances share the last row.
        embedding_dim: embedding width ``D`` (0: output the distance).
        normalize: divide by the longer length (needs ``embedding_dim: 0``).

    Shape:
        - Input: ``[ids_a (B, L_a), ids_b (B, L_b)]`` long (``(B,)`` is one token), from a ``raw_input`` block.
        - Output: ``(B, D)``, or ``(B, 1)`` float with ``embedding_dim: 0``.

    Example:
        >>> layer = EditDistance.from_spec(EditDistanceParams(embedding_dim=0),
        ...                                [TensorSpec((3,), "long"), TensorSpec((3,), "long")])
        >>> layer([torch.tensor([[2, 3, 4], [2, 0, 0]]), torch.tensor([[2, 4, 0], [2, 0, 0]])]).tolist()
        [[1.0], [0.0]]
    """

    def __init__(self, params: EditDistanceParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.embeddings = None
        if params.embedding_dim:
            self.embeddings = nn.Parameter(torch.empty(params.embedding_size, params.embedding_dim))
            nn.init.uniform_(self.embeddings, -0.05, 0.05)

    @classmethod
    def from_spec(cls, params: EditDistanceParams, input_spec: Any, where: str = "") -> "EditDistance":
        module = cls(params, where or "EditDistance")
        module.output_spec(input_spec)
        return module

    def output_spec(self, input_spec: Any) -> TensorSpec:
        token_pair_spec(input_spec, self.where, "EditDistance")
        return TensorSpec((self.params.embedding_dim or 1,))

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        dist = levenshtein(x[0], x[1])
        if self.embeddings is not None:
            return nn.functional.embedding(dist.clamp(0, self.params.embedding_size - 1), self.embeddings)
        out = dist.float()
        if self.params.normalize:
            longer = torch.maximum(token_ids(x[0])[1], token_ids(x[1])[1]).clamp(min=1)
            out = out / longer
        return out.unsqueeze(1)


# ---------------------------------------------------------------------------- OverlapFeature
OverlapMethod = Literal["query_common_ratio", "title_common_ratio", "is_contain", "is_equal", "common_word_count",
                        "diff_word_count"]


class OverlapFeatureParams(MatchHeadParams):
    """Parameters of :class:`OverlapFeature` (EasyRec ``OverlapFeature`` message)."""

    methods: list[OverlapMethod] = Field(min_length=1, max_length=16)


def overlap_measures(query: torch.Tensor, title: torch.Tensor, methods: list[str]) -> torch.Tensor:
    """``(B, M)`` float: the ``methods`` measured between query and title token ids (see :class:`OverlapFeature`).

    Example:
        >>> q, t = torch.tensor([[2, 3, 4, 5]]), torch.tensor([[2, 6, 4, 7, 8, 9, 10]])
        >>> overlap_measures(q, t, ["common_word_count", "query_common_ratio", "is_contain"]).tolist()
        [[2.0, 0.5, 0.0]]
    """
    q, len_q = token_ids(query)
    t, len_t = token_ids(title)
    match = token_matches(q, t)  # (B, L_q, L_t)
    valid_q, valid_t = q != PADDING_ID, t != PADDING_ID
    common = (match.any(dim=2) & valid_q).sum(dim=1)
    title_common = (match.any(dim=1) & valid_t).sum(dim=1)
    out = []
    for method in methods:
        if method == "query_common_ratio":
            value = common / len_q.clamp(min=1)
        elif method == "title_common_ratio":
            value = title_common / len_t.clamp(min=1)
        elif method == "common_word_count":
            value = common
        elif method == "diff_word_count":
            value = len_q - common
        elif method == "is_equal":
            n = min(q.shape[1], t.shape[1])
            same = (token_matches(q[:, :n], t[:, :n]).diagonal(dim1=1, dim2=2) | ~valid_q[:, :n]).all(dim=1)
            value = same & (len_q == len_t) & (len_q >= 1) & (len_q <= n)
        else:  # is_contain: the query is a contiguous run of the title
            lq = q.shape[1]
            windows = nn.functional.pad(t, (0, lq)).unfold(1, lq, 1)[:, :t.shape[1]]  # (B, L_t, L_q)
            fits = ((windows == q.unsqueeze(1)) & (q >= FIRST_ID).unsqueeze(1)) | ~valid_q.unsqueeze(1)
            starts = torch.arange(t.shape[1], device=t.device)
            value = (fits.all(dim=2) & (starts + len_q.unsqueeze(1) <= len_t.unsqueeze(1))).any(dim=1) & (len_q >= 1)
        out.append(value.float())
    return torch.stack(out, dim=1)


@COMPONENTS.register(
    "OverlapFeature", params=OverlapFeatureParams, input_kind="fields", positional=("methods",),
    examples=[({"methods": ["query_common_ratio", "is_contain"]}, [TensorSpec((4,), "long"), TensorSpec((6,), "long")]),
              ({"methods": ["title_common_ratio", "is_equal", "diff_word_count"], "normalize_fn": "sqrt",
                "boundaries": [0.5, 1.0], "embedding_dim": 2}, [TensorSpec((3,), "long"), TensorSpec((3,), "long")]),
              ({"methods": ["common_word_count"], "boundaries": [1.0]}, [TensorSpec((), "long"), TensorSpec((2,), "long")])],
)
class OverlapFeature(Component):
    """Term overlap between a query and a title text, one value per method (EasyRec ``OverlapFeature``, RTP FG).

    With ``c`` the query tokens found in the title and ``c_t`` the title tokens found in the
    query: ``query_common_ratio = c / len_q``, ``title_common_ratio = c_t / len_t``,
    ``common_word_count = c``, ``diff_word_count = len_q - c``, ``is_contain`` = 1 when the
    query is a contiguous run of the title, ``is_equal`` = 1 when the texts are the same
    tokens. FG writes the ratios as integers ``floor(10 r)`` / ``floor(100 r)``; here they are
    the ratios in ``[0, 1]`` (``boundaries`` bucketize them). The counts stand for FG's
    ``common_word`` / ``diff_word``, which output the words themselves. Then EasyRec's head:
    ``normalize_fn`` (a name here; EasyRec evaluates a Python lambda), ``boundaries`` and
    ``embedding_dim``. EasyRec's ``separator`` is the features' (the preprocessor splits
    the text); its ``default_value`` is not needed: a missing text is an unknown token, and
    every measure is 0 for it. Unknown tokens never match.

    Args:
        methods: the measures, in output order.
        normalize_fn: ``log1p``, ``sqrt``, ``sigmoid`` or ``tanh`` applied to every measure.
        boundaries: bucketize every measure (increasing; ids ``0..len(boundaries)``).
        embedding_dim: embed each method's bucket in its own rows (needs ``boundaries``).

    Shape:
        - Input: ``[query (B, L_q), title (B, L_t)]`` long ids (``(B,)`` is one token), from a ``raw_input`` block.
        - Output: ``(B, M)`` float; ``(B, M)`` long bucket ids with ``boundaries``; ``(B, M*D)`` with ``embedding_dim``.

    Example:
        >>> layer = OverlapFeature.from_spec(OverlapFeatureParams(methods=["query_common_ratio", "is_equal"]),
        ...                                  [TensorSpec((3,), "long"), TensorSpec((3,), "long")])
        >>> layer([torch.tensor([[2, 3, 0]]), torch.tensor([[3, 4, 5]])]).tolist()
        [[0.5, 0.0]]
    """

    def __init__(self, params: OverlapFeatureParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.head = FeatureHead(len(params.methods), params.normalize_fn, params.boundaries, params.embedding_dim)

    @classmethod
    def from_spec(cls, params: OverlapFeatureParams, input_spec: Any, where: str = "") -> "OverlapFeature":
        module = cls(params, where or "OverlapFeature")
        module.output_spec(input_spec)
        return module

    def output_spec(self, input_spec: Any) -> TensorSpec:
        token_pair_spec(input_spec, self.where, "OverlapFeature", expected=TOKEN_PAIR.replace("ids_a", "query")
                        .replace("ids_b", "title").replace("L_a", "L_q").replace("L_b", "L_t"))
        return self.head.output_spec()

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return self.head(overlap_measures(x[0], x[1], list(self.params.methods)))


# ---------------------------------------------------------------------------- TextNormalize
class TextNormalizeParams(Params):
    """Parameters of EasyRec's ``TextNormalize`` (accepted so its configs read; see :class:`TextNormalize`)."""

    norm_parameter: int = Field(default=0, ge=0)
    remove_space: bool = False


#: Where text normalisation lives in recblocks (the ConfigError of TextNormalize points here).
TEXT_NORMALIZE_HOME = ("`normalize: {lowercase: true, full_to_half_width: true, remove_space: true}` on the string "
                       "feature in `features` (recblocks.features.text)")


@COMPONENTS.register("TextNormalize", params=TextNormalizeParams, input_kind="tensor", refused=True,
                     examples=[({}, TensorSpec((), "long"))])
class TextNormalize(Component):
    """Not a backbone component in recblocks: text normalisation is a feature option (EasyRec ``TextNormalize``).

    EasyRec normalises raw strings inside the model with a custom op. recblocks models never
    see strings, so the same job is the ``normalize`` option of a string feature, applied by
    the preprocessor in fit and transform (:mod:`recblocks.features.text`). Building this
    component is a ConfigError that says so; the name is registered so an EasyRec config
    using it gets that pointer instead of "unknown component".

    Args:
        norm_parameter: EasyRec's bit mask of steps (undocumented there); not used.
        remove_space: EasyRec's switch; not used (the feature option has its own).

    Shape:
        - Input: none (B rows never reach it).
        - Output: none.

    Example:
        >>> TextNormalize.from_spec(TextNormalizeParams(), TensorSpec((), "long"), "block 'norm'")
        Traceback (most recent call last):
        ...
        recblocks.core.errors.ConfigError: block 'norm': TextNormalize is a feature option in recblocks, ...
    """

    @classmethod
    def from_spec(cls, params: TextNormalizeParams, input_spec: Any, where: str = "") -> "TextNormalize":
        raise ConfigError(where or "TextNormalize", "TextNormalize is a feature option in recblocks, not a backbone "
                          "component (models never see strings)", TEXT_NORMALIZE_HOME, "component 'TextNormalize'")
