"""Hidden-test helpers for problem set 5: vocabulary, minibatches, sampling, a torch char model.

Oracles: ``rnn_lib.Vocab`` (PyTorch has no vocabulary), properties of the
minibatches computed on a corpus whose tokens are their own positions,
``torch.softmax`` in float64, small models with known next-token
distributions for sampling, and, for the trained model, a float64 rebuild
from its recorded weights evaluated on held-out text that the student's
training never sees (the perplexity is computed outside the kernel). Forbidden: ``rnn_lib.text.Vocab``,
``rnn_lib.data`` iterators, ``rnn_lib.sampling`` and ``rnn_lib``'s models.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import rnn_lib.data as ref_data
import rnn_lib.lm_numpy as ref_lm_numpy
import rnn_lib.lm_torch as ref_lm_torch
import rnn_lib.sampling as ref_sampling
import rnn_lib.text as ref_text
from course_checks.common import (
    Case,
    StudentRun,
    WrongReturn,
    array_problem,
    call_student,
    error_problem,
    forbidden_codes,
    partial_credit,
    reference_problem,
    run_cases,  # noqa: F401 - re-exported: the notebooks call grading.run_cases
)
from grader.declare import kernel_side, verdict

FORBIDDEN = forbidden_codes(
    ref_text.Vocab, ref_data.random_batches, ref_data.sequential_batches, ref_data.BatchIterator,
    ref_data._windows, ref_data._checked_setup, ref_data.load_char_lm_data,
    ref_sampling.softmax_with_temperature, ref_sampling.sample_generate,
    ref_sampling.greedy_generate, ref_sampling._generate, ref_sampling._warm_up,
    ref_sampling.generate_text, ref_lm_torch.TorchRNNLM, ref_lm_numpy.train_language_model,
)

# --------------------------------------------------------------------------- Vocab

_SENTENCE = "the quick brown fox jumps over the lazy dog and the cat"


@kernel_side
def vocab_cases() -> list[Case]:
    """Step (a): (tokens, min_freq, reserved, tokens to look up, indices to look up)."""
    words = (_SENTENCE + " the dog and the fox ran").split()
    chars = list("mississippi river")
    return [
        Case("characters", (chars, 0, (), list("sip rim"), [0, 1, 2, 5])),
        Case("words, min_freq=2", (words, 2, (), ["the", "fox", "zebra", "cat"], [0, 1, 3])),
        Case("reserved tokens", (chars, 0, ("<pad>", "<bos>"), list("<pad>") + ["<bos>"],
                                 [1, 2, 3])),
        Case("a reserved token that also occurs", (list("abcab"), 0, ("a",), list("cab"),
                                                    [0, 1, 2])),
        Case("ties broken alphabetically", (list("dcbadcba"), 0, (), list("abcd"), [1, 2, 3, 4])),
        Case("min_freq above every count", (list("abc"), 5, (), list("abc"), [0])),
        Case("the corpus holds '<unk>' itself", ("a <unk> b <unk> a <unk> c".split(), 0, ("<bos>",),
                                                 ["<unk>", "b", "<bos>"], [0, 1, 2])),
        Case("reserved tokens that also occur, out of order", (
            list("zzzyyxw"), 0, ("x", "z"), list("zyxw"), [0, 1, 2, 3, 4])),
    ]


def _vocab_summary(vocab, probe_tokens, probe_indices):
    """(len, idx_to_token, to_indices(probe), to_tokens(probe), to_indices(idx_to_token))."""
    tokens = list(vocab.idx_to_token)
    return (len(vocab), tokens, vocab.to_indices(probe_tokens),
            list(vocab.to_tokens(probe_indices)), vocab.to_indices(tokens))


def _vocab_order_problems(label, idx_to_token, tokens_in, min_freq, reserved) -> list[str]:
    """The documented layout, said part by part: no duplicates, '<unk>' first, the reserved
    tokens next in the order given, then by descending frequency with ties alphabetical."""
    if len(set(idx_to_token)) != len(idx_to_token):
        twice = sorted({t for t in idx_to_token if idx_to_token.count(t) > 1})
        return [f"{label}: idx_to_token lists a token twice ({len(twice)} such token(s))"]
    if not idx_to_token or idx_to_token[0] != "<unk>":
        return [f"{label}: index 0 should be '<unk>'"]
    fixed = ["<unk>", *reserved]
    if idx_to_token[:len(fixed)] != fixed:
        return [f"{label}: the reserved tokens should come right after '<unk>', in the order "
                f"given"]
    counts: dict[str, int] = {}
    for token in tokens_in:
        counts[token] = counts.get(token, 0) + 1
    rest = idx_to_token[len(fixed):]
    keys = [(-counts.get(t, 0), t) for t in rest]
    if keys != sorted(keys):
        return [f"{label}: after the reserved tokens, tokens should be ordered by descending "
                f"frequency, ties alphabetically"]
    wanted = {t for t, c in counts.items() if c >= min_freq} - set(fixed)
    if set(rest) != wanted:
        return [f"{label}: the vocabulary should hold every token seen at least min_freq "
                f"times, and no other"]
    return []


@kernel_side
def run_vocab(vocab_class, cases) -> list[StudentRun]:
    """Step (b): build each vocabulary and look tokens and indices up."""
    def build(tokens, min_freq, reserved, probe_tokens, probe_indices):
        vocab = vocab_class(tokens, min_freq=min_freq, reserved=reserved)
        return {"reference_class": isinstance(vocab, ref_text.Vocab),
                "summary": _vocab_summary(vocab, probe_tokens, probe_indices)}

    return [call_student(build, *case.args, forbidden=FORBIDDEN, label=case.label)
            for case in cases]


@verdict(cases=vocab_cases)
def check_vocab(cases, runs, points: float) -> float:
    """Step (c): partial credit per case, and for the dtype of to_indices."""
    parts = {}
    wrong_dtype: set[str] = set()
    int64_seen = False
    for case, run in zip(cases, runs, strict=True):
        label = f"Vocab [{case.label}]"
        if (problem := error_problem("Vocab", run)) is not None:
            parts[case.label] = [problem]
            continue
        size, idx_to_token, indices, tokens, own_indices = run.value["summary"]
        tokens_in, min_freq, reserved, probe_tokens, probe_indices = case.args
        ref = ref_text.Vocab(tokens_in, min_freq=min_freq, reserved=reserved)
        want = _vocab_summary(ref, probe_tokens, probe_indices)
        problems = []
        if run.value["reference_class"]:
            problems.append(f"{label}: Vocab must be your own class, not rnn_lib's")
        if size != want[0]:
            problems.append(f"{label}: len() is {size}, expected {want[0]}")
        if idx_to_token != want[1]:
            problems += (_vocab_order_problems(label, idx_to_token, tokens_in, min_freq, reserved)
                         or [f"{label}: idx_to_token has the wrong tokens or order"])
        for what, got, expected in (("to_indices", indices, want[2]),
                                    ("to_indices(idx_to_token)", own_indices, want[4])):
            problem = array_problem(f"{label} {what}", got, expected, rtol=0, atol=0)
            if problem is None and not np.issubdtype(got.dtype, np.integer):
                problem = f"{label} {what}: expected integers, got {got.dtype}"
            elif problem is None and got.dtype != np.int64:
                wrong_dtype.add(str(got.dtype))
            elif problem is None:
                int64_seen = True
            problems.append(problem)
            if problem is not None:
                break
        if tokens != want[3]:
            problems.append(f"{label}: to_tokens gives the wrong tokens")
        parts[case.label] = problems
    parts["to_indices gives int64 arrays"] = [
        f"Vocab.to_indices: expected an int64 array, got {', '.join(sorted(wrong_dtype))}"
        if wrong_dtype else None if int64_seen else
        "Vocab.to_indices: no case gave correct indices, so their dtype could not be checked"]
    return partial_credit(points, parts, gate=reference_problem("Vocab", runs))


# --------------------------------------------------------------------------- minibatches


@kernel_side
def batch_cases() -> list[Case]:
    """Step (a): (corpus length L, batch_size n, num_steps T, seed); tokens = positions."""
    return [
        Case("L=1000, n=4, T=7", (1000, 4, 7, 0)),
        Case("one row (n=1), T=5", (300, 1, 5, 1)),
        Case("one step per window (T=1), n=3", (40, 3, 1, 2)),
        Case("just long enough for one minibatch", (6 * 4, 3, 6, 3)),
        Case("L=777, n=5, T=9", (777, 5, 9, 4)),
    ]


@kernel_side
def run_batches(function, cases) -> dict[str, object]:
    """Step (b): every epoch materialised inside the traced call, plus seeding probes."""
    runs = [call_student(lambda L, n, T, s: [tuple(b) for b in function(np.arange(L), n, T, rng=s)],
                         *case.args, forbidden=FORBIDDEN, label=case.label) for case in cases]

    def seeding():
        def epoch(rng):
            return [tuple(np.asarray(a).tolist() for a in b)
                    for b in function(np.arange(600), 3, 5, rng=rng)]
        return {"same seed": (epoch(11), epoch(11)),
                "other seeds": [epoch(s) for s in (12, 13, 14, 15)],
                "generator": epoch(np.random.default_rng(11))}

    def offsets():
        L, n, T = _OFFSET_CORPUS
        return [[tuple(b) for b in function(np.arange(L), n, T, rng=seed)]
                for seed in range(_OFFSET_SEEDS)]

    def plain_list():
        def epoch(corpus):
            return [tuple(np.asarray(a).tolist() for a in b)
                    for b in function(corpus, 3, 4, rng=5)]
        return {"list": epoch(list(range(200))), "array": epoch(np.arange(200))}

    return {"cases": runs, "seeding": call_student(seeding, forbidden=FORBIDDEN, label="seeds"),
            "offsets": call_student(offsets, forbidden=FORBIDDEN, label="offsets"),
            "plain list": call_student(plain_list, forbidden=FORBIDDEN, label="a plain list")}


_OFFSET_CORPUS = (50, 2, 4)  # (L, n, T): 5 minibatches of 2 windows out of 11 or 12
_OFFSET_SEEDS = 64  # every offset in [0, T - 1] and every window shows up (p > 1 - 1e-7)


def _offset_problems(name: str, epochs, sequential: bool) -> list[str]:
    """Across seeds: the offset takes every value in [0, T - 1] and moves the windows with it;
    random windows reach every window of the corpus cut at that offset, sequential rows cover
    every position from the offset on, back to back."""
    L, n, T = _OFFSET_CORPUS
    seen: dict[int, set[int]] = {}
    for seed, batches in enumerate(epochs):
        problems = _window_problems(f"{name} [seed {seed}, L={L}, n={n}, T={T}]", batches, L, n,
                                    T, sequential)
        if problems:
            return problems
        starts = np.array([np.asarray(X)[0] for X, _ in batches])  # (batches, n)
        offset = int(starts.min()) % T
        if sequential:
            if int(starts[0, 0]) != offset:
                return [f"{name}: row 0 of the first minibatch should start at the random "
                        f"offset (seed {seed})"]
            count = len(batches)
            expected = offset + T * np.arange(n * count)
            if not np.array_equal(np.sort(starts.reshape(-1)), expected):
                return [f"{name}: the rows do not cover the corpus back to back from the "
                        f"offset (seed {seed})"]
        seen.setdefault(offset, set()).update(int(v) for v in starts.reshape(-1))
    if sorted(seen) != list(range(T)):
        return [f"{name}: over {len(epochs)} seeds the offset took the values {sorted(seen)}; "
                f"it should be drawn from every value in [0, num_steps - 1] = [0, {T - 1}]"]
    if not sequential:
        for offset, starts in sorted(seen.items()):
            windows = {offset + T * k for k in range((L - 1 - offset) // T)}
            if starts != windows:
                return [f"{name}: with offset {offset}, the windows used over many seeds are "
                        f"not all the back-to-back windows of the corpus from that offset "
                        f"(some are never drawn, or some are not on that grid)"]
    return []


def _window_problems(label, batches, L, n, T, sequential) -> list[str]:
    """Properties every correct epoch has, for a corpus whose tokens are 0 .. L-1."""
    expected_count = (L - T) // (T * n)
    if len(batches) != expected_count:
        return [f"{label}: expected {expected_count} minibatches, got {len(batches)}"]
    starts = []
    for i, pair in enumerate(batches):
        if len(pair) != 2:
            return [f"{label}: each minibatch should be a pair (X, Y)"]
        X, Y = (np.asarray(a) for a in pair)
        if X.shape != (T, n) or Y.shape != (T, n):
            return [f"{label}: minibatch {i} has shapes {X.shape}, {Y.shape}; expected "
                    f"(num_steps, batch_size) = {(T, n)} (time-major)"]
        if not (np.issubdtype(X.dtype, np.integer) and np.issubdtype(Y.dtype, np.integer)):
            return [f"{label}: X and Y should hold integer token indices"]
        if not np.array_equal(Y, X + 1):
            return [f"{label}: Y is not X shifted one token ahead"]
        if not np.array_equal(X - X[0], np.broadcast_to(np.arange(T)[:, None], (T, n))):
            return [f"{label}: a column of X is not a contiguous window of the corpus"]
        if X.min() < 0 or Y.max() > L - 1:
            return [f"{label}: a window runs outside the corpus"]
        starts.append(X[0])
    starts = np.array(starts)  # (batches, n)
    if sequential:
        if starts.size and starts.min() >= T:
            return [f"{label}: the random offset should be below num_steps ({T}), the first "
                    f"row starts at {starts.min()}"]
        if len(starts) > 1 and not np.all(np.diff(starts, axis=0) == T):
            return [f"{label}: row j of minibatch i+1 does not continue row j of minibatch i"]
        firsts = np.sort(starts[0])
        if n > 1 and np.any(np.diff(firsts) < len(starts) * T):
            return [f"{label}: the rows overlap"]
    else:
        flat = starts.reshape(-1)
        if len(np.unique(flat)) != flat.size:
            return [f"{label}: windows overlap within the epoch"]
        if np.unique(flat % T).size != 1:
            return [f"{label}: windows are not cut back to back from one offset"]
        if flat.size >= 8 and np.all(np.diff(flat) > 0):
            return [f"{label}: the windows are in corpus order, not shuffled"]
    return []


@verdict(cases=batch_cases)
def check_batches(cases, runs, points: float, *, sequential: bool) -> float:
    """Step (c): one part per case plus one for seeding; nothing if rnn_lib was called."""
    name = "sequential_batches" if sequential else "random_batches"
    parts = {}
    for case, run in zip(cases, runs["cases"], strict=True):
        if (problem := error_problem(name, run)) is not None:
            parts[case.label] = [problem]
            continue
        parts[case.label] = _window_problems(f"{name} [{case.label}]", run.value, *case.args[:3],
                                             sequential)
    seeding = runs["seeding"]
    if (problem := error_problem(name, seeding)) is not None:
        parts["seeding"] = [problem]
    else:
        first, again = seeding.value["same seed"]
        others = seeding.value["other seeds"]
        problems = []
        if first != again:
            problems.append(f"{name}: the same seed gave different epochs")
        if seeding.value["generator"] != first:
            problems.append(f"{name}: np.random.default_rng(seed) and seed should give the "
                            f"same epoch")
        if all(epoch == first for epoch in others):
            problems.append(f"{name}: different seeds always give the same epoch")
        parts["seeding"] = problems
    offsets = runs["offsets"]
    parts["offsets and coverage over many seeds"] = (
        [error_problem(name, offsets)] if offsets.error is not None
        else _offset_problems(name, offsets.value, sequential))
    listed = runs["plain list"]
    if (problem := error_problem(name, listed)) is not None:
        parts["a plain list as corpus"] = [problem]
    else:
        parts["a plain list as corpus"] = [
            None if listed.value["list"] == listed.value["array"] else
            f"{name}: a plain list of token indices gives other minibatches than the same "
            f"tokens in a numpy array"]
    all_runs = [*runs["cases"], seeding, offsets, listed]
    return partial_credit(points, parts, gate=reference_problem(name, all_runs))


# --------------------------------------------------------------------------- sampling


@kernel_side
def softmax_temperature_cases() -> list[Case]:
    """Step (a): logits and temperatures."""
    rng = np.random.default_rng(5001)
    return [
        Case("one row, temperature 1", (rng.normal(size=6), 1.0)),
        Case("a batch (4, 5), temperature 0.5", (rng.normal(size=(4, 5)), 0.5)),
        Case("temperature 3 flattens", (rng.normal(size=(2, 7)) * 3, 3.0)),
        Case("large logits", (rng.normal(size=(3, 4)) * 1000, 1.0)),
        Case("tiny temperature (no overflow)", (rng.normal(size=5), 0.001)),
    ]


@verdict(cases=softmax_temperature_cases)
def check_softmax_with_temperature(cases, runs, points: float) -> float:
    """Step (c): partial credit per case."""
    parts = {}
    for case, run in zip(cases, runs, strict=True):
        if (problem := error_problem("softmax_with_temperature", run)) is not None:
            parts[case.label] = [problem]
            continue
        logits, tau = case.args
        want = torch.softmax(torch.from_numpy(np.asarray(logits, np.float64)) / tau, -1).numpy()
        parts[case.label] = [array_problem(f"softmax_with_temperature [{case.label}]", run.value,
                                           want, rtol=1e-8, atol=1e-12)]
    return partial_credit(points, parts, gate=reference_problem("softmax_with_temperature", runs))


class BigramModel:
    """Next-token logits depend only on the last token: ``logits = table[token]``."""

    def __init__(self, table: np.ndarray):
        self.table = table
        self.vocab_size = table.shape[0]

    def begin_state(self, batch_size):
        return np.zeros(batch_size, dtype=np.int64)

    def step(self, tokens, state):
        tokens = np.asarray(tokens, dtype=np.int64)
        return self.table[tokens].copy(), tokens


class RunningSumModel(BigramModel):
    """Logits depend on the sum of every token read so far (mod |V|): tests the warm-up."""

    def step(self, tokens, state):
        state = (state + np.asarray(tokens, dtype=np.int64)) % self.vocab_size
        return self.table[state].copy(), state


class RowModel(RunningSumModel):
    """A running-sum model whose state has one row per sequence and whose logits differ by row
    (row r reads ``table[(sum + 2 r) % V]``). It writes down every ``begin_state`` batch size
    and every ``step``'s token and state shapes, so a sampler that starts from a batch of two,
    or reads another row than its one sequence's, is seen."""

    def __init__(self, table: np.ndarray):
        super().__init__(table)
        self.begun: list[int] = []
        self.steps: list[tuple[int, int]] = []

    def begin_state(self, batch_size):
        self.begun.append(int(batch_size))
        return np.zeros(batch_size, dtype=np.int64)

    def step(self, tokens, state):
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        state = np.asarray(state, dtype=np.int64).reshape(-1)
        self.steps.append((int(tokens.size), int(state.size)))
        state = (state + tokens) % self.vocab_size
        rows = np.arange(state.size)
        return self.table[(state + 2 * rows) % self.vocab_size].copy(), state


