# Authoring source of assignments/source/ps4_gating/ps4_gating.ipynb.
# Rebuild with: python assignments/authoring/build_notebooks.py
# ruff: noqa: E402, F821
# %% [markdown]
# # Problem set 4: gating
#
# Gates are sigmoid units that decide, per hidden unit and per example, how
# much of the old state to keep and how much new information to write. You
# will implement the simple gated unit of the course notes, the LSTM cell
# (forward and backward) and the GRU cell (forward).
#
# **What you implement** (names, signatures, weight layouts and gate orders
# as in `rnn_lib`; calling `rnn_lib`'s versions is not allowed and is
# checked):
#
# 1. `gated_step_forward` (3 points) and `gated_step_backward` (3 points)
# 2. `lstm_step_forward` (3 points) and `lstm_step_backward` (4 points)
# 3. `gru_step_forward` (3 points)
# 4. Two short written answers (4 points, graded by hand)
#
# All affine maps of one cell are stacked column-wise in one weight matrix,
# so a cell with $k$ blocks has `W_x` `(d, k*h)`, `W_h` `(h, k*h)` and bias
# `(k*h,)`; block $j$ is columns `j*h:(j+1)*h`. Compute in the dtype of the
# inputs. The provided `sigmoid` is safe for large inputs.
#
# Hidden tests, added at grading time, compare with PyTorch (`LSTMCell`,
# `GRUCell`) and automatic differentiation in float64, including saturated
# gates, a single example and zero initial states, with partial credit per
# case or per gradient. A backward pass is tested through your own forward
# pass's cache, so get the forward right first.
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

from rnn_lib import numerical_gradient, relative_error

warnings.filterwarnings("ignore", category=RuntimeWarning)
warnings.filterwarnings("ignore", category=UserWarning)


