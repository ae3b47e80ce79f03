"""Graph pieces the architectures share: the input embedding and the masked output probabilities.

Every output is a :class:`~.layers.Product` of the head's probability, its gates and the padding mask, in
that order; the subject outputs [B,L,1] are then squeezed to [B,L].
"""

from __future__ import annotations

from keras import layers

from .layers import ApplyMask, PositionIds, Product


def embed(model_config, inputs: dict, vocab_size: int, padding, position_table=None):
    """char embedding (+ projected frozen word vectors) (+ absolute positions), dropout, times mask."""
    width = model_config.width
    parts = [layers.Embedding(vocab_size, width, name="char_embedding")(inputs["chars"])]
    if model_config.use_word_vectors:
        parts.append(layers.Dense(width, use_bias=False, name="word_projection")(inputs["words"]))
    if position_table is not None:
        positions = PositionIds(model_config.max_len, name="position_ids")(inputs["chars"])
        parts.append(position_table(positions))
    x = parts[0] if len(parts) == 1 else layers.Add(name="embedding_sum")(parts)
    x = layers.Dropout(model_config.dropout, name="embedding_dropout")(x)
    return ApplyMask(name="embedding_mask")(x, padding)


def subject_output(name: str, prob, *factors):
    """The subject output ``name`` [B,L]: ``prob`` [B,L,1] times ``factors`` (gates, then the padding mask)."""
    return layers.Reshape((-1,), name=name)(Product(name=f"{name}_gated")([prob, *factors]))


def object_output(name: str, prob, *factors):
    """The object output ``name`` [B,L,C]: ``prob`` times ``factors`` (gates, then the padding mask)."""
    return Product(name=name)([prob, *factors])


def ungated_outputs(padding, s_start, s_end, o_start, o_end) -> dict:
    """The four outputs of heads without gates: each probability times the padding mask."""
    return {
        "subject_start": subject_output("subject_start", s_start, padding),
        "subject_end": subject_output("subject_end", s_end, padding),
        "object_start": object_output("object_start", o_start, padding),
        "object_end": object_output("object_end", o_end, padding),
    }
