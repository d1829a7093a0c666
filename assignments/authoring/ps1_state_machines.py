# Authoring source of assignments/source/ps1_state_machines/ps1_state_machines.ipynb.
# Rebuild with: python assignments/authoring/build_notebooks.py
# ruff: noqa: E402, F821
# %% [markdown]
# # Problem set 1: state machines
#
# A recurrent network is a state machine whose transition and output functions
# have learnable parameters. Before any learning, this problem set builds the
# machine itself and then picks RNN weights by hand so that a tiny network
# behaves exactly like a small machine.
#
# **What you implement** (same names and signatures as in `rnn_lib`, the
# course package; calling `rnn_lib`'s versions of these is not allowed and is
# checked):
#
# 1. `StateMachine.transduce` (3 points)
# 2. `parity_machine` (3 points)
# 3. `LTISystem` (3 points)
# 4. `parity_rnn_weights`: hand-chosen weights for a tanh RNN (4 points)
# 5. Two short written answers (4 points, graded by hand)
#
# **How you are graded.** Each part has a visible test cell that you can run
# (shapes, types and one small worked case) and hidden tests that are added
# when your notebook is graded: they compare your results with independent
# answers on many more inputs, including edge cases. Passing the visible tests
# is necessary, not sufficient. Before you hand in, restart the kernel and run
# every cell (or run `nbgrader validate ps1_state_machines.ipynb`).
#
# Write your code only where it says `YOUR CODE HERE`, and do not rename the
# functions, change their signatures or delete cells.

# %% locked id=setup
import warnings

import numpy as np

# Warnings are not errors: keep them out of the way of the tests.
warnings.filterwarnings("ignore", category=RuntimeWarning)
warnings.filterwarnings("ignore", category=UserWarning)

# %% [markdown]
# ## 1. Running a state machine
#
# A state machine is defined by a transition function $f_s(s, x)$, an output
# function $f_o(s)$ and an initial state $s_0$. Fed the inputs
# $x_1, \dots, x_T$ it visits the states $s_t = f_s(s_{t-1}, x_t)$ and emits
# one output per input, $y_t = f_o(s_t)$: the output is read from the state
# *after* the input has been taken into account. Producing the whole output
# sequence is called *transduction*.
#
# Complete `transduce`. It must accept any iterable of inputs (a list, a
# generator, ...), return a list, and leave the machine unchanged, so that a
# second call with the same inputs gives the same outputs.

# %% solution id=transduce
class StateMachine:
    """A state machine given by its transition and output functions.

    Args:
        transition: f_s(state, x) -> next state.
        output: f_o(state) -> y.
        initial_state: s_0.
    """

    def __init__(self, transition, output, initial_state):
        self.transition = transition
        self.output = output
        self.initial_state = initial_state

    def transduce(self, inputs):
        """Map inputs [x_1, ..., x_T] to outputs [y_1, ..., y_T] with y_t = f_o(s_t)."""
        ### BEGIN SOLUTION
        state = self.initial_state
        outputs = []
        for x in inputs:
            state = self.transition(state, x)
            outputs.append(self.output(state))
        return outputs
        ### END SOLUTION

# %% [markdown]
# A machine whose state is the running sum of its inputs, and whose output is
# its state, turns `[1, 2, 3]` into `[1, 3, 6]`.

# %% test id=test_transduce_visible points=1
adder = StateMachine(lambda s, x: s + x, lambda s: s, 0)
result = adder.transduce([1, 2, 3])
assert isinstance(result, list), f"transduce should return a list, got {type(result).__name__}"
assert len(result) == 3, f"expected one output per input (3), got {len(result)}"
assert result == [1, 3, 6], f"expected [1, 3, 6], got {result}"
assert adder.transduce([]) == [], "no inputs should give no outputs"

# %% test id=test_transduce_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps1 as grading

cases = grading.transduce_cases()
runs = grading.run_transduce(StateMachine, cases)
grading.check_transduce(cases, runs)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The parity machine
#
# Write `parity_machine()`, returning a `StateMachine` (yours, from part 1)
# whose inputs are the bits `0` and `1` and whose output after each prefix is
# `1` if that prefix contains an **even number of zeros**, otherwise `0`. The
# empty prefix has zero zeros. Two states are enough; choose their
# representation freely. An input other than `0` or `1` must raise a
# `ValueError` that names the offending input.

# %% solution id=parity_machine
def parity_machine():
    """The two-state machine that tracks the parity of the number of zeros seen.

    Returns:
        A StateMachine over inputs 0/1 whose output is 1 after every prefix
        with an even number of zeros, else 0.
    """
    ### BEGIN SOLUTION
    def transition(state, x):
        if x not in (0, 1):
            raise ValueError(f"x: expected an input of 0 or 1, got {x!r}")
        if x == 0:
            return "odd" if state == "even" else "even"
        return state

    def output(state):
        return 1 if state == "even" else 0

    return StateMachine(transition, output, "even")
    ### END SOLUTION