_TABLE = np.random.default_rng(5002).normal(scale=1.5, size=(5, 5))
_SAMPLES = 8000


@kernel_side
def run_sample_generate(function) -> dict[str, StudentRun]:
    """Step (b): calls of the student's sample_generate on the models above."""
    bigram, summing = BigramModel(_TABLE), RunningSumModel(_TABLE)

    def call(model, prefix, n, tau, rng):
        return function(model, prefix, n, tau, rng)

    def traced(label, *args):
        return call_student(call, *args, forbidden=FORBIDDEN, label=label)

    def fresh_state():
        model = RowModel(_TABLE)
        samples = [np.asarray(function(model, [3, 1, 4], 12, 1e-4, 0)),
                   np.asarray(function(model, [2], 12, 1e-4, 1))]
        return {"samples": samples, "begin_state": list(model.begun),
                "steps": [list(step) for step in model.steps]}

    return {
        "fresh single-sequence state": call_student(fresh_state, forbidden=FORBIDDEN,
                                                    label="fresh single-sequence state"),
        "seed 7": traced("seed 7", bigram, [0], 300, 1.0, 7),
        "seed 7 again": traced("seed 7 again", bigram, [0], 300, 1.0, 7),
        "seed 8": traced("seed 8", bigram, [0], 300, 1.0, 8),
        "generator": traced("generator", bigram, [0], 300, 1.0, np.random.default_rng(7)),
        "tiny temperature": traced("tiny temperature", summing, [3, 1, 4], 40, 1e-4, 0),
        "temperature 1": traced("temperature 1", bigram, [2], _SAMPLES, 1.0, 21),
        "temperature 2.5": traced("temperature 2.5", bigram, [2], _SAMPLES, 2.5, 22),
        "temperature 0.4": traced("temperature 0.4", bigram, [2], _SAMPLES, 0.4, 23),
        "no tokens": traced("no tokens", bigram, [1, 2], 0, 1.0, 0),
    }


