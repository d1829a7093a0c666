"""An encoder-decoder (sequence to sequence) model with GRUs, optionally with attention.

Source tokens ``src (T_s, n)`` and target tokens ``y_1 .. y_m`` (the last one
the end token ``<eos>``)::

    Henc_t = GRU(E_src[src_t], Henc_{t-1}),   Henc_0 = 0                 (ch7-encoder)
    S_0    = Henc_{len}                       the encoder's final state   (ch7-bridge)
    S_t    = GRU([E_tgt[y_{t-1}] | c_t], S_{t-1}),   y_0 = <bos>          (ch7-decoder)
    O_t    = S_t W_hq + b_q,    P(y_t | y_<t, src) = softmax(O_t)        (ch7-decoder-output)

Without attention ``c_t`` is absent (the decoder's input is the embedding
alone) and everything the decoder knows about the source has to pass through
the ``h`` numbers of ``S_0``: the bottleneck. With attention (parameters
``att_W_q``, ``att_W_k``, ``att_v``), ``c_t`` is the additive attention
context of :mod:`rnn_lib.attention` with query ``S_{t-1}`` over every
``Henc_t``.

*Teacher forcing*: in training the decoder reads the true previous token,
``dec_in = [<bos>, y_1, .., y_{m-1}]``, and is scored on ``dec_target =
[y_1, .., y_m]``, i.e. the targets shifted by one (:func:`seq2seq_loss`). At
test time it reads its own previous output: :func:`greedy_decode` takes the
most probable token at every step, :func:`beam_search` keeps the ``k`` most
probable prefixes. Both stop at ``<eos>`` or after ``max_len`` tokens.

Parameters are a dict of float arrays (``V_s``, ``V_t`` vocabulary sizes,
``e`` embedding size, ``h`` hidden units, ``a`` attention size)::

    E_src (V_s, e)   enc_W_x (e, 3h)   enc_W_h (h, 3h)   enc_b_x, enc_b_h (3h,)
    E_tgt (V_t, e)   dec_W_x (e [+ h], 3h)   dec_W_h (h, 3h)   dec_b_x, dec_b_h (3h,)
    W_hq (h, V_t)    b_q (V_t,)
    att_W_q (h, a)   att_W_k (h, a)   att_v (a,)       only with attention

and gradients come back as a dict with the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_lib._checks import as_float_array, check_cache, check_positive_int, check_shape
from rnn_lib.attention import attention_backward, attention_forward, length_mask
from rnn_lib.embedding import check_indices, embedding_backward, embedding_forward
from rnn_lib.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from rnn_lib.output import log_softmax, output_backward, output_forward, softmax_cross_entropy

_GRU_KEYS = ("W_x", "W_h", "b_x", "b_h")
_ATTENTION_KEYS = ("att_W_q", "att_W_k", "att_v")


def _gru(params: dict, side: str) -> tuple[np.ndarray, ...]:
    return tuple(params[f"{side}_{k}"] for k in _GRU_KEYS)


def has_attention(params: dict) -> bool:
    """Whether ``params`` holds the attention parameters."""
    return "att_v" in params


def param_shapes(V_s: int, V_t: int, e: int, h: int, a: int | None = None) -> dict[str, tuple]:
    """The shape of every parameter (see the module docstring); ``a=None``: no attention."""
    shapes = {"E_src": (V_s, e), "E_tgt": (V_t, e), "W_hq": (h, V_t), "b_q": (V_t,)}
    if a is not None:
        shapes |= {"att_W_q": (h, a), "att_W_k": (h, a), "att_v": (a,)}
    for side, inputs in (("enc", e), ("dec", e if a is None else e + h)):
        shapes |= {f"{side}_W_x": (inputs, 3 * h), f"{side}_W_h": (h, 3 * h),
                   f"{side}_b_x": (3 * h,), f"{side}_b_h": (3 * h,)}
    return shapes


def check_seq2seq_params(params) -> tuple[int, int, int, int]:
    """Validate the parameter dict (names, shapes, one dtype); return ``(V_s, V_t, e, h)``."""
    if not isinstance(params, dict):
        raise TypeError(f"params: expected a dict of arrays, got {type(params).__name__}")
    for key in ("E_src", "E_tgt", "enc_W_h"):
        if key not in params:
            raise KeyError(f"params: expected the key {key!r}, got keys {sorted(params)}")
    V_s, e = as_float_array("params['E_src']", params["E_src"], ndim=2).shape
    V_t = as_float_array("params['E_tgt']", params["E_tgt"], ndim=2).shape[0]
    h = as_float_array("params['enc_W_h']", params["enc_W_h"], ndim=2).shape[0]
    a = (as_float_array("params['att_v']", params["att_v"], ndim=1).shape[0]
         if has_attention(params) else None)
    expected = param_shapes(V_s, V_t, e, h, a)
    unknown = sorted(set(params) - set(expected))
    if unknown:
        raise KeyError(f"params: unexpected keys {unknown}")
    dtypes = set()
    for key, shape in expected.items():
        if key not in params:
            raise KeyError(f"params: expected the key {key!r}, got keys {sorted(params)}")
        value = as_float_array(f"params[{key!r}]", params[key], ndim=len(shape))
        check_shape(f"params[{key!r}]", value, shape)
        dtypes.add(value.dtype)
    if len(dtypes) > 1:
        raise TypeError(f"params: expected all arrays in one floating dtype, got {sorted(map(str, dtypes))}")
    return V_s, V_t, e, h


def init_seq2seq(src_vocab: int, tgt_vocab: int, embed_size: int, hidden_size: int,
                 rng: np.random.Generator, attention_size: int | None = None) -> dict:
    """Random float64 parameters: embeddings ``N(0, 1)``, the rest uniform in ``+-1/sqrt(h)``."""
    V_s, V_t = check_positive_int("src_vocab", src_vocab), check_positive_int("tgt_vocab", tgt_vocab)
    e, h = check_positive_int("embed_size", embed_size), check_positive_int("hidden_size", hidden_size)
    a = None if attention_size is None else check_positive_int("attention_size", attention_size)
    bound = 1.0 / np.sqrt(h)
    return {key: rng.standard_normal(shape) if key.startswith("E_") else
            rng.uniform(-bound, bound, size=shape)
            for key, shape in param_shapes(V_s, V_t, e, h, a).items()}


def _lengths(src_lengths, T: int, n: int) -> np.ndarray:
    if src_lengths is None:
        return np.full(n, T)
    src_lengths = np.asarray(src_lengths)
    check_shape("src_lengths", src_lengths, (n,))
    length_mask(src_lengths, T)  # validates the values
    return src_lengths


@dataclass(frozen=True)
class EncoderCache:
    embedding: object  # EmbeddingCache
    gru: object  # SequenceCache
    lengths: np.ndarray  # (n,)


def seq2seq_encode(params: dict, src, src_lengths=None):
    """Run the encoder, eqs. (ch7-encoder)-(ch7-bridge).

    Args:
        params: the model (see the module docstring).
        src: source token indices, ``(T_s, n)``, padded after each sequence's end.
        src_lengths: optional ``(n,)`` true lengths in ``[1, T_s]`` (default: all ``T_s``).

    Returns:
        ``H_enc (T_s, n, h)``, the final states ``S_0 (n, h)`` (each example's
        state after its last real token) and an :class:`EncoderCache`.
    """
    V_s, _, _, h = check_seq2seq_params(params)
    src = check_indices("src", src, V_s)
    if src.ndim != 2:
        raise ValueError(f"src: expected a 2-D (T_s, n) array of token indices, got shape {src.shape}")
    T, n = src.shape
    lengths = _lengths(src_lengths, T, n)
    X, emb_cache = embedding_forward(src, params["E_src"])
    H_enc, gru_cache = gru_forward(X, np.zeros((n, h), dtype=X.dtype), *_gru(params, "enc"))
    return H_enc, H_enc[lengths - 1, np.arange(n)], EncoderCache(emb_cache, gru_cache, lengths)


def _encoder_backward(dH_enc, dS0, cache: EncoderCache) -> dict:
    """Gradients of the encoder's parameters given those of ``H_enc`` and of ``S_0``."""
    n = dS0.shape[0]
    dH_enc = dH_enc.copy()
    dH_enc[cache.lengths - 1, np.arange(n)] += dS0
    dX, _, *dgru = gru_backward(dH_enc, cache.gru)
    grads = {f"enc_{k}": g for k, g in zip(_GRU_KEYS, dgru, strict=True)}
    grads["E_src"] = embedding_backward(dX, cache.embedding)
    return grads


