# Authoring source of assignments/source/ps6_seq2seq/ps6_seq2seq.ipynb.
# Rebuild with: python assignments/authoring/build_notebooks.py
# ruff: noqa: E402, F821
# %% [markdown]
# # Problem set 6: embeddings, both directions, and decoding
#
# Chapter 7 turns one sequence into another: an encoder reads the source, a
# decoder writes the target one token at a time. You will implement the
# pieces of that machine that are new in the chapter, in numpy:
#
# 1. `embedding_forward` (2 points) and `embedding_backward` (3 points)
# 2. `bidirectional_rnn_forward` (4 points) and `bidirectional_rnn_backward` (4 points)
# 3. `teacher_forcing` (2 points), `decoder_step_forward` (3 points) and
#    `decoder_step_backward` (4 points)
# 4. `greedy_decode` (3 points) and `beam_search` (4 points)
# 5. Two short written answers (4 points, graded by hand)
#
# Names, signatures and shapes are fixed; the notation is the book's (rows
# are examples, sequences are time-major `(T, n, ...)`). Calling `rnn_lib`'s
# embedding, recurrent layers or decoders is not allowed and is checked: write
# the time loops yourself (the one exception: part 3's decoder step calls the
# GRU step you wrote in ps4, `gru_step_forward` / `gru_step_backward`).
# Compute in the dtype of the inputs.
#
# Hidden tests, added at grading time, compare with PyTorch
# (`nn.Embedding`, `nn.RNN(bidirectional=True)`, `nn.GRUCell` with
# `cross_entropy`, and automatic differentiation, in float64), with numerical
# gradients and with `rnn_lib`'s decoders, including sequences of length 1,
# one example, a step where every target is padding, a beam wider than the
# vocabulary and an end token that comes first, with partial credit per case
# or per gradient. A backward
# pass is tested through your own forward pass's cache, so get the forward
# right first.
#
# **Caches are graded.** Each forward returns its cache in the exact structure
# stated in its docstring; a third of each forward's hidden test feeds your
# cache to a correct backward pass and compares the gradients it gets with
# automatic differentiation. A wrong cache costs points there (the message
# says the cache is wrong), not in your backward's test: your backward is
# judged on what it computes from the cache it was given.

# %% locked id=setup
import warnings

import numpy as np

from rnn_lib import gru_step_backward, gru_step_forward, numerical_gradient, relative_error

warnings.filterwarnings("ignore", category=RuntimeWarning)
warnings.filterwarnings("ignore", category=UserWarning)


def table_decoder(probabilities):
    """A toy decoder for testing: the next token's distribution depends on the previous token only.

    probabilities: (V, V), row v = P(next token | previous token v) (rows are normalised).
    Returns step(token, state) -> (log_probs (V,), new_state); the state counts the steps.
    """
    table = np.asarray(probabilities, dtype=np.float64)
    log_table = np.log(table / table.sum(axis=1, keepdims=True))

    def step(token, state):
        return log_table[token].copy(), state + 1

    return step

# %% [markdown]
# ## 1. Embeddings
#
# A token index $v \in \{0, \dots, V-1\}$ selects row $v$ of the embedding
# matrix $\mathbf{W}_e$ of shape $(V, e)$: for indices `idx` of shape
# `(T, n)` the inputs are `X[t, i] = W_e[idx[t, i]]`, shape `(T, n, e)`.
# This is the one-hot row of token $v$ times $\mathbf{W}_e$, without
# building the one-hot rows. Any shape of `idx` must work: `X` has shape
# `idx.shape + (e,)`.

# %% solution id=embedding_forward
def embedding_forward(idx, W_e):
    """Look up the rows of W_e.

    Args:
        idx: integer token indices, any shape (e.g. (T, n)), values in [0, V).
        W_e: the embedding matrix, (V, e).

    Returns:
        X of shape idx.shape + (e,) and the cache (idx, W_e.shape, W_e.dtype) for
        embedding_backward.
    """
    ### BEGIN SOLUTION
    X = W_e[idx]
    return X, (idx, W_e.shape, W_e.dtype)
    ### END SOLUTION

# %% test id=test_embedding_forward_visible points=1
W_e = np.arange(12.0).reshape(4, 3)
X, _ = embedding_forward(np.array([[1, 3], [1, 0]]), W_e)
assert isinstance(X, np.ndarray) and X.shape == (2, 2, 3), "X should have shape (T, n, e) = (2, 2, 3)"
assert np.array_equal(X[0, 1], W_e[3]), f"X[0, 1] should be row 3 of W_e, got {X[0, 1]}"
assert np.array_equal(X[1, 1], W_e[0]), f"X[1, 1] should be row 0 of W_e, got {X[1, 1]}"

