"""Ready-made datasets: MovieLens (GroupLens layouts; EasyRec or ml-100k-ctr columns, four split regimes),
a planted-model synthetic CTR set, splits."""

from recblocks.datasets.histories import add_histories
from recblocks.datasets.movielens import (
    GENRES_100K,
    OUTPUT_COLUMNS,
    apply_label,
    detect_layout,
    load_movielens,
    prepare_movielens,
)
from recblocks.datasets.movielens_ctr import CTR_COLUMNS, REGIMES, load_movielens_ctr, split_regime
from recblocks.datasets.splits import (
    group_split,
    leave_last_out_split,
    permutation_split,
    random_split,
    split_sizes,
    temporal_split,
)
from recblocks.datasets.synthetic import (
    CRITEO_LIKE_VOCAB_SIZES,
    CorrelatedTasksConfig,
    DEFAULT_SYNTHETIC,
    TRUE_PROB_COLUMN,
    MultiValuedConfig,
    SyntheticConfig,
    bayes_auc,
    make_synthetic,
    synthetic_schema,
    write_synthetic,
)
from recblocks.datasets.synthetic_multitask import make_multitask, multitask_bayes_auc

__all__ = [
    "CRITEO_LIKE_VOCAB_SIZES",
    "CTR_COLUMNS",
    "CorrelatedTasksConfig",
    "DEFAULT_SYNTHETIC",
    "GENRES_100K",
    "MultiValuedConfig",
    "OUTPUT_COLUMNS",
    "REGIMES",
    "SyntheticConfig",
    "TRUE_PROB_COLUMN",
    "add_histories",
    "apply_label",
    "bayes_auc",
    "detect_layout",
    "group_split",
    "leave_last_out_split",
    "load_movielens_ctr",
    "load_movielens",
    "make_multitask",
    "multitask_bayes_auc",
    "make_synthetic",
    "permutation_split",
    "prepare_movielens",
    "random_split",
    "split_regime",
    "split_sizes",
    "synthetic_schema",
    "temporal_split",
    "write_synthetic",
]
