"""numpy rnn_forward + rnn_backward against torch.nn.RNN forward + backward on the CPU.

Baseline: torch.nn.RNN (tanh, one layer) with autograd, gradients for every input
(X, H0 and all weights), in the same dtype and thread count. The figure of merit is
the time ratio numpy / torch (target: <= 0.75 in float32 and float64).

FLOPs (matrix products only; the elementwise tanh work is O(T n h), under 1%):
forward 2Tnh(d + h) [X W_xh, H W_hh]; backward 2Tnh(2d + 2h) [dX, dW_xh, dH_prev,
dW_hh]; total 6Tnh(d + h). The machine's peak is the best rate of a large square
matmul in numpy and torch, in the same dtype and thread count.

    python benchmarks/bench_rnn.py [--threads 1] [--repeats 30]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    format_table,
    machine_line,
    median_seconds,
    pin_torch_threads,
    set_threads,
)

T, N, D, H = 32, 64, 64, 256
PEAK_SIZE = 2048


def rnn_flops(T: int, n: int, d: int, h: int) -> int:
    """Multiply-adds x 2 of one forward + backward pass (see the module docstring)."""
    return 6 * T * n * h * (d + h)


def make_inputs(np, dtype):
    rng = np.random.default_rng(0)
    bound = 1.0 / H**0.5
    return (
        rng.standard_normal((T, N, D)).astype(dtype),
        rng.standard_normal((N, H)).astype(dtype) * 0.1,
        rng.uniform(-bound, bound, (D, H)).astype(dtype),
        rng.uniform(-bound, bound, (H, H)).astype(dtype),
        rng.uniform(-bound, bound, H).astype(dtype),
        rng.standard_normal((T, N, H)).astype(dtype),
    )


def numpy_pass(rnn_forward, rnn_backward, X, H0, W_xh, W_hh, b_h, dH):
    Hs, cache = rnn_forward(X, H0, W_xh, W_hh, b_h)
    return rnn_backward(dH, cache)


def torch_setup(torch, X, H0, W_xh, W_hh, b_h, dH):
    """nn.RNN holding our weights (it stores transposes) and leaf inputs."""
    rnn = torch.nn.RNN(D, H, nonlinearity="tanh")
    dtype = torch.from_numpy(X).dtype
    rnn = rnn.to(dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(W_xh.T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(W_hh.T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b_h))
        rnn.bias_hh_l0.zero_()
    Xt = torch.from_numpy(X).requires_grad_()
    H0t = torch.from_numpy(H0[None].copy()).requires_grad_()
    return rnn, Xt, H0t, torch.from_numpy(dH)


def torch_pass(rnn, Xt, H0t, dHt):
    for p in (Xt, H0t, *rnn.parameters()):
        p.grad = None
    out, _ = rnn(Xt, H0t)
    out.backward(dHt)


def check_agreement(np, numpy_grads, rnn, Xt, H0t, tol) -> float:
    """Largest relative difference between numpy's and torch's gradients."""
    dX, dH0, dW_xh, dW_hh, db_h = numpy_grads
    pairs = [(dX, Xt.grad), (dH0, H0t.grad[0]), (dW_xh, rnn.weight_ih_l0.grad.T),
             (dW_hh, rnn.weight_hh_l0.grad.T), (db_h, rnn.bias_ih_l0.grad)]
    worst = max(float(np.abs(a - b.numpy()).max() / (np.abs(a).max() + 1e-30)) for a, b in pairs)
    if worst > tol:
        raise SystemExit(f"numpy and torch gradients disagree (relative {worst:.2e} > {tol})")
    return worst


def peak_gflops(np, torch, dtype, repeats: int) -> tuple[float, float]:
    """GFLOP/s of a PEAK_SIZE^3 matmul in numpy and in torch."""
    a = np.random.default_rng(1).standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(dtype)
    b = a.T.copy()
    flops = 2 * PEAK_SIZE**3
    numpy_rate = flops / median_seconds(lambda: a @ b, repeats) / 1e9
    at, bt = torch.from_numpy(a), torch.from_numpy(b)
    torch_rate = flops / median_seconds(lambda: at @ bt, repeats) / 1e9
    return numpy_rate, torch_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    set_threads(args.threads)

    import numpy as np
    import torch

    from rnn_lib import rnn_backward, rnn_forward

    pin_torch_threads(args.threads)
    print(f"bench_rnn: T={T}, n={N}, d={D}, h={H}; {machine_line(args.threads)}")
    flops = rnn_flops(T, N, D, H)
    print(f"FLOPs per forward+backward: {flops / 1e9:.3f} G")
    rows, verdicts = [], []
    for dtype in (np.float32, np.float64):
        inputs = make_inputs(np, dtype)
        rnn, Xt, H0t, dHt = torch_setup(torch, *inputs)
        numpy_grads = numpy_pass(rnn_forward, rnn_backward, *inputs)
        torch_pass(rnn, Xt, H0t, dHt)
        diff = check_agreement(np, numpy_grads, rnn, Xt, H0t,
                               tol=1e-3 if dtype == np.float32 else 1e-10)
        t_numpy = median_seconds(lambda inputs=inputs: numpy_pass(rnn_forward, rnn_backward,
                                                                  *inputs), args.repeats)
        t_torch = median_seconds(lambda rnn=rnn, Xt=Xt, H0t=H0t, dHt=dHt:
                                 torch_pass(rnn, Xt, H0t, dHt), args.repeats)
        peak = max(peak_gflops(np, torch, dtype, max(5, args.repeats // 5)))
        name = np.dtype(dtype).name
        for impl, seconds in (("numpy rnn_lib", t_numpy), ("torch nn.RNN", t_torch)):
            rate = flops / seconds / 1e9
            rows.append([name, impl, seconds * 1e3, rate, 100 * rate / peak,
                         seconds / t_torch])
        ratio = t_numpy / t_torch
        verdicts.append(f"{name}: numpy/torch = {ratio:.2f} "
                        f"({'meets' if ratio <= 0.75 else 'misses'} the <= 0.75 target); "
                        f"peak {peak:.1f} GFLOP/s; max relative gradient difference {diff:.1e}")
    print(format_table(["dtype", "implementation", "ms / pass", "GFLOP/s", "% of peak",
                        "time vs torch"], rows))
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
