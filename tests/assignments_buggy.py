"""Realistic buggy submissions, kept as small patches to the reference solutions.

Each :class:`Patch` changes one solution cell of the reference answer the way
students really get it wrong (a forgotten bias, a wrong transpose, a gradient
not accumulated over time, an off-by-one in the time loop, a wrong gate order,
a loss summed instead of averaged, ...). The pipeline tests require every one
of them to score strictly between 0 and full autograded marks.
"""

from __future__ import annotations

from assignments_pipeline import Patch

BUGGY_SUBMISSIONS: dict[str, list[Patch]] = {
    "ps1_state_machines": [
        Patch("output_before_transition",
              "transduce reads the output from the state before the input",
              "transduce",
              "            state = self.transition(state, x)\n"
              "            outputs.append(self.output(state))",
              "            outputs.append(self.output(state))\n"
              "            state = self.transition(state, x)"),
        Patch("parity_counts_ones",
              "the parity machine flips on ones instead of zeros",
              "parity_machine", "if x == 0:", "if x == 1:"),
        Patch("lti_wrong_transpose",
              "the LTI transition uses A transposed (row/column convention mixed up)",
              "lti_system", "return self.A @ s", "return self.A.T @ s"),
    ],
    "ps2_rnn_forward": [
        Patch("forgotten_bias", "rnn_step_forward forgets the bias b_h",
              "rnn_step_forward", "H_prev @ W_hh + b_h)", "H_prev @ W_hh)"),
        Patch("time_loop_off_by_one", "rnn_forward stops one step early",
              "rnn_forward", "for t in range(T):", "for t in range(T - 1):"),
        Patch("loss_summed", "the cross-entropy is summed instead of averaged",
              "softmax_cross_entropy", ".mean()", ".sum()"),
    ],
    "ps3_bptt": [
        Patch("gradient_not_accumulated",
              "rnn_backward keeps only the last step's weight gradients",
              "rnn_backward",
              "        dW_xh += dW_xh_t\n        dW_hh += dW_hh_t\n        db_h += db_h_t",
              "        dW_xh = dW_xh_t\n        dW_hh = dW_hh_t\n        db_h = db_h_t"),
        Patch("wrong_transpose", "rnn_step_backward uses W_hh instead of its transpose",
              "rnn_step_backward", "dH_prev = dA @ W_hh.T", "dH_prev = dA @ W_hh"),
        Patch("loss_gradient_not_averaged",
              "the gradient of the mean loss is not divided by the number of tokens",
              "softmax_cross_entropy", "    dlogits /= targets.size\n", ""),
    ],
    "ps4_gating": [
        Patch("lstm_gate_order", "the LSTM reads the forget gate where the input gate is",
              "lstm_step_forward",
              "    I = sigmoid(A[:, :h])\n    F = sigmoid(A[:, h:2 * h])",
              "    F = sigmoid(A[:, :h])\n    I = sigmoid(A[:, h:2 * h])"),
        Patch("gru_forgotten_bias", "the GRU forgets the hidden bias b_h",
              "gru_step_forward", "A_h = H_prev @ W_h + b_h", "A_h = H_prev @ W_h"),
        Patch("gated_missing_direct_path",
              "gated_step_backward drops the direct path (1 - G) from H_prev to H",
              "gated_step_backward", "dH_prev = dH * (1 - G) + dA @ W_h.T",
              "dH_prev = dA @ W_h.T"),
    ],
    "ps5_language_model": [
        Patch("targets_not_shifted", "random_batches returns the inputs as targets",
              "random_batches", "yield corpus[positions], corpus[positions + 1]",
              "yield corpus[positions], corpus[positions]"),
        Patch("temperature_multiplied", "sampling multiplies the logits by the temperature",
              "sampling", "dtype=np.float64) / temperature", "dtype=np.float64) * temperature"),
        Patch("state_not_detached",
              "the training loop carries the state without detaching it from the graph",
              "char_model", "            if state is not None:\n"
              "                state = state.detach()\n", ""),
    ],
    "ps6_seq2seq": [
        Patch("embedding_gradient_overwritten",
              "embedding_backward uses fancy assignment, so repeated tokens count once",
              "embedding_backward", "np.add.at(dW_e, idx.reshape(-1), dX.reshape(-1, shape[1]))",
              "dW_e[idx.reshape(-1)] += dX.reshape(-1, shape[1])"),
        Patch("directions_swapped", "the bidirectional layer concatenates [backward | forward]",
              "bidirectional_rnn_forward", "np.concatenate([H_f, H_b], axis=2)",
              "np.concatenate([H_b, H_f], axis=2)"),
        Patch("beam_scores_not_summed",
              "beam search scores an extension by its last token's log-probability alone",
              "beam_search", "candidates.append((scores[row] + float(log_prob), row, token))",
              "candidates.append((float(log_prob), row, token))"),
        Patch("greedy_ignores_eos", "greedy decoding does not stop at the end token",
              "greedy_decode", "        if previous == eos:\n            break\n", ""),
        Patch("decoder_scored_on_input",
              "the decoder step scores O_t against the token it has just read (off by one)",
              "decoder_step_forward", "log_probs[rows[keep], y_target[keep]]",
              "log_probs[rows[keep], y_in[keep]]"),
        Patch("padding_not_masked",
              "decoder_step_backward sends gradient from the padding rows too",
              "decoder_step_backward", "    dO *= dloss * keep[:, None]\n", "    dO *= dloss\n"),
    ],
}

