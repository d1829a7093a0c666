# Authoring source of assignments/source/ps2_rnn_forward/ps2_rnn_forward.ipynb.
# Rebuild with: python assignments/authoring/build_notebooks.py
# ruff: noqa: E402, F821
# %% [markdown]
# # Problem set 2: the forward pass of a recurrent network
#
# You will run a vanilla RNN over a sequence, read predictions off its hidden
# states, and measure how good those predictions are with the cross-entropy
# loss and perplexity. The notation is the course's: rows are examples and
# sequences are time-major,
#
# $$H_t = \tanh(X_t W_{xh} + H_{t-1} W_{hh} + b_h), \qquad O_t = H_t W_{hq} + b_q,$$
#
# with $X_t$ `(n, d)`, $H_t$ `(n, h)`, $W_{xh}$ `(d, h)`, $W_{hh}$ `(h, h)`,
# $b_h$ `(h,)`, $W_{hq}$ `(h, q)`, $b_q$ `(q,)`; a whole sequence `X` is
# `(T, n, d)` and its hidden states `H` are `(T, n, h)`.
#
# **What you implement** (names and signatures as in `rnn_lib`; calling
# `rnn_lib`'s versions is not allowed and is checked):
#
# 1. `rnn_step_forward` (3 points)
# 2. `rnn_forward` (3 points)
# 3. `output_forward` (2 points)
# 4. `softmax_cross_entropy`, the loss only (3 points)
# 5. `perplexity` (1 point)
# 6. Two short written answers (4 points, graded by hand)
#
# Use numpy only. Compute in the floating dtype of the inputs: float32 inputs
# give float32 results (avoid creating float64 arrays along the way).
#
# Each part has a visible test (shapes, dtypes, one small worked case) and
# hidden tests added at grading time (comparisons with an independent
# implementation on many inputs and edge cases, such as a single time step, a
# single example or a non-zero initial state). Hidden tests give partial
# credit per case. The caches your forward functions return are graded too
# (a third of each hidden test): they must have the structure stated in each
# part, because problem set 3's backward passes read exactly that, and the
# hidden tests feed your caches to a correct backward pass and check the
# gradients it gets. Restart the kernel and run all cells before you hand in.

# %% locked id=setup
import math
import warnings

import numpy as np

warnings.filterwarnings("ignore", category=RuntimeWarning)
warnings.filterwarnings("ignore", category=UserWarning)

# %% [markdown]
# ## 1. One time step
#
# Implement `rnn_step_forward`. The cache keeps what the backward pass of
# problem set 3 needs, and it is graded: return exactly the tuple
# `(X, H_prev, W_xh, W_hh, H)`, the step's inputs, its two weight matrices and
# the new state `H` (the bias is not needed: its gradient is a sum over rows).

# %% solution id=rnn_step_forward
def rnn_step_forward(X, H_prev, W_xh, W_hh, b_h):
    """One RNN step, H = tanh(X W_xh + H_prev W_hh + b_h).

    Args:
        X: inputs at this step, (n, d).
        H_prev: previous hidden state, (n, h).
        W_xh: (d, h); W_hh: (h, h); b_h: (h,).

    Returns:
        H of shape (n, h), and the cache (X, H_prev, W_xh, W_hh, H).
    """
    ### BEGIN SOLUTION
    H = np.tanh(X @ W_xh + H_prev @ W_hh + b_h)
    cache = (X, H_prev, W_xh, W_hh, H)
    return H, cache
    ### END SOLUTION

# %% [markdown]
# A worked case: one example with two input features and one hidden unit.
# With $X = [1, 2]$, $H_{t-1} = [0.5]$, $W_{xh} = [0.1, 0.2]^\top$,
# $W_{hh} = [0.4]$ and $b_h = [-0.3]$ the pre-activation is
# $0.1 + 0.4 + 0.2 - 0.3 = 0.4$, so $H = \tanh(0.4) \approx 0.379949$.

