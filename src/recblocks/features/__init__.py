"""Feature schema, feature groups, the preprocessor (fit/transform) and the Batch container."""

from recblocks.features.batch import Batch
from recblocks.features.groups import FeatureGroupConfig, FeatureGroups
from recblocks.features.columns import encode_extra
from recblocks.features.dynamic_vocab import DynamicVocabulary
from recblocks.features.dynamic_vocab_config import DynamicVocabularyConfig
from recblocks.features.preprocess import LABEL_TYPES, Preprocessor
from recblocks.features.schema import (
    FIRST_ID,
    ID_KINDS,
    OOV_ID,
    PADDING_ID,
    BucketizedFeature,
    DenseFeature,
    FeatureConfig,
    HashedFeature,
    MultiFeature,
    Schema,
    SequenceFeature,
    SparseFeature,
    parse_feature,
)
from recblocks.features.stats import FeatureCounts, TransformReport

__all__ = [
    "Batch",
    "BucketizedFeature",
    "DenseFeature",
    "DynamicVocabulary",
    "DynamicVocabularyConfig",
    "FIRST_ID",
    "FeatureConfig",
    "FeatureCounts",
    "FeatureGroupConfig",
    "FeatureGroups",
    "HashedFeature",
    "ID_KINDS",
    "LABEL_TYPES",
    "MultiFeature",
    "OOV_ID",
    "PADDING_ID",
    "Preprocessor",
    "Schema",
    "SequenceFeature",
    "SparseFeature",
    "TransformReport",
    "encode_extra",
    "parse_feature",
]
