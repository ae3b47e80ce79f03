"""The neural model: DGCNN encoder + "subject first, then (object, predicate)" heads.

method.md §3. Keras models share every layer: ``train`` (all inputs, four
outputs), ``subject`` (P(s)) and ``object`` (P(o, p | s)); training fits the first.
The decoder calls two others cut from the same graph: ``sentence`` (P(s) plus every
per-sentence tensor the object heads read: the encoder's output, the object
attention, the padding mask...) once per batch, and ``object_head`` (those tensors of
the rows of the decoded subjects, with the subject span and object prior) once per
batch of subjects. The original code (kg-2019) runs its object model from the
characters up, encoding a sentence again for each pass over its subjects; the
split gives the same probabilities (tested) with one encoder pass per sentence. All layers are Keras 3 layers or registered
custom layers, so ``train.save("x.keras")`` / :func:`load_models` round-trip.

Keras masking is not used anywhere: Conv1D ignores it, so the padding mask
(``chars > 0``) is multiplied in explicitly after the embedding, after every
convolution block, before every "same"-padded convolution that reads features
which are non-zero on padding (attention output, priors) and on every output
probability. This makes the probabilities of a text independent of how far its
batch is padded (the reference code leaked padding into the head convolutions).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import keras
from keras import layers, ops

from .config import ModelConfig

SUBJECT_INPUTS = ("chars", "words", "subject_prior")
OBJECT_INPUTS = SUBJECT_INPUTS + ("object_prior", "subject_span")
SUBJECT_OUTPUTS = ("subject_start", "subject_end")
OBJECT_OUTPUTS = ("object_start", "object_end")
_EPSILON = 1e-7

_register = keras.saving.register_keras_serializable(package="dgcnn_ie")


@dataclass(frozen=True)
class Models:
    """Views of one set of weights (module docstring)."""

    train: keras.Model
    subject: keras.Model
    object: keras.Model
    sentence: keras.Function     # [SUBJECT_INPUTS] -> [SUBJECT_OUTPUTS, *sentence tensors (the object heads' inputs)]
    object_head: keras.Function  # [*sentence tensors, subject_span, object_prior] -> [OBJECT_OUTPUTS]


# --------------------------------------------------------------------------- layers


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


# --------------------------------------------------------------------------- models


def _inputs(num_predicates: int, word_dim: int) -> dict:
    return {
        "chars": keras.Input((None,), dtype="int32", name="chars"),
        "words": keras.Input((None, word_dim), dtype="float32", name="words"),
        "subject_prior": keras.Input((None, 2), dtype="float32", name="subject_prior"),
        "object_prior": keras.Input((None, 2 * num_predicates), dtype="float32", name="object_prior"),
        "subject_span": keras.Input((2,), dtype="int32", name="subject_span"),
    }


def _embed(cfg, inputs, vocab_size, padding, position_table=None):
    """char embedding (+ projected frozen word vectors) (+ absolute positions),
    dropout, times mask."""
    width = cfg.width
    parts = [layers.Embedding(vocab_size, width, name="char_embedding")(inputs["chars"])]
    if cfg.use_word_vectors:
        parts.append(layers.Dense(width, use_bias=False, name="word_projection")(inputs["words"]))
    if position_table is not None:
        positions = PositionIds(cfg.max_len, name="position_ids")(inputs["chars"])
        parts.append(position_table(positions))
    x = parts[0] if len(parts) == 1 else layers.Add(name="embedding_sum")(parts)
    x = layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
    return ApplyMask(name="embedding_mask")(x, padding)


def _probability(name, prob, gates, padding):
    """prob x gates x mask; subject outputs [B,L,1] are squeezed to [B,L]."""
    if name in OBJECT_OUTPUTS:
        return Product(name=name)([prob, *gates, padding])
    return layers.Reshape((-1,), name=name)(Product(name=f"{name}_gated")([prob, *gates, padding]))


def _entity_gate(width, name, h):
    return layers.Dense(1, activation="sigmoid", name=name)(
        layers.Dense(width, activation="relu", name=f"{name}_hidden")(h)
    )


def _dgcnn(cfg: ModelConfig, inputs: dict, num_predicates: int, vocab_size: int) -> dict:
    """The final model of method §3, with these departures (docs/deviations.md):
    - the BiGRU subject encoder has `width` units each way (method: 128 each way
      at d=128), so the subject vector is 2·width, like the concat variant;
    - the conditioning features (subject vector broadcast, |i-start| and |i-end|
      position embeddings) are concatenated with the other object features; kg-2019
      and method.md add the subject vector to the two position embeddings instead
      (the concatenation can represent the sum);
    - the self-attention has biases and projects its heads·head_size output back to
      `width`; kg-2019's has neither.
    """
    width, kernel = cfg.width, cfg.kernel_size
    use_gates, use_attention = cfg.use_gates, cfg.use_attention
    padding = PaddingMask(name="padding")(inputs["chars"])
    # One table for absolute positions and for distances to the subject (method §3).
    position_table = layers.Embedding(
        cfg.max_len, width, embeddings_initializer="zeros", name="position_embedding"
    )
    h = _embed(cfg, inputs, vocab_size, padding, position_table)
    for i, rate in enumerate(cfg.dilations):
        h = GatedDilatedConv1D(width, kernel, rate, cfg.conv_dropout, name=f"dgcnn_{i}")(h, padding)

    gates_start, gates_end = [], []
    if use_gates:
        gates_start = [_entity_gate(width, "pn1", h)]
        gates_end = [_entity_gate(width, "pn2", h)]

    # Subject branch.
    features = [h]
    if use_attention:
        attention = MaskedSelfAttention(cfg.heads, cfg.head_size, name="subject_attention")
        features.append(attention(h, padding))
    features.append(inputs["subject_prior"])
    s = ApplyMask(name="subject_features")(layers.Concatenate(name="subject_concat")(features), padding)
    s = layers.Conv1D(width, kernel, padding="same", activation="relu", name="subject_conv")(s)
    s_start = layers.Dense(1, activation="sigmoid", name="subject_start_logit")(s)
    s_end = layers.Dense(1, activation="sigmoid", name="subject_end_logit")(s)

    # Subject encoding: BiGRU over points of the span, or [H[start], H[end]].
    span = inputs["subject_span"]
    if cfg.subject_encoder == "bigru":
        points = SpanPoints(cfg.subject_points, name="subject_points")(h, span)
        subject_vec = layers.Bidirectional(layers.GRU(width), name="subject_bigru")(points)
    else:
        points = SpanPoints(2, name="subject_points")(h, span)
        subject_vec = layers.Reshape((2 * width,), name="subject_concat_ends")(points)
    relative = RelativePositionIds(cfg.max_len, name="relative_position_ids")
    rel_start, rel_end = relative(inputs["chars"], span)
    conditioning = [
        BroadcastToSequence(name="subject_broadcast")(subject_vec, h),
        position_table(rel_start),
        position_table(rel_end),
    ]

    # Object branch.
    features = [h]
    if use_attention:
        attention = MaskedSelfAttention(cfg.heads, cfg.head_size, name="object_attention")
        features.append(attention(h, padding))
    features += conditioning + [inputs["subject_prior"], inputs["object_prior"]]
    o = ApplyMask(name="object_features")(layers.Concatenate(name="object_concat")(features), padding)
    o = layers.Conv1D(width, kernel, padding="same", activation="relu", name="object_conv")(o)
    o_start = layers.Dense(num_predicates, activation="sigmoid", name="object_start_logit")(o)
    o_end = layers.Dense(num_predicates, activation="sigmoid", name="object_end_logit")(o)
    object_gates = []
    if use_gates:
        pc = MaskedMaxPool(name="pooled")(h, padding)
        pc = layers.Dense(width, activation="relu", name="pc_hidden")(pc)
        pc = layers.Dense(num_predicates, activation="sigmoid", name="pc")(pc)
        pc = layers.Reshape((1, num_predicates), name="pc_broadcast")(pc)
        po = layers.Dense(1, activation="sigmoid", name="po")(o)
        object_gates = [po, pc]

    return {
        "subject_start": _probability("subject_start", s_start, gates_start, padding),
        "subject_end": _probability("subject_end", s_end, gates_end, padding),
        "object_start": _probability("object_start", o_start, object_gates + gates_start, padding),
        "object_end": _probability("object_end", o_end, object_gates + gates_end, padding),
    }


def _softmax_object_outputs(s_start, s_end, o, num_predicates: int, padding) -> dict:
    """The baselines' four outputs: the sigmoid subject heads as given, and softmax object heads over
    "no object" + C predicates on the object features ``o`` (their C predicate channels); masked, ungated."""
    o_start = PredicateChannels(name="object_start_predicates")(
        layers.Dense(num_predicates + 1, activation="softmax", name="object_start_softmax")(o))
    o_end = PredicateChannels(name="object_end_predicates")(
        layers.Dense(num_predicates + 1, activation="softmax", name="object_end_softmax")(o))
    return {
        "subject_start": _probability("subject_start", s_start, [], padding),
        "subject_end": _probability("subject_end", s_end, [], padding),
        "object_start": _probability("object_start", o_start, [], padding),
        "object_end": _probability("object_end", o_end, [], padding),
    }


def _bilstm(cfg: ModelConfig, inputs: dict, num_predicates: int, vocab_size: int) -> dict:
    """A BiLSTM baseline after the method's predecessor (method.md §8 row 2), not a reproduction of
    kg-2019-baseline's kg.py (docs/deviations.md): char (+ word) embedding,
    2 BiLSTM layers, subject start/end sigmoids; the object tagger sees
    [H[start], H[end]] broadcast, runs a BiLSTM and has softmax heads over
    "no object" + C predicates for the object start and end. The outputs are the C
    predicate probabilities (the shared decoder applies unchanged); training uses
    the categorical loss for them (:func:`masked_loss`, ``softmax_objects``).

    Per-predicate sigmoids were tried first and did not learn objects: on the DuIE
    2.0 subset their probabilities stayed below 0.08 after 12 epochs (F1 0), while
    the subject heads did learn."""
    half = cfg.width // 2
    padding = PaddingMask(name="padding")(inputs["chars"])
    lstm_mask = SequenceMask(name="sequence_mask")(inputs["chars"])
    h = _embed(cfg, inputs, vocab_size, padding)
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


def _kg2019_baseline(cfg: ModelConfig, inputs: dict, num_predicates: int, vocab_size: int) -> dict:
    """bojone/kg-2019-baseline's kg.py (the method's predecessor, method.md §8 row 2): characters only
    (`width`-dim embedding, dropout), two BiLSTMs of width/2 units each way, the sequence's max-pool
    concatenated to every position, then a Conv1D(width, kernel_size, relu) and sigmoid subject
    start/end heads; for objects, [H[start], H[end]] of the subject and the max-pool concatenated to
    every position, a Conv1D and softmax heads over "no object" + C predicates (their C predicate
    channels are the outputs). Train it with `model.subject_loss_weight: 2.5` (kg.py's loss), no EMA.
    Departures (docs/deviations.md): the BiLSTMs honour the padding mask (kg.py's CuDNNLSTM reads the
    padding), padding is zeroed before the convolutions, and decoding is the shared threshold decoder
    (kg.py takes the argmax class at each position). Word vectors and prior features are not read."""
    width, kernel = cfg.width, cfg.kernel_size
    padding = PaddingMask(name="padding")(inputs["chars"])
    lstm_mask = SequenceMask(name="sequence_mask")(inputs["chars"])
    h = layers.Embedding(vocab_size, width, name="char_embedding")(inputs["chars"])
    h = ApplyMask(name="embedding_mask")(layers.Dropout(cfg.dropout, name="embedding_dropout")(h), padding)
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


ARCH_BUILDERS = {"dgcnn": _dgcnn, "bilstm": _bilstm, "kg2019_baseline": _kg2019_baseline}


def build_models(cfg: ModelConfig, num_predicates: int, word_dim: int, vocab_size: int) -> Models:
    """Build the train/subject/object models from the `model` section of params.yaml."""
    inputs = _inputs(num_predicates, word_dim)
    outputs = ARCH_BUILDERS[cfg.arch](cfg, inputs, num_predicates, vocab_size)
    return split_models(keras.Model(inputs, outputs, name=f"{cfg.arch}_train"))


PER_SUBJECT_INPUTS = ("subject_span", "object_prior")


def _producer(tensor):
    """The graph node that made a symbolic tensor (None for an input)."""
    operation, node_index, _ = tensor._keras_history
    node = operation._inbound_nodes[node_index]
    return None if node.is_input else node


def sentence_tensors(ins: dict, outs: dict) -> list:
    """The tensors the object outputs read that do not depend on the subject: the frontier between the
    per-sentence part of the graph and the per-subject part (found by walking the graph, so it holds for
    every architecture and for loaded models)."""
    per_subject = {id(ins[k]) for k in PER_SUBJECT_INPUTS}
    memo: dict[int, bool] = {}

    def depends(t) -> bool:
        if id(t) not in memo:
            node = _producer(t)
            memo[id(t)] = id(t) in per_subject if node is None else any(depends(x) for x in node.input_tensors)
        return memo[id(t)]

    frontier, seen, stack = [], set(), [outs[k] for k in OBJECT_OUTPUTS]
    visited = set()
    while stack:
        t = stack.pop()
        if id(t) in visited:
            continue
        visited.add(id(t))
        if not depends(t):
            if id(t) not in seen:
                seen.add(id(t))
                frontier.append(t)
            continue
        node = _producer(t)
        if node is not None:
            stack.extend(node.input_tensors)
    return [t for t in frontier if id(t) not in per_subject]


def split_models(train: keras.Model) -> Models:
    """Every view of a (built or loaded) train model; they share its layers, hence its weights."""
    ins, outs = train.input, train.output
    subject = keras.Model(
        {k: ins[k] for k in SUBJECT_INPUTS}, {k: outs[k] for k in SUBJECT_OUTPUTS}, name="subject"
    )
    obj = keras.Model(
        {k: ins[k] for k in OBJECT_INPUTS}, {k: outs[k] for k in OBJECT_OUTPUTS}, name="object"
    )
    # keras.Function, not keras.Model: a Model whose inputs are inner tensors clones their nodes into the
    # shared layers, after which the train model no longer saves; a Function only maps the existing graph
    frontier = sentence_tensors(ins, outs)
    sentence = keras.Function([ins[k] for k in SUBJECT_INPUTS], [outs[k] for k in SUBJECT_OUTPUTS] + frontier,
                              name="sentence")
    head = keras.Function(frontier + [ins[k] for k in PER_SUBJECT_INPUTS], [outs[k] for k in OBJECT_OUTPUTS],
                          name="object_head")
    return Models(train=train, subject=subject, object=obj, sentence=sentence, object_head=head)


def load_models(path) -> Models:
    """Load a train model saved with ``models.train.save(path)`` (``.keras``); ``safe_mode`` (Keras's default,
    stated here so that it stays) refuses layers that carry Python code (`dgcnn_ie.trust`)."""
    return split_models(keras.saving.load_model(path, safe_mode=True))


def _binary_crossentropy(target, prob):
    prob = ops.clip(ops.cast(prob, "float32"), _EPSILON, 1.0 - _EPSILON)   # float32 under mixed precision too
    target = ops.cast(target, prob.dtype)
    return -(target * ops.log(prob) + (1.0 - target) * ops.log(1.0 - prob))


def has_softmax_objects(models: Models) -> bool:
    """Whether the object heads are softmaxes over "no object" + predicates (the baselines,
    `bilstm` and `kg2019_baseline`) rather than independent sigmoids: read from the layers themselves, so a
    loaded or renamed model gets the loss its heads need."""
    return any(isinstance(layer, PredicateChannels) for layer in models.train.layers)


def _categorical_objects(target, prob):
    """Cross-entropy per position of softmax heads given only their C predicate channels:
    P(no object) = 1 - sum(prob); a position that starts objects of several predicates
    spreads the target evenly over them."""
    prob = ops.cast(prob, "float32")
    target = ops.cast(target, prob.dtype)
    hits = ops.sum(target, axis=-1)
    share = target / ops.maximum(hits, 1.0)[..., None]
    none = ops.clip(1.0 - ops.sum(prob, axis=-1), _EPSILON, 1.0)
    log_prob = ops.log(ops.clip(prob, _EPSILON, 1.0))
    return -(ops.sum(share * log_prob, axis=-1) + ops.cast(hits == 0, prob.dtype) * ops.log(none))


def masked_loss(targets: dict, outputs: dict, mask, softmax_objects: bool = False, subject_weight: float = 1.0):
    """Sum of four masked-mean terms (method §4): BCE for subject start/end, and for
    object start/end BCE summed over predicates, or with ``softmax_objects`` (the
    baselines' heads) the categorical cross-entropy; means over the batch's real
    positions. The subject terms are multiplied by ``subject_weight`` (kg.py: 2.5)."""
    mask = ops.cast(mask, "float32")
    count = ops.maximum(ops.sum(mask), 1.0)
    total = 0.0
    for key in SUBJECT_OUTPUTS + OBJECT_OUTPUTS:
        if key in OBJECT_OUTPUTS and softmax_objects:
            term = _categorical_objects(targets[key], outputs[key])
        elif key in OBJECT_OUTPUTS:
            term = ops.sum(_binary_crossentropy(targets[key], outputs[key]), axis=-1)
        else:
            term = _binary_crossentropy(targets[key], outputs[key])
        weight = subject_weight if key in SUBJECT_OUTPUTS else 1.0
        total = total + weight * (ops.sum(term * mask) / count)
    return total