# %% test id=test_rnn_step_forward_visible points=1
X = np.array([[1.0, 2.0]])
H_prev = np.array([[0.5]])
H, _ = rnn_step_forward(X, H_prev, np.array([[0.1], [0.2]]), np.array([[0.4]]), np.array([-0.3]))
assert isinstance(H, np.ndarray) and H.shape == (1, 1), "H should be an array of shape (n, h) = (1, 1)"
assert np.allclose(H, 0.379949, atol=1e-6), f"expected H = 0.379949, got {H}"

rng = np.random.default_rng(0)
X32 = rng.normal(size=(4, 3)).astype(np.float32)
H32, _ = rnn_step_forward(X32, np.zeros((4, 5), np.float32), rng.normal(size=(3, 5)).astype(np.float32),
                          np.eye(5, dtype=np.float32), np.zeros(5, np.float32))
assert H32.shape == (4, 5), f"expected shape (n, h) = (4, 5), got {H32.shape}"
assert H32.dtype == np.float32, f"float32 inputs should give a float32 H, got {H32.dtype}"

# A non-symmetric W_hh: row i of W_hh holds the weights *from* hidden unit i.
H2, _ = rnn_step_forward(np.zeros((1, 1)), np.array([[1.0, 0.0]]), np.zeros((1, 2)),
                         np.array([[0.1, 0.2], [0.3, 0.4]]), np.zeros(2))
assert np.allclose(H2, np.tanh(np.array([[0.1, 0.2]])), atol=1e-6), \
    f"with H_prev = [[1, 0]] and W_hh = [[0.1, 0.2], [0.3, 0.4]], H = tanh([[0.1, 0.2]]) " \
    f"(H_prev @ W_hh, not H_prev @ W_hh.T); got {H2}"

# %% test id=test_rnn_step_forward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps2 as grading

cases = grading.rnn_step_forward_cases()
runs = grading.run_rnn_step_forward(rnn_step_forward, cases)
grading.check_rnn_step_forward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. A whole sequence
#
# Implement `rnn_forward` by applying your step function for $t = 1, \dots, T$,
# starting from `H0`. It returns all $T$ hidden states stacked into one array
# `(T, n, h)` (the initial state is not included). Its cache, graded, is the
# list of the $T$ caches your step function returned, in time order:
# `[cache_1, ..., cache_T]`, each `(X[t], H_prev, W_xh, W_hh, H[t])`.

# %% solution id=rnn_forward
def rnn_forward(X, H0, W_xh, W_hh, b_h):
    """Run the RNN over a sequence.

    Args:
        X: inputs, (T, n, d).
        H0: initial hidden state, (n, h).
        W_xh: (d, h); W_hh: (h, h); b_h: (h,).

    Returns:
        H of shape (T, n, h) (the state after every step), and the cache: the list
        of the T step caches of rnn_step_forward, in time order.
    """
    ### BEGIN SOLUTION
    T, n, _ = X.shape
    h = H0.shape[1]
    H = np.empty((T, n, h), dtype=X.dtype)
    caches = []
    H_prev = H0
    for t in range(T):
        H[t], step_cache = rnn_step_forward(X[t], H_prev, W_xh, W_hh, b_h)
        caches.append(step_cache)
        H_prev = H[t]
    return H, caches
    ### END SOLUTION

# %% test id=test_rnn_forward_visible points=1
rng = np.random.default_rng(1)
X = rng.normal(size=(3, 2, 4))
H0 = rng.normal(size=(2, 5))
W_xh, W_hh, b_h = rng.normal(size=(4, 5)), rng.normal(size=(5, 5)) * 0.3, rng.normal(size=5)
H, _ = rnn_forward(X, H0, W_xh, W_hh, b_h)
assert isinstance(H, np.ndarray) and H.shape == (3, 2, 5), "H should have shape (T, n, h) = (3, 2, 5)"
first, _ = rnn_step_forward(X[0], H0, W_xh, W_hh, b_h)
assert np.allclose(H[0], first), "H[0] should be one step from H0 on X[0]"
second, _ = rnn_step_forward(X[1], first, W_xh, W_hh, b_h)
assert np.allclose(H[1], second), "H[1] should be one step from H[0] on X[1]"
H32, _ = rnn_forward(X.astype(np.float32), H0.astype(np.float32), W_xh.astype(np.float32),
                     W_hh.astype(np.float32), b_h.astype(np.float32))