def _greedy_sum_path(prefix, n) -> list[int]:
    model = RunningSumModel(_TABLE)
    state = model.begin_state(1)
    for token in prefix:
        logits, state = model.step([token], state)
    out = []
    for _ in range(n):
        out.append(int(np.argmax(logits[0])))
        logits, state = model.step([out[-1]], state)
    return out


def _fresh_state_problem(error: str | None, value) -> str | None:
    """Two calls on one RowModel: each starts from begin_state(1), feeds one token per step,
    and follows row 0 (the only row) greedily."""
    if error:
        return error
    if list(value["begin_state"]) != [1, 1]:
        return ("sample_generate should start every call from a fresh model.begin_state(1) "
                "(one sequence): called with batch sizes "
                f"{list(value['begin_state'])[:4]} over two calls")
    if any(list(step) != [1, 1] for step in value["steps"]):
        return "sample_generate should feed the model one token (shape (1,)) per step"
    for sample, prefix in zip(value["samples"], ([3, 1, 4], [2]), strict=True):
        if not isinstance(sample, np.ndarray) or sample.shape != (12,) or (
                sample.tolist() != _greedy_sum_path(prefix, 12)):
            return ("sample_generate: on a model whose logits differ by row, the samples do "
                    "not follow the logits of its one sequence (row 0)")
    return None