# %% test id=test_embedding_forward_hidden points=1
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.embedding_forward_cases()
runs = grading.run_embedding_forward(embedding_forward, cases)
grading.check_embedding_forward(cases, runs, points=1)
### END HIDDEN TESTS

# %% [markdown]
# The gradient of row $v$ is the sum of the upstream gradients of *every*
# position that looked it up. A token that occurs twice in a batch receives
# two contributions. Careful: numpy's `A[idx] += B` does not add up repeated
# indices (the last write wins); `np.add.at` does.

# %% solution id=embedding_backward
def embedding_backward(dX, cache):
    """Gradient of the embedding matrix.

    Args:
        dX: upstream gradient of X, idx.shape + (e,).
        cache: from embedding_forward.

    Returns:
        dW_e, (V, e).
    """
    ### BEGIN SOLUTION
    idx, shape, dtype = cache
    dW_e = np.zeros(shape, dtype=dtype)
    np.add.at(dW_e, idx.reshape(-1), dX.reshape(-1, shape[1]))
    return dW_e
    ### END SOLUTION

# %% test id=test_embedding_backward_visible points=1
_, cache = embedding_forward(np.array([[2, 2]]), np.zeros((4, 3)))
dW_e = embedding_backward(np.ones((1, 2, 3)), cache)
assert isinstance(dW_e, np.ndarray) and dW_e.shape == (4, 3), "dW_e should have shape (V, e) = (4, 3)"
assert np.array_equal(dW_e[2], [2.0, 2.0, 2.0]), f"token 2 is used twice: expected [2, 2, 2], got {dW_e[2]}"
assert np.array_equal(dW_e[0], [0.0, 0.0, 0.0]), "a row that was not looked up gets no gradient"

# %% test id=test_embedding_backward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.embedding_backward_cases()
runs = grading.run_embedding_backward(embedding_forward, embedding_backward, cases)
grading.check_embedding_backward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. A bidirectional RNN layer
#
# Two tanh RNNs read the same inputs $\mathbf{X}_1, \dots, \mathbf{X}_T$, one
# from left to right and one from right to left:
#
# $$\overrightarrow{\mathbf{H}}_t = \tanh(\mathbf{X}_t \mathbf{W}^{f}_{xh} +
#   \overrightarrow{\mathbf{H}}_{t-1} \mathbf{W}^{f}_{hh} + \mathbf{b}^{f}),
#   \quad t = 1, \dots, T, \qquad
#   \overleftarrow{\mathbf{H}}_t = \tanh(\mathbf{X}_t \mathbf{W}^{b}_{xh} +
#   \overleftarrow{\mathbf{H}}_{t+1} \mathbf{W}^{b}_{hh} + \mathbf{b}^{b}),
#   \quad t = T, \dots, 1,$$
#
# starting from $\overrightarrow{\mathbf{H}}_0 =$ `H0[0]` and
# $\overleftarrow{\mathbf{H}}_{T+1} =$ `H0[1]`. The layer's output at step
# $t$ is the concatenation $[\overrightarrow{\mathbf{H}}_t \mid
# \overleftarrow{\mathbf{H}}_t]$, forward half first, *both at the position
# of the input they have just read* (the backward half is not stored in
# reverse order). The final states are `H_n[0]` $=
# \overrightarrow{\mathbf{H}}_T$ and `H_n[1]` $=
# \overleftarrow{\mathbf{H}}_1$. This is exactly PyTorch's layout for
# `nn.RNN(d, h, bidirectional=True)`.

# %% solution id=bidirectional_rnn_forward
def bidirectional_rnn_forward(X, H0, W_xh_f, W_hh_f, b_f, W_xh_b, W_hh_b, b_b):
    """A bidirectional tanh RNN layer.

    Args:
        X: inputs (T, n, d); H0: initial states (2, n, h), forward then backward.
        W_xh_f (d, h), W_hh_f (h, h), b_f (h,): the forward direction.
        W_xh_b (d, h), W_hh_b (h, h), b_b (h,): the backward direction.

    Returns:
        H (T, n, 2h) with H[t] = [forward state | backward state] at step t,
        H_n (2, n, h) = [forward state at the last step, backward state at the first],
        and the cache for bidirectional_rnn_backward,
        (X, H0, (H_f, W_xh_f, W_hh_f, steps_f), (H_b, W_xh_b, W_hh_b, steps_b)):
        H_f and H_b (T, n, h) are each direction's states at the position of the
        input they read, and steps_f = range(T), steps_b = range(T - 1, -1, -1)
        the time steps in the order each direction visits them.
    """
    ### BEGIN SOLUTION
    T = X.shape[0]
    steps_f, steps_b = range(T), range(T - 1, -1, -1)
    H_f = _scan(X, H0[0], W_xh_f, W_hh_f, b_f, steps_f)
    H_b = _scan(X, H0[1], W_xh_b, W_hh_b, b_b, steps_b)
    H = np.concatenate([H_f, H_b], axis=2)
    H_n = np.stack([H_f[T - 1], H_b[0]])
    cache = (X, H0, (H_f, W_xh_f, W_hh_f, steps_f), (H_b, W_xh_b, W_hh_b, steps_b))
    return H, H_n, cache