def _decoder_step(params: dict, X_t, S_prev, H_enc, mask):
    """One decoder step, eq. (ch7-decoder): ``S_t``, the attention weights (or None), caches."""
    att_cache = alpha = None
    if has_attention(params):
        (context, alpha), att_cache = attention_forward(
            S_prev, H_enc, *(params[k] for k in _ATTENTION_KEYS), mask)
        X_t = np.concatenate([X_t, context], axis=1)
    S, gru_cache = gru_step_forward(X_t, S_prev, *_gru(params, "dec"))
    return S, alpha, (att_cache, gru_cache)


@dataclass(frozen=True)
class Seq2SeqCache:
    """What :func:`seq2seq_backward` needs from :func:`seq2seq_forward`."""

    encoder: EncoderCache
    embedding: object  # EmbeddingCache of the decoder inputs
    steps: tuple  # per decoder step: (attention cache or None, GRU step cache)
    output: object  # OutputCache
    H_enc_shape: tuple  # (T_s, n, h)
    alpha: np.ndarray | None  # (T_t, T_s, n) attention weights, or None


def seq2seq_forward(params: dict, src, dec_in, src_lengths=None):
    """Teacher-forced logits, eqs. (ch7-encoder)-(ch7-decoder-output).

    Args:
        params: the model.
        src: source tokens ``(T_s, n)``; src_lengths: optional ``(n,)``.
        dec_in: decoder inputs ``(T_t, n)``: ``<bos>`` then the targets but the last.

    Returns:
        Logits ``O (T_t, n, V_t)`` and a :class:`Seq2SeqCache` (its ``alpha`` holds
        the attention weights ``(T_t, T_s, n)`` when the model has attention).
    """
    H_enc, S, enc_cache = seq2seq_encode(params, src, src_lengths)
    T_s, n, _ = H_enc.shape
    dec_in = check_indices("dec_in", dec_in, params["E_tgt"].shape[0])
    check_shape("dec_in", dec_in, (None, n))
    if dec_in.shape[0] == 0:
        raise ValueError("dec_in: expected at least one time step, got T_t = 0")
    X, emb_cache = embedding_forward(dec_in, params["E_tgt"])
    mask = length_mask(enc_cache.lengths, T_s)
    states, steps, alphas = [], [], []
    for X_t in X:
        S, alpha, step_cache = _decoder_step(params, X_t, S, H_enc, mask)
        states.append(S)
        steps.append(step_cache)
        alphas.append(alpha)
    O, out_cache = output_forward(np.stack(states), params["W_hq"], params["b_q"])
    alpha = np.stack(alphas) if has_attention(params) else None
    return O, Seq2SeqCache(enc_cache, emb_cache, tuple(steps), out_cache, H_enc.shape, alpha)


