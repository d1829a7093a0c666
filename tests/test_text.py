"""Tests for rnn_lib.text: tokenization, vocabularies, corpora, verified downloads."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from rnn_lib.text import (
    UNK,
    ChecksumError,
    Vocab,
    default_cache_dir,
    default_corpus,
    fetch_url,
    load_corpus,
    preprocess_letters,
    sha256_of_file,
    tokenize,
    train_valid_split,
)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- tokenize


def test_char_tokens_reassemble_the_text():
    text = "Ab c\n!"
    assert tokenize(text) == ["A", "b", " ", "c", "\n", "!"]
    assert "".join(tokenize(text, "char")) == text


def test_word_tokens_split_on_whitespace_runs():
    assert tokenize("  the time\tmachine\n\nby  wells ", mode="word") == [
        "the",
        "time",
        "machine",
        "by",
        "wells",
    ]
    assert tokenize("", mode="word") == []


def test_tokenize_rejects_unknown_mode_and_non_text():
    with pytest.raises(ValueError, match=r"mode: expected one of \('char', 'word'\), got 'bpe'"):
        tokenize("abc", mode="bpe")
    with pytest.raises(TypeError, match="text: expected a str, got list"):
        tokenize(["a", "b"])


def test_preprocess_letters_fixed_example():
    text = "It's 1895!\n\nThe Time-Traveller  (for so it will be convenient) Ünter"
    assert preprocess_letters(text) == "it s the time traveller for so it will be convenient nter"
    assert preprocess_letters("...!!!") == ""


def test_preprocess_letters_output_alphabet():
    cleaned = preprocess_letters(default_corpus()[:20000])
    assert set(cleaned) <= set("abcdefghijklmnopqrstuvwxyz ")
    assert "  " not in cleaned
    assert cleaned == cleaned.strip()


# --------------------------------------------------------------------------- Vocab


def test_vocab_order_unk_reserved_then_frequency_then_alphabet():
    tokens = list("dbacabaee")  # a:3, b:2, e:2, c:1, d:1
    vocab = Vocab(tokens, reserved=["<pad>", "<bos>"])
    assert vocab.idx_to_token == [UNK, "<pad>", "<bos>", "a", "b", "e", "c", "d"]
    assert len(vocab) == 8
    assert vocab.unk == 0
    assert vocab.token_freqs == [("a", 3), ("b", 2), ("e", 2), ("c", 1), ("d", 1)]


def test_vocab_is_independent_of_token_order():
    tokens = list("the quick brown fox jumps over the lazy dog")
    shuffled = list(np.random.default_rng(3).permutation(tokens))
    assert Vocab(tokens).idx_to_token == Vocab(shuffled).idx_to_token


def test_vocab_round_trip_and_lookup():
    tokens = tokenize("to be or not to be", mode="word")
    vocab = Vocab(tokens)
    indices = vocab.to_indices(tokens)
    assert indices.dtype == np.int64
    assert indices.shape == (6,)
    assert vocab.to_tokens(indices) == tokens
    assert vocab.to_tokens(list(indices)) == tokens
    assert vocab["to"] == indices[0]
    assert vocab[["be", "or"]] == [vocab["be"], vocab["or"]]
    assert vocab.to_tokens(int(vocab["not"])) == "not"
    assert vocab.to_tokens(np.int64(0)) == UNK
    assert "be" in vocab and "question" not in vocab


def test_unknown_and_rare_tokens_map_to_unk():
    vocab = Vocab(list("aaabbc"), min_freq=2)
    assert vocab.idx_to_token == [UNK, "a", "b"]
    assert vocab["c"] == 0
    assert vocab["z"] == 0
    assert list(vocab.to_indices(list("abcz"))) == [1, 2, 0, 0]
    # Rare tokens are still reported in the frequency table.
    assert ("c", 1) in vocab.token_freqs


def test_vocab_accepts_token_lines_and_does_not_duplicate_reserved_or_unk():
    lines = [["a", "<eos>"], ["b", "a", "<eos>"], ["<unk>"]]
    vocab = Vocab(lines, reserved=("<eos>",))
    assert vocab.idx_to_token == [UNK, "<eos>", "a", "b"]
    assert vocab["<unk>"] == 0


def test_vocab_of_default_corpus_characters():
    text = default_corpus()
    vocab = Vocab(tokenize(text))
    assert vocab.idx_to_token[:3] == [UNK, " ", "e"]  # space then 'e' are most frequent
    assert 60 < len(vocab) < 200
    letters_vocab = Vocab(tokenize(preprocess_letters(text)))
    assert len(letters_vocab) == 28
    assert set(letters_vocab.idx_to_token) == set("abcdefghijklmnopqrstuvwxyz ") | {UNK}


def test_vocab_rejects_bad_input():
    with pytest.raises(TypeError, match="tokens: expected a list of tokens, got a str"):
        Vocab("abc")
    with pytest.raises(TypeError, match="got int at position 1"):
        Vocab(["a", 3])
    with pytest.raises(ValueError, match="min_freq: expected an int >= 0, got -1"):
        Vocab(["a"], min_freq=-1)
    with pytest.raises(TypeError, match="min_freq: expected an int, got float"):
        Vocab(["a"], min_freq=1.5)
    with pytest.raises(ValueError, match=r"reserved: expected distinct .* duplicates \['<pad>'\]"):
        Vocab(["a"], reserved=["<pad>", "<pad>"])
    with pytest.raises(ValueError, match="cannot be reserved"):
        Vocab(["a"], reserved=[UNK])
    vocab = Vocab(["a", "b"])
    with pytest.raises(IndexError, match=r"indices: expected values in \[0, 2\], got 3"):
        vocab.to_tokens([0, 3])
    with pytest.raises(IndexError, match="got -1"):
        vocab.to_tokens(-1)
    with pytest.raises(TypeError, match="dtype float64"):
        vocab.to_tokens(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="call tokenize"):
        vocab.to_indices("ab")
    with pytest.raises(TypeError, match="tokens: expected a str or a list of str, got int"):
        vocab[3]


# --------------------------------------------------------------------------- default corpus


def test_default_corpus_is_substantial_english_prose():
    text = default_corpus()
    assert 150_000 < len(text) < 1_500_000
    words = tokenize(preprocess_letters(text), mode="word")
    assert len(words) > 30_000
    common = {w for w, _ in Vocab(words).token_freqs[:10]}
    assert {"the", "of", "is", "a", "to"} <= common
    paragraphs = text.rstrip("\n").split("\n")
    assert len(paragraphs) == len(set(paragraphs)), "paragraphs are deduplicated"
    assert all(">>>" not in p and "::=" not in p for p in paragraphs)


def test_default_corpus_is_deterministic_and_offline(monkeypatch):
    first = default_corpus()

    def no_network(*args, **kwargs):
        raise AssertionError("the default corpus must not touch the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    default_corpus.cache_clear()
    try:
        rebuilt = default_corpus()
    finally:
        default_corpus.cache_clear()
    assert rebuilt == first
    assert load_corpus() == first
    digest = sha256_hex(first.encode())
    assert load_corpus(sha256=digest.upper()) == first
    with pytest.raises(ChecksumError, match="default corpus has SHA-256"):
        load_corpus(sha256="0" * 64)


# --------------------------------------------------------------------------- local files


def test_load_corpus_from_file(tmp_path):
    path = tmp_path / "story.txt"
    data = "\ufeffOnce upon a time.\nThe end.\n".encode()
    path.write_bytes(data)
    assert load_corpus(path) == "Once upon a time.\nThe end.\n"  # byte-order mark dropped
    assert load_corpus(str(path), sha256=sha256_hex(data)) == "Once upon a time.\nThe end.\n"
    assert sha256_of_file(path) == sha256_hex(data)
    with pytest.raises(ChecksumError) as caught:
        load_corpus(path, sha256="a" * 64)
    assert caught.value.expected == "a" * 64
    assert caught.value.received == sha256_hex(data)
    assert path.read_bytes() == data  # the user's file is left alone


def test_load_corpus_rejects_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(TypeError, match="source: expected None, a path or a URL string, got int"):
        load_corpus(42)
    with pytest.raises(ValueError, match="sha256: expected 64 hexadecimal characters"):
        load_corpus(sha256="abc")
    with pytest.raises(
        ValueError, match="url: expected an http:// or https:// URL, got 'ftp://x/y'"
    ):
        load_corpus("ftp://x/y")


def test_train_valid_split_is_contiguous_and_deterministic():
    train, valid = train_valid_split("abcdefghij", valid_fraction=0.2)
    assert (train, valid) == ("abcdefgh", "ij")
    array = np.arange(103)
    train, valid = train_valid_split(array, 0.1)
    assert len(valid) == 10
    np.testing.assert_array_equal(np.concatenate([train, valid]), array)
    with pytest.raises(ValueError, match=r"valid_fraction: expected a value in \(0, 1\), got 1.5"):
        train_valid_split(array, 1.5)
    with pytest.raises(ValueError, match="too short"):
        train_valid_split("abc", 0.1)
    with pytest.raises(ValueError, match=r"expected a 1-D array, got shape \(2, 2\)"):
        train_valid_split(np.zeros((2, 2)), 0.5)


# --------------------------------------------------------------------------- URLs


class FileServer:
    """A tiny HTTP server on 127.0.0.1 serving fixed bytes, counting requests per path."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.hits: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"


