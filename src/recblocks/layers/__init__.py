"""The component library: every module here registers its components in ``COMPONENTS``.

Importing ``recblocks.layers`` registers them all (explicit imports, no directory walking).
"""

from recblocks.layers import (
    activations, aitm, aux_losses, base, bst, cross, dien, din, dmr, dot, experts, fm, keras, mlp, normalization,
    ple, seq_augment, sequence, snr,
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
from recblocks.layers.aitm import AITMTower, AITMTowerParams
from recblocks.layers.aux_losses import AuxiliaryLoss, AuxiliaryLossParams, info_nce_loss, l2_loss, nce_loss
from recblocks.layers.base import Component, block_name, field_list_spec, stack_fields, tensor_spec
from recblocks.layers.bst import BST, BSTParams, SequenceEncoder, TextEncoder, TextEncoderParams, TransformerParams
from recblocks.layers.cross import Cross, CrossNet, CrossNetParams, CrossParams
from recblocks.layers.dien import DIEN, DIENParams, evolve_step
from recblocks.layers.din import DIN, DINParams
from recblocks.layers.dmr import DMRU2I, DMRU2IParams
from recblocks.layers.dot import DotInteraction, DotInteractionParams
from recblocks.layers.experts import MMoE, MMoEParams, POSOMMoE, POSOMMoEParams, load_balance_loss, mix_experts
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
from recblocks.layers.ple import CGC, CGCParams, PLE, PLEParams
from recblocks.layers.seq_augment import SeqAugment, SeqAugmentParams
from recblocks.layers.sequence import SEQUENCE_INPUT, SequenceSpec, length_mask, sequence_spec, split_sequence
from recblocks.layers.snr import SNR, SNRParams, hard_concrete_gate

__all__ = [
    "ACTIVATIONS",
    "AITMTower",
    "AITMTowerParams",
    "Activation",
    "ActivationParams",
    "Add",
    "AddParams",
    "AuxiliaryLoss",
    "AuxiliaryLossParams",
    "BST",
    "BSTParams",
    "BatchNormalization",
    "BatchNormalizationParams",
    "CGC",
    "CGCParams",
    "Component",
    "Concatenate",
    "ConcatenateParams",
    "Cross",
    "CrossNet",
    "CrossNetParams",
    "CrossParams",
    "DIEN",
    "DIENParams",
    "DIN",
    "DINParams",
    "DMRU2I",
    "DMRU2IParams",
    "Dense",
    "DenseParams",
    "Dice",
    "DotInteraction",
    "DotInteractionParams",
    "Dropout",
    "DropoutParams",
    "FM",
    "FMParams",
    "Flatten",
    "FlattenParams",
    "INITIALIZERS",
    "LayerNormalization",
    "LayerNormalizationParams",
    "MLP",
    "MLPParams",
    "MMoE",
    "MMoEParams",
    "PLE",
    "PLEParams",
    "POSOMMoE",
    "POSOMMoEParams",
    "SEQUENCE_INPUT",
    "SNR",
    "SNRParams",
    "SameShape",
    "SeqAugment",
    "SeqAugmentParams",
    "SequenceEncoder",
    "SequenceSpec",
    "TextEncoder",
    "TextEncoderParams",
    "TransformerParams",
    "activation_key",
    "activations",
    "aitm",
    "aux_losses",
    "base",
    "block_name",
    "bst",
    "check_activation",
    "cross",
    "dien",
    "din",
    "dmr",
    "dot",
    "evolve_step",
    "experts",
    "field_list_spec",
    "float_tensor_spec",
    "fm",
    "hard_concrete_gate",
    "info_nce_loss",
    "initialize",
    "initializer_key",
    "keras",
    "l2_loss",
    "length_mask",
    "make_activation",
    "load_balance_loss",
    "mix_experts",
    "mlp",
    "nce_loss",
    "normalization",
    "ple",
    "seq_augment",
    "sequence",
    "sequence_spec",
    "snr",
    "split_sequence",
    "stack_fields",
    "tensor_list_spec",
    "tensor_spec",
]
