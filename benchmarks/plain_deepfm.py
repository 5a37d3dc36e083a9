"""A plain hand-written PyTorch DeepFM trained on a regime's files: the reference the zoo DeepFM must not trail.

The model is :class:`ceiling.CeilingDeepFM` (one offset-indexed table for the deep embeddings,
one for the first-order weights, FM + MLP, no biases) with the zoo DeepFM's settings
(``configs/ml100k_ctr/deepfm.yaml``): embedding width 16, MLP [256, 128, 64] + linear output,
embedding and kernel L2 ``1e-5``, Adam/SparseAdam at ``1e-3``, batch 1024, at most 15 epochs
with early stopping on valid AUC (patience 2) and the best epoch's weights restored. Ids are
dictionary-encoded on the training file only (valid/test values never seen in training share
the "unseen" row, as recblocks does). Nothing of recblocks' training code is used: it is what a
user would write by hand, so ``benchmarks/regimes.py --models plain_deepfm`` puts it in the
same tables as the zoo.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from ceiling import CeilingDeepFM, CeilingTrainer, EncodedData, pad_lists

from recblocks.metrics import auc, logloss

SPARSE = ["user_id", "movie_id", "gender", "age", "occupation", "zip3", "release_year"]
MULTI, SEPARATOR, MAX_LEN = "genres", "^", 6
SETTINGS = {"dim": 16, "hidden": [256, 128, 64], "reg": 1e-5, "lr": 1e-3, "batch": 1024, "epochs": 15,
            "patience": 2}


def _local_ids(values: pa.Array, vocabulary: pa.Array) -> np.ndarray:
    """0 = padding, 1 = unseen or missing, 2.. = the training vocabulary's values."""
    index = pc.index_in(values, value_set=vocabulary)
    return pc.fill_null(index, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 2


def encode(tables: dict[str, pa.Table]) -> dict[str, EncodedData]:
    """Encode every split with the vocabularies of ``tables["train"]``."""
    train = tables["train"]
    vocab = {n: pc.unique(train.column(n).combine_chunks().cast(pa.string()).drop_null()) for n in SPARSE}
    genre_lists = pc.split_pattern(train.column(MULTI).combine_chunks().cast(pa.string()), pattern=SEPARATOR)
    genres = pc.unique(pc.list_flatten(genre_lists).drop_null())
    out = {}
    for split, table in tables.items():
        ids = np.stack([_local_ids(table.column(n).combine_chunks().cast(pa.string()), vocab[n]) for n in SPARSE],
                       axis=1)
        lists = pc.split_pattern(table.column(MULTI).combine_chunks().cast(pa.string()), pattern=SEPARATOR)
        multi = pad_lists(lists, _local_ids(pc.list_flatten(lists), genres), MAX_LEN)
        labels = torch.from_numpy(table.column("label").to_numpy().astype(np.float32))
        out[split] = EncodedData(torch.from_numpy(ids), torch.from_numpy(multi), None, labels,
                                 [len(vocab[n]) + 2 for n in SPARSE], len(genres) + 2, list(SPARSE))
    return out


@torch.no_grad()
def probabilities(model: CeilingDeepFM, data: EncodedData, batch: int = 8192) -> np.ndarray:
    model.eval()
    parts = [torch.sigmoid(model(data.ids[i:i + batch], data.multi[i:i + batch], None))
             for i in range(0, len(data), batch)]
    return torch.cat(parts).numpy()


def run_plain(folder: Path, seed: int, select: bool) -> dict[str, Any]:
    """Train on ``folder/{train,valid,test}.parquet``; the record has the fields regimes.py logs."""
    splits = ("train", "valid") if select else ("train", "valid", "test")
    data = encode({s: pq.read_table(folder / f"{s}.parquet", columns=[*SPARSE, MULTI, "label"]) for s in splits})
    torch.manual_seed(seed)
    train = data["train"]
    model = CeilingDeepFM(train.vocab_sizes, train.multi_vocab, 0, SETTINGS["dim"], SETTINGS["hidden"])
    trainer = CeilingTrainer(model, lr=SETTINGS["lr"], embedding_reg=SETTINGS["reg"], l2=SETTINGS["reg"])
    best, best_state, best_epoch, history, seconds = -1.0, None, 0, [], 0.0
    start = time.perf_counter()
    for epoch in range(SETTINGS["epochs"]):
        took, _, _ = trainer.epoch(train, SETTINGS["batch"], seed, epoch)
        seconds += took
        valid_auc = auc(data["valid"].labels.numpy(), probabilities(model, data["valid"]))
        history.append(valid_auc)
        if valid_auc > best:
            best, best_state, best_epoch = valid_auc, copy.deepcopy(model.state_dict()), epoch + 1
        elif epoch + 1 - best_epoch >= SETTINGS["patience"]:
            break
    model.load_state_dict(best_state)
    valid_probs = probabilities(model, data["valid"])
    record: dict[str, Any] = {
        "valid_auc": auc(data["valid"].labels.numpy(), valid_probs),
        "valid_logloss": logloss(data["valid"].labels.numpy(), valid_probs),
        "best_epoch": best_epoch, "epochs_run": len(history), "valid_auc_by_epoch": history,
        "params": sum(p.numel() for p in model.parameters()),
        "samples_per_s": len(train) * len(history) / seconds, "wall_s": time.perf_counter() - start}
    if not select:
        labels = data["test"].labels.numpy()
        probs = probabilities(model, data["test"])
        record |= {"test_auc": auc(labels, probs), "test_logloss": logloss(labels, probs),
                   "test_positives": int(labels.sum()), "test_negatives": int(len(labels) - labels.sum())}
    return record