def _transition_problem(label, prefix_last, sample, tau) -> str | None:
    """Empirical next-token frequencies against softmax(table / tau), 4 standard errors."""
    sequence = np.concatenate([[prefix_last], sample])
    probs = torch.softmax(torch.from_numpy(_TABLE) / tau, -1).numpy()
    for a in range(_TABLE.shape[0]):
        following = sequence[1:][sequence[:-1] == a]
        if following.size < 200:
            continue
        freq = np.bincount(following, minlength=_TABLE.shape[0]) / following.size
        bound = 4 * np.sqrt(probs[a] * (1 - probs[a]) / following.size) + 0.01
        if np.any(np.abs(freq - probs[a]) > bound):
            return (f"sample_generate [{label}]: the sampled tokens do not follow "
                    f"softmax(logits / temperature)")
    return None


@verdict()
def check_sample_generate(runs: dict[str, StudentRun], points: float) -> float:
    """Step (c): partial credit per property."""
    parts: dict[str, list] = {}
    errors = {k: error_problem("sample_generate", r) for k, r in runs.items()}
    values = {k: (None if errors[k] else r.value) for k, r in runs.items()}

    def int_array(key, length):
        value = values[key]
        if errors[key]:
            return errors[key]
        if not isinstance(value, np.ndarray) or value.shape != (length,):
            return (f"sample_generate [{key}]: expected an array of shape ({length},), the "
                    f"generated tokens without the prefix")
        if value.size and not np.issubdtype(value.dtype, np.integer):
            return f"sample_generate [{key}]: expected integer token indices"
        return None

    shape_problems = [int_array("seed 7", 300), int_array("no tokens", 0)]
    parts["returns the generated tokens only"] = shape_problems
    seeding = [int_array(k, 300) for k in ("seed 7", "seed 7 again", "seed 8", "generator")]
    if not any(seeding):
        if not np.array_equal(values["seed 7"], values["seed 7 again"]):
            seeding.append("sample_generate: the same seed gave different samples")
        if np.array_equal(values["seed 7"], values["seed 8"]):
            seeding.append("sample_generate: different seeds gave the same sample")
        if not np.array_equal(values["seed 7"], values["generator"]):
            seeding.append("sample_generate: a seed and default_rng(seed) should agree")
    parts["seeded"] = seeding
    greedy = int_array("tiny temperature", 40)
    if greedy is None and values["tiny temperature"].tolist() != _greedy_sum_path([3, 1, 4], 40):
        greedy = ("sample_generate [tiny temperature]: should pick the most likely token "
                  "after reading the whole prefix")
    parts["tau -> 0 is greedy after reading the prefix"] = [greedy]
    parts["a fresh state for one sequence"] = [_fresh_state_problem(
        errors["fresh single-sequence state"], values["fresh single-sequence state"])]
    for key, tau in (("temperature 1", 1.0), ("temperature 2.5", 2.5), ("temperature 0.4", 0.4)):
        problem = int_array(key, _SAMPLES) or _transition_problem(key, 2, values[key], tau)
        parts[f"distribution at {key}"] = [problem]
    return partial_credit(points, parts,
                          gate=reference_problem("sample_generate", list(runs.values())))


