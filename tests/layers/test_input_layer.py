"""The input layer's options applied as EasyRec's ``InputLayer`` applies them (recblocks.layers.input_layer)."""

from __future__ import annotations

import torch

from tests.blocks.test_backbone import batch, build


def _group_input(options: str, reader: str = "{name: y, inputs: [{block_name: x}]}"):
    model = build(f"blocks: [{{name: x, inputs: [{{feature_group_name: all}}], input_layer: {options}}}, {reader}]")
    layer = model.backbone.blocks["x"]
    emb = model.embeddings(batch(8))
    raw = [emb.pooled[k] for k in layer.keys]
    return layer, emb, raw


def test_feature_dropout_draws_one_mask_per_feature_for_the_whole_batch():
    layer, emb, raw = _group_input("{feature_dropout_rate: 0.5, only_output_feature_list: true}",
                                   "{name: y, inputs: [{block_name: x}], component: {class_name: Concatenate}}")
    layer.train()
    torch.manual_seed(3)
    dropped = kept = 0
    for _ in range(20):
        for out, f in zip(layer(emb), raw):
            if torch.count_nonzero(out) == 0:
                dropped += 1  # the whole column is gone, in every row
            else:
                torch.testing.assert_close(out, f * 2.0)  # kept for every row, scaled by 1 / keep
                kept += 1
    assert dropped and kept
    layer.eval()
    for out, f in zip(layer(emb), raw):
        torch.testing.assert_close(out, f)  # evaluation: no feature dropout


def test_feature_dropout_normalises_per_feature_and_skips_the_concat_norm_and_dropout():
    layer, emb, raw = _group_input("{feature_dropout_rate: 0.5, do_batch_norm: true, dropout_rate: 0.3}")
    assert set(layer.norms) == {"concat", "fields"}  # separate parameters for both, as in EasyRec
    layer.train()
    torch.manual_seed(0)
    out = layer(emb)
    widths = [f.shape[1] for f in raw]
    for piece, f, norm in zip(torch.split(out, widths, dim=1), raw, layer.norms["fields"]):
        expected = torch.nn.functional.batch_norm(f, None, None, norm.weight, norm.bias, training=True,
                                                  eps=norm.eps)
        if torch.count_nonzero(piece):
            torch.testing.assert_close(piece, expected * 2.0)  # no ordinary dropout on a 2-D output here


def test_without_feature_dropout_the_concat_and_the_list_have_their_own_norms():
    layer, emb, raw = _group_input("{do_layer_norm: true, output_2d_tensor_and_feature_list: true}",
                                   "{name: y, inputs: [{block_name: x, input_slice: '[0]'}]}")
    layer.eval()
    concat, fields = layer(emb)
    torch.testing.assert_close(concat, layer.norms["concat"](torch.cat(raw, dim=1)))
    for out, f, norm in zip(fields, raw, layer.norms["fields"]):
        torch.testing.assert_close(out, norm(f))


def test_sequence_output_is_untouched_and_stays_lists_without_concat_seq_feature():
    from recblocks.features.schema import Schema
    from recblocks.models.config import parse_model_config
    from recblocks.models.rank_model import RankModel

    schema = Schema([{"name": "item", "kind": "sparse", "embedding_dim": 4, "embedding_name": "item"},
                     {"name": "cat", "kind": "sparse", "embedding_dim": 2},
                     {"name": "hist", "kind": "sequence", "max_len": 3, "embedding_dim": 4, "embedding_name": "item"},
                     {"name": "hist_cat", "kind": "sequence", "max_len": 3, "embedding_dim": 2}])
    options = "{output_seq_and_normal_feature: true, concat_seq_feature: false, dropout_rate: 0.5, do_layer_norm: true}"
    config = {"feature_groups": [{"group_name": "seq", "feature_names": ["hist", "hist_cat", "item", "cat"]}],
              "backbone": {"blocks": [{"name": "s", "inputs": [{"feature_group_name": "seq"}],
                                       "input_layer": __import__("yaml").safe_load(options)},
                                      {"name": "t", "inputs": [{"block_name": "s", "input_slice": "[2][0]"}]}]},
              "task": {"type": "binary", "label": "label"}}
    model = RankModel(schema, parse_model_config(config), {"item": 10, "hist": 10, "cat": 5, "hist_cat": 5})
    layer = model.backbone.blocks["s"]
    assert not layer.norms  # EasyRec returns the sequence input before any option applies
    g = torch.Generator().manual_seed(0)
    feats = {"item": torch.randint(2, 10, (5,), generator=g), "cat": torch.randint(2, 5, (5,), generator=g),
             "hist": torch.randint(0, 10, (5, 3), generator=g), "hist_cat": torch.randint(0, 5, (5, 3), generator=g)}
    layer.train()
    emb = model.embeddings(feats)
    seqs, lengths, targets = layer(emb)
    assert [s.shape[-1] for s in seqs] == [4, 2] and [t.shape[-1] for t in targets] == [4, 2]
    torch.testing.assert_close(targets, [emb.pooled[k] for k in layer.keys])  # no dropout, no norm