@pytest.fixture
def server():
    files = {
        "/corpus.txt": b"It was the best of times.\nIt was the worst of times.\n",
        "/other.txt": b"another text\n",
    }
    running = FileServer(files)
    running.thread.start()
    try:
        yield running
    finally:
        running.httpd.shutdown()
        running.httpd.server_close()
        running.thread.join(timeout=5)


def cache_entries(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_url_with_good_checksum_is_cached_and_not_fetched_again(server, tmp_path):
    body = server.files["/corpus.txt"]
    url = server.url("/corpus.txt")
    cache = tmp_path / "cache"
    text = load_corpus(url, sha256=sha256_hex(body), cache_dir=cache)
    assert text == body.decode()
    assert server.hits == {"/corpus.txt": 1}
    entries = cache_entries(cache)
    assert len(entries) == 2 and entries[0].endswith("-corpus.txt")
    assert entries[1] == entries[0] + ".sha256"
    assert (cache / entries[0]).read_bytes() == body
    assert (cache / entries[1]).read_text().strip() == sha256_hex(body)

    again = load_corpus(url, sha256=sha256_hex(body), cache_dir=cache)
    assert again == text
    path = fetch_url(url, cache_dir=cache, progress=False)  # no digest: the recorded one is used
    assert path == cache / entries[0]
    assert server.hits == {"/corpus.txt": 1}, "cached file must be reused without a request"


def test_url_with_bad_checksum_raises_and_leaves_no_file(server, tmp_path):
    body = server.files["/corpus.txt"]
    cache = tmp_path / "cache"
    wrong = "f" * 64
    with pytest.raises(ChecksumError) as caught:
        load_corpus(server.url("/corpus.txt"), sha256=wrong, cache_dir=cache)
    message = str(caught.value)
    assert wrong in message and sha256_hex(body) in message
    assert caught.value.expected == wrong
    assert caught.value.received == sha256_hex(body)
    assert cache_entries(cache) == []
    # Nothing was cached, so the next call downloads again (and succeeds).
    assert load_corpus(server.url("/corpus.txt"), cache_dir=cache) == body.decode()
    assert server.hits == {"/corpus.txt": 2}


def test_corrupted_cache_file_is_reported_not_used_or_overwritten(server, tmp_path):
    body = server.files["/other.txt"]
    url = server.url("/other.txt")
    cache = tmp_path / "cache"
    path = fetch_url(url, sha256_hex(body), cache, progress=False)
    path.write_bytes(b"edited by hand\n")

    with pytest.raises(ChecksumError) as with_digest:
        fetch_url(url, sha256_hex(body), cache, progress=False)
    assert str(path) in str(with_digest.value)
    assert with_digest.value.received == sha256_hex(b"edited by hand\n")
    with pytest.raises(ChecksumError, match="neither used nor overwritten"):
        load_corpus(url, cache_dir=cache)  # no digest given: the recorded one catches it
    assert path.read_bytes() == b"edited by hand\n"
    assert server.hits == {"/other.txt": 1}


def test_failed_download_names_the_url_and_leaves_no_file(server, tmp_path):
    cache = tmp_path / "cache"
    url = server.url("/missing.txt")
    with pytest.raises(OSError, match=re.escape(f"could not download {url}")):
        fetch_url(url, cache_dir=cache, progress=False)
    assert cache_entries(cache) == []


def test_default_cache_dir_comes_from_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_LIB_CACHE", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
    path = fetch_url(server.url("/other.txt"), progress=False)
    assert path.parent == tmp_path / "env-cache"
    monkeypatch.delenv("RNN_LIB_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "rnn_lib"
