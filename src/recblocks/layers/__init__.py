"""The component library: every module here registers its components in ``COMPONENTS``.

Importing ``recblocks.layers`` registers them all (explicit imports, no directory walking).
"""

from recblocks.layers import (
    activations,
    base,
    bilinear,
    cin,
    cross,
    cross_mix,
    dot,
    fibinet,
    field_inputs,
    fm,
    keras,
    mlp,
    normalization,
    senet,
)
from recblocks.layers.activations import (
    ACTIVATIONS,
    INITIALIZERS,
    Dice,
    activation_key,
    check_activation,
    initialize,
    initializer_key,
    make_activation,
)
from recblocks.layers.base import Component, field_list_spec, stack_fields, tensor_spec
from recblocks.layers.bilinear import BiLinear, BiLinearParams
from recblocks.layers.cin import CIN, CINParams
from recblocks.layers.cross import Cross, CrossNet, CrossNetParams, CrossParams
from recblocks.layers.cross_mix import CrossNetMix, CrossNetMixParams
from recblocks.layers.dot import DotInteraction, DotInteractionParams
from recblocks.layers.fibinet import FiBiNet, FiBiNetParams
from recblocks.layers.fm import FM, FMParams
from recblocks.layers.keras import (
    Activation,
    ActivationParams,
    Add,
    AddParams,
    Concatenate,
    ConcatenateParams,
    Dense,
    DenseParams,
    Dropout,
    DropoutParams,
    Flatten,
    FlattenParams,
    SameShape,
    float_tensor_spec,
    tensor_list_spec,
)
from recblocks.layers.mlp import MLP, MLPParams
from recblocks.layers.normalization import (
    BatchNormalization,
    BatchNormalizationParams,
    LayerNormalization,
    LayerNormalizationParams,
)
from recblocks.layers.senet import SENet, SENetParams


__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "Activation",
    "ActivationParams",
    "Add",
    "AddParams",
    "BatchNormalization",
    "BatchNormalizationParams",
    "BiLinear",
    "BiLinearParams",
    "CIN",
    "CINParams",
    "Component",
    "Concatenate",
    "ConcatenateParams",
    "Cross",
    "CrossNet",
    "CrossNetMix",
    "CrossNetMixParams",
    "CrossNetParams",
    "CrossParams",
    "Dense",
    "DenseParams",
    "Dice",
    "DotInteraction",
    "DotInteractionParams",
    "Dropout",
    "DropoutParams",
    "FM",
    "FMParams",
    "FiBiNet",
    "FiBiNetParams",
    "Flatten",
    "FlattenParams",
    "LayerNormalization",
    "LayerNormalizationParams",
    "MLP",
    "MLPParams",
    "SENet",
    "SENetParams",
    "SameShape",
    "activation_key",
    "activations",
    "base",
    "bilinear",
    "check_activation",
    "cin",
    "cross",
    "cross_mix",
    "dot",
    "fibinet",
    "field_inputs",
    "field_list_spec",
    "float_tensor_spec",
    "fm",
    "initialize",
    "initializer_key",
    "keras",
    "make_activation",
    "mlp",
    "normalization",
    "senet",
    "stack_fields",
    "tensor_list_spec",
    "tensor_spec",
]