# %% test id=test_parity_machine_visible points=1
machine = parity_machine()
assert isinstance(machine, StateMachine), "parity_machine() should return a StateMachine"
assert machine.transduce([1, 1]) == [1, 1], "no zeros at all is an even number of zeros"
assert machine.transduce([0, 1, 0]) == [0, 0, 1], "expected [0, 0, 1] for the inputs [0, 1, 0]"

# %% test id=test_parity_machine_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps1 as grading

strings = grading.all_bit_strings()
runs = grading.run_parity_machine(parity_machine, StateMachine, strings)
grading.check_parity_machine(strings, runs)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Linear time-invariant systems
#
# A linear time-invariant (LTI) system is a state machine over vectors:
#
# $$s_t = A s_{t-1} + B x_t, \qquad y_t = C s_t,$$
#
# with $A$ of shape `(k, k)`, $B$ `(k, l)`, $C$ `(m, k)` and $s_0$ `(k,)`.
# Complete `LTISystem` as a subclass of your `StateMachine`: build the
# transition and output functions and hand them to `StateMachine.__init__`,
# so that `transduce` (inherited, not rewritten) runs the system. Inputs are
# vectors of shape `(l,)`; when `l = 1` a plain number must also be accepted.
# Each output is a numpy array of shape `(m,)`. Store `A`, `B` and `C` as
# attributes of the same names.

# %% solution id=lti_system
class LTISystem(StateMachine):
    """s_t = A s_{t-1} + B x_t, y_t = C s_t.

    Args:
        A: (k, k) state matrix.
        B: (k, l) input matrix.
        C: (m, k) output matrix.
        s0: (k,) initial state.
    """

    def __init__(self, A, B, C, s0):
        ### BEGIN SOLUTION
        self.A = np.asarray(A, dtype=float)
        self.B = np.asarray(B, dtype=float)
        self.C = np.asarray(C, dtype=float)

        def transition(s, x):
            return self.A @ s + self.B @ np.atleast_1d(np.asarray(x, dtype=float))

        def output(s):
            return self.C @ s

        super().__init__(transition, output, np.asarray(s0, dtype=float))
        ### END SOLUTION

# %% [markdown]
# A one-dimensional example: with $A = 0.5$, $B = 1$, $C = 2$ and $s_0 = 0$ the
# input `[1, 0, 0]` moves the state to 1, 0.5, 0.25, so the outputs are
# 2, 1 and 0.5.

# %% test id=test_lti_visible points=1
system = LTISystem(np.array([[0.5]]), np.array([[1.0]]), np.array([[2.0]]), np.array([0.0]))
outputs = system.transduce([np.array([1.0]), np.array([0.0]), np.array([0.0])])
assert len(outputs) == 3, f"expected 3 outputs, got {len(outputs)}"
assert all(isinstance(y, np.ndarray) and y.shape == (1,) for y in outputs), \
    "each output should be a numpy array of shape (m,) = (1,)"
assert np.allclose(np.concatenate(outputs), [2.0, 1.0, 0.5]), \
    f"expected outputs 2, 1, 0.5, got {np.concatenate(outputs)}"

# %% test id=test_lti_hidden points=2
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps1 as grading

cases = grading.lti_cases()
runs = grading.run_lti(LTISystem, StateMachine, cases)
grading.check_lti(cases, runs)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. A recurrent network that computes parity
#
# In the course's notation a recurrent layer updates its hidden state with
#
# $$H_t = \tanh(X_t W_{xh} + H_{t-1} W_{hh} + b_h), \qquad O_t = H_t W_{hq} + b_q,$$
#
# where rows are examples. Here each example is one bit string: $X_t$ holds the
# bit $x_t$ as a single feature, so `W_xh` is `(1, h)`, `W_hh` is `(h, h)`,
# `b_h` is `(h,)`, `W_hq` is `(h, 1)` and `b_q` is `(1,)`. The network answers
# `1` when $O_t > 0$ and `0` otherwise.
#
# Choose weights, and an initial state `H0` of shape `(h,)`, so that this
# network gives exactly the outputs of the parity machine on **every** binary
# string of length 1 to 8. You pick the number of hidden units `h`.
#
# *Hint:* a single tanh unit can only separate its inputs with a straight
# line. Think about which two intermediate facts about $(x_t, \text{parity so
# far})$ are each linearly separable, and make the weights large so that tanh
# behaves like a step function.
#
# `run_parity_rnn` below runs your weights on one string so you can try them.

# %% locked id=parity_helper
def run_parity_rnn(weights, bits):
    """Outputs (0/1 list) of the tanh RNN given by `weights` on the bit list `bits`."""
    H = weights["H0"][None, :]
    outputs = []
    for bit in bits:
        X = np.array([[float(bit)]])
        H = np.tanh(X @ weights["W_xh"] + H @ weights["W_hh"] + weights["b_h"])
        O = H @ weights["W_hq"] + weights["b_q"]
        outputs.append(int(O[0, 0] > 0))
    return outputs

