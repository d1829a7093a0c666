"""The GRU encoder-decoder: teacher-forced loss and gradient against torch autograd (nn.GRU and
nn.GRUCell with copied weights, float64) and numeric gradients; greedy decoding and beam search."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _oracles import assert_close, assert_numeric, copy_into

from rnn_lib import (
    beam_search,
    greedy_decode,
    init_seq2seq,
    numerical_gradient,
    seq2seq_encode,
    seq2seq_forward,
    seq2seq_loss,
    sequence_log_prob,
)

PAD, BOS, EOS = 0, 1, 2


def make_batch(seed, V_s, V_t, T_s, T_t, n):
    """Random sources with random lengths; targets padded after a random length."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T_s + 1, size=n)
    lengths[0] = T_s
    src = rng.integers(3, V_s, size=(T_s, n))
    src[np.arange(T_s)[:, None] >= lengths] = PAD
    target = rng.integers(3, V_t, size=(T_t, n))
    target_lengths = rng.integers(1, T_t + 1, size=n)
    target[target_lengths - 1, np.arange(n)] = EOS
    target[np.arange(T_t)[:, None] >= target_lengths] = PAD
    dec_in = np.concatenate([np.full((1, n), BOS), target[:-1]])
    return src, lengths, dec_in, target


def torch_loss(params, src, lengths, dec_in, target):
    """The same model built from torch modules; returns the loss and the gradient dict."""
    V_s, e = params["E_src"].shape
    h = params["enc_W_h"].shape[0]
    encoder = torch.nn.GRU(e, h).double()
    decoder = torch.nn.GRUCell(params["dec_W_x"].shape[0], h).double()
    copy_into(encoder, weight_ih_l0=params["enc_W_x"].T, weight_hh_l0=params["enc_W_h"].T,
              bias_ih_l0=params["enc_b_x"], bias_hh_l0=params["enc_b_h"])
    copy_into(decoder, weight_ih=params["dec_W_x"].T, weight_hh=params["dec_W_h"].T,
              bias_ih=params["dec_b_x"], bias_hh=params["dec_b_h"])
    leaves = {k: torch.tensor(v, requires_grad=True)
              for k, v in params.items() if not k.startswith(("enc_", "dec_"))}
    H_enc, _ = encoder(F.embedding(torch.tensor(src), leaves["E_src"]))
    n = src.shape[1]
    S = H_enc[torch.tensor(lengths - 1), torch.arange(n)]
    pad = torch.arange(src.shape[0])[:, None] >= torch.tensor(lengths)[None, :]
    logits = []
    for X_t in F.embedding(torch.tensor(dec_in), leaves["E_tgt"]):
        if "att_v" in leaves:
            E = torch.tanh((S @ leaves["att_W_q"])[None] + H_enc @ leaves["att_W_k"])
            alpha = torch.softmax((E @ leaves["att_v"]).masked_fill(pad, float("-inf")), dim=0)
            X_t = torch.cat([X_t, (alpha[..., None] * H_enc).sum(dim=0)], dim=1)
        S = decoder(X_t, S)
        logits.append(S @ leaves["W_hq"] + leaves["b_q"])
    O = torch.stack(logits)
    loss = F.cross_entropy(O.reshape(-1, O.shape[2]), torch.tensor(target).reshape(-1),
                           ignore_index=PAD)
    loss.backward()
    grads = {k: v.grad.numpy() for k, v in leaves.items()}
    for side, module, suffix in (("enc", encoder, "_l0"), ("dec", decoder, "")):
        grads |= {f"{side}_W_x": getattr(module, "weight_ih" + suffix).grad.numpy().T,
                  f"{side}_W_h": getattr(module, "weight_hh" + suffix).grad.numpy().T,
                  f"{side}_b_x": getattr(module, "bias_ih" + suffix).grad.numpy(),
                  f"{side}_b_h": getattr(module, "bias_hh" + suffix).grad.numpy()}
    return loss.item(), grads


# (T_s, T_t, n): one source token, one target token, one example, and a batch.
S2S_SHAPES = [(1, 1, 1), (1, 3, 2), (4, 1, 1), (5, 4, 3)]


