"""The custom Keras layers of every architecture, registered under the package "dgcnn_ie".

Keras finds a saved layer by its registered name (``dgcnn_ie>PaddingMask``), so the class names and the
package stay as they are for saved ``.keras`` files to load. Each layer is plain tensor code with no
Python-code arguments, so ``safe_mode`` loading accepts it.

Keras masking is not used anywhere: Conv1D ignores it, so the padding mask (``chars > 0``, from
:class:`PaddingMask`) is multiplied in explicitly after the embedding, after every convolution block, before
every "same"-padded convolution that reads features which are non-zero on padding (attention output, priors)
and on every output probability. This makes the probabilities of a text independent of how far its batch is
padded (kg-2019 leaks padding into its head convolutions).
"""

from __future__ import annotations

from functools import reduce

import keras
from keras import layers, ops

_register = keras.saving.register_keras_serializable(package="dgcnn_ie")


@_register
class PaddingMask(layers.Layer):
    """chars [B,L] -> float mask [B,L,1] (1 on real characters, 0 on padding id 0)."""

    def call(self, chars):
        return ops.expand_dims(ops.cast(ops.greater(chars, 0), self.compute_dtype), -1)


@_register
class SequenceMask(layers.Layer):
    """chars [B,L] -> bool [B,L], the mask argument recurrent layers honour."""

    def call(self, chars):
        return ops.greater(chars, 0)