def _scan(X, H_start, W_xh, W_hh, b, steps):
    """One direction: the states (T, n, h), visiting the time steps in the given order."""
    H = np.zeros(X.shape[:2] + (W_hh.shape[0],), dtype=X.dtype)
    H_prev = H_start
    for t in steps:
        H_prev = np.tanh(X[t] @ W_xh + H_prev @ W_hh + b)
        H[t] = H_prev
    return H
    ### END SOLUTION

# %% test id=test_bidirectional_forward_visible points=1
rng = np.random.default_rng(0)
X, H0 = rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 2, 5))
W_xh_f, W_hh_f, b_f = rng.normal(size=(4, 5)), rng.normal(size=(5, 5)), rng.normal(size=5)
W_xh_b, W_hh_b, b_b = rng.normal(size=(4, 5)), rng.normal(size=(5, 5)), rng.normal(size=5)
H, H_n, _ = bidirectional_rnn_forward(X, H0, W_xh_f, W_hh_f, b_f, W_xh_b, W_hh_b, b_b)
assert isinstance(H, np.ndarray) and H.shape == (3, 2, 10), "H should have shape (T, n, 2h) = (3, 2, 10)"
assert isinstance(H_n, np.ndarray) and H_n.shape == (2, 2, 5), "H_n should have shape (2, n, h) = (2, 2, 5)"
first_f = np.tanh(X[0] @ W_xh_f + H0[0] @ W_hh_f + b_f)
assert np.allclose(H[0, :, :5], first_f), "the forward half of H[0] should read X[0] after H0[0]"
first_b = np.tanh(X[2] @ W_xh_b + H0[1] @ W_hh_b + b_b)
assert np.allclose(H[2, :, 5:], first_b), "the backward half starts at the LAST step, from H0[1]"
assert np.allclose(H_n[0], H[2, :, :5]), "H_n[0] is the forward state after the last step"
assert np.allclose(H_n[1], H[0, :, 5:]), "H_n[1] is the backward state after step 1"

# %% test id=test_bidirectional_forward_hidden points=3
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.bidirectional_forward_cases()
runs = grading.run_bidirectional_forward(bidirectional_rnn_forward, cases)
grading.check_bidirectional_forward(cases, runs, points=3)
### END HIDDEN TESTS

# %% [markdown]
# The backward pass receives `dH` `(T, n, 2h)`, the gradient of the layer's
# outputs. The two directions share only their input: backpropagate the
# forward half `dH[:, :, :h]` through the forward direction (from $t = T$ down
# to 1) and the backward half through the backward direction (from $t = 1$ up
# to $T$, the reverse of *its* order), and add the two contributions to
# `dX`. `dH0[0]` and `dH0[1]` are the gradients of the two initial states.

# %% solution id=bidirectional_rnn_backward
def bidirectional_rnn_backward(dH, cache):
    """Gradients of bidirectional_rnn_forward.

    Args:
        dH: upstream gradient of H, (T, n, 2h).
        cache: from bidirectional_rnn_forward.

    Returns:
        dX (T, n, d), dH0 (2, n, h), dW_xh_f, dW_hh_f, db_f, dW_xh_b, dW_hh_b, db_b.
    """
    ### BEGIN SOLUTION
    X, H0, forward, backward = cache
    h = H0.shape[2]
    dX_f, dH0_f, *grads_f = _scan_backward(dH[:, :, :h], X, H0[0], *forward)
    dX_b, dH0_b, *grads_b = _scan_backward(dH[:, :, h:], X, H0[1], *backward)
    dX = dX_f + dX_b
    return (dX, np.stack([dH0_f, dH0_b]), *grads_f, *grads_b)


def _scan_backward(dH, X, H_start, H, W_xh, W_hh, steps):
    """Backpropagation through one direction: visit its steps in reverse order."""
    steps = list(steps)
    dX = np.zeros_like(X)
    dW_xh, dW_hh = np.zeros_like(W_xh), np.zeros_like(W_hh)
    db = np.zeros(W_hh.shape[0], dtype=X.dtype)
    dH_next = np.zeros_like(H_start)
    for k in range(len(steps) - 1, -1, -1):
        t = steps[k]
        H_prev = H[steps[k - 1]] if k > 0 else H_start
        dA = (dH[t] + dH_next) * (1 - H[t] ** 2)
        dX[t] = dA @ W_xh.T
        dW_xh += X[t].T @ dA
        dW_hh += H_prev.T @ dA
        db += dA.sum(axis=0)
        dH_next = dA @ W_hh.T
    return dX, dH_next, dW_xh, dW_hh, db
    ### END SOLUTION

