# Authoring source of assignments/source/ps3_bptt/ps3_bptt.ipynb.
# Rebuild with: python assignments/authoring/build_notebooks.py
# ruff: noqa: E402, F811, F821
# %% [markdown]
# # Problem set 3: backpropagation through time
#
# You will write the backward pass of the recurrent network from problem set
# 2, check it, and use it to train a small character model with truncated
# backpropagation through time.
#
# **What you implement** (names and signatures as in `rnn_lib`; calling
# `rnn_lib`'s versions of these is not allowed and is checked):
#
# 1. `rnn_step_backward` (3 points)
# 2. `rnn_backward` (4 points)
# 3. `output_backward` (2 points)
# 4. the gradient in `softmax_cross_entropy` (3 points)
# 5. `clip_gradients` (2 points)
# 6. `tbptt_step`, one update of truncated BPTT, and a training run that
#    must reach a target loss (4 points)
# 7. Two short written answers (4 points, graded by hand)
#
# The forward functions are provided below (they are the solution of problem
# set 2, with a fixed cache format). Your backward functions receive exactly
# those caches. Compute in the dtype of the inputs (float32 stays float32).
#
# Visible tests check shapes, dtypes and one small case; hidden tests added
# at grading time compare every gradient with an automatic-differentiation
# oracle and with numerical gradients, on edge cases as well (a single time
# step, a single example, a zero or non-zero initial state). They give
# partial credit per gradient. You can check your own gradients with
# `rnn_lib.numerical_gradient`, which is allowed.

# %% locked id=setup
import warnings

import numpy as np

from rnn_lib import numerical_gradient, relative_error

warnings.filterwarnings("ignore", category=RuntimeWarning)
warnings.filterwarnings("ignore", category=UserWarning)

# %% [markdown]
# ## The forward pass (provided)
#
# Caches: one step keeps `(X, H_prev, W_xh, W_hh, H)`; a sequence keeps
# `(X, H0, W_xh, W_hh, H)` with `X` `(T, n, d)` and `H` `(T, n, h)`; the output
# layer keeps `(H, W_hq)`.

# %% locked id=provided_forward
def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    """H = tanh(X W_xh + H_prev W_hh + b_h); X (n, d), H_prev (n, h) -> H (n, h), cache."""
    H = np.tanh(X @ W_xh + H_prev @ W_hh + b_h)
    return H, (X, H_prev, W_xh, W_hh, H)


def rnn_forward(X, H0, W_xh, W_hh, b_h):
    """X (T, n, d), H0 (n, h) -> H (T, n, h), cache."""
    T, n, _ = X.shape
    H = np.empty((T, n, W_hh.shape[0]), dtype=X.dtype)
    H_prev = H0
    for t in range(T):
        H[t], _ = rnn_step_forward(X[t], H_prev, W_xh, W_hh, b_h)
        H_prev = H[t]
    return H, (X, H0, W_xh, W_hh, H)


def output_forward(H, W_hq, b_q):
    """O = H W_hq + b_q; H (..., h) -> O (..., q), cache."""
    return H @ W_hq + b_q, (H, W_hq)

# %% [markdown]
# ## 1. One step backward
#
# With $A = X W_{xh} + H_{t-1} W_{hh} + b_h$ and $H = \tanh(A)$, return the
# gradients of the loss with respect to `X`, `H_prev`, `W_xh`, `W_hh` and
# `b_h`, given `dH`, the gradient with respect to `H`. Each has the shape of
# the array it belongs to.

# %% solution id=rnn_step_backward
def rnn_step_backward(dH, cache):
    """Gradients of one RNN step.

    Args:
        dH: upstream gradient with respect to H, (n, h).
        cache: (X, H_prev, W_xh, W_hh, H) from rnn_step_forward.

    Returns:
        dX (n, d), dH_prev (n, h), dW_xh (d, h), dW_hh (h, h), db_h (h,).
    """
    ### BEGIN SOLUTION
    X, H_prev, W_xh, W_hh, H = cache
    dA = dH * (1 - H * H)
    dX = dA @ W_xh.T
    dH_prev = dA @ W_hh.T
    dW_xh = X.T @ dA
    dW_hh = H_prev.T @ dA
    db_h = dA.sum(axis=0)
    return dX, dH_prev, dW_xh, dW_hh, db_h
    ### END SOLUTION

