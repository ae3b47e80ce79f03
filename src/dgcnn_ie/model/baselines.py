"""The two baselines after the method's predecessor (method.md §8 row 2): ``bilstm`` and ``kg2019_baseline``.

Both have sigmoid subject heads and softmax object heads over "no object" + C predicates whose C predicate
channels are the outputs, so the shared decoder applies unchanged; training gives them the categorical object
loss (``losses.has_softmax_objects``). Neither has gates.
"""

from __future__ import annotations

from keras import layers

from ..config import ModelConfig
from .blocks import embed, ungated_outputs
from .layers import (
    ApplyMask,
    BroadcastToSequence,
    MaskedMaxPool,
    PaddingMask,
    PredicateChannels,
    SequenceMask,
    SpanPoints,
)


def bilstm(model_config: ModelConfig, inputs: dict, num_predicates: int, vocab_size: int) -> dict:
    """A BiLSTM baseline after the method's predecessor, not a reproduction of kg-2019-baseline's kg.py
    (docs/deviations.md): char (+ word) embedding, 2 BiLSTM layers, subject start/end sigmoids; the object
    tagger sees [H[start], H[end]] broadcast, runs a BiLSTM and has softmax heads over "no object" + C
    predicates for the object start and end. (Per-predicate sigmoid object heads did not learn objects:
    reports/real/duie2/README.md.)"""
    half = model_config.width // 2
    padding = PaddingMask(name="padding")(inputs["chars"])
    lstm_mask = SequenceMask(name="sequence_mask")(inputs["chars"])
    h = embed(model_config, inputs, vocab_size, padding)
    for i in range(2):
        lstm = layers.Bidirectional(layers.LSTM(half, return_sequences=True), name=f"bilstm_{i}")
        h = lstm(h, mask=lstm_mask)
        h = ApplyMask(name=f"bilstm_{i}_mask")(h, padding)

    s = layers.Concatenate(name="subject_concat")([h, inputs["subject_prior"]])
    s_start = layers.Dense(1, activation="sigmoid", name="subject_start_logit")(s)
    s_end = layers.Dense(1, activation="sigmoid", name="subject_end_logit")(s)

    ends = SpanPoints(2, name="subject_points")(h, inputs["subject_span"])
    subject_vec = layers.Reshape((4 * half,), name="subject_concat_ends")(ends)
    conditioning = BroadcastToSequence(name="subject_broadcast")(subject_vec, h)
    features = [h, conditioning, inputs["subject_prior"], inputs["object_prior"]]
    o = ApplyMask(name="object_features")(layers.Concatenate(name="object_concat")(features), padding)
    lstm = layers.Bidirectional(layers.LSTM(half, return_sequences=True), name="object_bilstm")
    o = lstm(o, mask=lstm_mask)
    o = ApplyMask(name="object_bilstm_mask")(o, padding)
    return _softmax_object_outputs(s_start, s_end, o, num_predicates, padding)


def kg2019_baseline(model_config: ModelConfig, inputs: dict, num_predicates: int, vocab_size: int) -> dict:
    """bojone/kg-2019-baseline's kg.py: characters only (`width`-dim embedding, dropout), two BiLSTMs of
    width/2 units each way, the sequence's max-pool concatenated to every position, then a Conv1D(width,
    kernel_size, relu) and sigmoid subject start/end heads; for objects, [H[start], H[end]] of the subject and
    the max-pool concatenated to every position, a Conv1D and softmax heads over "no object" + C predicates.
    Train it with `model.subject_loss_weight: 2.5` (kg.py's loss), no EMA.
    Departures (docs/deviations.md): the BiLSTMs honour the padding mask (kg.py's CuDNNLSTM reads the
    padding), padding is zeroed before the convolutions, and decoding is the shared threshold decoder
    (kg.py takes the argmax class at each position). Word vectors and prior features are not read."""
    width, kernel = model_config.width, model_config.kernel_size
    padding = PaddingMask(name="padding")(inputs["chars"])
    lstm_mask = SequenceMask(name="sequence_mask")(inputs["chars"])
    h = layers.Embedding(vocab_size, width, name="char_embedding")(inputs["chars"])
    h = ApplyMask(name="embedding_mask")(layers.Dropout(model_config.dropout, name="embedding_dropout")(h), padding)
    for i in range(2):
        lstm = layers.Bidirectional(layers.LSTM(width // 2, return_sequences=True), name=f"bilstm_{i}")
        h = ApplyMask(name=f"bilstm_{i}_mask")(lstm(h, mask=lstm_mask), padding)
    pooled = BroadcastToSequence(name="pooled_broadcast")(MaskedMaxPool(name="pooled")(h, padding), h)

    s = ApplyMask(name="subject_features")(layers.Concatenate(name="subject_concat")([h, pooled]), padding)
    s = layers.Conv1D(width, kernel, padding="same", activation="relu", name="subject_conv")(s)
    s_start = layers.Dense(1, activation="sigmoid", name="subject_start_logit")(s)
    s_end = layers.Dense(1, activation="sigmoid", name="subject_end_logit")(s)

    ends = SpanPoints(2, name="subject_points")(h, inputs["subject_span"])
    subject_vec = layers.Reshape((2 * 2 * (width // 2),), name="subject_concat_ends")(ends)
    conditioning = BroadcastToSequence(name="subject_broadcast")(subject_vec, h)
    o = ApplyMask(name="object_features")(layers.Concatenate(name="object_concat")([h, pooled, conditioning]), padding)
    o = layers.Conv1D(width, kernel, padding="same", activation="relu", name="object_conv")(o)
    return _softmax_object_outputs(s_start, s_end, o, num_predicates, padding)


def _softmax_object_outputs(s_start, s_end, o, num_predicates: int, padding) -> dict:
    """The four outputs: the sigmoid subject heads as given, and softmax object heads over "no object" + C
    predicates on the object features ``o`` (their C predicate channels); masked, ungated."""
    o_start = PredicateChannels(name="object_start_predicates")(
        layers.Dense(num_predicates + 1, activation="softmax", name="object_start_softmax")(o))
    o_end = PredicateChannels(name="object_end_predicates")(
        layers.Dense(num_predicates + 1, activation="softmax", name="object_end_softmax")(o))
    return ungated_outputs(padding, s_start, s_end, o_start, o_end)
