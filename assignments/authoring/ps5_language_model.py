# Authoring source of assignments/source/ps5_language_model/ps5_language_model.ipynb.
# Rebuild with: python assignments/authoring/build_notebooks.py
# ruff: noqa: E402, F821
# %% [markdown]
# # Problem set 5: a character-level language model
#
# This problem set assembles a working language model: a vocabulary that
# turns text into indices, minibatch iterators that cut a long text into
# training windows, temperature sampling to generate text, and a PyTorch
# recurrent model trained with truncated backpropagation through time that
# must reach a target perplexity on text it has never seen.
#
# **What you implement** (names and signatures as in `rnn_lib`; calling
# `rnn_lib`'s versions of these, or using its models, is not allowed and is
# checked):
#
# 1. `Vocab` (3 points)
# 2. `random_batches` and `sequential_batches` (6 points)
# 3. `softmax_with_temperature` and `sample_generate` (5 points)
# 4. `CharLM` and `train_char_model`: a GRU language model and its training
#    loop, which must reach a validation perplexity below 5.0 (4 points)
# 5. Two short written answers (4 points, graded by hand)
#
# Hidden tests, added at grading time, check many more cases than the visible
# ones (partial credit per case): vocabularies against a reference, the
# structure of every minibatch over many seeds, the statistics of your
# samples, the perplexity of your trained model on held-out text, and your
# training loop, replayed step by step on a small model.

# %% locked id=setup
import collections
import math
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rnn_lib import default_corpus, preprocess_letters, train_valid_split

warnings.filterwarnings("ignore", category=RuntimeWarning)
warnings.filterwarnings("ignore", category=UserWarning)

# %% [markdown]
# ## 1. A vocabulary
#
# `Vocab(tokens, min_freq=0, reserved=())` maps tokens to indices and back.
# Index 0 is always the unknown token `"<unk>"`; the `reserved` tokens come
# next in the order given; then every token that occurs at least `min_freq`
# times, most frequent first, ties broken alphabetically. A token is never
# listed twice. Tokens not in the vocabulary map to index 0.
#
# Provide the attribute `idx_to_token` (the list of tokens, position =
# index), `len(vocab)`, `to_indices(tokens)` (an int64 numpy array) and
# `to_tokens(indices)` (a list of strings).

# %% solution id=vocab
class Vocab:
    """Token <-> index mapping.

    Args:
        tokens: list of str (e.g. characters or words).
        min_freq: tokens seen fewer times are left out.
        reserved: extra tokens given the indices 1, 2, ...
    """

    def __init__(self, tokens, min_freq=0, reserved=()):
        ### BEGIN SOLUTION
        counts = collections.Counter(tokens)
        self.token_freqs = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        self.idx_to_token = ["<unk>", *reserved]
        listed = set(self.idx_to_token)
        for token, count in self.token_freqs:
            if count >= min_freq and token not in listed:
                self.idx_to_token.append(token)
                listed.add(token)
        self.token_to_idx = {token: i for i, token in enumerate(self.idx_to_token)}
        ### END SOLUTION

    def __len__(self):
        ### BEGIN SOLUTION
        return len(self.idx_to_token)
        ### END SOLUTION

    def to_indices(self, tokens):
        """list of str (L,) -> int64 array (L,)."""
        ### BEGIN SOLUTION
        return np.array([self.token_to_idx.get(t, 0) for t in tokens], dtype=np.int64)
        ### END SOLUTION

    def to_tokens(self, indices):
        """sequence of ints (L,) -> list of str (L,)."""
        ### BEGIN SOLUTION
        return [self.idx_to_token[int(i)] for i in indices]
        ### END SOLUTION

# %% test id=test_vocab_visible points=1
vocab = Vocab(list("banana"))
assert vocab.idx_to_token == ["<unk>", "a", "n", "b"], \
    f"expected ['<unk>', 'a', 'n', 'b'] (by frequency), got {vocab.idx_to_token}"
