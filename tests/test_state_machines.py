"""State machines: parity on every short binary string, LTI against its closed form."""

import itertools

import numpy as np
import pytest

from rnn_lib import LTISystem, StateMachine, parity_machine


@pytest.mark.parametrize("length", range(11))
def test_parity_machine_on_every_binary_string(length):
    machine = parity_machine()
    for bits in itertools.product((0, 1), repeat=length):
        expected = [int(bits[: t + 1].count(0) % 2 == 0) for t in range(length)]
        assert machine.transduce(bits) == expected, bits


def test_parity_machine_rejects_other_symbols():
    with pytest.raises(ValueError, match="expected an input of 0 or 1, got 2"):
        parity_machine().transduce([1, 2])


def test_state_machine_transduces_a_running_sum():
    running = StateMachine(lambda s, x: s + x, lambda s: 2 * s, 0)
    assert running.transduce([1, 2, 3]) == [2, 6, 12]
    assert running.states([1, 2, 3]) == [1, 3, 6]
    assert running.transduce([]) == []
    with pytest.raises(TypeError, match="transition"):
        StateMachine(3, lambda s: s, 0)


def test_lti_system_matches_closed_form():
    rng = np.random.default_rng(0)
    A = 0.5 * rng.standard_normal((3, 3))
    B, C, s0 = rng.standard_normal((3, 2)), rng.standard_normal((1, 3)), rng.standard_normal(3)
    xs = rng.standard_normal((6, 2))
    ys = LTISystem(A, B, C, s0).transduce(xs)
    for t in range(1, 7):
        # s_t = A^t s0 + sum_{k=1..t} A^{t-k} B x_k
        s = np.linalg.matrix_power(A, t) @ s0 + sum(
            np.linalg.matrix_power(A, t - k) @ B @ xs[k - 1] for k in range(1, t + 1)
        )
        np.testing.assert_allclose(ys[t - 1], C @ s, rtol=1e-12)


def test_scalar_lti_impulse_response_is_geometric():
    system = LTISystem([[0.8]], [[1.0]], [[1.0]], [0.0])
    ys = system.transduce([1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(np.ravel(ys), [1.0, 0.8, 0.64, 0.512])


def test_lti_shapes_are_checked():
    with pytest.raises(ValueError, match=r"B: expected shape \(2, \?\), got \(3, 1\)"):
        LTISystem(np.eye(2), np.zeros((3, 1)), np.zeros((1, 2)), np.zeros(2))
    system = LTISystem(np.eye(2), np.zeros((2, 1)), np.zeros((1, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"x: expected an input of shape \(1,\), got \(2,\)"):
        system.transduce([np.zeros(2)])