def seq2seq_backward(dO, cache: Seq2SeqCache) -> dict:
    """Gradients of every parameter given the gradient of the logits ``dO (T_t, n, V_t)``.

    The decoder is backpropagated step by step (each step's state gradient is
    what the output layer sends plus what the next step sends back); the
    gradient reaching ``S_0`` flows into the encoder's final states, and with
    attention every step also sends gradients to all of ``H_enc``.

    Returns:
        A dict of gradients with the keys of ``params``.
    """
    check_cache("cache", cache, Seq2SeqCache, "seq2seq_forward")
    dS_all, dW_hq, db_q = output_backward(dO, cache.output)
    grads = {"W_hq": dW_hq, "b_q": db_q}
    dH_enc = np.zeros(cache.H_enc_shape, dtype=dS_all.dtype)
    dX = np.empty(cache.embedding.idx.shape + (cache.embedding.vocab_shape[1],), dtype=dS_all.dtype)
    e = dX.shape[2]
    dS = np.zeros_like(dS_all[0])
    dgru = dattention = None
    for t in range(len(cache.steps) - 1, -1, -1):
        att_cache, gru_cache = cache.steps[t]
        dX_t, dS, *dp = gru_step_backward(dS_all[t] + dS, gru_cache)
        dgru = dp if dgru is None else [a + g for a, g in zip(dgru, dp, strict=True)]
        dX[t] = dX_t[:, :e]
        if att_cache is not None:
            dS_att, dH_enc_t, *da = attention_backward(dX_t[:, e:], att_cache)
            dS = dS + dS_att
            dH_enc += dH_enc_t
            dattention = da if dattention is None else [a + g for a, g in zip(dattention, da, strict=True)]
    grads |= {f"dec_{k}": g for k, g in zip(_GRU_KEYS, dgru, strict=True)}
    if dattention is not None:
        grads |= dict(zip(_ATTENTION_KEYS, dattention, strict=True))
    grads["E_tgt"] = embedding_backward(dX, cache.embedding)
    return grads | _encoder_backward(dH_enc, dS, cache.encoder)