@pytest.mark.parametrize("attention", [None, 3])
@pytest.mark.parametrize("T_s,T_t,n", S2S_SHAPES)
def test_loss_and_gradient_match_torch(attention, T_s, T_t, n):
    rng = np.random.default_rng(0)
    params = init_seq2seq(7, 6, 3, 4, rng, attention_size=attention)
    params["b_q"] = rng.standard_normal(6)
    batch = make_batch(1, 7, 6, T_s, T_t, n)
    src, lengths, dec_in, target = batch
    loss, grads = seq2seq_loss(params, src, dec_in, target, src_lengths=lengths, pad_index=PAD)
    expected_loss, expected = torch_loss(params, *batch)
    assert loss == pytest.approx(expected_loss, abs=1e-12)
    assert sorted(grads) == sorted(params)
    for key in params:
        assert_close(grads[key], expected[key], key)


@pytest.mark.parametrize("attention", [None, 2])
def test_loss_gradient_matches_numeric(attention):
    rng = np.random.default_rng(2)
    params = init_seq2seq(5, 6, 2, 3, rng, attention_size=attention)
    src, lengths, dec_in, target = make_batch(3, 5, 6, 3, 3, 2)
    _, grads = seq2seq_loss(params, src, dec_in, target, src_lengths=lengths, pad_index=PAD)
    loss = lambda _: seq2seq_loss(params, src, dec_in, target, src_lengths=lengths, pad_index=PAD)[0]
    for key, value in params.items():
        assert_numeric(grads[key], numerical_gradient(loss, value), key)


def test_padding_and_lengths_change_nothing_real():
    """A padded batch gives each example the loss it has alone; padding gets no gradient."""
    rng = np.random.default_rng(4)
    params = init_seq2seq(6, 6, 3, 4, rng, attention_size=3)
    src, lengths, dec_in, target = make_batch(5, 6, 6, 4, 3, 3)
    O, cache = seq2seq_forward(params, src, dec_in, src_lengths=lengths)
    for i in range(3):
        O_i, _ = seq2seq_forward(params, src[:lengths[i], i:i + 1], dec_in[:, i:i + 1])
        assert_close(O[:, i], O_i[:, 0], f"logits of example {i}")
        assert_close(cache.alpha[:, lengths[i]:, i], 0.0, "attention on padding")
    _, grads = seq2seq_loss(params, src, dec_in, target, src_lengths=lengths, pad_index=PAD)
    assert_close(grads["E_src"][PAD], 0.0, "the padding token's embedding")
    H_enc, S0, _ = seq2seq_encode(params, src, lengths)
    assert_close(S0, H_enc[lengths - 1, np.arange(3)], "final states")


def random_model(seed, attention):
    """A random model with peaked next-token distributions (a flat one makes every search agree)."""
    rng = np.random.default_rng(seed)
    V = int(rng.integers(3, 9))
    params = init_seq2seq(5, V, 3, 4, rng, attention_size=3 if attention else None)
    params["W_hq"] *= rng.uniform(1.0, 6.0)
    params["b_q"] = rng.standard_normal(V)
    src = rng.integers(0, 5, size=(int(rng.integers(1, 6)), 2))
    return params, src


@pytest.mark.parametrize("attention", [False, True])
def test_beam_of_width_one_is_greedy(attention):
    for seed in range(40):
        params, src = random_model(seed, attention)
        greedy, greedy_scores = greedy_decode(params, src, BOS, EOS, max_len=6)
        beam, beam_scores = beam_search(params, src, BOS, EOS, max_len=6, beam_width=1)
        assert beam == greedy, seed
        assert_close(beam_scores, greedy_scores, f"seed {seed}")


def test_reported_scores_are_the_model_log_probabilities():
    for seed in range(10):
        params, src = random_model(seed, seed % 2)
        for tokens, scores in (greedy_decode(params, src, BOS, EOS, 5),
                               beam_search(params, src, BOS, EOS, 5, beam_width=3)):
            for i in range(2):
                assert sequence_log_prob(params, src[:, i], tokens[i], BOS) == pytest.approx(
                    scores[i], abs=1e-10)
                assert len(tokens[i]) <= 5 and (tokens[i][-1] == EOS or len(tokens[i]) == 5)
                assert EOS not in tokens[i][:-1]


def all_outputs(V, max_len):
    """Every sequence a decoder can produce: ends with EOS (and has no other), or is max_len long."""
    for length in range(1, max_len + 1):
        for tokens in itertools.product(range(V), repeat=length):
            if EOS not in tokens[:-1] and (tokens[-1] == EOS or length == max_len):
                yield list(tokens)


