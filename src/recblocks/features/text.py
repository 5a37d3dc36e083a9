"""Text normalisation of string features, applied before splitting and lookup (EasyRec ``TextNormalize``).

A feature's ``normalize`` option (sparse, hashed, multi and sequence features) rewrites its
strings in both ``fit`` and ``transform``, so vocabularies, hashes and the ids a model sees
all come from the normalised text. The steps run in this order, each over the whole column
with pyarrow.compute (no Python per row); a list column is normalised element by element:

* ``full_to_half_width``: full-width ASCII forms ``U+FF01..U+FF5E`` become ``!..~`` and the
  ideographic space ``U+3000`` a space (nothing else changes: not NFKC);
* ``lowercase``: Unicode lower case;
* ``remove_space``: every whitespace character is removed (EasyRec ``remove_space``), so the
  feature's ``separator`` cannot be whitespace.

EasyRec's ``TextNormalize`` layer runs a custom op on raw strings inside the model, with an
integer ``norm_parameter`` whose bits are not documented; recblocks models never see strings,
so normalisation is this feature option, with one named switch per step.
Traditional-to-simplified Chinese conversion is not supported: it needs a conversion table
(e.g. OpenCC), which is not a dependency; convert such columns before reading them.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import model_validator

from recblocks.core.params import Params

__all__ = ["TextNormalization", "normalize_strings", "normalize_column"]

_FULL_WIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)]
_FULL_WIDTH_PATTERN = "[\uff01-\uff5e\u3000]"


class TextNormalization(Params):
    """The ``normalize`` option of a string feature (see the module docstring).

    Example:
        >>> import pyarrow as pa
        >>> norm = TextNormalization(lowercase=True, full_to_half_width=True)
        >>> normalize_strings(pa.array(["ＡＢｃ１", None, "Hi There"]), norm).to_pylist()
        ['abc1', None, 'hi there']
    """

    lowercase: bool = False
    full_to_half_width: bool = False
    remove_space: bool = False
    traditional_to_simplified: bool = False

    @model_validator(mode="after")
    def _supported(self) -> "TextNormalization":
        if self.traditional_to_simplified:
            raise ValueError("traditional_to_simplified is not supported: it needs a conversion table (e.g. OpenCC), "
                             "which recblocks does not depend on; convert the column before reading it")
        return self

    @property
    def is_identity(self) -> bool:
        return not (self.lowercase or self.full_to_half_width or self.remove_space)


def normalize_strings(strings: pa.Array, options: TextNormalization) -> pa.Array:
    """The normalised form of a string array (nulls stay null)."""
    if options.full_to_half_width:
        strings = _half_width(strings)
    if options.lowercase:
        strings = pc.utf8_lower(strings)
    if options.remove_space:
        strings = pc.replace_substring_regex(strings, r"\s+", "")
    return strings


def _half_width(strings: pa.Array) -> pa.Array:
    """Full-width ASCII forms and the ideographic space to ASCII, only on the rows that hold one."""
    has = pc.fill_null(pc.match_substring_regex(strings, _FULL_WIDTH_PATTERN), False)
    if not pc.any(has).as_py():
        return strings
    part = strings.filter(has)
    part = pc.replace_substring(part, "\u3000", " ")
    for char in _FULL_WIDTH:
        part = pc.replace_substring(part, char, chr(ord(char) - 0xFEE0))
    return pc.replace_with_mask(strings, has, part)


def normalize_column(array: pa.Array, options: TextNormalization | None) -> pa.Array:
    """Normalise a string column, or the string elements of a list column; other columns are returned as is."""
    if options is None or options.is_identity:
        return array
    t = array.type
    if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        array, t = array.dictionary_decode(), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return normalize_strings(array, options)
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
            pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        values = normalize_strings(pc.list_flatten(array), options)
        lengths = pc.fill_null(pc.list_value_length(array), 0)
        offsets = pa.concat_arrays([pa.array([0], lengths.type), pc.cumulative_sum(lengths)])
        if pa.types.is_list(t):
            offsets = offsets.cast(pa.int32())
        mask = pc.is_null(array) if array.null_count else None
        builder = pa.ListArray if pa.types.is_list(t) else pa.LargeListArray
        return builder.from_arrays(offsets, values, mask=mask)
    return array