# %% solution id=parity_rnn_weights
def parity_rnn_weights():
    """Weights of a tanh RNN that reproduces the parity machine.

    Returns:
        dict with numpy arrays W_xh (1, h), W_hh (h, h), b_h (h,), W_hq (h, 1),
        b_q (1,) and the initial state H0 (h,).
    """
    ### BEGIN SOLUTION
    # Unit 1 fires for "odd so far and the bit is 1" (stays odd), unit 2 for
    # "even so far and the bit is 0" (becomes odd); both are linearly separable
    # and the parity is their OR. With p = (v1 + v2) / 2 + 1 (v = +-1 unit
    # values) unit 1 is step(p + x - 1.5) and unit 2 is step(-p - x + 0.5);
    # every pre-activation is scaled by 10 so that tanh acts as a step.
    return {
        "W_xh": np.array([[10.0, -10.0]]),
        "W_hh": np.array([[5.0, -5.0], [5.0, -5.0]]),
        "b_h": np.array([-5.0, -5.0]),
        "W_hq": np.array([[-0.5], [-0.5]]),
        "b_q": np.array([-0.5]),
        "H0": np.array([-1.0, -1.0]),
    }
    ### END SOLUTION

# %% test id=test_parity_rnn_visible points=1
weights = parity_rnn_weights()
for key in ["W_xh", "W_hh", "b_h", "W_hq", "b_q", "H0"]:
    assert key in weights, f"the dict should have the key {key!r}"
    assert isinstance(weights[key], np.ndarray), f"{key} should be a numpy array"
h = weights["W_hh"].shape[0]
assert weights["W_xh"].shape == (1, h), f"W_xh should have shape (1, {h})"
assert weights["W_hq"].shape == (h, 1), f"W_hq should have shape ({h}, 1)"
assert weights["H0"].shape == (h,), f"H0 should have shape ({h},)"
assert run_parity_rnn(weights, [1]) == [1], "after the string '1' (no zeros) the output is 1"
assert run_parity_rnn(weights, [0]) == [0], "after the string '0' (one zero) the output is 0"

# %% test id=test_parity_rnn_hidden points=3
# Hidden tests: they are added and run when your notebook is graded.
### BEGIN HIDDEN TESTS
from course_checks import ps1 as grading

run = grading.run_parity_weights(parity_rnn_weights)
grading.check_parity_weights(run)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Written answers
#
# **Question 1 (2 points).** An LTI system is a recurrent network with a
# particular choice of activation and weights. Using the course's row
# convention ($H_t = \phi(X_t W_{xh} + H_{t-1} W_{hh} + b_h)$, $O_t = H_t W_{hq}$),
# give $\phi$, $W_{xh}$, $W_{hh}$, $b_h$ and $W_{hq}$ in terms of $A$, $B$ and
# $C$, and explain in one or two sentences why transposes appear.

# %% [markdown] answer id=answer_lti_as_rnn points=2
# $\phi$ is the identity, $b_h = 0$, and with $H_t = s_t^\top$ (the state as a
# row) and $X_t = x_t^\top$: $W_{xh} = B^\top$, $W_{hh} = A^\top$,
# $W_{hq} = C^\top$. The transposes appear because $(A s)^\top = s^\top A^\top$:
# the LTI equations multiply column vectors from the left, while the course
# stacks examples as rows and multiplies from the right.
#
# === BEGIN MARK SCHEME ===
# 1 point: identity activation and zero bias, with the three weight matrices
# correct (all three transposed); half a point if the matrices are right but
# not transposed while the row convention is used.
# 1 point: a correct reason for the transposes (row vs column vectors,
# $(As)^\top = s^\top A^\top$).
# === END MARK SCHEME ===

# %% [markdown]
# **Question 2 (2 points).** Explain why no RNN with a **single** hidden unit
# of the form above can reproduce the parity machine, and what your extra
# hidden unit(s) make possible.

# %% [markdown] answer id=answer_parity_units points=2
# The new parity is the XOR of the old parity and "the bit is 0". A single
# unit computes a monotone function (tanh) of one linear combination of the
# bit and its previous value, so it separates the four (parity, bit)
# combinations with one straight line; XOR's classes cannot be separated that
# way. With two units each can compute a linearly separable piece (e.g.
# "odd and bit 1", "even and bit 0") and the new parity is their OR, which the
# next step and the output layer read off with a linear function.
#
# === BEGIN MARK SCHEME ===
# 1 point: identifies the update as XOR / not linearly separable in
# (previous state, input) and that one unit is a threshold of a linear function.
# 1 point: explains how the extra unit(s) split XOR into separable parts that
# a linear read-out recombines.
# === END MARK SCHEME ===