# %% [markdown]
# A worked case with one example and one hidden unit: if $A = 0$ then
# $H = 0$ and $\tanh'(0) = 1$, so with `dH = [[2.0]]`, `X = [[3.0]]` and
# `H_prev = [[-1.0]]` you get `dW_xh = [[6.0]]`, `dW_hh = [[-2.0]]` and
# `db_h = [2.0]`.

# %% test id=test_rnn_step_backward_visible points=1
X, H_prev = np.array([[3.0]]), np.array([[-1.0]])
W_xh, W_hh, b_h = np.array([[0.5]]), np.array([[1.5]]), np.array([0.0])
H, cache = rnn_step_forward(X, H_prev, W_xh, W_hh, b_h)
grads = rnn_step_backward(np.array([[2.0]]), cache)
assert len(grads) == 5, "return dX, dH_prev, dW_xh, dW_hh, db_h"
dX, dH_prev, dW_xh, dW_hh, db_h = grads
assert np.allclose(dW_xh, [[6.0]]) and np.allclose(dW_hh, [[-2.0]]), "check dW_xh and dW_hh"
assert db_h.shape == (1,) and np.allclose(db_h, [2.0]), "db_h should have shape (h,) and be [2.0]"
assert np.allclose(dX, [[1.0]]) and np.allclose(dH_prev, [[3.0]]), "check dX and dH_prev"

rng = np.random.default_rng(0)
X, H_prev = rng.normal(size=(4, 3)), rng.normal(size=(4, 5))
W_xh, W_hh, b_h = rng.normal(size=(3, 5)), rng.normal(size=(5, 5)), rng.normal(size=5)
_, cache = rnn_step_forward(X, H_prev, W_xh, W_hh, b_h)
shapes = [g.shape for g in rnn_step_backward(rng.normal(size=(4, 5)), cache)]
assert shapes == [(4, 3), (4, 5), (3, 5), (5, 5), (5,)], f"gradient shapes: {shapes}"

# dH_prev on its own, with a non-symmetric W_hh (H = 0, so dA = dH).
_, cache = rnn_step_forward(np.zeros((1, 1)), np.zeros((1, 2)), np.zeros((1, 2)),
                            np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros(2))
dH_prev_alone = rnn_step_backward(np.array([[1.0, 0.0]]), cache)[1]
assert np.allclose(dH_prev_alone, [[1.0, 3.0]]), \
    f"dH_prev is wrong: with W_hh = [[1, 2], [3, 4]], dH = [[1, 0]] and H = 0, dH_prev = " \
    f"dA @ W_hh.T = [[1, 3]]; got {dH_prev_alone}"

# %% test id=test_rnn_step_backward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps3 as grading

cases = grading.rnn_step_backward_cases()
runs = grading.run_rnn_step_backward(rnn_step_forward, rnn_step_backward, cases)
grading.check_rnn_step_backward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Backpropagation through time
#
# `dH[t]` is the gradient that reaches $H_t$ from the output layer at step
# $t$. The total gradient of $H_t$ also includes what flows back from step
# $t + 1$ through $H_t W_{hh}$. Walk backwards through time with your step
# function, and remember that the weights are shared by every step.
# `dH0` is the gradient with respect to the initial state.

