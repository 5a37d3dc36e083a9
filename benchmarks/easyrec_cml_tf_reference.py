"""TensorFlow's values of EasyRec's in-batch metrics and metric-learning losses on one fixed batch.

Not a benchmark of recblocks: a reference. Run it where TensorFlow is installed (recblocks does
not depend on it), e.g. ``python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu
&& /tmp/tf/bin/python benchmarks/easyrec_cml_tf_reference.py``. It computes, with TensorFlow's
own ops, what EasyRec's ``CoMetricLearningI2I`` computes (``easy_rec/python/core/metrics.py``:
``recall_at_topk`` through ``tf.compat.v1.metrics.recall_at_k``, ``precision_at_topk`` through
``average_precision_at_k``; ``easy_rec/python/loss/``: circle loss, multi-similarity loss) and
prints them as JSON; ``tests/metrics/test_in_batch.py`` and ``tests/tasks/test_metric_losses.py``
hold the figures it printed (TensorFlow 2.21.0) for the same batch. The multi-similarity value is
the ``B x B`` form recblocks computes; ``ms_easyrec_broadcast`` is what EasyRec's function gives,
its labels reshaped to a column so that its pair mask broadcasts to ``B x B x B``.
"""

from __future__ import annotations

import json

import numpy as np

#: The fixed batch (the same literals as the tests').
EMBEDDINGS = [[0.0, 0.3, -0.27], [-0.89, -0.45, -0.99], [0.06, 1.34, -0.49], [-0.62, 0.49, 0.36],
              [0.11, -0.93, -0.03], [0.7, -1.34, -0.46], [-1.9, -1.29, -1.84], [-0.24, -1.27, 0.27],
              [0.16, -0.19, -2.52], [-0.54, -0.05, 0.11], [-1.53, -0.48, -0.98], [-0.81, 1.06, -0.81]]
LABELS = [0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1]
SESSIONS = [2, 2, 2, 1, 0, 2, 1, 0, 0, 1, 2, 1]
KS = (1, 3, 5)


def main() -> None:
    import tensorflow as tf

    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    emb = tf.constant(np.asarray(EMBEDDINGS, np.float32))
    labels, sessions = tf.constant(LABELS, tf.int64), tf.constant(SESSIONS, tf.int64)
    rows = len(LABELS)
    unit = tf.nn.l2_normalize(emb, axis=1)
    cosines = tf.matmul(unit, unit, transpose_b=True)
    scores = cosines - tf.eye(rows) * 2.0
    same = tf.logical_and(tf.equal(labels[None, :], labels[:, None]), tf.equal(sessions[None, :], sessions[:, None]))
    positive = tf.logical_and(tf.logical_not(tf.eye(rows, dtype=tf.bool)), same)
    updates = {}
    for k in KS:
        _, wanted = tf.nn.top_k(tf.where(positive, scores, -tf.ones_like(scores)), k)
        updates[f"recall@{k}"] = tf1.metrics.recall_at_k(tf.cast(wanted, tf.int64), scores, k)[1]
        # each row's relevant columns (itself included), padded with its largest one
        found = tf.where(same)
        counts = tf.math.bincount(tf.cast(found[:, 0], tf.int32), minlength=rows)
        width, starts = tf.reduce_max(counts), tf.concat([[0], tf.cumsum(counts[:-1])], axis=0)
        steps = tf.range(width)
        columns = tf.gather(found[:, 1], tf.minimum(starts[:, None] + steps, tf.shape(found)[0] - 1))
        columns = tf.where(counts[:, None] > steps, columns, -tf.ones_like(columns))
        columns = tf.where(columns >= 0, columns, tf.reduce_max(columns, axis=1, keepdims=True) + 0 * columns)
        updates[f"map@{k}"] = tf1.metrics.average_precision_at_k(columns, scores, k)[1]
    pos, neg = tf.cast(positive, tf.float32), 1.0 - tf.cast(positive, tf.float32) - tf.eye(rows)
    margin, gamma = 0.25, 64.0
    a_p = tf.nn.relu(-tf.stop_gradient(cosines * pos) + 1 + margin)
    a_n = tf.nn.relu(tf.stop_gradient(cosines * neg) + margin)
    logit_p = -a_p * (cosines - (1 - margin)) * gamma * pos - (1 - pos) * 1e12
    logit_n = a_n * (cosines - margin) * gamma * neg - (1 - neg) * 1e12
    circle = tf.reduce_mean(tf.nn.softplus(tf.reduce_logsumexp(logit_n, -1) + tf.reduce_logsumexp(logit_p, -1)))

    def multi_similarity(pos_mask, neg_mask, alpha=2.0, beta=50.0, lamb=1.0):
        s = tf.maximum(cosines, 0.0)
        pos_exp = tf.where(pos_mask > 0, tf.exp(-alpha * (s * pos_mask - lamb)), tf.zeros_like(s * pos_mask))
        neg_exp = tf.where(neg_mask > 0, tf.exp(beta * (s * neg_mask - lamb)), tf.zeros_like(s * neg_mask))
        return tf.reduce_mean(tf.math.log(1.0 + tf.reduce_sum(pos_exp, 1)) / alpha
                              + tf.math.log(1.0 + tf.reduce_sum(neg_exp, 1)) / beta)

    column = tf.reshape(labels, [-1, 1])
    cube = tf.logical_and(tf.logical_not(tf.eye(rows, dtype=tf.bool)), tf.logical_and(
        tf.equal(tf.expand_dims(column, 0), tf.expand_dims(column, 1)),
        tf.equal(sessions[None, :], sessions[:, None])))  # (B, B, 1) with (B, B): (B, B, B)
    cube_pos = tf.cast(cube, tf.float32)
    with tf1.Session() as session:
        session.run(tf1.local_variables_initializer())
        values = session.run(updates)
        values.update(session.run({"circle_loss": circle, "multi_similarity_loss": multi_similarity(pos, neg),
                                   "ms_easyrec_broadcast": multi_similarity(cube_pos, 1.0 - cube_pos - tf.eye(rows))}))
    print(json.dumps({key: float(value) for key, value in values.items()}, indent=1))


if __name__ == "__main__":
    main()
