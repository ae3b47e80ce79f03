"""Building and loading a model, and its views: Keras models and functions that share every layer.

``train`` (all inputs, four outputs), ``subject`` (P(s)) and ``object`` (P(o, p | s)); training fits the
first. The decoder calls two others cut from the same graph: ``sentence`` (P(s) plus every per-sentence tensor
the object heads read: the encoder's output, the object attention, the padding mask...) once per batch, and
``object_head`` (those tensors of the rows of the decoded subjects, with the subject span and object prior)
once per batch of subjects. kg-2019 runs its object model from the characters up, encoding the sentence
again for every decoded subject (its object batch repeats the sentence once per subject); the split gives the
same probabilities (tested) with one encoder pass per sentence. All layers are Keras layers or registered
custom layers, so ``train.save("x.keras")`` and :func:`load_models` round-trip.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from ..config import ModelConfig
from .baselines import bilstm, kg2019_baseline
from .dgcnn import dgcnn

SUBJECT_INPUTS = ("chars", "words", "subject_prior")
OBJECT_INPUTS = SUBJECT_INPUTS + ("object_prior", "subject_span")
PER_SUBJECT_INPUTS = ("subject_span", "object_prior")
SUBJECT_OUTPUTS = ("subject_start", "subject_end")
OBJECT_OUTPUTS = ("object_start", "object_end")

ARCH_BUILDERS = {"dgcnn": dgcnn, "bilstm": bilstm, "kg2019_baseline": kg2019_baseline}


@dataclass(frozen=True)
class Models:
    """Views of one set of weights (module docstring)."""

    train: keras.Model
    subject: keras.Model
    object: keras.Model
    sentence: keras.Function     # [SUBJECT_INPUTS] -> [SUBJECT_OUTPUTS, *sentence tensors (the object heads' inputs)]
    object_head: keras.Function  # [*sentence tensors, subject_span, object_prior] -> [OBJECT_OUTPUTS]


def build_models(model_config: ModelConfig, num_predicates: int, word_dim: int, vocab_size: int) -> Models:
    """Build the train/subject/object models from the `model` section of params.yaml."""
    inputs = _inputs(num_predicates, word_dim)
    outputs = ARCH_BUILDERS[model_config.arch](model_config, inputs, num_predicates, vocab_size)
    return split_models(keras.Model(inputs, outputs, name=f"{model_config.arch}_train"))


def load_models(path) -> Models:
    """Load a train model saved with ``models.train.save(path)`` (``.keras``); ``safe_mode`` (Keras's default,
    stated here so that it stays) refuses layers that carry Python code (`dgcnn_ie.trust`)."""
    return split_models(keras.saving.load_model(path, safe_mode=True))


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

    frontier, visited, stack = [], set(), [outs[k] for k in OBJECT_OUTPUTS]
    while stack:
        t = stack.pop()
        if id(t) in visited:
            continue
        visited.add(id(t))
        if not depends(t):
            frontier.append(t)
            continue
        node = _producer(t)
        if node is not None:
            stack.extend(node.input_tensors)
    return [t for t in frontier if id(t) not in per_subject]


def _producer(tensor):
    """The graph node that made a symbolic tensor (None for an input)."""
    operation, node_index, _ = tensor._keras_history
    node = operation._inbound_nodes[node_index]
    return None if node.is_input else node


def _inputs(num_predicates: int, word_dim: int) -> dict:
    return {
        "chars": keras.Input((None,), dtype="int32", name="chars"),
        "words": keras.Input((None, word_dim), dtype="float32", name="words"),
        "subject_prior": keras.Input((None, 2), dtype="float32", name="subject_prior"),
        "object_prior": keras.Input((None, 2 * num_predicates), dtype="float32", name="object_prior"),
        "subject_span": keras.Input((2,), dtype="int32", name="subject_span"),
    }