def seq2seq_loss(params: dict, src, dec_in, dec_target, src_lengths=None, pad_index: int | None = None):
    """Teacher-forced mean cross-entropy and its gradient.

    ``L = -(1/N) sum log P(dec_target[t, i] | dec_in[:t+1, i], src[:, i])`` over
    the ``N`` target positions that are not ``pad_index`` (eq. (ch3-cross-entropy)
    on the decoder's outputs; :func:`rnn_lib.output.softmax_cross_entropy`).

    Args:
        params: the model; src ``(T_s, n)``; dec_in, dec_target ``(T_t, n)``;
        src_lengths: optional ``(n,)``; pad_index: target token to ignore.

    Returns:
        ``(loss, grads)``: a float and a dict of gradients with the keys of ``params``.
    """
    O, cache = seq2seq_forward(params, src, dec_in, src_lengths)
    dec_target = check_indices("dec_target", dec_target, O.shape[2])
    check_shape("dec_target", dec_target, O.shape[:2])
    keep = np.ones(dec_target.shape, dtype=bool) if pad_index is None else dec_target != pad_index
    if not keep.any():
        raise ValueError(f"dec_target: expected at least one token other than pad_index={pad_index}")
    loss, dO_kept = softmax_cross_entropy(O[keep], dec_target[keep])
    dO = np.zeros_like(O)
    dO[keep] = dO_kept
    return loss, seq2seq_backward(dO, cache)


def _check_decoding(bos: int, eos: int, max_len: int, V_t: int) -> int:
    for name, token in (("bos", bos), ("eos", eos)):
        if isinstance(token, bool) or not isinstance(token, int | np.integer) or not 0 <= token < V_t:
            raise ValueError(f"{name}: expected a token index in [0, {V_t}), got {token!r}")
    return check_positive_int("max_len", max_len)


def _next_log_probs(params: dict, tokens, S_prev, H_enc):
    """``log P(. | prefix)`` for each row ``(k, V_t)`` and the new decoder states ``(k, h)``."""
    X, _ = embedding_forward(np.asarray(tokens), params["E_tgt"])
    S, _, _ = _decoder_step(params, X, S_prev, H_enc, None)
    O, _ = output_forward(S, params["W_hq"], params["b_q"])
    return log_softmax(O), S


def _encoded_examples(params: dict, src, src_lengths):
    """Each example's encoder states (trimmed to its length, ``(len, 1, h)``) and ``S_0 (1, h)``."""
    H_enc, S0, cache = seq2seq_encode(params, src, src_lengths)
    for i, length in enumerate(cache.lengths):
        yield H_enc[:length, i:i + 1], S0[i:i + 1]