# %% solution id=rnn_backward
def rnn_backward(dH, cache):
    """Backpropagation through time for rnn_forward.

    Args:
        dH: upstream gradients of every hidden state, (T, n, h).
        cache: (X, H0, W_xh, W_hh, H) from rnn_forward.

    Returns:
        dX (T, n, d), dH0 (n, h), dW_xh (d, h), dW_hh (h, h), db_h (h,).
    """
    ### BEGIN SOLUTION
    X, H0, W_xh, W_hh, H = cache
    T = X.shape[0]
    dX = np.zeros_like(X)
    dW_xh = np.zeros_like(W_xh)
    dW_hh = np.zeros_like(W_hh)
    db_h = np.zeros(H0.shape[1], dtype=X.dtype)
    dH_next = np.zeros_like(H0)
    for t in reversed(range(T)):
        H_prev = H[t - 1] if t > 0 else H0
        step_cache = (X[t], H_prev, W_xh, W_hh, H[t])
        dX[t], dH_next, dW_xh_t, dW_hh_t, db_h_t = rnn_step_backward(dH[t] + dH_next, step_cache)
        dW_xh += dW_xh_t
        dW_hh += dW_hh_t
        db_h += db_h_t
    return dX, dH_next, dW_xh, dW_hh, db_h
    ### END SOLUTION

# %% [markdown]
# A check you can reproduce: for `T = 1` the sequence backward must agree
# with the step backward, and every gradient must agree with a numerical one.

# %% test id=test_rnn_backward_visible points=1
rng = np.random.default_rng(1)
X, H0 = rng.normal(size=(1, 2, 3)), rng.normal(size=(2, 4))
W_xh, W_hh, b_h = rng.normal(size=(3, 4)), rng.normal(size=(4, 4)) * 0.5, rng.normal(size=4)
dH = rng.normal(size=(1, 2, 4))
_, cache = rnn_forward(X, H0, W_xh, W_hh, b_h)
_, step_cache = rnn_step_forward(X[0], H0, W_xh, W_hh, b_h)
for name, seq, step in zip(["dX[0]", "dH0", "dW_xh", "dW_hh", "db_h"],
                           rnn_backward(dH, cache), rnn_step_backward(dH[0], step_cache), strict=False):
    got = seq[0] if name == "dX[0]" else seq
    assert np.allclose(got, step), f"T = 1: {name} differs from the step backward"

X = rng.normal(size=(3, 2, 3))
dH = rng.normal(size=(3, 2, 4))
_, cache = rnn_forward(X, H0, W_xh, W_hh, b_h)
grads = rnn_backward(dH, cache)
assert [g.shape for g in grads] == [(3, 2, 3), (2, 4), (3, 4), (4, 4), (4,)], "gradient shapes"
numeric = numerical_gradient(lambda W: rnn_forward(X, H0, W_xh, W, b_h)[0], W_hh.copy(), df=dH)
assert relative_error(grads[3], numeric) < 1e-6, "dW_hh disagrees with the numerical gradient"

# %% test id=test_rnn_backward_hidden points=3
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps3 as grading

cases = grading.rnn_backward_cases()
runs = grading.run_rnn_backward(rnn_forward, rnn_backward, cases)
grading.check_rnn_backward(cases, runs, points=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The output layer backward
#
# `output_backward` must work for one step (`dO` of shape `(n, q)`) and for a
# sequence (`(T, n, q)`). The parameter gradients sum over every row of every
# step.

# %% solution id=output_backward
def output_backward(dO, cache):
    """Gradients of O = H W_hq + b_q.

    Args:
        dO: upstream gradient, (n, q) or (T, n, q).
        cache: (H, W_hq) from output_forward.

    Returns:
        dH shaped like H, dW_hq (h, q), db_q (q,).
    """
    ### BEGIN SOLUTION
    H, W_hq = cache
    h, q = W_hq.shape
    dH = dO @ W_hq.T
    dW_hq = H.reshape(-1, h).T @ dO.reshape(-1, q)
    db_q = dO.reshape(-1, q).sum(axis=0)
    return dH, dW_hq, db_q
    ### END SOLUTION

# %% test id=test_output_backward_visible points=1
H = np.array([[1.0, 2.0]])
_, cache = output_forward(H, np.array([[1.0], [0.0]]), np.array([0.0]))
dH, dW_hq, db_q = output_backward(np.array([[3.0]]), cache)
assert np.allclose(dH, [[3.0, 0.0]]), f"expected dH = [[3, 0]], got {dH}"
assert np.allclose(dW_hq, [[3.0], [6.0]]), f"expected dW_hq = [[3], [6]], got {dW_hq}"
assert db_q.shape == (1,) and np.allclose(db_q, [3.0]), f"expected db_q = [3], got {db_q}"
_, cache = output_forward(np.ones((5, 2, 4)), np.ones((4, 3)), np.zeros(3))
shapes = [g.shape for g in output_backward(np.ones((5, 2, 3)), cache)]
assert shapes == [(5, 2, 4), (4, 3), (3,)], f"sequence gradient shapes: {shapes}"

# %% test id=test_output_backward_hidden points=1
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps3 as grading

cases = grading.output_backward_cases()
runs = grading.run_output_backward(output_forward, output_backward, cases)
grading.check_output_backward(cases, runs, points=1)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The gradient of the cross-entropy loss
#
# The loss (the mean over all tokens, from problem set 2) is computed for
# you. Complete the function so that it also returns `dO`, the gradient of
# the loss with respect to the logits, shaped like `O`. Remember the mean.

# %% solution id=softmax_cross_entropy
def softmax_cross_entropy(O, Y):
    """Mean softmax cross-entropy and its gradient.

    Args:
        O: logits, (T, n, q) or (n, q).
        Y: integer targets, (T, n) or (n,).

    Returns:
        loss (float), dO shaped like O.
    """
    q = O.shape[-1]
    logits = O.reshape(-1, q)
    targets = Y.reshape(-1)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(targets.size), targets].mean()
    ### BEGIN SOLUTION
    dlogits = np.exp(log_probs)
    dlogits[np.arange(targets.size), targets] -= 1
    dlogits /= targets.size
    dO = dlogits.reshape(O.shape)
    ### END SOLUTION
    return float(loss), dO