assert len(vocab) == 4, f"expected 4 tokens, got {len(vocab)}"
indices = vocab.to_indices(list("nab?"))
assert isinstance(indices, np.ndarray) and indices.dtype == np.int64, "to_indices: int64 array"
assert indices.tolist() == [2, 1, 3, 0], f"expected [2, 1, 3, 0], got {indices.tolist()}"
assert vocab.to_tokens([3, 1]) == ["b", "a"], "to_tokens([3, 1]) should be ['b', 'a']"

# %% test id=test_vocab_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps5 as grading

cases = grading.vocab_cases()
runs = grading.run_vocab(Vocab, cases)
grading.check_vocab(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Minibatches
#
# A language model trains on windows of $T$ = `num_steps` consecutive tokens
# of a long corpus (a 1-D sequence of token indices: a numpy array or a plain
# list, with the same minibatches for both); the targets `Y` are the inputs
# `X` shifted one token ahead. Minibatches are time-major: `X` and `Y` have
# shape `(num_steps, batch_size)`, column $j$ being one window. Both
# iterators
#
# * draw a random offset in $[0, T - 1]$ from `rng` (an int seed or a
#   `np.random.Generator`; `np.random.default_rng(rng)` accepts both), so
#   each epoch sees slightly different windows;
# * yield exactly `(L - T) // (T * batch_size)` minibatches for a corpus of
#   `L` tokens (this always leaves room for the offset and the shifted
#   targets).
#
# **Random partitioning** (`random_batches`): from the offset, cut the corpus
# into back-to-back windows of $T$ tokens, shuffle them with `rng`, and deal
# them out `batch_size` at a time. Windows never overlap.
#
# **Sequential partitioning** (`sequential_batches`): from the offset, cut
# the corpus into `batch_size` contiguous rows of `num_batches * T` tokens,
# one row per column of the minibatch, and read them left to right: column
# $j$ of minibatch $i + 1$ continues column $j$ of minibatch $i$ exactly.

# %% solution id=random_batches
def random_batches(corpus, batch_size, num_steps, *, rng):
    """Random partitioning: yields (X, Y), int arrays of shape (num_steps, batch_size)."""
    ### BEGIN SOLUTION
    corpus = np.asarray(corpus)
    rng = np.random.default_rng(rng)
    count = (len(corpus) - num_steps) // (num_steps * batch_size)
    offset = int(rng.integers(num_steps))
    n_windows = (len(corpus) - 1 - offset) // num_steps
    order = rng.permutation(n_windows)  # only the first count * batch_size are used
    for i in range(count):
        starts = offset + num_steps * order[i * batch_size:(i + 1) * batch_size]
        positions = np.arange(num_steps)[:, None] + starts[None, :]
        yield corpus[positions], corpus[positions + 1]
    ### END SOLUTION

# %% test id=test_random_batches_visible points=1
batches = list(random_batches(np.arange(100), 2, 5, rng=0))
assert len(batches) == (100 - 5) // (5 * 2), f"expected 9 minibatches, got {len(batches)}"
X, Y = batches[0]
assert X.shape == (5, 2) and Y.shape == (5, 2), f"expected (num_steps, batch_size) = (5, 2), got {X.shape}"
assert np.array_equal(Y, X + 1), "with tokens 0, 1, 2, ... every target is its input plus one"
assert np.array_equal(X[:, 0], X[0, 0] + np.arange(5)), "each column is a contiguous window"

# %% test id=test_random_batches_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps5 as grading

cases = grading.batch_cases()
runs = grading.run_batches(random_batches, cases)
grading.check_batches(cases, runs, points=2, sequential=False)
### END HIDDEN TESTS

# %% solution id=sequential_batches
def sequential_batches(corpus, batch_size, num_steps, *, rng):
    """Sequential partitioning: yields (X, Y), int arrays of shape (num_steps, batch_size)."""
    ### BEGIN SOLUTION
    corpus = np.asarray(corpus)
    rng = np.random.default_rng(rng)
    count = (len(corpus) - num_steps) // (num_steps * batch_size)
    offset = int(rng.integers(num_steps))
    row_starts = offset + count * num_steps * np.arange(batch_size)
    for i in range(count):
        positions = np.arange(num_steps)[:, None] + (row_starts + i * num_steps)[None, :]
        yield corpus[positions], corpus[positions + 1]
    ### END SOLUTION

# %% test id=test_sequential_batches_visible points=1
batches = list(sequential_batches(np.arange(100), 2, 5, rng=0))
assert len(batches) == 9, f"expected 9 minibatches, got {len(batches)}"
(X0, Y0), (X1, Y1) = batches[0], batches[1]
assert X0.shape == (5, 2), f"expected (num_steps, batch_size) = (5, 2), got {X0.shape}"
assert np.array_equal(Y0, X0 + 1), "every target is its input plus one"
assert np.array_equal(X1[0], X0[-1] + 1), "minibatch i + 1 continues every row of minibatch i"

# %% test id=test_sequential_batches_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps5 as grading

cases = grading.batch_cases()
runs = grading.run_batches(sequential_batches, cases)
grading.check_batches(cases, runs, points=2, sequential=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Temperature sampling
#
# A model turns logits $o$ into a distribution over the next token;
# sampling at temperature $\tau$ draws from $\operatorname{softmax}(o / \tau)$.
# Implement `softmax_with_temperature` (along the last axis, float64, no
# overflow even for huge logits or tiny temperatures).
#
# Then implement `sample_generate(model, prefix, num_tokens, temperature, rng)`
# for any model with this small protocol (your `CharLM` below follows it):
# `model.begin_state(1)` is the initial state, and
# `model.step(tokens, state) -> (logits, state)` reads one token per row
# (`tokens` of shape `(1,)` here) and returns the next-token logits, a float
# numpy array of shape `(1, vocab_size)`. Read every prefix token first, then
# repeatedly draw the next token with `rng` (an int seed or a Generator) and
# feed it back. Return only the `num_tokens` generated indices, as an integer
# numpy array.

# %% solution id=sampling
def softmax_with_temperature(logits, temperature=1.0):
    """softmax(logits / temperature) along the last axis: (..., V) -> (..., V) float64."""
    ### BEGIN SOLUTION
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    weights = np.exp(scaled)
    return weights / weights.sum(axis=-1, keepdims=True)
    ### END SOLUTION


def sample_generate(model, prefix, num_tokens, temperature=1.0, rng=0):
    """Sample num_tokens tokens after reading prefix (list of ints); returns (num_tokens,) ints."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(rng)
    state = model.begin_state(1)
    logits = None
    for token in prefix:
        logits, state = model.step(np.array([token]), state)
    generated = np.empty(num_tokens, dtype=np.int64)
    for i in range(num_tokens):
        probs = softmax_with_temperature(logits[0], temperature)
        generated[i] = rng.choice(probs.size, p=probs)
        logits, state = model.step(generated[i:i + 1], state)
    return generated
    ### END SOLUTION

# %% test id=test_softmax_temperature_visible points=1
probs = softmax_with_temperature(np.array([[0.0, math.log(3.0)]]), 1.0)
assert probs.shape == (1, 2), f"expected shape (1, 2), got {probs.shape}"
assert np.allclose(probs, [[0.25, 0.75]]), f"expected [[0.25, 0.75]], got {probs}"
assert np.allclose(softmax_with_temperature(np.array([0.0, math.log(3.0)]), 0.5), [0.1, 0.9]), \
    "at temperature 0.5 the odds 1:3 become 1:9"

# %% test id=test_softmax_temperature_hidden points=1
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps5 as grading

cases = grading.softmax_temperature_cases()
runs = grading.run_cases(softmax_with_temperature, cases, grading.FORBIDDEN)
grading.check_softmax_with_temperature(cases, runs, points=1)
### END HIDDEN TESTS

# %% [markdown]
# The visible test uses a model that always predicts the token after the one
# it just read (cyclically), almost surely.

# %% locked id=counting_model
class NextTokenModel:
    """Predicts token (last + 1) % vocab_size with very high confidence."""

    vocab_size = 4

    def begin_state(self, batch_size):
        return None

    def step(self, tokens, state):
        logits = np.full((len(tokens), self.vocab_size), -30.0)
        logits[np.arange(len(tokens)), (np.asarray(tokens) + 1) % self.vocab_size] = 30.0
        return logits, state

# %% test id=test_sample_generate_visible points=1
sample = sample_generate(NextTokenModel(), [0, 1], 5, temperature=1.0, rng=0)
assert isinstance(sample, np.ndarray) and sample.shape == (5,), "expected 5 generated tokens"
assert sample.tolist() == [2, 3, 0, 1, 2], f"expected [2, 3, 0, 1, 2], got {sample.tolist()}"
again = sample_generate(NextTokenModel(), [0, 1], 5, temperature=1.0, rng=0)
assert np.array_equal(sample, again), "the same seed should give the same sample"

# %% test id=test_sample_generate_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps5 as grading

runs = grading.run_sample_generate(sample_generate)
grading.check_sample_generate(runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. A GRU language model in PyTorch
#
# `CharLM` embeds each token index into `embedding_dim` numbers
# (`nn.Embedding`), runs one `nn.GRU` layer with `num_hiddens` units over the
# time-major sequence, and maps every hidden state to next-token logits with
# `nn.Linear`. `forward(X, state)` takes `X` `(T, n)` int64 and a state
# `(1, n, num_hiddens)` (or `None` for zeros) and returns logits
# `(T, n, vocab_size)` and the final state. `begin_state` and `step` are
# provided.
#
# `train_char_model` trains with truncated backpropagation through time on
# your **sequential** minibatches (one call of `sequential_batches` per
# epoch, with `rng` the Generator `np.random.default_rng(seed)`): start each
# epoch from a zero state (`None`) and carry the state from one minibatch to
# the next, detached from the graph; use the mean
# cross-entropy loss, Adam with learning rate `lr`, and clip the global
# gradient norm to `max_norm` (`nn.utils.clip_grad_norm_`) before every
# step. Return the loss of every minibatch, in order, as a list of floats.

# %% solution id=char_model
class CharLM(nn.Module):
    """Embedding -> GRU -> Linear character model."""

    def __init__(self, vocab_size, num_hiddens=128, embedding_dim=32):
        super().__init__()
        self.vocab_size = vocab_size
        self.num_hiddens = num_hiddens
        ### BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = nn.GRU(embedding_dim, num_hiddens)
        self.head = nn.Linear(num_hiddens, vocab_size)
        ### END SOLUTION

    def forward(self, X, state=None):
        """X (T, n) int64 tensor, state (1, n, h) or None -> logits (T, n, V), state."""
        ### BEGIN SOLUTION
        outputs, state = self.rnn(self.embedding(X), state)
        return self.head(outputs), state
        ### END SOLUTION

    def begin_state(self, batch_size):
        return torch.zeros(1, batch_size, self.num_hiddens)

    @torch.no_grad()
    def step(self, tokens, state):
        """tokens (n,) ints -> logits (n, V) float64 numpy, new state."""
        self.eval()
        X = torch.as_tensor(np.asarray(tokens), dtype=torch.long)[None, :]
        logits, state = self(X, state)
        return logits[0].double().numpy(), state


def train_char_model(model, train_indices, *, num_steps, batch_size, num_epochs, lr, max_norm,
                     seed):
    """Truncated-BPTT training on sequential minibatches; returns every minibatch's loss."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses = []
    model.train()
    for _ in range(num_epochs):
        state = None
        for X, Y in sequential_batches(train_indices, batch_size, num_steps, rng=rng):
            if state is not None:
                state = state.detach()
            logits, state = model(torch.from_numpy(X), state)
            loss = F.cross_entropy(logits.reshape(-1, model.vocab_size),
                                   torch.from_numpy(Y).reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            losses.append(loss.item())
    return losses
    ### END SOLUTION

# %% [markdown]
# ### The training run (provided)
#
# The corpus is the course's offline default text (CPython's documentation),
# reduced to lower-case letters and spaces. The last 10% is held out. One
# epoch over the rest with 64 hidden units on one CPU thread takes a few
# seconds (a correct loop reaches about 4.4); a smoothed trigram model scores
# a validation perplexity of about 5.8 on this split, and your model must get
# below **5.0**.

# %% locked id=provided_training
torch.manual_seed(0)
torch.set_num_threads(1)  # the training budget is one epoch on one thread
text = preprocess_letters(default_corpus())
train_text, valid_text = train_valid_split(text, 0.1)
vocab = Vocab(list(train_text))
train_indices = vocab.to_indices(list(train_text))
model = CharLM(len(vocab), num_hiddens=64)
start = time.perf_counter()
losses = train_char_model(model, train_indices, num_steps=32, batch_size=32, num_epochs=1,
                          lr=0.01, max_norm=1.0, seed=0)
print(f"{len(losses)} minibatches in {time.perf_counter() - start:.1f} s; "
      f"training perplexity over the last 50: {math.exp(np.mean(losses[-50:])):.2f}")
prompt = vocab.to_indices(list("the "))
print("the " + "".join(vocab.to_tokens(sample_generate(model, prompt, 80, 0.7, rng=0))))

# %% test id=test_training_visible points=1
expected_batches = (len(train_indices) - 32) // (32 * 32)
assert len(losses) == expected_batches, f"expected one loss per minibatch ({expected_batches})"
assert all(math.isfinite(v) for v in losses), "a loss is NaN or infinite"
assert np.mean(losses[-50:]) < np.mean(losses[:20]), "the loss did not decrease"
assert math.exp(np.mean(losses[-50:])) < 6.0, "the training perplexity did not get below 6"

# %% test id=test_training_hidden points=3
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps5 as grading

trained = grading.run_trained_model(model, vocab, losses)
loop = grading.run_training_loop(CharLM, train_char_model, sequential_batches)
grading.check_training({"trained model": trained, "training loop": loop}, points=3, threshold=5.0)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Written answers
#
# **Question 1 (2 points).** With which partitioning can the hidden state be
# carried from one minibatch to the next, and why must it then be detached
# from the computation graph? What would carrying the state do with the other
# partitioning?

# %% [markdown] answer id=answer_partitioning points=2
# Only with sequential partitioning: there column $j$ of the next minibatch
# continues column $j$ of this one, so the final state is the right initial
# state. Detaching keeps the values but cuts the graph, so backpropagation
# stops at the window start (truncated BPTT); without it every step would
# backpropagate through the whole history (growing cost and memory, and an
# error once the graph is freed). With random partitioning the next window is
# unrelated text, so a carried state would be misleading noise; the state is
# reset (zeros) for every minibatch.
#
# === BEGIN MARK SCHEME ===
# 1 point: sequential, because rows continue across minibatches; random
# partitioning needs a fresh state per minibatch (carrying it feeds unrelated
# context).
# 1 point: detaching cuts the graph at the window boundary (truncation,
# bounded cost/memory), keeping the state's values.
# === END MARK SCHEME ===

# %% [markdown]
# **Question 2 (2 points).** Generate text from your model at temperatures
# 0.2, 1 and 2 (use a new cell). Describe how the samples differ and explain
# the differences from $\operatorname{softmax}(o / \tau)$. Why does greedy
# decoding ($\tau \to 0$) often fall into loops?

# %% [markdown] answer id=answer_temperature points=2
# At 0.2 the text is made of frequent words and repeats itself; at 1 it
# looks like the training text statistically, with some non-words; at 2 it is
# close to random letters. Dividing the logits by $\tau < 1$ widens their
# differences, so the most likely token dominates; $\tau > 1$ shrinks them
# towards a uniform distribution. Greedy decoding is deterministic given the
# state: once it returns to a context it has produced before, it makes the
# same choices again and cycles.
#
# === BEGIN MARK SCHEME ===
# 1 point: correct description of low/high temperature samples, explained by
# sharpening/flattening of softmax(o / tau).
# 1 point: greedy is deterministic, so a repeated context leads to a repeated
# continuation (loops).
# === END MARK SCHEME ===