def greedy_decode(params: dict, src, bos: int, eos: int, max_len: int, src_lengths=None):
    """The most probable next token at every step, until ``eos`` or ``max_len`` tokens.

    Args:
        params: the model; src: ``(T_s, n)``; src_lengths: optional ``(n,)``.
        bos, eos: the begin and end tokens of the target vocabulary.
        max_len: the most tokens to produce (``eos`` included).

    Returns:
        A list of ``n`` token lists (``bos`` left out; ending with ``eos``
        unless ``max_len`` was reached first) and their model log-probabilities
        ``log P(tokens | src)``, an ``(n,)`` array.
    """
    _, V_t, _, _ = check_seq2seq_params(params)
    max_len = _check_decoding(bos, eos, max_len, V_t)
    outputs, scores = [], []
    for H_enc, S in _encoded_examples(params, src, src_lengths):
        tokens, score, previous = [], 0.0, bos
        for _ in range(max_len):
            logp, S = _next_log_probs(params, [previous], S, H_enc)
            previous = int(np.argmax(logp[0]))
            tokens.append(previous)
            score += float(logp[0, previous])
            if previous == eos:
                break
        outputs.append(tokens)
        scores.append(score)
    return outputs, np.array(scores)


def beam_search(params: dict, src, bos: int, eos: int, max_len: int, beam_width: int,
                src_lengths=None):
    """Keep the ``beam_width`` most probable prefixes at every step.

    Every step extends each live prefix by every token and keeps the
    ``beam_width`` best of all the extensions, scored by their summed log
    probabilities (no length normalisation). An extension that ends in ``eos``,
    or that reaches ``max_len`` tokens, is finished and leaves the beam, which
    then narrows. The search stops when no prefix is live or when the best
    finished score is at least the best live one (extending a prefix can only
    lower its score). Ties go to the earlier prefix and the smaller token, as
    in :func:`greedy_decode`, so ``beam_width=1`` *is* greedy decoding; a beam
    wider than the vocabulary keeps every extension, and one of width
    ``V_t ** (max_len - 1)`` prunes nothing and finds the most probable output.

    A wider beam usually finds a more probable sequence than greedy decoding,
    but not always: the greedy prefix can be pushed out of the beam by ``k``
    prefixes that score higher so far and worse in the end (the package tests
    show such a model). Beam search is a heuristic, not monotone in ``k``.

    Returns:
        Like :func:`greedy_decode`: the best finished sequence of each example
        and its log-probability.
    """
    _, V_t, _, _ = check_seq2seq_params(params)
    max_len = _check_decoding(bos, eos, max_len, V_t)
    k = check_positive_int("beam_width", beam_width)
    outputs, scores = [], []
    for H_enc, S0 in _encoded_examples(params, src, src_lengths):
        prefixes, prefix_scores, states = [[]], np.zeros(1), S0
        finished: list[tuple[float, list[int]]] = []
        for step in range(max_len):
            previous = [p[-1] if p else bos for p in prefixes]
            T_s, _, h = H_enc.shape
            logp, S = _next_log_probs(params, previous, states,
                                      np.broadcast_to(H_enc, (T_s, len(prefixes), h)))
            candidates = (prefix_scores[:, None] + logp).reshape(-1)
            best = np.argsort(-candidates, kind="stable")[:k]
            live = []
            for flat in best:
                row, token = divmod(int(flat), V_t)
                if token == eos or step == max_len - 1:
                    finished.append((float(candidates[flat]), prefixes[row] + [token]))
                else:
                    live.append((row, token, candidates[flat]))
            best_finished = max((score for score, _ in finished), default=-np.inf)
            if not live or best_finished >= live[0][2]:  # live[0] is the best live prefix
                break
            prefixes = [prefixes[row] + [token] for row, token, _ in live]
            prefix_scores = np.array([score for _, _, score in live])
            states = S[[row for row, _, _ in live]]
        score, tokens = max(finished, key=lambda item: item[0])  # the first of equals
        outputs.append(tokens)
        scores.append(score)
    return outputs, np.array(scores)


def sequence_log_prob(params: dict, src, tokens, bos: int) -> float:
    """``log P(tokens | src)`` under teacher forcing, for one source ``src (T_s,)``.

    An independent check on the scores that the decoders report.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or tokens.size == 0:
        raise ValueError(f"tokens: expected a non-empty 1-D sequence, got shape {tokens.shape}")
    dec_in = np.concatenate([[bos], tokens[:-1]]).astype(tokens.dtype)
    O, _ = seq2seq_forward(params, np.asarray(src)[:, None], dec_in[:, None])
    return float(log_softmax(O[:, 0])[np.arange(tokens.size), tokens].sum())