# --------------------------------------------------------------------------- trained model
#
# The kernel records the trained weights, never a score: a perplexity computed in the
# student's kernel could be forged (grader/README.md). The trusted side rebuilds the model
# from the weights and evaluates it on held-out text that it splits off the corpus itself.

_PROBE_SHAPE = (12, 3)  # (T, n) tokens on which the student's forward is compared with the rebuild
_GRU_CONFIG = ("num_layers", "bidirectional", "batch_first")


def _probe_tokens(vocab_size: int) -> np.ndarray:
    """Seeded (T, n) int64 token indices below ``vocab_size``."""
    return np.random.default_rng(5003).integers(0, vocab_size, size=_PROBE_SHAPE)


def _floats(tensor) -> np.ndarray | None:
    """A parameter as a plain numpy array of its floating dtype (None stays None)."""
    return None if tensor is None else np.array(tensor.detach().cpu().numpy(), copy=True)


def _only_layer(model, kind) -> torch.nn.Module:
    found = [m for m in model.modules() if isinstance(m, kind)]
    if len(found) != 1:
        raise ValueError(f"CharLM should hold exactly one nn.{kind.__name__}, found {len(found)}")
    return found[0]


def _layer_weights(model) -> dict[str, dict]:
    """The Embedding, GRU and Linear parameters (and the GRU's configuration) as plain data."""
    embedding = _only_layer(model, torch.nn.Embedding)
    gru = _only_layer(model, torch.nn.GRU)
    head = _only_layer(model, torch.nn.Linear)
    gru_weights = {name: _floats(getattr(gru, name, None))
                   for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")}
    gru_weights.update({name: getattr(gru, name) for name in _GRU_CONFIG})
    return {"embedding": {"weight": _floats(embedding.weight)}, "gru": gru_weights,
            "head": {"weight": _floats(head.weight), "bias": _floats(head.bias)}}


def _float_losses(losses) -> np.ndarray:
    """What train_char_model returned, as a float64 array (WrongReturn if it is not a list of
    numbers)."""
    if not isinstance(losses, list | tuple):
        raise WrongReturn(f"a {type(losses).__name__}, expected a list of floats")
    try:
        return np.array([float(v) for v in losses], dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as error:
        raise WrongReturn(f"losses that are not numbers ({error})") from None


@kernel_side
def run_trained_model(model, vocab, losses=None) -> StudentRun:
    """Step (b): the trained model's weights, its vocabulary, and its logits on a probe.

    ``layers`` holds the Embedding (V, E), GRU (3h, E), (3h, h), (3h,), (3h,) and Linear
    (V, h), (V,) parameters; ``probe_logits`` is (12, 3, V) float64; ``losses`` is what the
    provided training run's ``train_char_model`` returned, as float64 (or the reason it is not
    a list of numbers).
    """
    def describe():
        kind = type(model)
        tokens = [str(t) for t in getattr(vocab, "idx_to_token", [])]
        with torch.no_grad():
            model.eval()
            logits, _ = model(torch.from_numpy(_probe_tokens(max(len(tokens), 1))), None)
        try:
            recorded_losses = _float_losses(losses)
        except WrongReturn as error:
            recorded_losses = f"train_char_model returned {error}"
        return {
            "rnn_lib_model": (kind.__module__.startswith("rnn_lib")
                              or issubclass(kind, ref_lm_torch.TorchRNNLM)),
            "idx_to_token": tokens,
            "layers": _layer_weights(model),
            "probe_logits": np.asarray(logits.detach().double().cpu().numpy()),
            "losses": recorded_losses,
        }

    return call_student(describe, label="trained model")


# The training loop, replayed: a small CharLM trained by the student's train_char_model on a
# seeded Markov-chain corpus, with a learning rate at which every gradient is clipped (the
# unclipped run ends 7% away in loss and ~1 away in weights; float32 rounding differences
# between honest loops stay below 1e-5). The kernel records the initial weights, the
# minibatches the student's own sequential_batches yields for the two epochs, the losses and
# the final weights; the grading process replays truncated BPTT with Adam and clipping on
# those minibatches from those weights and compares.
_LOOP = {"vocab_size": 12, "length": 1500, "num_hiddens": 16, "embedding_dim": 8,
         "num_steps": 8, "batch_size": 4, "num_epochs": 2, "lr": 0.05, "max_norm": 0.05,
         "seed": 3}


def _loop_corpus() -> np.ndarray:
    """A seeded first-order Markov chain over ``vocab_size`` tokens (int64, ``length``)."""
    V, length = _LOOP["vocab_size"], _LOOP["length"]
    rng = np.random.default_rng(5004)
    cumulative = np.cumsum(rng.dirichlet(np.full(V, 0.3), size=V), axis=1)
    draws = rng.random(length)
    corpus = np.zeros(length, dtype=np.int64)
    for i in range(1, length):
        corpus[i] = min(int(np.searchsorted(cumulative[corpus[i - 1]], draws[i])), V - 1)
    return corpus


@kernel_side
def run_training_loop(model_class, train_function, batch_function) -> StudentRun:
    """Step (b): the student's CharLM (16 hidden units) trained by their train_char_model on
    a seeded corpus, with the minibatches their sequential_batches yields for that seed."""
    config = _LOOP

    def train():
        corpus = _loop_corpus()
        torch.manual_seed(config["seed"])
        model = model_class(config["vocab_size"], num_hiddens=config["num_hiddens"],
                            embedding_dim=config["embedding_dim"])
        initial = _layer_weights(model)
        generator = np.random.default_rng(config["seed"])
        batches = [[(np.array(X, dtype=np.int64), np.array(Y, dtype=np.int64))
                    for X, Y in batch_function(corpus, config["batch_size"],
                                               config["num_steps"], rng=generator)]
                   for _ in range(config["num_epochs"])]
        losses = train_function(model, corpus, num_steps=config["num_steps"],
                                batch_size=config["batch_size"],
                                num_epochs=config["num_epochs"], lr=config["lr"],
                                max_norm=config["max_norm"], seed=config["seed"])
        return {"initial": initial, "batches": batches, "losses": _float_losses(losses),
                "final": _layer_weights(model)}

    return call_student(train, forbidden=FORBIDDEN, label="training loop")


def course_text_split() -> tuple[str, str]:
    """(training text, held-out text): the split of the notebook's provided training cell."""
    text = ref_text.preprocess_letters(ref_text.default_corpus())
    return ref_text.train_valid_split(text, 0.1)


class RebuiltCharLM(torch.nn.Module):
    """Embedding -> one-layer GRU -> Linear (float64 by default), with weights from a recorded
    run."""

    def __init__(self, layers: dict, dtype: torch.dtype = torch.float64):
        super().__init__()
        embedding, gru, head = layers["embedding"]["weight"], layers["gru"], layers["head"]
        self.vocab_size, embedding_dim = embedding.shape
        num_hiddens = gru["weight_hh_l0"].shape[1]
        self.embedding = torch.nn.Embedding(self.vocab_size, embedding_dim, dtype=dtype)
        self.rnn = torch.nn.GRU(embedding_dim, num_hiddens, dtype=dtype)
        self.head = torch.nn.Linear(num_hiddens, self.vocab_size, dtype=dtype)
        targets = {"embedding.weight": embedding, "head.weight": head["weight"],
                   "head.bias": head["bias"],
                   **{f"rnn.{name}": gru[name] for name in ("weight_ih_l0", "weight_hh_l0",
                                                             "bias_ih_l0", "bias_hh_l0")}}
        with torch.no_grad():
            for name, parameter in self.named_parameters():
                value = targets[name]  # a missing bias (bias=False) is zero
                parameter.copy_(torch.zeros_like(parameter) if value is None
                                else torch.from_numpy(np.asarray(value)).to(dtype))

    def forward(self, X, state=None):
        """X (T, n) int64, state (1, n, h) or None -> logits (T, n, V) float64, state."""
        outputs, state = self.rnn(self.embedding(X), state)
        return self.head(outputs), state


class _BadWeights(ValueError):
    """A recorded weight that is not a finite float array."""


def _layer_problems(layers, vocab_size: int) -> list[str]:
    """Why the recorded weights cannot be an Embedding -> GRU -> Linear model over the vocabulary."""
    if not isinstance(layers, dict) or set(layers) != {"embedding", "gru", "head"}:
        return ["the recorded model has no Embedding, GRU and Linear weights"]
    gru = layers["gru"]
    if not isinstance(gru, dict) or any(not isinstance(gru.get(k), bool | int) for k in _GRU_CONFIG):
        return ["the recorded GRU has no configuration"]
    if (gru["num_layers"], gru["bidirectional"], gru["batch_first"]) != (1, False, False):
        return ["the GRU must be one layer, one direction, time-major (batch_first=False)"]

    def array(where, value, optional=False):
        if value is None and optional:
            return None
        if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
            raise _BadWeights(f"{where} is not an array of floats")
        if not np.all(np.isfinite(value)):
            raise _BadWeights(f"{where} holds NaN or infinite values")
        return value

    try:
        emb = array("the embedding weight", layers["embedding"].get("weight"))
        w_ih, w_hh = array("weight_ih_l0", gru.get("weight_ih_l0")), array(
            "weight_hh_l0", gru.get("weight_hh_l0"))
        b_ih = array("bias_ih_l0", gru.get("bias_ih_l0"), optional=True)
        b_hh = array("bias_hh_l0", gru.get("bias_hh_l0"), optional=True)
        w_q = array("the output layer's weight", layers["head"].get("weight"))
        b_q = array("the output layer's bias", layers["head"].get("bias"), optional=True)
    except _BadWeights as problem:
        return [f"the trained model: {problem}"]
    if emb.ndim != 2 or emb.shape[0] != vocab_size or w_hh.ndim != 2:
        return [f"the embedding weight should be (vocab_size, embedding_dim) with vocab_size "
                f"{vocab_size}, got {emb.shape}"]
    E, h = emb.shape[1], w_hh.shape[1]
    expected = {"weight_ih_l0": (w_ih, (3 * h, E)), "weight_hh_l0": (w_hh, (3 * h, h)),
                "bias_ih_l0": (b_ih, (3 * h,)), "bias_hh_l0": (b_hh, (3 * h,)),
                "the output layer's weight": (w_q, (vocab_size, h)),
                "the output layer's bias": (b_q, (vocab_size,))}
    return [f"the trained model: {where} has shape {value.shape}, expected {shape}"
            for where, (value, shape) in expected.items()
            if value is not None and value.shape != shape]


def validation_perplexity(model, valid_indices: np.ndarray, num_steps: int = 64,
                          batch_size: int = 8) -> float:
    """Perplexity on held-out indices: rows read left to right, state carried across windows."""
    usable = (len(valid_indices) - 1) // batch_size
    rows = np.stack([valid_indices[j * usable:(j + 1) * usable + 1] for j in range(batch_size)])
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, usable, num_steps):
            window = torch.from_numpy(np.ascontiguousarray(rows[:, start:start + num_steps + 1].T))
            X, Y = window[:-1], window[1:]
            if len(X) == 0:
                break
            logits, state = model(X, state)
            total += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).double(), Y.reshape(-1), reduction="sum"))
            count += Y.numel()
    return math.exp(total / count)