# %% [markdown]
# The visible test compares your `dW_hh_b` and `dH0` with numerical
# gradients; use the same pattern to check the other gradients yourself.

# %% test id=test_bidirectional_backward_visible points=1
rng = np.random.default_rng(1)
X, H0 = rng.normal(size=(4, 2, 3)), rng.normal(size=(2, 2, 2))
params = [rng.normal(size=(3, 2)), rng.normal(size=(2, 2)), rng.normal(size=2),
          rng.normal(size=(3, 2)), rng.normal(size=(2, 2)), rng.normal(size=2)]
dH = rng.normal(size=(4, 2, 4))
_, _, cache = bidirectional_rnn_forward(X, H0, *params)
grads = bidirectional_rnn_backward(dH, cache)
assert len(grads) == 8, "return dX, dH0 and the six parameter gradients"
assert grads[0].shape == (4, 2, 3) and grads[1].shape == (2, 2, 2), "dX is (T, n, d), dH0 (2, n, h)"
numeric_W_hh_b = numerical_gradient(
    lambda W: bidirectional_rnn_forward(X, H0, *params[:4], W, params[5])[0], params[4].copy(),
    df=dH)
assert relative_error(grads[6], numeric_W_hh_b) < 1e-6, "dW_hh_b disagrees with the numerical gradient"
numeric_H0 = numerical_gradient(lambda H: bidirectional_rnn_forward(X, H, *params)[0], H0.copy(),
                                df=dH)
assert relative_error(grads[1], numeric_H0) < 1e-6, "dH0 disagrees with the numerical gradient"

# %% test id=test_bidirectional_backward_hidden points=3
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.bidirectional_backward_cases()
runs = grading.run_bidirectional_backward(bidirectional_rnn_forward, bidirectional_rnn_backward,
                                          cases)
