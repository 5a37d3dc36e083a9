"""Two correlated tasks on the synthetic features: a click, and a conversion only after a click.

Selected by ``data.synthetic.multitask`` (a :class:`~recblocks.datasets.synthetic.CorrelatedTasksConfig`).
The features are those of :func:`~recblocks.datasets.synthetic.make_synthetic` (same fields, same
draws). Three planted models of the kind that module describes score every row: ``s`` (shared),
``a`` (click only) and ``b`` (conversion only), each standardized on a fixed reference sample.
With ``rho = shared_fraction`` and ``sigma = signal_std``:

* ``P(click) = sigmoid(bias_c + sigma * (sqrt(rho) s + sqrt(1 - rho) a))``;
* ``P(conversion | click) = sigmoid(bias_v + sigma * (sqrt(rho) s + sqrt(1 - rho) b))``;
* ``conversion = click * Bernoulli(P(conversion | click))``: never without a click, so
  ``P(conversion) = P(click) * P(conversion | click)`` over the entire space (ESMM's pCTCVR).

``bias_c`` / ``bias_v`` are set so that the mean probabilities on the reference sample are
``click_rate`` / ``conversion_rate``. Columns: the two labels, the features, and the answer
keys ``true_prob_<click>``, ``true_prob_cvr`` (given a click) and ``true_prob_<conversion>``
(entire space); answer keys are never features. :func:`multitask_bayes_auc` gives the
Bayes-optimal AUC of each task: click, conversion over the entire space, conversion over the
clicked rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from recblocks.core.errors import DataError
from recblocks.core.limits import MAX_SEED
from recblocks.datasets.synthetic import (
    _REFERENCE_ROWS,
    SyntheticConfig,
    _auc,
    _Planted,
    _sample,
    feature_columns,
)

__all__ = ["make_multitask", "multitask_bayes_auc", "CVR_PROB_COLUMN"]

#: The answer key of the conditional conversion probability.
CVR_PROB_COLUMN = "true_prob_cvr"


def _variant(c: SyntheticConfig, shared: _Planted, salt: int) -> _Planted:
    """Planted weights of their own on the shared model's features (same dense and missing-value law)."""
    planted = _Planted(c.model_copy(update={"seed": (c.seed * 7919 + salt) % (MAX_SEED + 1)}))
    planted.dense_mu, planted.dense_sigma = shared.dense_mu, shared.dense_sigma
    planted.missing_rates = shared.missing_rates
    return planted


def _bias(logits: np.ndarray, rate: float) -> float:
    low, high = -30.0, 30.0
    for _ in range(100):  # bisection: mean sigmoid(bias + logits) = rate
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(mid + logits)))) < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def make_multitask(c: SyntheticConfig) -> pa.Table:
    """The two-task table of ``c`` (``c.multitask`` set; see the module docstring).

    Example:
        >>> from recblocks.datasets.synthetic import CorrelatedTasksConfig, make_synthetic
        >>> t = make_synthetic(num_rows=2000, num_dense=1, vocab_sizes=[20, 30], seed=1,
        ...                    multitask=CorrelatedTasksConfig())
        >>> t.column_names
        ['click', 'conversion', 'I1', 'C1', 'C2', 'true_prob_click', 'true_prob_cvr', 'true_prob_conversion']
        >>> bool((t["conversion"].to_numpy() <= t["click"].to_numpy()).all())
        True
    """
    m = c.multitask
    if m is None:
        raise DataError("data.synthetic.multitask", "no task settings", "a CorrelatedTasksConfig", "none")
    if m.click_label == m.conversion_label:
        raise DataError("data.synthetic.multitask.conversion_label", "the two labels need distinct names",
                        f"a name other than {m.click_label!r}", repr(m.conversion_label))
    shared = _Planted(c)
    planted = [shared, _variant(c, shared, 101), _variant(c, shared, 202)]
    standard = []
    for p in planted:
        ref = _sample(c, p, _REFERENCE_ROWS, np.random.default_rng(np.random.SeedSequence([c.seed, 2])))["z"]
        std = float(ref.std())
        standard.append((float(ref.mean()), std if std > 0 else 1.0, ref))
    rho = m.shared_fraction
    mix = [np.sqrt(rho), np.sqrt(1.0 - rho)]

    def logit(task: int, zs: list[np.ndarray]) -> np.ndarray:
        return c.signal_std * (mix[0] * zs[0] + mix[1] * zs[task])

    ref_z = [(r - mean) / std for mean, std, r in standard]
    bias_click, bias_cvr = _bias(logit(1, ref_z), m.click_rate), _bias(logit(2, ref_z), m.conversion_rate)
    draws = [_sample(c, p, c.num_rows, np.random.default_rng(np.random.SeedSequence([c.seed, 3]))) for p in planted]
    z = [(d["z"] - mean) / std for d, (mean, std, _) in zip(draws, standard)]
    p_click = 1.0 / (1.0 + np.exp(-(bias_click + logit(1, z))))
    p_cvr = 1.0 / (1.0 + np.exp(-(bias_cvr + logit(2, z))))
    rng = np.random.default_rng(np.random.SeedSequence([c.seed, 4]))
    click = rng.random(c.num_rows) < p_click
    conversion = click & (rng.random(c.num_rows) < p_cvr)
    columns: dict[str, pa.Array] = {m.click_label: pa.array(click.astype(np.int64)),
                                    m.conversion_label: pa.array(conversion.astype(np.int64)),
                                    **feature_columns(c, draws[0])}
    columns[f"true_prob_{m.click_label}"] = pa.array(p_click)
    columns[CVR_PROB_COLUMN] = pa.array(p_cvr)
    columns[f"true_prob_{m.conversion_label}"] = pa.array(p_click * p_cvr)
    return pa.table(columns)


def multitask_bayes_auc(table: pa.Table, click: str = "click", conversion: str = "conversion") -> dict[str, float]:
    """Bayes-optimal AUC of each task: ``{click, conversion (entire space), conversion_clicked}``.

    The entire-space conversion is scored by ``P(click) P(conversion | click)``, the clicked
    rows' conversion by ``P(conversion | click)``.
    """
    needed = [click, conversion, f"true_prob_{click}", f"true_prob_{conversion}", CVR_PROB_COLUMN]
    for name in needed:
        if name not in table.column_names:
            raise DataError(f"column '{name}'", "column is missing (is this a multi-task synthetic table?)",
                            f"one of {table.column_names}", repr(name), choices=table.column_names)
    clicked = table[click].to_numpy().astype(bool)
    converted = table[conversion].to_numpy()
    return {click: _auc(table[click].to_numpy(), table[f"true_prob_{click}"].to_numpy()),
            conversion: _auc(converted, table[f"true_prob_{conversion}"].to_numpy()),
            f"{conversion}_clicked": _auc(converted[clicked], table[CVR_PROB_COLUMN].to_numpy()[clicked])}