assert H32.dtype == np.float32, f"float32 inputs should give a float32 H, got {H32.dtype}"

# %% test id=test_rnn_forward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps2 as grading

cases = grading.rnn_forward_cases()
runs = grading.run_rnn_forward(rnn_forward, cases)
grading.check_rnn_forward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The output layer
#
# Implement `output_forward`. It must work for one step, `H` of shape
# `(n, h)`, and for a sequence, `H` of shape `(T, n, h)`, applying the same
# affine map to every row. Its cache, graded, is the tuple `(H, W_hq)`.

# %% solution id=output_forward
def output_forward(H, W_hq, b_q):
    """Logits O = H W_hq + b_q.

    Args:
        H: hidden states, (n, h) or (T, n, h).
        W_hq: (h, q); b_q: (q,).

    Returns:
        O of shape (n, q) or (T, n, q), and the cache (H, W_hq).
    """
    ### BEGIN SOLUTION
    O = H @ W_hq + b_q
    return O, (H, W_hq)
    ### END SOLUTION

# %% test id=test_output_forward_visible points=1
H = np.array([[1.0, -1.0]])
O, _ = output_forward(H, np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0]]), np.array([0.5, 0.0, 0.0]))
assert isinstance(O, np.ndarray) and O.shape == (1, 3), "O should have shape (n, q) = (1, 3)"
assert np.allclose(O, [[-1.5, 2.0, -1.0]]), f"expected [[-1.5, 2.0, -1.0]], got {O}"
O_seq, _ = output_forward(np.zeros((4, 2, 2)), np.ones((2, 3)), np.zeros(3))
assert O_seq.shape == (4, 2, 3), f"a (T, n, h) input should give (T, n, q) logits, got {O_seq.shape}"

# %% test id=test_output_forward_hidden points=1
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps2 as grading

cases = grading.output_forward_cases()
runs = grading.run_output_forward(output_forward, cases)
grading.check_output_forward(cases, runs, points=1)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The cross-entropy loss
#
# For logits `O` of shape `(T, n, q)` and integer targets `Y` of shape
# `(T, n)`, the loss is the mean over all $T \cdot n$ tokens of the negative
# log-probability that the softmax of the logits gives the correct class:
#
# $$L = -\frac{1}{T n} \sum_{t, i} \log \operatorname{softmax}(O_t)_{i, y_{t,i}}.$$
#
# One step, `O` of shape `(n, q)` with `Y` of shape `(n,)`, must work too.
# Logits can be large (hundreds): compute the log-softmax without overflow.
# Return the loss as a number; the second element of the returned pair, the
# gradient with respect to `O`, is for problem set 3, so return `None` for it
# here.

# %% solution id=softmax_cross_entropy
def softmax_cross_entropy(O, Y):
    """Mean softmax cross-entropy over every token.

    Args:
        O: logits, (T, n, q) or (n, q).
        Y: integer targets, (T, n) or (n,).

    Returns:
        (loss, dO): the mean loss as a float, and None (the gradient comes in PS3).
    """
    ### BEGIN SOLUTION
    q = O.shape[-1]
    logits = O.reshape(-1, q)
    targets = Y.reshape(-1)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(targets.size), targets].mean()
    return float(loss), None
    ### END SOLUTION

# %% [markdown]
# Two worked cases: equal logits over $q$ classes give $\log q$ whatever the
# target; the logits $[2, 0]$ with target class 0 give
# $-\log \frac{e^2}{e^2 + 1} = \log(1 + e^{-2}) \approx 0.126928$.

