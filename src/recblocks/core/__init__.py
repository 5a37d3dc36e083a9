"""Errors, registry, typed params, static shapes and safe file writes: the base every other package builds on."""

from recblocks.core.context import ForwardContext, LossTerms
from recblocks.core.errors import (
    ConfigError,
    DataError,
    RecBlocksError,
    SchemaError,
    ShapeError,
    did_you_mean,
    format_message,
)
from recblocks.core.files import FileAccessError, atomic_write, resolve_path
from recblocks.core.params import Params, join_path, parse_params
from recblocks.core.registry import COMPONENTS, ClassEntry, ComponentSpec, Registry, RegistryEntry
from recblocks.core.shapes import META_BATCH, Spec, TensorSpec, describe_spec, spec_from_value, spec_to_meta

__all__ = [
    "COMPONENTS",
    "ClassEntry",
    "ComponentSpec",
    "ConfigError",
    "DataError",
    "FileAccessError",
    "ForwardContext",
    "LossTerms",
    "META_BATCH",
    "Params",
    "RecBlocksError",
    "Registry",
    "RegistryEntry",
    "SchemaError",
    "ShapeError",
    "Spec",
    "TensorSpec",
    "atomic_write",
    "describe_spec",
    "did_you_mean",
    "format_message",
    "join_path",
    "parse_params",
    "resolve_path",
    "spec_from_value",
    "spec_to_meta",
]