def _trained_model_problems(run: StudentRun, threshold: float, num_steps: int,
                           batch_size: int) -> list[str]:
    """Rebuild the model from its weights; its held-out perplexity must be below threshold.

    Nothing the kernel computed is trusted but the weights themselves: the held-out text
    comes from :func:`course_text_split` and the perplexity from :class:`RebuiltCharLM`. The
    losses the run returned are checked too (one finite loss per minibatch, decreasing), as
    the visible test does; they earn nothing alone.
    """
    if (problem := error_problem("the trained model", run)) is not None:
        return [problem]
    value = run.value
    if not isinstance(value, dict) or not {"rnn_lib_model", "idx_to_token", "layers",
                                           "probe_logits"} <= set(value):
        return ["the trained model was not recorded (its weights are missing)"]
    train_text, valid_text = course_text_split()
    vocab = ref_text.Vocab(list(train_text))
    problems = []
    if value["rnn_lib_model"]:
        problems.append("the model must be your own CharLM, not a model from rnn_lib")
    if value["idx_to_token"] != vocab.idx_to_token:
        problems.append("the vocabulary used for training is not correct, so the model cannot "
                        "be evaluated on held-out text")
    losses = value.get("losses")
    expected = (len(train_text) - num_steps) // (num_steps * batch_size)
    if isinstance(losses, str):
        problems.append(losses)
    elif not isinstance(losses, np.ndarray) or losses.shape != (expected,):
        problems.append(f"train_char_model should return one loss per minibatch ({expected})")
    elif not np.all(np.isfinite(losses)):
        problems.append("train_char_model: a loss is NaN or infinite")
    elif not np.mean(losses[-50:]) < np.mean(losses[:20]):
        problems.append("train_char_model: the loss did not decrease")
    elif not math.exp(np.mean(losses[-50:])) < 6.0:
        problems.append("train_char_model: the training perplexity (last 50 minibatches) did "
                        "not get below 6")
    problems += _layer_problems(value["layers"], len(vocab))
    if problems:
        return problems
    model = RebuiltCharLM(value["layers"])
    with torch.no_grad():
        probe, _ = model(torch.from_numpy(_probe_tokens(len(vocab))))
    problem = array_problem("CharLM.forward on a probe, against Embedding -> GRU -> Linear "
                            "with your trained weights", value["probe_logits"], probe.numpy(),
                            rtol=1e-3, atol=1e-3)
    if problem:
        return [problem]
    ppl = validation_perplexity(model, vocab.to_indices(list(valid_text)))
    if not (math.isfinite(ppl) and ppl < threshold):
        return [f"validation perplexity {ppl:.2f} on held-out text is not below {threshold}"]
    print(f"validation perplexity on held-out text: {ppl:.2f} (below {threshold})")
    return []