# %% test id=test_softmax_cross_entropy_visible points=1
loss, dO = softmax_cross_entropy(np.zeros((1, 2, 2)), np.array([[0, 1]]))
assert dO.shape == (1, 2, 2), f"dO should have the shape of O, (1, 2, 2), got {dO.shape}"
assert np.allclose(dO, [[[-0.25, 0.25], [0.25, -0.25]]]), \
    "equal logits, 2 classes, 2 tokens: each entry is (0.5 - onehot) / 2"

# %% test id=test_softmax_cross_entropy_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps3 as grading

cases = grading.softmax_cross_entropy_cases()
runs = grading.run_softmax_cross_entropy(softmax_cross_entropy, cases)
grading.check_softmax_cross_entropy(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Gradient clipping
#
# `clip_gradients(grads, max_norm)` takes a dict or a list of arrays and
# computes their *global* L2 norm, $\lVert g \rVert = \sqrt{\sum_k \lVert g_k \rVert^2}$.
# If it exceeds `max_norm`, every array is scaled by the same factor
# $\text{max\_norm} / \lVert g \rVert$ (so the direction is kept); otherwise the
# gradients are returned unchanged. Return new arrays in a container of the
# same kind (do not modify the input) and the norm *before* clipping.

# %% solution id=clip_gradients
def clip_gradients(grads, max_norm):
    """Rescale gradients so that their global L2 norm is at most max_norm.

    Args:
        grads: dict or list of numpy arrays.
        max_norm: positive threshold.

    Returns:
        (clipped, total_norm): same kind of container, and the norm before clipping.
    """
    ### BEGIN SOLUTION
    arrays = list(grads.values()) if isinstance(grads, dict) else list(grads)
    total_norm = float(np.sqrt(sum(np.sum(g * g) for g in arrays)))
    scale = min(1.0, max_norm / total_norm) if total_norm > 0 else 1.0
    if isinstance(grads, dict):
        clipped = {name: g * scale for name, g in grads.items()}
    else:
        clipped = [g * scale for g in arrays]
    return clipped, total_norm
    ### END SOLUTION

# %% test id=test_clip_gradients_visible points=1
clipped, norm = clip_gradients({"a": np.array([3.0]), "b": np.array([4.0])}, 1.0)
assert np.isclose(norm, 5.0), f"the global norm of [3] and [4] is 5, got {norm}"
assert isinstance(clipped, dict), "a dict of gradients should give back a dict"
assert np.allclose(clipped["a"], [0.6]) and np.allclose(clipped["b"], [0.8]), \
    "scaled to norm 1: expected a = 0.6, b = 0.8"
same, _ = clip_gradients([np.array([0.3, 0.4])], 1.0)
assert np.allclose(same[0], [0.3, 0.4]), "a norm below max_norm leaves the gradients unchanged"
originals = {"a": np.array([3.0]), "b": np.array([4.0])}
clip_gradients(originals, 1.0)
assert np.allclose(originals["a"], [3.0]) and np.allclose(originals["b"], [4.0]), \
    "clip_gradients changed its input: return new, scaled arrays and leave the gradients " \
    "it was given untouched (the caller may still need them)"

# %% test id=test_clip_gradients_hidden points=1
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps3 as grading

cases = grading.clip_gradients_cases()
runs = grading.run_clip_gradients(clip_gradients, cases)
grading.check_clip_gradients(cases, runs, points=1)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Truncated backpropagation through time
#
# A long text is cut into `batch_size` parallel rows read left to right in
# windows of `num_steps` characters. The hidden state at the end of one window
# is the initial state of the next (the model keeps its memory across
# windows), but gradients are not propagated back past the start of a window:
# that is the truncation. In numpy this means the carried state is used as a
# constant `H0` and its gradient `dH0` is simply dropped.
#
# Implement `tbptt_step`, one update on one window: forward pass, mean loss,
# backward pass, gradient clipping with your `clip_gradients`, and a plain
# gradient-descent update of the parameters **in place**
# (`params[name] -= lr * grad`). Return the loss (before the update), the last
# hidden state (to be carried to the next window), and the gradient norm
# before clipping. The training loop that calls it is provided.

# %% solution id=tbptt_step
def tbptt_step(params, X, Y, H0, lr, max_norm):
    """One truncated-BPTT update on one window.

    Args:
        params: dict with W_xh (V, h), W_hh (h, h), b_h (h,), W_hq (h, V), b_q (V,);
            updated in place.
        X: one-hot inputs, (T, n, V).
        Y: integer targets, (T, n).
        H0: state carried from the previous window, (n, h) (a constant).
        lr: learning rate.
        max_norm: clipping threshold.

    Returns:
        (loss, H_last, grad_norm): the loss before the update, the last hidden
        state (n, h), and the global gradient norm before clipping.
    """
    ### BEGIN SOLUTION
    H, cache = rnn_forward(X, H0, params["W_xh"], params["W_hh"], params["b_h"])
    O, out_cache = output_forward(H, params["W_hq"], params["b_q"])
    loss, dO = softmax_cross_entropy(O, Y)
    dH, dW_hq, db_q = output_backward(dO, out_cache)
    _, _, dW_xh, dW_hh, db_h = rnn_backward(dH, cache)
    grads = {"W_xh": dW_xh, "W_hh": dW_hh, "b_h": db_h, "W_hq": dW_hq, "b_q": db_q}
    clipped, grad_norm = clip_gradients(grads, max_norm)
    for name in params:
        params[name] -= lr * clipped[name]
    return loss, H[-1], grad_norm
    ### END SOLUTION

# %% test id=test_tbptt_step_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps3 as grading

cases = grading.tbptt_step_cases()
runs = grading.run_tbptt_step(tbptt_step, cases)
grading.check_tbptt_step(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ### The training run (provided)
#
# The text below repeats three short sentences. Predicting its next character
# from the current one alone leaves a loss of about 0.96 nats; from the last
# two, about 0.30. To get below **0.25** the network has to carry information
# in its hidden state across several characters, including across window
# boundaries. The run takes a few seconds.

# %% locked id=provided_training
TEXT = "the cat sat on the mat. the dog sat on the log. a bird sang in the tree. " * 8
CHARS = sorted(set(TEXT))
TOKENS = np.array([CHARS.index(c) for c in TEXT])


def sequential_windows(tokens, batch_size, num_steps):
    """Yield (X_tokens, Y) windows of shape (T, n); row j continues across windows."""
    row_length = (len(tokens) - 1) // batch_size
    rows = np.stack([tokens[j * row_length:(j + 1) * row_length + 1] for j in range(batch_size)])
    for start in range(0, row_length - num_steps + 1, num_steps):
        window = rows[:, start:start + num_steps + 1].T
        yield window[:-1], window[1:]


def train_truncated_bptt(tokens, vocab_size, hidden_size=32, num_steps=16, batch_size=4,
                         lr=0.3, max_norm=5.0, num_epochs=60, seed=0):
    """Train with tbptt_step; returns the parameters and the mean loss of every epoch."""
    rng = np.random.default_rng(seed)
    params = {"W_xh": rng.normal(scale=0.1, size=(vocab_size, hidden_size)),
              "W_hh": rng.normal(scale=0.1, size=(hidden_size, hidden_size)),
              "b_h": np.zeros(hidden_size),
              "W_hq": rng.normal(scale=0.1, size=(hidden_size, vocab_size)),
              "b_q": np.zeros(vocab_size)}
    one_hot = np.eye(vocab_size)
    history = []
    for _ in range(num_epochs):
        H = np.zeros((batch_size, hidden_size))
        losses = []
        for X_tokens, Y in sequential_windows(tokens, batch_size, num_steps):
            loss, H, _ = tbptt_step(params, one_hot[X_tokens], Y, H, lr, max_norm)
            losses.append(loss)
        history.append(float(np.mean(losses)))
    return params, history


history = []  # stays empty if the training below stops with an error
trained_params, history = train_truncated_bptt(TOKENS, len(CHARS))
print(f"mean loss: first epoch {history[0]:.3f}, last epoch {history[-1]:.3f}")

# %% test id=test_training_visible points=2
assert len(history) == 60, \
    "the training cell above did not finish its 60 epochs: make tbptt_step (and the " \
    "functions it calls) work first, then run that cell again"
assert np.all(np.isfinite(history)), "the loss became NaN or infinite"
assert history[-1] < history[0], "the loss did not decrease"
assert history[-1] < 0.25, f"the last epoch's mean loss {history[-1]:.3f} is not below 0.25"

# %% [markdown]
# ## 7. Written answers
#
# **Question 1 (2 points).** In `rnn_backward`, the gradient reaching $H_0$
# from step $t$ is multiplied by $T - t$ factors of the form
# $\operatorname{diag}(1 - H_k^2)\, W_{hh}^\top$. Explain why this makes
# gradients vanish or explode over long spans, and what gradient clipping
# does and does not fix.

# %% [markdown] answer id=answer_vanishing points=2
# A product of many Jacobians behaves roughly like a power of $W_{hh}$ (scaled
# by the tanh derivatives, which are at most 1): if its largest singular
# values are below 1 the product shrinks exponentially with the span and the
# influence of distant steps vanishes; above 1 it can grow exponentially and
# explode. Clipping rescales an exploding gradient to a bounded norm, keeping
# its direction, so updates stay stable; it does nothing for vanishing
# gradients, which need architectural changes such as gating (LSTM/GRU).
#
# === BEGIN MARK SCHEME ===
# 1 point: the repeated product (powers of W_hh, tanh' <= 1) shrinks or grows
# exponentially with the number of steps, depending on the size of its
# singular values / eigenvalues.
# 1 point: clipping bounds exploding gradients (same direction) but does not
# help vanishing gradients.
# === END MARK SCHEME ===

# %% [markdown]
# **Question 2 (2 points).** Truncated BPTT carries the hidden state across
# windows but not the gradient. What can the model still learn about
# dependencies longer than `num_steps`, and what can it not?

# %% [markdown] answer id=answer_truncation points=2
# The forward pass still sees the whole history through the carried state, so
# the model can *use* information from before the window if its weights
# happen to preserve it. But no gradient says how to change the weights so
# that an earlier input influences a later prediction more than `num_steps`
# steps away, so it cannot learn to *store* information for longer than that;
# truncation trades this bias for cheaper, more frequent updates.
#
# === BEGIN MARK SCHEME ===
# 1 point: the state (forward information) still crosses windows.
# 1 point: no gradient across the boundary, so dependencies longer than the
# window are not learned directly (bias), in exchange for cost/memory.
# === END MARK SCHEME ===