@_register
class ApplyMask(layers.Layer):
    """x [B,L,D] * padding [B,L,1]: explicit masking, since Conv1D ignores Keras
    masks. Consumes a Keras mask (from masked LSTMs) so none travels further."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, padding):
        return x * ops.cast(padding, x.dtype)      # a no-op in float32; mixed precision: one dtype

    def compute_mask(self, inputs, previous_mask):
        return None


@_register
class PositionIds(layers.Layer):
    """Absolute positions [B,L], clipped to max_len-1 so texts longer than the
    position table cannot crash the model (they share the last row)."""

    def __init__(self, max_len, **kwargs):
        super().__init__(**kwargs)
        self.max_len = max_len

    def call(self, chars):
        positions = ops.minimum(ops.arange(ops.shape(chars)[1], dtype="int32"), self.max_len - 1)
        return ops.broadcast_to(ops.expand_dims(positions, 0), ops.shape(chars))

    def get_config(self):
        return {**super().get_config(), "max_len": self.max_len}


@_register
class RelativePositionIds(layers.Layer):
    """|i - start| and |i - end| per position [B,L] each, clipped to max_len-1:
    indices into the same position table as the input embedding. The span is
    clipped into the sequence first, as in SpanPoints."""

    def __init__(self, max_len, **kwargs):
        super().__init__(**kwargs)
        self.max_len = max_len

    def call(self, chars, span):
        length = ops.shape(chars)[1]
        positions = ops.expand_dims(ops.arange(length, dtype="int32"), 0)
        span = ops.clip(ops.cast(span, "int32"), 0, length - 1)
        start, end = span[:, 0:1], span[:, 1:2]
        clip = self.max_len - 1
        return (
            ops.minimum(ops.abs(positions - start), clip),
            ops.minimum(ops.abs(positions - end), clip),
        )

    def get_config(self):
        return {**super().get_config(), "max_len": self.max_len}


@_register
class GatedDilatedConv1D(layers.Layer):
    """One residual DGCNN block: y = σ·x + (1-σ)·h, σ = sigmoid(dropout(g)),
    [g, h] = Conv1D(2·width, dilated)(x); masked afterwards."""

    def __init__(self, width, kernel_size, dilation_rate, dropout, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.kernel_size = kernel_size
        self.dilation_rate = dilation_rate
        self.dropout = dropout
        # sublayers take this layer's dtype policy: a loaded mixed-precision model builds them under float32
        self.conv = layers.Conv1D(
            2 * width, kernel_size, padding="same", dilation_rate=dilation_rate, name="conv",
            dtype=self.dtype_policy,
        )
        self.gate_dropout = layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, x_shape, padding_shape):
        self.conv.build(x_shape)

    def call(self, x, padding, training=None):
        gate, value = ops.split(self.conv(x), 2, axis=-1)
        gate = ops.sigmoid(self.gate_dropout(gate, training=training))
        return (gate * x + (1.0 - gate) * value) * ops.cast(padding, x.dtype)

    def compute_output_shape(self, x_shape, padding_shape):
        return x_shape

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "kernel_size": self.kernel_size,
            "dilation_rate": self.dilation_rate,
            "dropout": self.dropout,
        }


@_register
class MaskedSelfAttention(layers.Layer):
    """Multi-head self-attention whose keys exclude padding positions."""

    def __init__(self, heads, head_size, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads
        self.head_size = head_size
        self.attention = layers.MultiHeadAttention(heads, head_size, name="mha", dtype=self.dtype_policy)

    def build(self, x_shape, padding_shape):
        self.attention.build(x_shape, x_shape)

    def call(self, x, padding, training=None):
        keys = ops.greater(ops.squeeze(padding, -1), 0)
        return self.attention(x, x, value_mask=keys, training=training)

    def compute_output_shape(self, x_shape, padding_shape):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "head_size": self.head_size}


@_register
class MaskedMaxPool(layers.Layer):
    """Max over real positions [B,L,D] -> [B,D]; all-padding rows give zeros.

    The max is read by gathering at the argmax, so its gradient goes to that one position (one of tied
    maxima: the first on CPU). ``ops.max`` would give the same values, but TensorFlow's gradient of a max finds the
    winners by comparing the max with the input again; under XLA (``jit_compile``) the input is recomputed
    inside the gradient's fusion, can round differently, and then no position matches: 0/0, a NaN that
    reaches every encoder weight (docs/benchmark.md, "The XLA NaN")."""

    def call(self, x, padding):
        real = ops.greater(padding, 0)
        index = ops.argmax(ops.where(real, x, float("-inf")), axis=1)
        pooled = ops.squeeze(ops.take_along_axis(x, ops.expand_dims(index, 1), axis=1), 1)
        return ops.where(ops.any(real, axis=1), pooled, ops.zeros_like(pooled))


@_register
class SpanPoints(layers.Layer):
    """Gather `points` rows of seq [B,L,D] evenly spaced from span start to end
    (rounded linear interpolation, method §3) -> [B,points,D]. points=2 gives
    exactly [H[start], H[end]]. Spans are clipped into the sequence."""

    def __init__(self, points, **kwargs):
        super().__init__(**kwargs)
        if points < 2:
            raise ValueError(f"subject_points must be >= 2, got {points}")
        self.points = points

    def call(self, seq, span):
        last = ops.shape(seq)[1] - 1
        span = ops.cast(ops.clip(ops.cast(span, "int32"), 0, last), "float32")
        start, end = span[:, 0:1], span[:, 1:2]
        fractions = ops.expand_dims(ops.linspace(0.0, 1.0, self.points), 0)
        index = ops.cast(ops.round(start + (end - start) * fractions), "int32")
        return ops.take_along_axis(seq, ops.expand_dims(index, -1), axis=1)

    def compute_output_shape(self, seq_shape, span_shape):
        return (seq_shape[0], self.points, seq_shape[2])

    def get_config(self):
        return {**super().get_config(), "points": self.points}


@_register
class BroadcastToSequence(layers.Layer):
    """vec [B,K] -> [B,L,K], L taken from seq: a per-sentence vector as features."""

    def call(self, vec, seq):
        shape = ops.shape(seq)
        return ops.broadcast_to(ops.expand_dims(vec, 1), (shape[0], shape[1], ops.shape(vec)[-1]))

    def compute_output_shape(self, vec_shape, seq_shape):
        return (seq_shape[0], seq_shape[1], vec_shape[-1])


@_register
class Product(layers.Layer):
    """Element-wise product of broadcastable tensors (probability times gates)."""

    def call(self, inputs):
        return reduce(lambda a, b: a * ops.cast(b, a.dtype), inputs)


@_register
class PredicateChannels(layers.Layer):
    """Softmax over "no object" + C predicates [B,L,C+1] -> the C predicate probabilities [B,L,C]."""

    def call(self, probs):
        return probs[..., 1:]
