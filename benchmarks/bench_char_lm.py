"""Training throughput (characters per second) of the numpy and torch character LMs.

Every model trains on the same minibatches of the offline default corpus
(letters and spaces, 28 tokens), one-hot inputs, SGD with clipping, for a fixed
number of minibatches after a warm-up; the figure is predicted characters per
second of training time (validation excluded). Baseline: torch nn.RNN (same
architecture as the numpy model, autograd) in float32.

    python benchmarks/bench_char_lm.py [--threads 1] [--hidden 256] [--batch 64] [--steps 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import format_table, machine_line, pin_torch_threads, set_threads  # noqa: E402

BASELINE = "torch RNN float32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batches", type=int, default=100, help="timed minibatches per model")
    args = parser.parse_args()
    set_threads(args.threads)

    import numpy as np
    import torch

    from rnn_lib.data import BatchIterator
    from rnn_lib.lm_numpy import NumpyRNNLM
    from rnn_lib.lm_torch import TorchRNNLM
    from rnn_lib.text import Vocab, default_corpus, preprocess_letters, tokenize

    pin_torch_threads(args.threads)
    print(f"bench_char_lm: hidden={args.hidden}, batch={args.batch}, steps={args.steps}; "
          f"{machine_line(args.threads)}")
    tokens = tokenize(preprocess_letters(default_corpus()))
    vocab = Vocab(tokens)
    corpus = vocab.to_indices(tokens)
    per_batch = args.batch * args.steps
    # Exactly `batches` sequential minibatches: the iterator drops at most one window.
    needed = per_batch * args.batches + args.steps
    if needed > len(corpus):
        raise SystemExit(f"--batches: the corpus holds {len(corpus)} tokens, {needed} needed")
    timed = BatchIterator(corpus[:needed], args.batch, args.steps, sequential=True, seed=0)
    warmup = BatchIterator(corpus[:per_batch * 3 + args.steps], args.batch, args.steps, seed=0)

    models = {
        "numpy RNN float32": lambda: NumpyRNNLM(len(vocab), args.hidden, dtype=np.float32),
        "numpy RNN float64": lambda: NumpyRNNLM(len(vocab), args.hidden, dtype=np.float64),
        "torch RNN float32": lambda: TorchRNNLM(len(vocab), args.hidden, cell="rnn"),
        "torch RNN float64": lambda: TorchRNNLM(len(vocab), args.hidden, cell="rnn",
                                                dtype=torch.float64),
        "torch GRU float32": lambda: TorchRNNLM(len(vocab), args.hidden, cell="gru"),
        "torch LSTM float32": lambda: TorchRNNLM(len(vocab), args.hidden, cell="lstm"),
    }
    results = {}
    for name, make in models.items():
        model = make()
        model.fit(warmup, epochs=1, lr=1.0, optimizer="sgd", clip=1.0, progress=False)
        history = model.fit(timed, epochs=1, lr=1.0, optimizer="sgd", clip=1.0, progress=False)
        results[name] = (history.tokens_per_second, history.total_seconds,
                         history.final_train_perplexity)
        print(f"  {name}: {results[name][0]:,.0f} chars/s", flush=True)

    base = results[BASELINE][0]
    rows = [[name, rate, seconds, rate / base, ppl]
            for name, (rate, seconds, ppl) in results.items()]
    print(format_table(["model", "chars/s", "seconds", f"throughput vs {BASELINE}", "train ppl"],
                       rows))


if __name__ == "__main__":
    main()
