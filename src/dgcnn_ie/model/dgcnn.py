"""The DGCNN architecture (method.md §3, kg-2019's kg_with_ds.py): "subject first, then (object, predicate)".

An encoder of residual gated dilated convolutions gives H [B,L,width]; the subject branch reads H and gives
P(subject start/end); the object branch reads H and the subject (its span and the distances to it) and gives
P(object start/end, predicate) [B,L,C]. With ``use_gates`` the probabilities are kg-2019's products:

    subject start = ps1 · pn1                  end = ps2 · pn2
    object start  = po · po1 · pc · pn1        end = po · po2 · pc · pn2

pn1, pn2: per-position entity gates on H; pc: per-sentence predicate gate on the max-pool of H; po: a
per-position object gate on the object features. The gates have no loss of their own. Every product is then
multiplied by the padding mask (``layers`` module docstring).

Departures from kg-2019 and method.md (docs/deviations.md):

- the BiGRU subject encoder has ``width`` units each way (method: 128 each way at d=128), so the subject vector
  is 2·width, like the concat variant;
- the conditioning features (subject vector broadcast, |i-start| and |i-end| position embeddings) are
  concatenated with the other object features; kg-2019 and method.md add the subject vector to the two
  position embeddings instead (the concatenation can represent the sum);
- the self-attention has biases and projects its heads·head_size output back to ``width``; kg-2019's has
  neither.

Layers are created in a fixed order (that order draws the initial weights of a seed) under fixed names (the
names of the saved weights): changing either changes trained models.
"""

from __future__ import annotations

from keras import layers

from ..config import ModelConfig
from .blocks import embed, object_output, subject_output, ungated_outputs
from .layers import (
    ApplyMask,
    BroadcastToSequence,
    GatedDilatedConv1D,
    MaskedMaxPool,
    MaskedSelfAttention,
    PaddingMask,
    RelativePositionIds,
    SpanPoints,
)


def dgcnn(model_config: ModelConfig, inputs: dict, num_predicates: int, vocab_size: int) -> dict:
    """The four output probabilities of the DGCNN on the ``inputs`` of ``build_models``."""
    width = model_config.width
    padding = PaddingMask(name="padding")(inputs["chars"])
    # One table for absolute positions and for distances to the subject (method §3).
    position_table = layers.Embedding(
        model_config.max_len, width, embeddings_initializer="zeros", name="position_embedding"
    )
    h = embed(model_config, inputs, vocab_size, padding, position_table)
    for i, rate in enumerate(model_config.dilations):
        h = GatedDilatedConv1D(width, model_config.kernel_size, rate, model_config.conv_dropout,
                               name=f"dgcnn_{i}")(h, padding)
    if model_config.use_gates:
        pn1, pn2 = _entity_gate(width, "pn1", h), _entity_gate(width, "pn2", h)

    s = _branch(model_config, "subject", h, padding, [inputs["subject_prior"]])
    ps1 = layers.Dense(1, activation="sigmoid", name="subject_start_logit")(s)
    ps2 = layers.Dense(1, activation="sigmoid", name="subject_end_logit")(s)

    conditioning = _subject_conditioning(model_config, inputs, h, position_table)
    o = _branch(model_config, "object", h, padding, conditioning + [inputs["subject_prior"], inputs["object_prior"]])
    po1 = layers.Dense(num_predicates, activation="sigmoid", name="object_start_logit")(o)
    po2 = layers.Dense(num_predicates, activation="sigmoid", name="object_end_logit")(o)
    if not model_config.use_gates:
        return ungated_outputs(padding, ps1, ps2, po1, po2)

    pc = _predicate_gate(width, num_predicates, h, padding)
    po = layers.Dense(1, activation="sigmoid", name="po")(o)
    # kg-2019's products; the object ones multiply po1 · po first (the same float as po · po1)
    return {
        "subject_start": subject_output("subject_start", ps1, pn1, padding),
        "subject_end": subject_output("subject_end", ps2, pn2, padding),
        "object_start": object_output("object_start", po1, po, pc, pn1, padding),
        "object_end": object_output("object_end", po2, po, pc, pn2, padding),
    }


def _entity_gate(width: int, name: str, h):
    """pn1 / pn2: Dense(width, relu) then Dense(1, sigmoid) per position [B,L,1]."""
    return layers.Dense(1, activation="sigmoid", name=name)(
        layers.Dense(width, activation="relu", name=f"{name}_hidden")(h)
    )


def _predicate_gate(width: int, num_predicates: int, h, padding):
    """pc: masked max-pool of H, Dense(width, relu), Dense(C, sigmoid), as [B,1,C] to gate every position."""
    pc = MaskedMaxPool(name="pooled")(h, padding)
    pc = layers.Dense(width, activation="relu", name="pc_hidden")(pc)
    pc = layers.Dense(num_predicates, activation="sigmoid", name="pc")(pc)
    return layers.Reshape((1, num_predicates), name="pc_broadcast")(pc)


def _branch(model_config: ModelConfig, name: str, h, padding, extra: list):
    """A head's features: [H, self-attention over H (``use_attention``), *extra], masked, then
    Conv1D(width, kernel_size, relu)."""
    features = [h]
    if model_config.use_attention:
        attention = MaskedSelfAttention(model_config.heads, model_config.head_size, name=f"{name}_attention")
        features.append(attention(h, padding))
    features += extra
    x = ApplyMask(name=f"{name}_features")(layers.Concatenate(name=f"{name}_concat")(features), padding)
    return layers.Conv1D(model_config.width, model_config.kernel_size, padding="same", activation="relu",
                         name=f"{name}_conv")(x)


def _subject_conditioning(model_config: ModelConfig, inputs: dict, h, position_table) -> list:
    """What the object branch knows of the subject: its vector broadcast to every position (a BiGRU over
    ``subject_points`` rows of H evenly spaced over the span, or [H[start], H[end]] with ``concat``), and the
    embeddings of |i-start| and |i-end| in the absolute position table."""
    width, span = model_config.width, inputs["subject_span"]
    if model_config.subject_encoder == "bigru":
        points = SpanPoints(model_config.subject_points, name="subject_points")(h, span)
        subject_vec = layers.Bidirectional(layers.GRU(width), name="subject_bigru")(points)
    else:
        points = SpanPoints(2, name="subject_points")(h, span)
        subject_vec = layers.Reshape((2 * width,), name="subject_concat_ends")(points)
    rel_start, rel_end = RelativePositionIds(model_config.max_len, name="relative_position_ids")(inputs["chars"], span)
    return [
        BroadcastToSequence(name="subject_broadcast")(subject_vec, h),
        position_table(rel_start),
        position_table(rel_end),
    ]
