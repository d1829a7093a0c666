"""Hidden-test helpers for the fixture notebook's ``running_mean``.

The kernel side (``@kernel_side``) makes the seeded inputs and runs the
student's function on them; the verdict, run by the trusted grader, makes the
same inputs again, computes the answers and compares. Inside the sandbox only
the kernel side has code (see grader.tripwire).
"""

from __future__ import annotations

import numpy as np

from grader.declare import kernel_side

CASE_SEED = 4242  # canary-helper-5d1e


@kernel_side
def running_mean_cases() -> list[np.ndarray]:
    """Seeded 1-D float64 inputs: a single value, short and long sequences."""
    rng = np.random.default_rng(CASE_SEED)
    return [np.array([3.5]), rng.normal(size=5), rng.normal(size=40), rng.uniform(-9, 9, 200)]


@kernel_side
def run_running_mean(function) -> list:
    """The student's output on every case, or the name of the error it raised."""
    outputs = []
    for x in running_mean_cases():
        try:
            outputs.append(function(x.copy()))
        except Exception as error:  # noqa: BLE001 - any error is a wrong answer
            outputs.append(f"error: {type(error).__name__}")
    return outputs


def _expected(x: np.ndarray) -> np.ndarray:
    return np.cumsum(x) / np.arange(1, x.size + 1)


def verdict_running_mean(value, points: float) -> float:
    """Equal share of ``points`` per case whose output matches; messages say which failed."""
    cases = running_mean_cases()
    if not isinstance(value, list) or len(value) != len(cases):
        raise AssertionError("running_mean: the test could not collect one result per case")
    passed = 0
    for i, (x, got) in enumerate(zip(cases, value, strict=True)):
        label = f"case {i + 1} (length {x.size})"
        if isinstance(got, str):
            print(f"running_mean {label}: raised {got.removeprefix('error: ')}")
        elif not isinstance(got, np.ndarray) or got.shape != x.shape:
            print(f"running_mean {label}: expected an array of shape {x.shape}")
        elif not np.all(np.isfinite(got)):
            print(f"running_mean {label}: contains NaN or inf")
        elif not np.allclose(got, _expected(x), rtol=1e-10, atol=1e-12):
            print(f"running_mean {label}: wrong values")
        else:
            passed += 1
    if passed == 0:
        raise AssertionError("running_mean: no case gives the right running mean")
    return points * passed / len(cases)
