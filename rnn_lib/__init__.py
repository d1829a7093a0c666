"""rnn_lib: from-scratch numpy reference implementations for the RNN course.

Every public name is importable from the package root, and each lives in one
obvious module: state machines in ``state_machines``, the vanilla RNN in
``rnn``, the output layer and loss in ``output`` and so on.
"""

from rnn_lib.activations import sigmoid
from rnn_lib.gated import gated_backward, gated_forward, gated_step_backward, gated_step_forward
from rnn_lib.gradcheck import numerical_gradient, relative_error
from rnn_lib.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from rnn_lib.lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from rnn_lib.optim import SGD, Adagrad, clip_gradients, global_norm
from rnn_lib.output import (
    log_softmax,
    output_backward,
    output_forward,
    perplexity,
    softmax,
    softmax_cross_entropy,
)
from rnn_lib.rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from rnn_lib.state_machines import LTISystem, StateMachine, parity_machine
from rnn_lib.text import (
    ChecksumError, Vocab, default_corpus, fetch_url, load_corpus, preprocess_letters, tokenize,
    train_valid_split,
)
from rnn_lib.data import (
    BatchIterator, load_char_lm_data, num_batches, random_batches, sequential_batches,
)
from rnn_lib.ngram import BigramLM, NGramLM, UnigramLM, ngram_count_table, ngram_parameter_count
from rnn_lib.lm_numpy import (
    NumpyRNNLM, TrainHistory, corpus_batches, evaluate_perplexity, history_table,
    train_language_model,
)
from rnn_lib.sampling import (
    generate_text, greedy_generate, sample_generate, softmax_with_temperature,
)


# Chapter 7: deeper, both directions, and one sequence into another.
from rnn_lib.cells import CELLS, get_cell, init_cell_params, layer_backward, layer_forward
from rnn_lib.embedding import embedding_backward, embedding_forward
from rnn_lib.attention import attention_backward, attention_forward, length_mask
from rnn_lib.bidirectional import bidirectional_backward, bidirectional_forward
from rnn_lib.deep import (
    deep_backward, deep_forward, deep_parameter_count, init_deep_params, layers_from_torch,
    torch_weights,
)
from rnn_lib.seq2seq import (
    beam_search, greedy_decode, init_seq2seq, seq2seq_backward, seq2seq_encode, seq2seq_forward,
    seq2seq_loss, sequence_log_prob,
)
from rnn_lib.toy_tasks import (
    Seq2SeqBatch, ToyTask, accuracy_by_length, decode_tokens, encode_pairs, make_toy_task,
    seq2seq_batches,
)


# Loaded on first use: torch takes seconds to import and matplotlib about one,
# which every grading kernel would otherwise pay.
_LAZY = {
    "TorchRNNLM": "rnn_lib.lm_torch",
    "plot_gradient_norms": "rnn_lib.plotting",
    "plot_hidden_states": "rnn_lib.plotting",
    "plot_perplexity": "rnn_lib.plotting",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnn_lib' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