class _Adam:
    """torch.optim.Adam's update (defaults: betas 0.9, 0.999, eps 1e-8), written out: the
    first torch optimizer of a process imports torch._dynamo (seconds), which a verdict need
    not pay. Same arithmetic, in the same order, as torch's single-tensor implementation."""

    def __init__(self, parameters, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.parameters, self.lr, self.betas, self.eps = parameters, lr, betas, eps
        self.count = 0
        self.moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in parameters]

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        self.count += 1
        step_size = self.lr / (1 - beta1 ** self.count)
        correction2 = (1 - beta2 ** self.count) ** 0.5
        for parameter, (mean, square) in zip(self.parameters, self.moments, strict=True):
            if parameter.grad is None:
                continue
            grad = parameter.grad
            mean.lerp_(grad, 1 - beta1)
            square.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            parameter.addcdiv_(mean, (square.sqrt() / correction2).add_(self.eps),
                               value=-step_size)


def replay_training(initial: dict, batches, *, clip: bool = True, zero_grad: bool = True,
                    lr: float = _LOOP["lr"], max_norm: float = _LOOP["max_norm"]):
    """Truncated BPTT with Adam and gradient clipping, in float32 on one thread, from the
    recorded initial weights on the recorded minibatches: (losses, final layers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = RebuiltCharLM(initial, dtype=torch.float32)
        parameters = list(model.parameters())
        adam = _Adam(parameters, lr)
        losses = []
        model.train()
        for epoch in batches:
            state = None
            for X, Y in epoch:
                if state is not None:
                    state = state.detach()
                logits, state = model(torch.from_numpy(np.asarray(X, dtype=np.int64)), state)
                loss = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, model.vocab_size),
                    torch.from_numpy(np.asarray(Y, dtype=np.int64)).reshape(-1))
                if zero_grad:
                    for parameter in parameters:
                        parameter.grad = None
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(parameters, max_norm)
                adam.step()
                losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    final = {"embedding": {"weight": _floats(model.embedding.weight)},
             "gru": {name: _floats(getattr(model.rnn, name)) for name in
                     ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")},
             "head": {"weight": _floats(model.head.weight), "bias": _floats(model.head.bias)}}
    return np.array(losses), final


def _flat_weights(layers: dict) -> np.ndarray:
    parts = [layers["embedding"]["weight"], *(layers["gru"][name] for name in (
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")),
        layers["head"]["weight"], layers["head"]["bias"]]
    return np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts])


def _same_training(losses, final, replay) -> bool:
    """Losses within 1e-4 (relative) and final weights within 1e-3 of a replay."""
    want_losses, want_final = replay
    if losses.shape != want_losses.shape:
        return False
    if np.any(np.abs(losses - want_losses) > 1e-4 * np.abs(want_losses) + 1e-6):
        return False
    got, want = _flat_weights(final), _flat_weights(want_final)
    return bool(np.all(np.abs(got - want) <= 1e-3 + 1e-3 * np.abs(want)))


def _training_loop_problems(run: StudentRun) -> list[str]:
    """The student's losses and final weights against a trusted replay of the documented loop
    on the student's own minibatches from the student's initial weights."""
    if (problem := error_problem("train_char_model", run)) is not None:
        return [problem]
    value = run.value
    config = _LOOP
    initial, final, batches, losses = (value["initial"], value["final"], value["batches"],
                                       value["losses"])
    for layers in (initial, final):
        if problems := _layer_problems(layers, config["vocab_size"]):
            return problems
    gru = initial["gru"]
    if any(gru.get(name) is None for name in ("bias_ih_l0", "bias_hh_l0")) or \
            initial["head"].get("bias") is None:
        return ["CharLM: the GRU and the output layer should have biases (PyTorch's default)"]
    if gru["weight_hh_l0"].shape[1] != config["num_hiddens"] or \
            initial["embedding"]["weight"].shape[1] != config["embedding_dim"]:
        return ["CharLM(vocab_size, num_hiddens, embedding_dim) should build layers of those "
                "sizes"]
    steps, n = config["num_steps"], config["batch_size"]
    for epoch in batches:
        for X, Y in epoch:
            if X.shape != (steps, n) or Y.shape != (steps, n) or X.min() < 0 or Y.min() < 0 \
                    or max(X.max(), Y.max()) >= config["vocab_size"]:
                return ["train_char_model could not be replayed: sequential_batches gives "
                        "minibatches of the wrong shape or tokens outside the vocabulary"]
    count = sum(len(epoch) for epoch in batches)
    if losses.shape != (count,):
        return [f"train_char_model should return one loss per minibatch: {count} over "
                f"{config['num_epochs']} epochs, got {losses.size}"]
    if not np.all(np.isfinite(losses)):
        return ["train_char_model: a loss is NaN or infinite"]
    if _same_training(losses, final, replay_training(initial, batches)):
        return []
    if _same_training(losses, final, replay_training(initial, batches, clip=False)):
        return ["train_char_model: the gradient norm is not clipped to max_norm before every "
                "optimizer step (a training run where clipping changes the outcome)"]
    if _same_training(losses, final, replay_training(initial, batches, zero_grad=False)):
        return ["train_char_model: the gradients are not reset before every backward pass, "
                "so they accumulate across minibatches"]
    return ["train_char_model: the losses and trained weights differ from truncated BPTT on "
            "your sequential minibatches (one call per epoch with np.random.default_rng(seed), "
            "the state carried and detached, a zero state at every epoch's start, mean "
            "cross-entropy, Adam with lr, gradients clipped to max_norm)"]


@verdict()
def check_training(runs: dict[str, StudentRun], points: float, threshold: float,
                   num_steps: int = 32, batch_size: int = 32) -> float:
    """Step (c): half for the provided run's trained model (held-out perplexity below
    ``threshold``), half for the training loop replayed step by step."""
    parts = {
        "the trained model": _trained_model_problems(runs["trained model"], threshold,
                                                     num_steps, batch_size),
        "the training loop (replayed)": _training_loop_problems(runs["training loop"]),
    }
    return partial_credit(points, parts)
