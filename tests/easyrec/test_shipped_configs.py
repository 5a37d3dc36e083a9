"""EasyRec's own shipped configs and the seed model_config blocks parse with the schema.

Reads ``../shared/easyrec`` (224 configs) and ``../shared/seeds/000_*.txt`` in place; each
test skips with the reason when its input is absent.
"""

from __future__ import annotations

import warnings

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config, parse_pipeline_config
from tests.easyrec.conftest import EASYREC_CONFIGS, need_shipped_configs, seed_model_configs

MIN_STRICT_SHARE = 0.90


def test_shipped_configs_parse():
    files = need_shipped_configs()
    failures: dict[str, str] = {}
    for path in files:
        try:
            config = parse_pipeline_config(path)
        except ConfigError as error:
            failures[path.relative_to(EASYREC_CONFIGS).as_posix()] = str(error)
            continue
        assert config["model_config"]["model_class"], path  # a real pipeline, not an empty parse
    parsed = len(files) - len(failures)
    print(f"\nstrict: {parsed}/{len(files)} EasyRec configs parse ({parsed / len(files):.1%})")
    for name, reason in failures.items():
        print(f"  FAIL {name}: {reason}")
    assert parsed / len(files) >= MIN_STRICT_SHARE, failures
    # Every strict failure is a value given twice, which EasyRec's own reader (text_format.Merge)
    # resolves by keeping the last one: strict=False reads them all.
    for name in failures:
        assert "twice" in failures[name] or "oneof" in failures[name], failures[name]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            config = parse_pipeline_config(EASYREC_CONFIGS / name, strict=False)
        assert config["model_config"]["model_class"] and len(caught) == 1, name


def test_a_shipped_duplicate_keeps_the_last_value_like_easyrec():
    need_shipped_configs()
    path = EASYREC_CONFIGS / "samples" / "model_config" / "multi_tower_on_taobao_sok.config"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = parse_pipeline_config(path, strict=False)
    assert config["train_config"]["log_step_count_steps"] == 10  # line 7 says 100, line 22 says 10
    assert ":22:" in str(caught[0].message) and "log_step_count_steps" in str(caught[0].message)


def test_seed_model_config_blocks_parse():
    cases = seed_model_configs()
    assert sorted(cases) == list(range(1, 11))
    for number, block in cases.items():
        model = parse_model_config(block, name=f"seed case {number}")
        assert model["model_class"] in ("RankModel", "MultiTaskModel"), number
        assert model["feature_groups"] and model["backbone"]["blocks"], number
    # Case 5's PeriodicEmbedding takes a Struct: integral numbers come back as int.
    periodic = cases[5]
    params = parse_model_config(periodic)["backbone"]["blocks"][0]["keras_layer"]["st_params"]
    assert params == {"output_tensor_list": True, "embedding_dim": 16, "sigma": 0.005}
    assert type(params["embedding_dim"]) is int