@pytest.mark.parametrize("seed", range(4))
def test_an_unpruned_beam_finds_the_most_probable_sequence(seed):
    params, src = random_model(seed, seed % 2)
    V = params["b_q"].shape[0]
    params = {**params, "W_hq": params["W_hq"][:, :4], "b_q": params["b_q"][:4],
              "E_tgt": params["E_tgt"][:4]}
    exact = max((sequence_log_prob(params, src[:, 0], t, BOS), t) for t in all_outputs(4, 3))
    beam, scores = beam_search(params, src[:, :1], BOS, EOS, max_len=3, beam_width=4 ** 3)
    _, greedy_scores = greedy_decode(params, src[:, :1], BOS, EOS, max_len=3)
    assert beam[0] == exact[1] and scores[0] == pytest.approx(exact[0], abs=1e-10), V
    assert scores[0] >= greedy_scores[0] - 1e-12


def test_beam_against_greedy_over_many_random_models():
    """Wider beams find more probable sequences, but plain beam search is not monotone:
    the greedy prefix can be pushed out of the beam by prefixes whose continuations are
    worse. Over 150 models x 2 sources, count both outcomes."""
    outcomes = {k: {"better": 0, "worse": 0} for k in (2, 3, 5)}
    for seed in range(150):
        params, src = random_model(seed, seed % 2)
        _, greedy_scores = greedy_decode(params, src, BOS, EOS, max_len=6)
        for k, counts in outcomes.items():
            _, scores = beam_search(params, src, BOS, EOS, max_len=6, beam_width=k)
            counts["better"] += int((scores > greedy_scores + 1e-12).sum())
            counts["worse"] += int((scores < greedy_scores - 1e-12).sum())
    for k, counts in outcomes.items():
        assert counts["better"] >= 100, (k, counts)
        assert counts["worse"] <= 3, (k, counts)
    assert outcomes[5]["better"] > outcomes[2]["better"]


def test_a_beam_can_lose_to_greedy():
    """Seed 24: greedy finds [3, 3, <eos>] (log P = -4.05); in a width-2 beam the prefix
    [3, 3] (-2.73) is outscored by [1, 1] and [1, 3] at step 2 and dropped; the beam ends
    with log P = -6.73."""
    params, src = random_model(24, attention=False)
    greedy, greedy_scores = greedy_decode(params, src, BOS, EOS, max_len=6)
    beam, scores = beam_search(params, src, BOS, EOS, max_len=6, beam_width=2)
    assert greedy[0] == [3, 3, EOS] and greedy_scores[0] == pytest.approx(-4.0547, abs=1e-4)
    assert scores[0] == pytest.approx(-6.7291, abs=1e-4)


def test_end_token_first_and_beam_wider_than_vocabulary():
    params, src = random_model(7, attention=False)
    params["b_q"][EOS] = 50.0  # the model always ends at once
    for tokens, scores in (greedy_decode(params, src, BOS, EOS, 4),
                           beam_search(params, src, BOS, EOS, 4, beam_width=100)):
        assert tokens == [[EOS], [EOS]]
        assert_close(scores, np.zeros(2), "log P", atol=1e-15)
    params["b_q"][EOS] = -50.0  # never ends: stops at max_len
    tokens, _ = beam_search(params, src, BOS, EOS, max_len=1, beam_width=3)
    assert all(len(t) == 1 and t[0] != EOS for t in tokens)


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda p, s: greedy_decode(p, s, BOS, 9, 3), ValueError, r"eos: expected a token index in \[0, 6\)"),
        (lambda p, s: beam_search(p, s, BOS, EOS, 3, 0), ValueError, "beam_width: expected a positive int"),
        (lambda p, s: greedy_decode(p, s, BOS, EOS, 0), ValueError, "max_len: expected a positive int"),
        (lambda p, s: seq2seq_encode(p, s, np.array([4, 1])), ValueError,
         r"lengths: expected values in \[1, 3\]"),
        (lambda p, s: seq2seq_encode(p, s.astype(float), None), TypeError,
         "src: expected integer token indices"),
        (lambda p, s: seq2seq_encode({**p, "enc_b_h": np.zeros(3)}, s), ValueError,
         r"params\['enc_b_h'\]: expected shape \(12,\), got \(3,\)"),
        (lambda p, s: seq2seq_encode({k: v for k, v in p.items() if k != "W_hq"}, s), KeyError,
         "expected the key 'W_hq'"),
        (lambda p, s: seq2seq_loss(p, s, s[:1], s[:1] * 0, pad_index=0), ValueError,
         "at least one token other than pad_index=0"),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    params = init_seq2seq(5, 6, 2, 4, np.random.default_rng(8))
    with pytest.raises(error, match=message):
        call(params, np.array([[3, 4], [1, 2], [0, 0]]))