# Submissions that call rnn_lib's reference for one graded function: the hidden
# test of that function must give 0 while everything else keeps its points.
REFERENCE_CALLERS: dict[str, tuple[Patch, str]] = {
    "ps2_rnn_forward": (
        Patch("calls_rnn_lib_forward", "rnn_forward returns rnn_lib.rnn_forward's result",
              "rnn_forward", "    T, n, _ = X.shape\n",
              "    from rnn_lib import rnn_forward as reference\n"
              "    return reference(X, H0, W_xh, W_hh, b_h)\n"),
        "test_rnn_forward_hidden",
    ),
    "ps4_gating": (
        Patch("calls_rnn_lib_gru", "gru_step_forward wraps rnn_lib.gru_step_forward",
              "gru_step_forward", "    h = H_prev.shape[1]\n",
              "    import rnn_lib\n"
              "    return rnn_lib.gru_step_forward(X, H_prev, W_x, W_h, b_x, b_h)\n"),
        "test_gru_forward_hidden",
    ),
}

# A correct submission that emits warnings (a naive sigmoid overflowing on a
# saturated gate, and a FutureWarning, which no filter in the notebook hides, so
# it reaches stderr in a test cell): it must keep full marks.
NOISY_CORRECT: dict[str, Patch] = {
    "ps4_gating": Patch(
        "noisy_sigmoid", "gated_step_forward with an overflowing sigmoid and a warning",
        "gated_step_forward", "    G = sigmoid(A[:, :h])\n",
        "    import warnings\n"
        "    warnings.warn('computing the gate', FutureWarning)\n"
        "    G = 1.0 / (1.0 + np.exp(-A[:, :h]))\n"),
}

# Forwards whose outputs are right but whose cache is corrupt (issue 15): each must lose
# part of the hidden tests named here (the forward's, and a forward built on it), with
# feedback saying the cache is wrong, and nothing anywhere else (a backward fed that cache
# is not charged for it).
CACHE_MUTANTS: dict[str, list[tuple[Patch, tuple[str, ...]]]] = {
    "ps2_rnn_forward": [
        (Patch("step_cache_swaps_X_and_H", "rnn_step_forward's cache swaps X and H",
               "rnn_step_forward", "cache = (X, H_prev, W_xh, W_hh, H)",
               "cache = (H, H_prev, W_xh, W_hh, X)"),
         ("test_rnn_step_forward_hidden", "test_rnn_forward_hidden")),
        (Patch("step_cache_W_xh_twice", "rnn_step_forward's cache holds W_xh in place of W_hh",
               "rnn_step_forward", "cache = (X, H_prev, W_xh, W_hh, H)",
               "cache = (X, H_prev, W_xh, W_xh, H)"),
         ("test_rnn_step_forward_hidden", "test_rnn_forward_hidden")),
        (Patch("step_caches_not_appended", "rnn_forward never appends its step caches",
               "rnn_forward", "        caches.append(step_cache)\n", ""),
         ("test_rnn_forward_hidden",)),
    ],
    "ps4_gating": [
        (Patch("gru_cache_gates_swapped", "gru_step_forward's cache swaps the gates R and Z",
               "gru_step_forward", "return H, (X, H_prev, W_x, W_h, R, Z, N, A_h)",
               "return H, (X, H_prev, W_x, W_h, Z, R, N, A_h)"), ("test_gru_forward_hidden",)),
        (Patch("gated_cache_swapped", "gated_step_forward's cache swaps G and Htilde",
               "gated_step_forward", "return H, (X, H_prev, W_x, W_h, G, Htilde)",
               "return H, (X, H_prev, W_x, W_h, Htilde, G)"), ("test_gated_forward_hidden",)),
    ],
    "ps6_seq2seq": [
        (Patch("bidirectional_cache_steps_mixed",
               "bidirectional_rnn_forward caches the forward order for the backward direction",
               "bidirectional_rnn_forward", "(H_b, W_xh_b, W_hh_b, steps_b))\n",
               "(H_b, W_xh_b, W_hh_b, steps_f))\n"), ("test_bidirectional_forward_hidden",)),
    ],
}
