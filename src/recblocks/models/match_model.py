"""MatchModel: a two-tower retrieval model (EasyRec's backbone MatchModel / DSSM field names).

The backbone's ``output_blocks`` hold the user vector and the item vector
(``model_params.user_tower_idx_in_output`` / ``item_tower_idx_in_output``). Training is a
softmax over the batch's items (in-batch negatives; duplicates of a row's own item are
masked), optionally with extra negatives drawn by training frequency (``loss_type:
SAMPLED_SOFTMAX``; ``in_batch_negatives: false`` leaves the other rows' items out, as EasyRec's
``ignore_in_batch_neg_sam``), plus each row's user's hard negatives (``num_hard_negatives``:
:mod:`recblocks.models.hard_negatives`, EasyRec's ``hard_negative_sampler``), or over the whole
catalogue (``loss_type: FULL_SOFTMAX``). With
``logq_correction`` (the default) every sampled or in-batch candidate's logit loses ``log q(item)``,
its training frequency share: a batch holds items in proportion to their frequency, so
uncorrected in-batch negatives push popular items down. Evaluation ranks every catalogue item
(:class:`~recblocks.models.retrieval_eval.CatalogueEvaluator`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from recblocks.blocks.backbone.builder import build_backbone, referenced_groups
from recblocks.blocks.backbone.config import BackboneConfig
from recblocks.core.context import ForwardContext, LossTerms
from recblocks.core.errors import ConfigError, DataError
from recblocks.core.params import join_path
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.features.batch import Batch
from recblocks.features.groups import FeatureGroups
from recblocks.features.schema import OOV_ID, Schema
from recblocks.features.weighted import weight_key
from recblocks.layers.embedding import EmbeddingCollection
from recblocks.models.catalogue import ItemCatalogue
from recblocks.models.config import ModelConfig
from recblocks.models.hard_negatives import HardNegatives
from recblocks.models.l2 import l2_kernels, weight_penalty
from recblocks.models.match_config import MatchModelParams
from recblocks.models.parameter_groups import EmbeddingAndDenseParameters
from recblocks.models.rank_model import _GroupInputs, build_slots
from recblocks.models.registry import MODEL_CLASSES
from recblocks.models.retrieval_eval import CatalogueEvaluator

__all__ = ["MatchModel", "MatchOutput", "tower_groups"]


class MatchOutput(NamedTuple):
    """One forward pass of a MatchModel: ``user`` / ``item`` ``(B, D)`` (unit length for cosine),
    extra outputs and auxiliary losses of blocks, embedding lookups, and the user's interest
    vectors ``(B, K, D)`` when ``user_interests_idx_in_output`` names them (all-zero rows: padding)."""

    user: torch.Tensor
    item: torch.Tensor
    extra: dict[str, torch.Tensor]
    auxiliary: dict[str, tuple[torch.Tensor, float]]
    lookups: list[torch.Tensor]
    interests: torch.Tensor | None = None


def tower_groups(backbone: BackboneConfig, block: str, stop: str | None = None) -> list[str]:
    """Feature groups the backbone block ``block`` reads, directly or through blocks and packages
    (not through the block ``stop``: a user tower reading the item tower's output, as MIND's
    label-aware attention does, does not read the item's groups itself)."""
    blocks = {b.name: b for _, b in backbone.all_blocks()}
    packages = {p.name: p for p in backbone.packages}
    found: list[str] = []
    todo, done = [block], {stop}
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        if name in packages:
            todo += [b.name for b in packages[name].blocks]
            continue
        for edge in blocks[name].inputs if name in blocks else []:
            if edge.feature_group_name and edge.feature_group_name not in found:
                found.append(edge.feature_group_name)
            todo += [n for n in (edge.block_name, edge.package_name) if n]
    return found


@MODEL_CLASSES.register("MatchModel", params=MatchModelParams, scores_tasks=False)
class MatchModel(EmbeddingAndDenseParameters, nn.Module):
    """Two towers scored by cosine / inner product, trained with in-batch, sampled or full softmax.

    Args:
        schema: the feature schema.
        config: the parsed model section (``model_params`` a :class:`MatchModelParams`).
        vocab_sizes: table rows per id feature.

    Raises:
        ConfigError: no item tower (fewer backbone outputs than ``item_tower_idx_in_output``
            needs), no ``item_id``, an item tower that reads the user tower's feature groups.

    Shape:
        - Input: a :class:`Batch` with the user and item features of each (user, item) row.
        - Output: :class:`MatchOutput`: user and item vectors ``(B, D)``.
    """

    def __init__(self, schema: Schema, config: ModelConfig, vocab_sizes: Mapping[str, int],
                 where: str = "model") -> None:
        super().__init__()
        params = config.model_params
        where_params = join_path(where, "model_params")
        if not isinstance(params, MatchModelParams):
            params = MatchModelParams.model_validate(params.model_dump())
        self.config, self.schema, self.params = config, schema, params
        outputs = config.backbone.output_blocks
        for field, index, tower in (("item_tower_idx_in_output", params.item_tower_idx_in_output, "item"),
                                    ("user_tower_idx_in_output", params.user_tower_idx_in_output, "user"),
                                    ("user_interests_idx_in_output", params.user_interests_idx_in_output,
                                     "interests")):
            if index is not None and index >= len(outputs):
                raise ConfigError(join_path(where_params, field), f"the MatchModel has no {tower} tower: the "
                                  f"backbone's output_blocks has no entry {index}",
                                  f"model.backbone.output_blocks listing the user and item tower blocks "
                                  f"(the {tower} tower at index {index})", outputs)
        if params.item_tower_idx_in_output == params.user_tower_idx_in_output:
            raise ConfigError(join_path(where_params, "item_tower_idx_in_output"), "the item tower is the user "
                              "tower", "two different output_blocks indices", params.item_tower_idx_in_output)
        self.user_block, self.item_block = outputs[params.user_tower_idx_in_output], \
            outputs[params.item_tower_idx_in_output]
        if params.item_id is None:
            raise ConfigError(join_path(where_params, "item_id"), f"the item tower '{self.item_block}' needs the "
                              "item id feature (catalogue rows, evaluation targets)", "a feature name", None)
        for field, name in (("item_id", params.item_id), ("user_id", params.user_id)):
            if name is not None and (name not in schema.names() or schema[name].kind not in ("sparse", "hashed")):
                raise ConfigError(join_path(where_params, field), "not a sparse feature of the schema",
                                  f"one of {[f.name for f in schema if f.kind in ('sparse', 'hashed')]}",
                                  repr(name))
        self.item_id, self.user_id = params.item_id, params.user_id
        self.groups = FeatureGroups(config.feature_groups, schema, join_path(where, "feature_groups"))
        self.interests_block = outputs[params.user_interests_idx_in_output] \
            if params.user_interests_idx_in_output is not None else None
        user_groups = tower_groups(config.backbone, self.user_block, self.item_block)
        item_groups = tower_groups(config.backbone, self.item_block)
        shared = sorted(set(user_groups) & set(item_groups))
        if shared:
            raise ConfigError(join_path(where, "backbone.output_blocks"), f"the item tower '{self.item_block}' "
                              "reads feature groups of the user tower: item vectors must not depend on the user",
                              "disjoint user and item feature groups", shared)
        used = [g for g in referenced_groups(config.backbone) if g in self.groups]
        slots = build_slots(schema, self.groups, used, vocab_sizes, config.embedding_dim, 1)
        self.embeddings = EmbeddingCollection(list(slots.values()), sparse=config.sparse_embeddings,
                                              init_std=config.embedding_init_std)
        self.backbone = build_backbone(config.backbone, _GroupInputs(self.groups, slots, used),
                                       join_path(where, "backbone"))
        spec = self.backbone.output_spec
        user_spec, item_spec = spec[params.user_tower_idx_in_output], spec[params.item_tower_idx_in_output]
        if not (isinstance(user_spec, TensorSpec) and isinstance(item_spec, TensorSpec) and user_spec.rank == 2
                and item_spec.rank == 2 and user_spec.last_dim == item_spec.last_dim):
            raise ConfigError(join_path(where, "backbone.output_blocks"), "the user and item towers must end in "
                              "vectors of one width", "two (B, D) outputs of equal D",
                              f"{describe_spec(user_spec)} and {describe_spec(item_spec)}")
        self.dim = user_spec.last_dim
        if params.user_interests_idx_in_output is not None:
            interests_spec = spec[params.user_interests_idx_in_output]
            if not (isinstance(interests_spec, TensorSpec) and interests_spec.rank == 3
                    and interests_spec.last_dim == self.dim):
                raise ConfigError(join_path(where_params, "user_interests_idx_in_output"), "the interests must be "
                                  "vectors of the towers' width", f"a (B, K, {self.dim}) output",
                                  describe_spec(interests_spec))
        item_features = {}
        for group in item_groups:
            for name in self.groups[group].feature_names:
                slot = slots.get(("deep", name)) or slots.get(("wide", name))
                dtype = torch.int64 if schema[name].is_id else torch.float32
                shape = ((slot.max_len,) if slot is not None and slot.is_list else ()) + (
                    (slot.width,) if slot is not None and slot.width > 1 else ()) + (
                    (slot.element_len,) if slot is not None and slot.element_len else ())
                item_features[name] = (shape, dtype)
                if slot is not None and slot.weighted:  # the ids' weights travel with them
                    item_features[weight_key(name)] = (shape, torch.float32)
        user_rows = int(vocab_sizes.get(params.user_id, 0)) if params.user_id else 0
        self.catalogue = ItemCatalogue(int(vocab_sizes[params.item_id]), user_rows, item_features)
        self.hard_negatives: HardNegatives | None = None
        if params.num_hard_negatives:
            if not params.user_id:
                raise ConfigError(join_path(where_params, "user_id"), "hard negatives are read per user",
                                  "the user id feature", None)
            self.hard_negatives = HardNegatives(user_rows, params.num_hard_negatives)
        self.sim_w = nn.Parameter(torch.ones(1)) if params.scale_simi else None
        self.sim_b = nn.Parameter(torch.zeros(1)) if params.scale_simi else None
        self._l2, self._emb_reg = params.l2_regularization, config.embedding_regularization
        self._kernels = l2_kernels(self, params.l2_scope)

    # ------------------------------------------------------------------ data
    def fit_training_data(self, batch: Batch) -> None:
        """Fill the catalogue from the whole training batch (item ids, frequencies, features, seen items)."""
        self.check_batch(batch, "train data")
        self.catalogue.fit(batch.features[self.item_id],
                           {name: batch.features[name] for name in self.catalogue.feature_buffers},
                           batch.features[self.user_id] if self.user_id else None)

    def fit_hard_negatives(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> None:
        """Hold the (user, item) hard-negative edges ``(R,)``; items the training data never had
        (no features to score them) are left out. Call after :meth:`fit_training_data`."""
        if self.hard_negatives is None:
            raise ConfigError("model.model_params.num_hard_negatives", "hard-negative edges were given to a model "
                              "that reads none", "num_hard_negatives > 0", 0)
        device = self.catalogue.known.device
        users, items = user_ids.to(device).long(), item_ids.to(device).long()
        inside = (items >= 0) & (items < self.catalogue.num_items)
        users, items = users[inside], items[inside]
        known = self.catalogue.known[items]
        self.hard_negatives.fit(users[known], items[known])

    def _hard_negative_logits(self, user: torch.Tensor, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` scores of each row's hard negatives (-inf where absent or the row's own item)."""
        assert self.hard_negatives is not None
        hard, valid = self.hard_negatives.lookup(users)  # (B, K)
        vectors = self.item_vectors(self.catalogue.item_features(hard.reshape(-1))).view(*hard.shape, -1)
        scores = self.similarity((user.unsqueeze(1) * vectors).sum(-1))
        return scores.masked_fill(~valid | (hard == items[:, None]), float("-inf"))

    def add_seen_interactions(self, batch: Batch) -> None:
        """Add the (user, item) rows of ``batch`` to the items excluded from each user's ranking.

        A run adds its valid split: a test row's candidates then leave out the user's valid
        item too (the user's whole known history), a valid row's own target staying in.
        """
        if self.user_id and self.user_id in batch.features and self.item_id in batch.features:
            self.catalogue.add_seen(batch.features[self.item_id], batch.features[self.user_id])

    # ------------------------------------------------------------------ towers
    def _towers(self, features: Mapping[str, torch.Tensor], context: ForwardContext) -> tuple[Any, Any, Any, Any]:
        emb = self.embeddings(features)
        out = self.backbone(emb, context)
        user, item = out[self.params.user_tower_idx_in_output], out[self.params.item_tower_idx_in_output]
        index = self.params.user_interests_idx_in_output
        interests = out[index] if index is not None else None
        if self.params.simi_func == "COSINE":
            user, item = F.normalize(user, dim=-1), F.normalize(item, dim=-1)
            interests = F.normalize(interests, dim=-1) if interests is not None else None
        return user, item, emb, interests

    def _filled(self, features: Mapping[str, torch.Tensor], rows: int, device: torch.device) -> dict[str, Any]:
        """``features`` plus placeholders (out-of-vocabulary ids, zeros) for every other embedded feature."""
        filled = dict(features)
        for slot in self.embeddings.slots.values():
            if slot.feature in filled:
                continue
            if slot.kind == "dense" or slot.numeric:
                shape = ((rows, slot.max_len) if slot.numeric else (rows,)) + ((slot.width,) if slot.width > 1 else ())
                filled[slot.feature] = torch.zeros(shape, device=device)
            else:
                shape = ((rows, slot.max_len) if slot.is_list else (rows,)) + (
                    (slot.element_len,) if slot.element_len else ())
                filled[slot.feature] = torch.full(shape, OOV_ID, dtype=torch.int64, device=device)
                if slot.weighted:
                    filled[weight_key(slot.feature)] = torch.ones(shape, device=device)
        return filled

    def item_vectors(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Item vectors ``(R, D)`` of item feature rows (the user tower sees placeholders, its output is dropped)."""
        rows = next(iter(features.values())).shape[0]
        device = self.catalogue.known.device
        _, item, _, _ = self._towers(self._filled(features, rows, device), ForwardContext(False))
        return item

    def catalogue_vectors(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Item vectors ``(M, D)`` of catalogue items ``ids`` (default: the whole catalogue)."""
        ids = self.catalogue.item_ids() if ids is None else ids
        return self.item_vectors(self.catalogue.item_features(ids))

    def user_vectors(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """User vectors ``(B, D)`` of user feature rows (item features may be absent)."""
        rows = next(iter(features.values())).shape[0]
        user, _, _, _ = self._towers(self._filled(features, rows, self.catalogue.known.device), ForwardContext(False))
        return user

    # ------------------------------------------------------------------ the model contract
    def forward(self, batch: Batch | Mapping[str, torch.Tensor]) -> MatchOutput:
        """User and item vectors of each row, with the blocks' extra outputs and losses."""
        features, labels = (batch.features, batch.labels) if isinstance(batch, Batch) else (batch, {})
        context = ForwardContext(self.training, labels)
        user, item, emb, interests = self._towers(features, context)
        return MatchOutput(user, item, context.outputs, context.losses, emb.looked_up, interests)

    def similarity(self, scores: torch.Tensor) -> torch.Tensor:
        """EasyRec's score: cosine / temperature (inner product as is), then ``|w| s + b`` with scale_simi."""
        if self.params.simi_func == "COSINE":
            scores = scores / self.params.temperature
        if self.sim_w is not None and self.sim_b is not None:
            scores = scores * self.sim_w.abs() + self.sim_b
        return scores

    def loss(self, outputs: MatchOutput, batch: Batch) -> LossTerms:
        """Softmax over in-batch (and sampled) items, block losses and regularization."""
        items = batch.features[self.item_id]
        if self.params.loss_type == "FULL_SOFTMAX":
            return self._full_softmax_loss(outputs, items)
        logits = self.similarity(outputs.user @ outputs.item.T)  # (B, B)
        duplicate = (items[None, :] == items[:, None]) & ~torch.eye(len(items), dtype=torch.bool,
                                                                    device=items.device)
        logits = logits.masked_fill(duplicate, float("-inf"))
        if not self.params.in_batch_negatives:  # only the row's own item among the batch's items
            logits = logits.masked_fill(~torch.eye(len(items), dtype=torch.bool, device=items.device), float("-inf"))
        sampled = self.params.loss_type == "SAMPLED_SOFTMAX"
        if self.params.logq_correction:  # in-batch items are drawn by frequency too (Yi et al., 2019)
            logits = logits - self.catalogue.log_q[items][None, :]
        if sampled and self.params.num_negatives > 0:
            probs = self.catalogue.log_q.exp() * self.catalogue.known
            negatives = torch.multinomial(probs, self.params.num_negatives, replacement=True)  # (N,)
            neg_vectors = self.item_vectors(self.catalogue.item_features(negatives))
            extra = self.similarity(outputs.user @ neg_vectors.T)  # (B, N)
            extra = extra.masked_fill(negatives[None, :] == items[:, None], float("-inf"))
            if self.params.logq_correction:
                extra = extra - self.catalogue.log_q[negatives][None, :]
            logits = torch.cat([logits, extra], dim=1)
        if self.hard_negatives is not None and self.user_id:  # no logQ: not drawn by frequency
            logits = torch.cat([logits, self._hard_negative_logits(outputs.user, batch.features[self.user_id], items)],
                               dim=1)
        softmax = F.cross_entropy(logits, torch.arange(len(items), device=logits.device))
        return self._loss_terms("sampled_softmax" if sampled else "in_batch_softmax", softmax, outputs)

    def _full_softmax_loss(self, outputs: MatchOutput, items: torch.Tensor) -> LossTerms:
        """Softmax over the whole catalogue: every training item is a candidate of every row."""
        ids = self.catalogue.item_ids()  # (M,)
        columns = torch.full((self.catalogue.num_items,), -1, dtype=torch.int64, device=ids.device)
        columns[ids] = torch.arange(ids.shape[0], device=ids.device)
        logits = self.similarity(outputs.user @ self.catalogue_vectors(ids).T)  # (B, M)
        return self._loss_terms("full_softmax", F.cross_entropy(logits, columns[items], ignore_index=-1), outputs)

    def _loss_terms(self, name: str, softmax: torch.Tensor, outputs: MatchOutput) -> LossTerms:
        """The softmax term plus the blocks' weighted auxiliary losses and regularization."""
        regularization = self.regularization_loss(outputs)
        total = softmax + regularization
        auxiliary = {}
        for aux_name, (value, weight) in outputs.auxiliary.items():
            auxiliary[aux_name] = value
            total = total + weight * value
        return LossTerms(total, {name: softmax}, auxiliary, regularization)

    def regularization_loss(self, outputs: MatchOutput) -> torch.Tensor:
        """``l2_regularization`` on dense kernels and embedding regularization of the lookups."""
        return weight_penalty(self._kernels, self._l2, outputs.lookups, self._emb_reg, outputs.user.device)

    def evaluator(self, gauc_group: str | None = None) -> CatalogueEvaluator:
        """Recall@K, NDCG@K, HitRate@K against the whole catalogue (seen items excluded by default)."""
        return CatalogueEvaluator(self, self.params.top_k, self.params.exclude_seen)

    def predictions(self, outputs: MatchOutput) -> dict[str, torch.Tensor]:
        """``score`` of each row's (user, item) pair, then the blocks' extra outputs."""
        return {"score": self.similarity((outputs.user * outputs.item).sum(dim=-1)), **outputs.extra}

    def check_batch(self, batch: Batch, where: str = "train batch") -> None:
        """The item id (and user id) features are in the batch."""
        for name in (self.item_id, self.user_id):
            if name and name not in batch.features:
                raise DataError(where, f"feature '{name}' missing from the batch", f"one of {sorted(batch.features)}",
                                repr(name))

    def summary_rows(self) -> list[dict[str, Any]]:
        """Plan rows: embeddings, the backbone's blocks, the two towers."""
        rows = [{"scope": "model", "block": "embeddings", "body": "fused lookup",
                 "inputs": [f"{len(self.embeddings.slots)} slots"], "output": "per feature (B, D)",
                 "params": sum(p.numel() for p in self.embeddings.parameters())}]
        rows += self.backbone.describe()
        rows.append({"scope": "model", "block": "similarity", "body": self.params.simi_func,
                     "inputs": [self.user_block, self.item_block], "output": f"(B, B) from (B, {self.dim})",
                     "params": 2 if self.sim_w is not None else 0})
        return rows