# %% test id=test_softmax_cross_entropy_visible points=1
loss, _ = softmax_cross_entropy(np.zeros((2, 3, 4)), np.array([[0, 1, 2], [3, 0, 1]]))
assert np.isclose(loss, math.log(4)), f"equal logits over 4 classes should give log 4, got {loss}"
loss, _ = softmax_cross_entropy(np.array([[2.0, 0.0]]), np.array([0]))
assert np.isclose(loss, 0.126928, atol=1e-6), f"expected 0.126928, got {loss}"
with np.errstate(all="ignore"):
    big, _ = softmax_cross_entropy(np.array([[0.0, 1000.0], [1000.0, 0.0]]), np.array([0, 0]))
assert np.isfinite(big) and np.isclose(big, 500.0), \
    f"logits [0, 1000] and [1000, 0] with target 0 give losses 1000 and 0, mean 500; got " \
    f"{big} (subtract each row's maximum before exponentiating)"

# %% test id=test_softmax_cross_entropy_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps2 as grading

cases = grading.softmax_cross_entropy_cases()
runs = grading.run_softmax_cross_entropy(softmax_cross_entropy, cases)
grading.check_softmax_cross_entropy_loss(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Perplexity
#
# Perplexity is the exponential of the mean negative log-likelihood. Return
# it as a Python `float`.

# %% solution id=perplexity
def perplexity(mean_nll):
    """exp(mean_nll) as a float."""
    ### BEGIN SOLUTION
    return float(math.exp(mean_nll))
    ### END SOLUTION

# %% test id=test_perplexity_visible points=0.5
assert isinstance(perplexity(0.0), float), "perplexity should return a Python float"
assert np.isclose(perplexity(0.0), 1.0), "a mean NLL of 0 is a perplexity of 1"
assert np.isclose(perplexity(math.log(5)), 5.0), "a mean NLL of log 5 is a perplexity of 5"

# %% test id=test_perplexity_hidden points=0.5
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps2 as grading

cases = grading.perplexity_cases()
runs = grading.run_perplexity(perplexity, cases)
grading.check_perplexity(cases, runs, points=0.5)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Written answers
#
# **Question 1 (2 points).** Count the parameters of the layer you
# implemented ($W_{xh}$, $W_{hh}$, $b_h$) for input size $d$ and hidden size
# $h$. How does the count depend on the sequence length $T$, and why does that
# matter for sequences of different lengths?

# %% [markdown] answer id=answer_parameter_sharing points=2
# $dh + h^2 + h$ parameters, independent of $T$: the same weights are applied
# at every step (parameter sharing). So one model handles sequences of any
# length, including lengths never seen in training, and what it learns about a
# pattern at one position applies at every position; a model with separate
# weights per step would grow with $T$ and could not process longer sequences.
#
# === BEGIN MARK SCHEME ===
# 1 point: the count $dh + h^2 + h$ (or equivalent) and "independent of T".
# 1 point: the reason is weight sharing across time steps, with one
# consequence (any length / generalises across positions / fewer parameters).
# === END MARK SCHEME ===

# %% [markdown]
# **Question 2 (2 points).** A model assigns equal logits to all $q$ classes.
# What are its loss and perplexity? Use this to explain perplexity as an
# "effective number of choices", and say what perplexity a model has that
# always gives probability 1 to the correct token.

# %% [markdown] answer id=answer_perplexity points=2
# Each token gets probability $1/q$, so the loss is $\log q$ and the
# perplexity $e^{\log q} = q$: the model is as unsure as a uniform choice
# among $q$ options. In general a perplexity of $k$ means the model is, on
# average, as uncertain as a uniform choice among $k$ tokens. A model that is
# always certain and right has loss 0 and perplexity 1 (the minimum).
#
# === BEGIN MARK SCHEME ===
# 1 point: loss $\log q$ and perplexity $q$ for the uniform model.
# 1 point: the interpretation as an effective branching factor and perplexity
# 1 for the perfect model.
# === END MARK SCHEME ===