def sigmoid(a):
    """Logistic function, written with tanh so that large |a| cannot overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))

# %% [markdown]
# ## 1. A gated recurrent unit
#
# The gate $G$ and the candidate $\tilde H$ use blocks `[gate | candidate]`:
#
# $$G = \sigma(X W_{xg} + H_{t-1} W_{hg} + b_g), \qquad
#   \tilde H = \tanh(X W_{xc} + H_{t-1} W_{hc} + b_c), \qquad
#   H = (1 - G) \odot H_{t-1} + G \odot \tilde H.$$

# %% solution id=gated_step_forward
def gated_step_forward(X, H_prev, W_x, W_h, b):
    """One step of the gated unit.

    Args:
        X: (n, d); H_prev: (n, h); W_x: (d, 2h); W_h: (h, 2h); b: (2h,),
        columns ordered [gate | candidate].

    Returns:
        H (n, h) and the cache (X, H_prev, W_x, W_h, G, Htilde) for
        gated_step_backward, with G the gate and Htilde the candidate, both (n, h).
    """
    ### BEGIN SOLUTION
    h = H_prev.shape[1]
    A = X @ W_x + H_prev @ W_h + b
    G = sigmoid(A[:, :h])
    Htilde = np.tanh(A[:, h:])
    H = (1 - G) * H_prev + G * Htilde
    return H, (X, H_prev, W_x, W_h, G, Htilde)
    ### END SOLUTION

# %% [markdown]
# With all weights and biases zero the gate is $\sigma(0) = 0.5$ and the
# candidate $\tanh(0) = 0$, so the unit halves its state.

# %% test id=test_gated_forward_visible points=1
H_prev = np.array([[0.8, -0.4]])
H, _ = gated_step_forward(np.ones((1, 3)), H_prev, np.zeros((3, 4)), np.zeros((2, 4)), np.zeros(4))
assert isinstance(H, np.ndarray) and H.shape == (1, 2), "H should have shape (n, h) = (1, 2)"
assert np.allclose(H, [[0.4, -0.2]]), f"expected [[0.4, -0.2]], got {H}"
H32, _ = gated_step_forward(np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32),
                            np.ones((3, 4), np.float32), np.ones((2, 4), np.float32),
                            np.zeros(4, np.float32))
assert H32.dtype == np.float32, f"float32 inputs should give float32 outputs, got {H32.dtype}"

# %% test id=test_gated_forward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps4 as grading

cases = grading.gated_step_forward_cases()
runs = grading.run_gated_step_forward(gated_step_forward, cases)
grading.check_gated_step_forward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# Now the backward pass. Note that $H_{t-1}$ reaches $H$ along three paths:
# directly through $(1 - G)$, and through both affine maps.

# %% solution id=gated_step_backward
def gated_step_backward(dH, cache):
    """Gradients of one gated step.

    Args:
        dH: upstream gradient, (n, h).
        cache: from gated_step_forward.

    Returns:
        dX (n, d), dH_prev (n, h), dW_x (d, 2h), dW_h (h, 2h), db (2h,).
    """
    ### BEGIN SOLUTION
    X, H_prev, W_x, W_h, G, Htilde = cache
    dA_gate = dH * (Htilde - H_prev) * G * (1 - G)
    dA_cand = dH * G * (1 - Htilde**2)
    dA = np.concatenate([dA_gate, dA_cand], axis=1)
    dX = dA @ W_x.T
    dH_prev = dH * (1 - G) + dA @ W_h.T
    dW_x = X.T @ dA
    dW_h = H_prev.T @ dA
    db = dA.sum(axis=0)
    return dX, dH_prev, dW_x, dW_h, db
    ### END SOLUTION

# %% [markdown]
# The visible test compares your `dW_h` with a numerical gradient; use the
# same pattern to check the other gradients yourself.

# %% test id=test_gated_backward_visible points=1
rng = np.random.default_rng(0)
X, H_prev = rng.normal(size=(3, 2)), rng.normal(size=(3, 4))
W_x, W_h, b = rng.normal(size=(2, 8)), rng.normal(size=(4, 8)), rng.normal(size=8)
dH = rng.normal(size=(3, 4))
_, cache = gated_step_forward(X, H_prev, W_x, W_h, b)
grads = gated_step_backward(dH, cache)
assert [g.shape for g in grads] == [(3, 2), (3, 4), (2, 8), (4, 8), (8,)], "gradient shapes"
numeric = numerical_gradient(lambda W: gated_step_forward(X, H_prev, W_x, W, b)[0], W_h.copy(),
                             df=dH)
assert relative_error(grads[3], numeric) < 1e-6, "dW_h disagrees with the numerical gradient"

# %% test id=test_gated_backward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps4 as grading

cases = grading.gated_step_backward_cases()
runs = grading.run_gated_step_backward(gated_step_forward, gated_step_backward, cases)
grading.check_gated_step_backward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The LSTM cell
#
# The layout is PyTorch's, transposed to the course's row convention: the
# four blocks are, in this order, the input gate $I$, the forget gate $F$,
# the candidate $G$ and the output gate $O$:
#
# $$I, F, O = \sigma(\cdot), \qquad G = \tanh(\cdot), \qquad
#   C = F \odot C_{t-1} + I \odot G, \qquad H = O \odot \tanh(C),$$
#
# where each $(\cdot)$ is that block of $X W_x + H_{t-1} W_h + b$.
# (`W_x` is PyTorch's `weight_ih.T`; `b` is `bias_ih + bias_hh`.)

# %% solution id=lstm_step_forward
def lstm_step_forward(X, H_prev, C_prev, W_x, W_h, b):
    """One LSTM step.

    Args:
        X: (n, d); H_prev: (n, h); C_prev: (n, h); W_x: (d, 4h); W_h: (h, 4h);
        b: (4h,), blocks ordered (i, f, g, o).

    Returns:
        H (n, h), C (n, h) and the cache (X, H_prev, C_prev, W_x, W_h, I, F, G, O, tanh_C)
        for lstm_step_backward: the four gates and tanh(C), each (n, h).
    """
    ### BEGIN SOLUTION
    h = H_prev.shape[1]
    A = X @ W_x + H_prev @ W_h + b
    I = sigmoid(A[:, :h])
    F = sigmoid(A[:, h:2 * h])
    G = np.tanh(A[:, 2 * h:3 * h])
    O = sigmoid(A[:, 3 * h:])
    C = F * C_prev + I * G
    tanh_C = np.tanh(C)
    H = O * tanh_C
    return H, C, (X, H_prev, C_prev, W_x, W_h, I, F, G, O, tanh_C)
    ### END SOLUTION

# %% [markdown]
# With all weights and biases zero, every gate is 0.5 and the candidate is 0,
# so $C = 0.5\, C_{t-1}$ and $H = 0.5 \tanh(C)$.

# %% test id=test_lstm_forward_visible points=1
C_prev = np.array([[2.0, -1.0]])
H, C, _ = lstm_step_forward(np.ones((1, 3)), np.zeros((1, 2)), C_prev, np.zeros((3, 8)),
                            np.zeros((2, 8)), np.zeros(8))
assert H.shape == (1, 2) and C.shape == (1, 2), "H and C should have shape (n, h) = (1, 2)"
assert np.allclose(C, [[1.0, -0.5]]), f"expected C = [[1.0, -0.5]], got {C}"
assert np.allclose(H, 0.5 * np.tanh([[1.0, -0.5]])), f"expected H = 0.5 tanh(C), got {H}"

# %% test id=test_lstm_forward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps4 as grading

cases = grading.lstm_step_forward_cases()
runs = grading.run_lstm_step_forward(lstm_step_forward, cases)
grading.check_lstm_step_forward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# The backward pass receives two upstream gradients: `dH` for the hidden
# state and `dC` for the cell state (what the next step sends back through
# its $F \odot C_{t-1}$ term). $C$ reaches the loss both directly (`dC`) and
# through $H = O \odot \tanh(C)$.

# %% solution id=lstm_step_backward
def lstm_step_backward(dH, dC, cache):
    """Gradients of one LSTM step.

    Args:
        dH: upstream gradient of H, (n, h).
        dC: upstream gradient of C, (n, h).
        cache: from lstm_step_forward.

    Returns:
        dX (n, d), dH_prev (n, h), dC_prev (n, h), dW_x (d, 4h), dW_h (h, 4h), db (4h,).
    """
    ### BEGIN SOLUTION
    X, H_prev, C_prev, W_x, W_h, I, F, G, O, tanh_C = cache
    dC_total = dC + dH * O * (1 - tanh_C**2)
    dA = np.concatenate([
        dC_total * G * I * (1 - I),
        dC_total * C_prev * F * (1 - F),
        dC_total * I * (1 - G**2),
        dH * tanh_C * O * (1 - O),
    ], axis=1)
    dX = dA @ W_x.T
    dH_prev = dA @ W_h.T
    dC_prev = dC_total * F
    dW_x = X.T @ dA
    dW_h = H_prev.T @ dA
    db = dA.sum(axis=0)
    return dX, dH_prev, dC_prev, dW_x, dW_h, db
    ### END SOLUTION

# %% test id=test_lstm_backward_visible points=1
rng = np.random.default_rng(1)
X, H_prev, C_prev = rng.normal(size=(2, 3)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
W_x, W_h, b = rng.normal(size=(3, 8)), rng.normal(size=(2, 8)), rng.normal(size=8)
dH, dC = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
_, _, cache = lstm_step_forward(X, H_prev, C_prev, W_x, W_h, b)
grads = lstm_step_backward(dH, dC, cache)
assert [g.shape for g in grads] == [(2, 3), (2, 2), (2, 2), (3, 8), (2, 8), (8,)], "gradient shapes"


def loss_of_c_prev(c):
    H, C, _ = lstm_step_forward(X, H_prev, c, W_x, W_h, b)
    return np.sum(H * dH) + np.sum(C * dC)


numeric = numerical_gradient(loss_of_c_prev, C_prev.copy())
assert relative_error(grads[2], numeric) < 1e-6, "dC_prev disagrees with the numerical gradient"

# %% test id=test_lstm_backward_hidden points=3
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps4 as grading

cases = grading.lstm_step_backward_cases()
runs = grading.run_lstm_step_backward(lstm_step_forward, lstm_step_backward, cases)
grading.check_lstm_step_backward(cases, runs, points=3)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The GRU cell
#
# Again PyTorch's equations and gate order: reset gate $R$, update gate $Z$,
# candidate $N$, with **two** biases because the reset gate multiplies the
# hidden part of the candidate *including its bias*:
#
# $$R = \sigma(X W_{xr} + b_{xr} + H_{t-1} W_{hr} + b_{hr}), \qquad
#   Z = \sigma(X W_{xz} + b_{xz} + H_{t-1} W_{hz} + b_{hz}),$$
# $$N = \tanh\big(X W_{xn} + b_{xn} + R \odot (H_{t-1} W_{hn} + b_{hn})\big), \qquad
#   H = (1 - Z) \odot N + Z \odot H_{t-1}.$$
#
# There is no GRU backward to write here, but the cache is graded: return
# `(X, H_prev, W_x, W_h, R, Z, N, A_h)` with $A_h = H_{t-1} W_h + b_h$ (all
# three blocks, `(n, 3h)`): that is what a backward pass needs.

# %% solution id=gru_step_forward
def gru_step_forward(X, H_prev, W_x, W_h, b_x, b_h):
    """One GRU step.

    Args:
        X: (n, d); H_prev: (n, h); W_x: (d, 3h); W_h: (h, 3h); b_x: (3h,); b_h: (3h,),
        blocks ordered (r, z, n).

    Returns:
        H (n, h) and the cache (X, H_prev, W_x, W_h, R, Z, N, A_h): the gates R, Z
        and the candidate N, each (n, h), and A_h = H_prev W_h + b_h, (n, 3h).
    """
    ### BEGIN SOLUTION
    h = H_prev.shape[1]
    A_x = X @ W_x + b_x
    A_h = H_prev @ W_h + b_h
    R = sigmoid(A_x[:, :h] + A_h[:, :h])
    Z = sigmoid(A_x[:, h:2 * h] + A_h[:, h:2 * h])
    N = np.tanh(A_x[:, 2 * h:] + R * A_h[:, 2 * h:])
    H = (1 - Z) * N + Z * H_prev
    return H, (X, H_prev, W_x, W_h, R, Z, N, A_h)
    ### END SOLUTION

# %% [markdown]
# With zero weights and biases, $R = Z = 0.5$ and $N = 0$, so $H = 0.5\, H_{t-1}$.

# %% test id=test_gru_forward_visible points=1
H, _ = gru_step_forward(np.ones((1, 2)), np.array([[0.6, -0.2, 1.0]]), np.zeros((2, 9)),
                        np.zeros((3, 9)), np.zeros(9), np.zeros(9))
assert isinstance(H, np.ndarray) and H.shape == (1, 3), "H should have shape (n, h) = (1, 3)"
assert np.allclose(H, [[0.3, -0.1, 0.5]]), f"expected [[0.3, -0.1, 0.5]], got {H}"

# %% test id=test_gru_forward_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps4 as grading

cases = grading.gru_step_forward_cases()
runs = grading.run_gru_step_forward(gru_step_forward, cases)
grading.check_gru_step_forward(cases, runs, points=2)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Written answers
#
# **Question 1 (2 points).** Along the cell-state path of the LSTM, what is
# $\partial C_t / \partial C_{t-1}$ (ignoring the paths through the gates)?
# Use it to explain why an LSTM can carry gradients over many more steps than
# the vanilla RNN of problem set 3.

# %% [markdown] answer id=answer_cell_path points=2
# $\partial C_t / \partial C_{t-1} = \operatorname{diag}(F_t)$: an elementwise
# multiplication by the forget gate, with no weight matrix and no tanh
# derivative. Over $k$ steps the gradient is multiplied by $\prod F$, which
# stays close to 1 when the forget gates are open, so it neither shrinks
# geometrically through repeated $W_{hh}^\top \operatorname{diag}(1 - H^2)$
# factors nor explodes; the network learns (through the gates) when to keep
# or discard the memory.
#
# === BEGIN MARK SCHEME ===
# 1 point: the derivative is the forget gate, elementwise (diag(F_t)).
# 1 point: no repeated multiplication by W_hh / tanh', so with F near 1 the
# gradient is preserved over many steps (gates control the flow).
# === END MARK SCHEME ===

# %% [markdown]
# **Question 2 (2 points).** In your gated unit, suppose the gate is
# saturated at $G \approx 0$ for a unit at every step. What does that unit
# compute over time, what happens to the gradient with respect to its weights
# and to $H_{t-1}$, and which quantity of the GRU plays the same role?

# %% [markdown] answer id=answer_saturated_gate points=2
# With $G \approx 0$ the unit copies its state, $H_t \approx H_{t-1}$: it holds
# a memory unchanged. Its gradient with respect to $H_{t-1}$ is about the
# identity (it passes straight back), while the gradients reaching the
# weights are about zero, since $\sigma'$ vanishes in saturation and the
# candidate is multiplied by $G$: the unit stops learning until the gate
# opens. In the GRU the update gate $Z \approx 1$ plays this role.
#
# === BEGIN MARK SCHEME ===
# 1 point: the state is copied (memory held), gradient to H_{t-1} passes
# through unchanged.
# 1 point: weight gradients vanish (sigmoid' ~ 0, candidate scaled by G), and
# the GRU analogue is Z ~ 1 (accept "z close to 1", or the (1 - z) weighting).
# === END MARK SCHEME ===