grading.check_bidirectional_backward(cases, runs, points=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Teacher forcing
#
# In training, the decoder reads the *true* previous token and is scored on
# the next one. For a target $y_1, \dots, y_m$ its inputs are
# $\langle\text{bos}\rangle, y_1, \dots, y_m$ and its targets
# $y_1, \dots, y_m, \langle\text{eos}\rangle$: the same sequence shifted by
# one, each $m + 1$ long. A batch is time-major and padded with `pad` after
# each sequence's end, to the length $T = 1 + $ (the longest target).
# Return integer arrays (`np.int64`).

# %% solution id=teacher_forcing
def teacher_forcing(targets, bos, eos, pad):
    """Decoder inputs and targets for a batch of target token lists.

    Args:
        targets: a list of n lists of token indices (a list may be empty).
        bos, eos, pad: the begin, end and padding tokens.

    Returns:
        dec_in (T, n) and dec_target (T, n), int64, T = 1 + the longest target.
    """
    ### BEGIN SOLUTION
    T = max(len(target) for target in targets) + 1
    dec_in = np.full((T, len(targets)), pad, dtype=np.int64)
    dec_target = np.full((T, len(targets)), pad, dtype=np.int64)
    for i, target in enumerate(targets):
        dec_in[:len(target) + 1, i] = [bos] + list(target)
        dec_target[:len(target) + 1, i] = list(target) + [eos]
    return dec_in, dec_target
    ### END SOLUTION

# %% test id=test_teacher_forcing_visible points=1
dec_in, dec_target = teacher_forcing([[5, 6], [7]], bos=2, eos=3, pad=1)
assert isinstance(dec_in, np.ndarray) and dec_in.shape == (3, 2), "dec_in should have shape (T, n) = (3, 2)"
assert np.array_equal(dec_in, [[2, 2], [5, 7], [6, 1]]), f"dec_in: got {dec_in.tolist()}"
assert np.array_equal(dec_target, [[5, 7], [6, 3], [3, 1]]), f"dec_target: got {dec_target.tolist()}"

# %% test id=test_teacher_forcing_hidden points=1
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.teacher_forcing_cases()
runs = grading.run_teacher_forcing(teacher_forcing, cases)
grading.check_teacher_forcing(cases, runs, points=1)
### END HIDDEN TESTS

# %% [markdown]
# ### The decoder's loss at one step
#
# With these arrays, decoder step $t$ (row `k = t - 1` of both arrays) reads
# the **previous** target token and is scored on the **next** one, eqs.
# (ch7-decoder) and (ch7-decoder-output) of the chapter:
#
# $$\mathbf{S}_t = \operatorname{GRU}_{\text{dec}}\bigl(\mathbf{W}^{\text{tgt}}_e[y_{t-1}],\,
#   \mathbf{S}_{t-1}\bigr), \qquad
#   \mathbf{O}_t = \mathbf{S}_t\mathbf{W}_{hq} + \mathbf{b}_q, \qquad
#   \mathcal{L}_t = -\sum_{i} m_{t,i}\, \log \operatorname{softmax}(\mathbf{O}_t)_{i,\, y_{t,i}},$$
#
# where the **input** $y_{t-1}$ is `y_in = dec_in[k]` (so $\langle\text{bos}\rangle$ at the
# first step), the **target** $y_t$ is `y_target = dec_target[k]`, and $m_{t,i} = 0$ when
# `y_target[i] == pad` (a sequence that has already ended), 1 otherwise. Never score
# $\mathbf{O}_t$ against `y_in`: that is the token the decoder has just read.
# $\mathcal{L}_t$ is a **sum** over the real target tokens of the step, not a mean: the
# minibatch loss (ch7-teacher-forcing) is $\frac{1}{N}\sum_t \mathcal{L}_t$ with $N$ the
# number of non-padding targets of the whole batch (a mean per step would give the
# tokens of a step with many finished sequences more weight).
#
# The GRU is ps4's: call `gru_step_forward` and `gru_step_backward` (imported from
# `rnn_lib` in the setup cell; its columns are in PyTorch's order r, z, n). Write the
# embedding lookup, the output layer and the masked cross-entropy yourself, with a
# numerically stable log-softmax (subtract each row's largest logit).

# %% solution id=decoder_step_forward
def decoder_step_forward(y_in, y_target, S_prev, E_tgt, W_x, W_h, b_x, b_h, W_hq, b_q, pad):
    """One teacher-forced decoder step and its masked cross-entropy.

    Args:
        y_in: the tokens the decoder reads, (n,) int (a row of dec_in).
        y_target: the tokens it is scored on, (n,) int (the same row of dec_target).
        S_prev: the previous decoder state, (n, h).
        E_tgt (V, e); W_x (e, 3h), W_h (h, 3h), b_x, b_h (3h,): the GRU;
        W_hq (h, V), b_q (V,): the output layer.
        pad: the padding token; rows whose target is pad add nothing.

    Returns:
        loss (a float, the sum over the non-padding rows), S (n, h) and the cache
        (y_in, y_target, keep, S, log_probs, W_hq, E_tgt.shape, gru_cache) for
        decoder_step_backward: keep = (y_target != pad), a boolean (n,) array;
        log_probs (n, V) the log-softmax of the logits; gru_cache the cache that
        gru_step_forward returned.
    """
    ### BEGIN SOLUTION
    X = E_tgt[y_in]
    S, gru_cache = gru_step_forward(X, S_prev, W_x, W_h, b_x, b_h)
    O = S @ W_hq + b_q
    shifted = O - O.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    keep = y_target != pad
    rows = np.arange(len(y_target))
    loss = -log_probs[rows[keep], y_target[keep]].sum()
    cache = (y_in, y_target, keep, S, log_probs, W_hq, E_tgt.shape, gru_cache)
    return float(loss), S, cache
    ### END SOLUTION

# %% test id=test_decoder_step_forward_visible points=1
rng = np.random.default_rng(2)
V, e, h, pad = 6, 3, 4, 1
E_tgt, S_prev = rng.normal(size=(V, e)), np.tanh(rng.normal(size=(3, h)))
W_x, W_h = rng.normal(size=(e, 3 * h)), rng.normal(size=(h, 3 * h))
b_x, b_h = rng.normal(size=3 * h), rng.normal(size=3 * h)
W_hq, b_q = rng.normal(size=(h, V)), rng.normal(size=V)
y_in, y_target = np.array([0, 4, 5]), np.array([4, 3, pad])  # row 2 has already ended
loss, S, _ = decoder_step_forward(y_in, y_target, S_prev, E_tgt, W_x, W_h, b_x, b_h, W_hq, b_q,
                                  pad)
S_expected, _ = gru_step_forward(E_tgt[y_in], S_prev, W_x, W_h, b_x, b_h)
O = S_expected @ W_hq + b_q
log_p = O - np.log(np.exp(O).sum(axis=1, keepdims=True))
assert isinstance(S, np.ndarray) and S.shape == (3, h), "S should have shape (n, h) = (3, 4)"
assert np.allclose(S, S_expected), "S is the GRU step from the embedding of the INPUT token y_in"
assert isinstance(loss, float), f"return the loss as a Python float, got {type(loss).__name__}"
assert np.isclose(loss, -(log_p[0, 4] + log_p[1, 3])), \
    "score O_t on the NEXT token (y_target), not the one just read (y_in); skip padding rows"
loss_ended, _, _ = decoder_step_forward(y_in, np.array([pad, pad, pad]), S_prev, E_tgt, W_x, W_h,
                                        b_x, b_h, W_hq, b_q, pad)
assert loss_ended == 0.0, f"every target is padding: the loss should be 0, got {loss_ended}"

# %% test id=test_decoder_step_forward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.decoder_step_forward_cases()
runs = grading.run_decoder_step_forward(decoder_step_forward, cases)
grading.check_decoder_step_forward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# The backward pass receives `dloss`, the gradient of $\mathcal{L}_t$ (for the minibatch
# loss, $1/N$), and `dS`, the gradient of $\mathbf{S}_t$ that the *later* steps send back
# (zeros at the last step). The gradient of the logits is
# $\texttt{dloss}\cdot m_{t,i}\,(\operatorname{softmax}(\mathbf{O}_t)_i -
# \operatorname{onehot}(y_{t,i}))$: zero on the padding rows. $\mathbf{S}_t$ receives that
# through $\mathbf{W}_{hq}$ *plus* `dS`; the embedding's gradient goes to the rows of the
# tokens the decoder **read** (`y_in`), adding up over repeated tokens.

# %% solution id=decoder_step_backward
def decoder_step_backward(dloss, dS, cache):
    """Gradients of decoder_step_forward.

    Args:
        dloss: the gradient of the step's loss (a float).
        dS: the gradient of S from the later steps, (n, h).
        cache: from decoder_step_forward.

    Returns:
        dS_prev (n, h), dE_tgt (V, e), dW_x, dW_h, db_x, db_h, dW_hq (h, V), db_q (V,).
    """
    ### BEGIN SOLUTION
    y_in, y_target, keep, S, log_probs, W_hq, E_shape, gru_cache = cache
    dO = np.exp(log_probs)
    dO[np.arange(len(y_target)), y_target] -= 1.0
    dO *= dloss * keep[:, None]
    dW_hq = S.T @ dO
    db_q = dO.sum(axis=0)
    dX, dS_prev, dW_x, dW_h, db_x, db_h = gru_step_backward(dS + dO @ W_hq.T, gru_cache)
    dE_tgt = np.zeros(E_shape, dtype=dX.dtype)
    np.add.at(dE_tgt, y_in, dX)
    return dS_prev, dE_tgt, dW_x, dW_h, db_x, db_h, dW_hq, db_q
    ### END SOLUTION

# %% test id=test_decoder_step_backward_visible points=1
dS = rng.normal(size=(3, h))
_, _, cache = decoder_step_forward(y_in, y_target, S_prev, E_tgt, W_x, W_h, b_x, b_h, W_hq, b_q,
                                   pad)
grads = decoder_step_backward(0.5, dS, cache)
assert len(grads) == 8, "return dS_prev, dE_tgt, dW_x, dW_h, db_x, db_h, dW_hq and db_q"
assert grads[0].shape == (3, h) and grads[1].shape == (V, e), "dS_prev is (n, h), dE_tgt (V, e)"


def step_objective(S_prev, E_tgt, W_hq):
    loss, S, _ = decoder_step_forward(y_in, y_target, S_prev, E_tgt, W_x, W_h, b_x, b_h, W_hq,
                                      b_q, pad)
    return 0.5 * loss + np.sum(S * dS)


numeric_W_hq = numerical_gradient(lambda W: step_objective(S_prev, E_tgt, W), W_hq.copy())
assert relative_error(grads[6], numeric_W_hq) < 1e-6, "dW_hq disagrees with the numerical gradient"
numeric_E = numerical_gradient(lambda E: step_objective(S_prev, E, W_hq), E_tgt.copy())
assert relative_error(grads[1], numeric_E) < 1e-6, "dE_tgt disagrees with the numerical gradient"
assert np.array_equal(grads[1][3], np.zeros(e)), "token 3 is a target, never read: no gradient"
numeric_S = numerical_gradient(lambda S: step_objective(S, E_tgt, W_hq), S_prev.copy())
assert relative_error(grads[0], numeric_S) < 1e-6, "dS_prev disagrees with the numerical gradient"
_, _, cache = decoder_step_forward(y_in, np.array([pad, pad, pad]), S_prev, E_tgt, W_x, W_h, b_x,
                                   b_h, W_hq, b_q, pad)
grads = decoder_step_backward(1.0, np.zeros((3, h)), cache)
assert np.array_equal(grads[7], np.zeros(V)), "padding rows send no gradient: db_q should be 0"

# %% test id=test_decoder_step_backward_hidden points=3
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.decoder_step_backward_cases()
runs = grading.run_decoder_step_backward(decoder_step_forward, decoder_step_backward, cases)
grading.check_decoder_step_backward(cases, runs, points=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Decoding
#
# At test time there is no true previous token: the decoder reads its own.
# Your decoders work with any model through a **step function**
#
#     log_probs, new_state = step(token, state)
#
# which takes the previous token (an int) and the decoder's state and returns
# $\log P(\,\cdot \mid \text{prefix})$, an array of shape `(V,)`, and the
# next state. Start from `state0` and the token `bos`. The setup cell's
# `table_decoder` makes such a step function from a table of probabilities;
# the hidden tests also use trained-style GRU encoder-decoders.
#
# **Greedy decoding** appends the most probable token (`np.argmax`, so the
# smallest index among equals) at every step, and stops after producing `eos`
# or after `max_len` tokens. Return the list of produced tokens (without
# `bos`, with `eos` if it was produced) and its log-probability, the *sum*
# of the log-probabilities of the chosen tokens.

# %% solution id=greedy_decode
def greedy_decode(step, state0, bos, eos, max_len):
    """Most probable token at every step.

    Returns:
        tokens (a list of ints) and their log-probability (a float).
    """
    ### BEGIN SOLUTION
    tokens, score, state, previous = [], 0.0, state0, bos
    for _ in range(max_len):
        log_probs, state = step(previous, state)
        previous = int(np.argmax(log_probs))
        tokens.append(previous)
        score += float(log_probs[previous])
        if previous == eos:
            break
    return tokens, score
    ### END SOLUTION

# %% [markdown]
# Two table decoders for the visible tests, with tokens 0 = `bos`, 1 = `eos`,
# 2 and 3. In `trap`, token 2 is the most probable after `bos` (0.5), but it
# is followed by `eos` with probability 0.3 only, while token 3 (0.4) is
# followed by `eos` with probability 0.9. In `eos_first`, the end token is the
# most probable first token.

# %% locked id=toy_decoders
trap = table_decoder([[0.0, 0.1, 0.5, 0.4], [0.0, 1.0, 0.0, 0.0],
                      [0.0, 0.3, 0.4, 0.3], [0.0, 0.9, 0.05, 0.05]])
eos_first = table_decoder([[0.0, 0.6, 0.2, 0.2], [0.0, 1.0, 0.0, 0.0],
                           [0.0, 0.5, 0.3, 0.2], [0.0, 0.5, 0.2, 0.3]])

# %% test id=test_greedy_decode_visible points=1
tokens, score = greedy_decode(trap, 0, bos=0, eos=1, max_len=3)
assert tokens == [2, 2, 2], f"expected [2, 2, 2] (token 2 every time, max_len = 3), got {tokens}"
assert abs(score - np.log(0.5 * 0.4 * 0.4)) < 1e-9, f"expected log(0.5 * 0.4 * 0.4), got {score}"
tokens, score = greedy_decode(eos_first, 0, bos=0, eos=1, max_len=5)
assert tokens == [1], f"stop at the end token, even when it comes first: expected [1], got {tokens}"

# %% test id=test_greedy_decode_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.greedy_decode_cases()
runs = grading.run_greedy_decode(greedy_decode, cases)
grading.check_greedy_decode(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# **Beam search** of width $k$ keeps the $k$ most probable prefixes. Follow
# this algorithm exactly (it is `rnn_lib.beam_search`'s):
#
# 1. Start with one live prefix, the empty one, with score 0 and state
#    `state0`; no finished sequences.
# 2. For each position $0, 1, \dots$ `max_len - 1`: extend every live prefix
#    by every token $v$ (call `step` once per live prefix, with its last
#    token, or `bos` for the empty prefix), with score
#    $\text{score(prefix)} + \log P(v \mid \text{prefix})$. Keep the $k$
#    best of *all* these extensions (ties: the earlier prefix, then the
#    smaller token; a stable sort on the negated scores does it). Each kept
#    extension that ends in `eos`, or that has reached `max_len` tokens, is
#    **finished**; the others are the new live prefixes (so the beam narrows
#    when an extension finishes).
# 3. Stop when no prefix is live, or when the best finished score is at least
#    the best live score (extending a prefix can only lower its score). The
#    hidden tests count your calls of `step`: one per live prefix and step.
# 4. Return the finished sequence with the highest score (the first found
#    among equals) and its score.
#
# Scores are sums of log-probabilities: never multiply probabilities, and
# never score a prefix by its last token alone.

# %% solution id=beam_search
def beam_search(step, state0, bos, eos, max_len, beam_width):
    """The beam_width most probable prefixes at every step.

    Returns:
        tokens (a list of ints) and their log-probability (a float).
    """
    ### BEGIN SOLUTION
    prefixes, scores, states = [[]], [0.0], [state0]
    finished = []
    for position in range(max_len):
        candidates, new_states = [], []
        for row, prefix in enumerate(prefixes):
            log_probs, state = step(prefix[-1] if prefix else bos, states[row])
            new_states.append(state)
            for token, log_prob in enumerate(log_probs):
                candidates.append((scores[row] + float(log_prob), row, token))
        order = sorted(range(len(candidates)), key=lambda i: -candidates[i][0])
        live = []
        for i in order[:beam_width]:
            score, row, token = candidates[i]
            if token == eos or position == max_len - 1:
                finished.append((score, prefixes[row] + [token]))
            else:
                live.append((score, row, token))
        best_finished = max([score for score, _ in finished], default=-np.inf)
        if not live or best_finished >= live[0][0]:
            break
        prefixes = [prefixes[row] + [token] for _, row, token in live]
        scores = [score for score, _, _ in live]
        states = [new_states[row] for _, row, _ in live]
    best_score, best_tokens = max(finished, key=lambda item: item[0])
    return best_tokens, best_score
    ### END SOLUTION

# %% test id=test_beam_search_visible points=1
tokens, score = beam_search(trap, 0, bos=0, eos=1, max_len=3, beam_width=2)
assert tokens == [3, 1], f"width 2 should find [3, 1] (probability 0.36), got {tokens}"
assert abs(score - np.log(0.36)) < 1e-9, f"expected the score log(0.36), got {score}"
tokens, score = beam_search(trap, 0, bos=0, eos=1, max_len=3, beam_width=1)
assert tokens == [2, 2, 2], f"width 1 is greedy decoding: expected [2, 2, 2], got {tokens}"
calls = []


def counting_eos_first(token, state):
    calls.append(token)
    return eos_first(token, state)


tokens, score = beam_search(counting_eos_first, 0, bos=0, eos=1, max_len=5, beam_width=3)
assert tokens == [1], f"expected [1]: nothing longer can beat probability 0.6, got {tokens}"
assert len(calls) == 1, f"stop after the first step (rule 3), got {len(calls)} calls of step"

# %% test id=test_beam_search_hidden points=3
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps6 as grading

cases = grading.beam_search_cases()
runs = grading.run_beam_search(beam_search, cases)
grading.check_beam_search(cases, runs, points=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Written answers
#
# **Question 1 (2 points).** A character-level language model predicts
# $x_{t+1}$ from $x_1, \dots, x_t$. Why can it not use your bidirectional
# layer (what would its training loss do, and why would it be useless for
# generating text)? Why is an encoder free to use one?

# %% [markdown] answer id=answer_bidirectional_lm points=2
# The backward state at step $t$ has read $x_t, \dots, x_T$, so it contains
# $x_{t+1}$, the very token to be predicted: the model can copy the answer
# from its input, its training loss goes to almost zero without learning
# anything about language, and at generation time the future tokens it
# relies on do not exist yet (text is produced left to right, one token at a
# time). An encoder reads a source that is given in full before any output
# is produced, and it predicts nothing about that source, so every position
# may see the whole of it.
#
# === BEGIN MARK SCHEME ===
# 1 point: the backward direction sees x_{t+1} (the target) and later
# tokens: the loss is "cheated" (near zero, nothing learnt).
# 1 point: generation runs left to right, the future is not available;
# the encoder's source is complete before decoding, so both directions are
# legitimate there.
# === END MARK SCHEME ===

# %% [markdown]
# **Question 2 (2 points).** With the trap decoder of the visible tests,
# width 2 finds a *more* probable output than greedy decoding. Yet for some
# models your beam search of width 2 returns a *less* probable sequence than
# greedy decoding does. Explain how that can happen with the algorithm
# above, and say what is guaranteed for width 1 and for a beam so wide that
# it never discards a prefix.

# %% [markdown] answer id=answer_beam_greedy points=2
# Pruning is done on the scores of prefixes, not of complete sequences. The
# greedy prefix can be pushed out of the beam at some step by $k$ other
# prefixes that score higher *so far*; if all of their continuations are
# poor (low-probability tokens later, or no likely end token), the best
# finished sequence of the beam can be less probable than the greedy output,
# which the beam no longer contains. Beam search is a heuristic and not
# monotone in $k$. With width 1 it keeps exactly the greedy prefix (ties
# broken the same way), so it returns the greedy output. A beam that never
# discards anything (width at least $V^{\text{max\_len}-1}$) is an exhaustive
# search and returns the most probable sequence of at most `max_len` tokens.
#
# === BEGIN MARK SCHEME ===
# 1 point: the greedy prefix is pruned because k other prefixes have higher
# partial scores, whose completions turn out worse (scores only decrease as
# tokens are added, so a good prefix can end badly).
# 1 point: width 1 = greedy exactly; an unpruned (exhaustive) beam finds the
# most probable sequence (up to max_len).
# === END MARK SCHEME ===
