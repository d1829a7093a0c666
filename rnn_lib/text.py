"""Text handling for the language-model chapters: corpora, tokens and vocabularies.

A language model sees a text as a sequence of integer token indices.  This module
covers the three steps that get a text there:

1. *Obtain a corpus* with :func:`load_corpus`.  Without arguments it returns
   :func:`default_corpus`, a text built from CPython's own documentation
   (``pydoc_data.topics``), so every example in the course runs offline.  A file
   path or an http(s) URL can be given instead; downloads are verified against a
   SHA-256 digest and cached (:func:`fetch_url`).  Nothing is ever downloaded
   unless a URL is passed explicitly.
2. *Split it into tokens* with :func:`tokenize` (characters or words), optionally
   after :func:`preprocess_letters`, which keeps only lower-case letters and
   single spaces (26 letters + space; with ``"<unk>"`` a 28-token vocabulary).
3. *Map tokens to indices* with :class:`Vocab`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

__all__ = [
    "UNK",
    "ChecksumError",
    "Vocab",
    "default_cache_dir",
    "default_corpus",
    "fetch_url",
    "load_corpus",
    "preprocess_letters",
    "sha256_of_file",
    "tokenize",
    "train_valid_split",
]

UNK = "<unk>"
TOKENIZE_MODES = ("char", "word")
CACHE_ENV_VAR = "RNN_LIB_CACHE"
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_DOWNLOAD_CHUNK = 1 << 16


# --------------------------------------------------------------------------- tokens


def tokenize(text: str, mode: str = "char") -> list[str]:
    """Split ``text`` into a list of tokens.

    ``mode="char"`` returns every character (spaces and newlines included), so
    ``"".join(tokenize(t)) == t``.  ``mode="word"`` splits on runs of whitespace,
    so punctuation stays attached to its word; apply :func:`preprocess_letters`
    first for clean lower-case words.
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    if mode == "char":
        return list(text)
    if mode == "word":
        return text.split()
    raise ValueError(f"mode: expected one of {TOKENIZE_MODES}, got {mode!r}")


def preprocess_letters(text: str) -> str:
    """Keep only ASCII letters, lower-cased, separated by single spaces.

    Every run of other characters (digits, punctuation, newlines, non-ASCII
    letters) becomes one space, and leading/trailing spaces are dropped:
    ``"It's 1895!\\nThe"`` becomes ``"it s the"``.  The result uses at most 27
    distinct characters (``a``-``z`` and space).
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    # Matching letters before lower-casing keeps non-ASCII capitals (whose
    # lower-case form may be several code points) out of the result.
    return " ".join(re.findall(r"[A-Za-z]+", text)).lower()


# --------------------------------------------------------------------------- vocabulary


def _flatten_tokens(tokens) -> list[str]:
    """Accept a flat sequence of tokens or a sequence of token lists (e.g. lines)."""
    if isinstance(tokens, str):
        raise TypeError(
            "tokens: expected a list of tokens, got a str; "
            "call tokenize(text) first to choose character or word tokens"
        )
    if not isinstance(tokens, Iterable):
        raise TypeError(f"tokens: expected an iterable of str, got {type(tokens).__name__}")
    flat: list[str] = []
    for position, item in enumerate(tokens):
        if isinstance(item, str):
            flat.append(item)
        elif isinstance(item, list | tuple):
            for inner in item:
                if not isinstance(inner, str):
                    raise TypeError(
                        f"tokens: expected str tokens, got {type(inner).__name__} "
                        f"inside item {position}"
                    )
            flat.extend(item)
        else:
            raise TypeError(
                f"tokens: expected str tokens (or lists of them), got "
                f"{type(item).__name__} at position {position}"
            )
    return flat


class Vocab:
    """A two-way mapping between tokens and integer indices.

    Index 0 is always the unknown token ``"<unk>"``; the ``reserved`` tokens come
    next, in the order given; then every token that occurs at least ``min_freq``
    times, by descending frequency with ties broken alphabetically, so the same
    tokens always give the same vocabulary.  Tokens outside the vocabulary map to
    index 0.

    Parameters
    ----------
    tokens : sequence of str, or sequence of sequences of str
        The corpus tokens, e.g. ``tokenize(text)`` or a list of tokenized lines.
    min_freq : int
        Tokens seen fewer times are left out (they map to ``"<unk>"``).
    reserved : sequence of str
        Extra tokens (e.g. ``"<pad>"``, ``"<bos>"``) given fixed indices 1, 2, ...
    """

    def __init__(self, tokens: Sequence = (), min_freq: int = 0, reserved: Sequence[str] = ()):
        if isinstance(min_freq, bool) or not isinstance(min_freq, int | np.integer):
            raise TypeError(f"min_freq: expected an int, got {type(min_freq).__name__}")
        if min_freq < 0:
            raise ValueError(f"min_freq: expected an int >= 0, got {min_freq}")
        reserved = self._check_reserved(reserved)
        counts = Counter(_flatten_tokens(tokens))
        self._token_freqs = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        fixed = [UNK, *reserved]
        taken = set(fixed)
        frequent = [t for t, c in self._token_freqs if c >= min_freq and t not in taken]
        self._idx_to_token = fixed + frequent
        self._token_to_idx = {token: index for index, token in enumerate(self._idx_to_token)}

    @staticmethod
    def _check_reserved(reserved) -> list[str]:
        if isinstance(reserved, str):
            raise TypeError(f"reserved: expected a list of str, got the str {reserved!r}")
        reserved = list(reserved)
        for token in reserved:
            if not isinstance(token, str):
                raise TypeError(f"reserved: expected str tokens, got {type(token).__name__}")
        if UNK in reserved:
            raise ValueError(f"reserved: {UNK!r} is always index 0 and cannot be reserved")
        duplicates = sorted({t for t in reserved if reserved.count(t) > 1})
        if duplicates:
            raise ValueError(f"reserved: expected distinct tokens, got duplicates {duplicates}")
        return reserved

    def __len__(self) -> int:
        return len(self._idx_to_token)

    def __contains__(self, token: object) -> bool:
        return token in self._token_to_idx

    def __getitem__(self, tokens):
        """Index of one token (``str -> int``) or of each token in a list/tuple."""
        if isinstance(tokens, str):
            return self._token_to_idx.get(tokens, 0)
        if isinstance(tokens, list | tuple):
            return [self[token] for token in tokens]
        raise TypeError(f"tokens: expected a str or a list of str, got {type(tokens).__name__}")

    def __repr__(self) -> str:
        preview = ", ".join(repr(t) for t in self._idx_to_token[:6])
        more = ", ..." if len(self) > 6 else ""
        return f"Vocab(size={len(self)}, tokens=[{preview}{more}])"

    @property
    def unk(self) -> int:
        """Index of the unknown token (always 0)."""
        return 0

    @property
    def idx_to_token(self) -> list[str]:
        """All tokens, position = index (a copy)."""
        return list(self._idx_to_token)

    @property
    def token_freqs(self) -> list[tuple[str, int]]:
        """``(token, count)`` for every distinct corpus token, most frequent first."""
        return list(self._token_freqs)

    def to_indices(self, tokens) -> np.ndarray:
        """Indices of a sequence of tokens as an int64 array of shape ``(len(tokens),)``."""
        if isinstance(tokens, str):
            raise TypeError(
                "tokens: expected a list of tokens, got a str; call tokenize(text) first"
            )
        lookup = self._token_to_idx.get
        try:
            return np.fromiter((lookup(t, 0) for t in tokens), dtype=np.int64)
        except TypeError as error:  # unhashable items such as nested lists
            raise TypeError(f"tokens: expected a flat sequence of str ({error})") from None

    def to_tokens(self, indices):
        """Token of one index (``int -> str``) or list of tokens of a 1-D index sequence."""
        if isinstance(indices, int | np.integer) and not isinstance(indices, bool):
            return self._idx_to_token[self._check_index(int(indices))]
        array = np.asarray(indices)
        if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
            raise TypeError(
                f"indices: expected an int or a 1-D sequence of ints, got "
                f"{type(indices).__name__} with dtype {array.dtype} and shape {array.shape}"
            )
        return [self._idx_to_token[self._check_index(int(i))] for i in array]

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self):
            raise IndexError(f"indices: expected values in [0, {len(self) - 1}], got {index}")
        return index


# --------------------------------------------------------------------------- default corpus

_HEADING_UNDERLINE = set("*=-~^")
_MIN_PROSE_WORDS = 4
_MIN_LETTER_FRACTION = 0.85


def _join_wrapped_lines(lines: list[str]) -> str:
    """Re-flow hard-wrapped lines into one line, re-joining words split at a hyphen."""
    joined = ""
    for line in lines:
        line = line.strip()
        if joined.endswith("-") and joined[-2:-1].isalpha():
            joined += line
        else:
            joined = f"{joined} {line}" if joined else line
    return joined


def _looks_like_prose(paragraph: str) -> bool:
    """Heuristic: a sentence-like paragraph rather than code, grammar, table or heading."""
    if len(paragraph.split()) < _MIN_PROSE_WORDS or paragraph[-1] not in ".:":
        return False
    if ">>>" in paragraph or "::=" in paragraph or paragraph[0] in "+|":
        return False
    letters = sum(ch.isalpha() or ch == " " for ch in paragraph)
    return letters >= _MIN_LETTER_FRACTION * len(paragraph)


def _prose_paragraphs(topics: dict[str, str]) -> list[str]:
    """Distinct prose paragraphs of every topic, topics in sorted key order."""
    kept: list[str] = []
    seen: set[str] = set()
    for key in sorted(topics):
        for block in re.split(r"\n[ \t]*\n", topics[key]):
            lines = textwrap.dedent(block).strip("\n").split("\n")
            if not "".join(lines).strip() or set(lines[-1].strip()) <= _HEADING_UNDERLINE:
                continue  # blank, or a heading with its underline
            paragraph = _join_wrapped_lines(lines)
            # Topics overlap (e.g. "compound" contains "if" and "while"); keep each once.
            if _looks_like_prose(paragraph) and paragraph not in seen:
                seen.add(paragraph)
                kept.append(paragraph)
    return kept


@functools.lru_cache(maxsize=1)
def default_corpus() -> str:
    """English prose from the Python Language Reference that ships with CPython.

    ``pydoc_data.topics`` holds the text of ``help()`` topics (the language
    reference: statements, data model, string methods, ...), about 0.47 MB in
    total, but about half of it is code examples, grammar rules, tables and
    repeated passages (larger topics embed smaller ones).  For a character-level
    language model the prose is what matters, so this returns the *distinct
    prose paragraphs* of all topics, topics in sorted order, each paragraph
    re-flowed onto one line and paragraphs separated by ``"\\n"``.  On CPython
    3.11 that is about 0.25 MB (comparable to *The Time Machine*, 0.18 MB); the
    exact text depends on the CPython version but is identical on every run
    and needs no network access.
    """
    from pydoc_data.topics import topics

    return "\n".join(_prose_paragraphs(topics)) + "\n"


# --------------------------------------------------------------------------- files and URLs


class ChecksumError(ValueError):
    """A file's SHA-256 digest differs from the expected one."""

    def __init__(self, message: str, *, path, expected: str, received: str):
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.received = received


def default_cache_dir() -> Path:
    """``$RNN_LIB_CACHE`` if set, else ``~/.cache/rnn_lib``."""
    configured = os.environ.get(CACHE_ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "rnn_lib"


def sha256_of_file(path) -> str:
    """Hex SHA-256 digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_DOWNLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256_argument(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not _SHA256_PATTERN.fullmatch(sha256.lower()):
        raise ValueError(f"sha256: expected 64 hexadecimal characters, got {sha256!r}")
    return sha256.lower()


def _is_url(source) -> bool:
    return isinstance(source, str) and re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", source) is not None


def _cache_name(url: str) -> str:
    """File name for a URL: its last path part, prefixed by a URL hash to avoid clashes."""
    basename = Path(urllib.parse.urlsplit(url).path).name or "download"
    basename = re.sub(r"[^A-Za-z0-9._-]", "_", basename)
    return f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{basename}"


def _write_text_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _verify_cached(path: Path, record: Path, sha256: str | None) -> None:
    """Compare a cached file with the expected digest, or the one recorded at download."""
    expected = sha256
    if expected is None and record.exists():
        expected = record.read_text(encoding="utf-8").strip()
    if expected is None:
        return  # nothing to compare with: a file placed in the cache by hand
    received = sha256_of_file(path)
    if received != expected:
        raise ChecksumError(
            f"cached file {path} has SHA-256 {received}, expected {expected}; it was "
            "neither used nor overwritten. Delete it to download again, or pass the "
            "digest of the file you want.",
            path=path,
            expected=expected,
            received=received,
        )


def _download(url: str, destination: Path, label: str, progress: bool, timeout: float) -> str:
    """Stream ``url`` into ``destination`` (a temporary file) and return its SHA-256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            with (
                open(destination, "wb") as out,
                tqdm(
                    total=int(total) if total and total.isdigit() else None,
                    unit="B",
                    unit_scale=True,
                    desc=f"downloading {label}",
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                for chunk in iter(lambda: response.read(_DOWNLOAD_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError) as error:
        raise OSError(f"could not download {url}: {error}") from error
    return digest.hexdigest()


def fetch_url(
    url: str,
    sha256: str | None = None,
    cache_dir=None,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` once into the cache and return the cached file's path.

    The download goes to a temporary file in ``cache_dir``; its SHA-256 is
    checked against ``sha256`` (when given) and only then is it renamed into
    place, so an interrupted or corrupted download never looks like a cached
    file.  The digest is recorded next to the file (``<name>.sha256``).

    A later call finds the cached file and does not touch the network; it first
    re-checks the file against ``sha256``, or against the recorded digest, and
    raises :class:`ChecksumError` on a mismatch instead of using or replacing it.

    ``cache_dir`` defaults to :func:`default_cache_dir`.
    """
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"url: expected an http:// or https:// URL, got {url!r}")
    sha256 = _check_sha256_argument(sha256)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _cache_name(url)
    record = path.with_name(path.name + ".sha256")
    if path.exists():
        _verify_cached(path, record, sha256)
        return path

    handle, temporary_name = tempfile.mkstemp(
        dir=directory, prefix=f".{path.name}.", suffix=".part"
    )
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        received = _download(url, temporary, path.name, progress, timeout)
        if sha256 is not None and received != sha256:
            raise ChecksumError(
                f"download of {url} has SHA-256 {received}, expected {sha256}; "
                "the file was discarded",
                path=None,
                expected=sha256,
                received=received,
            )
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _write_text_atomically(record, received + "\n")
    return path


def load_corpus(source=None, *, sha256: str | None = None, cache_dir=None) -> str:
    """Return the text of a corpus.

    ``source`` is ``None`` for :func:`default_corpus` (offline, always
    available), a path to a UTF-8 text file, or an http(s) URL fetched through
    :func:`fetch_url` (verified and cached in ``cache_dir``).  When ``sha256`` is
    given it is checked against the file's bytes (for the default corpus, the
    UTF-8 bytes of its text); a mismatch raises :class:`ChecksumError`.  A
    leading byte-order mark is dropped.
    """
    sha256 = _check_sha256_argument(sha256)
    if source is None:
        text = default_corpus()
        if sha256 is not None:
            _check_digest("default corpus", hashlib.sha256(text.encode()).hexdigest(), sha256)
        return text
    if _is_url(source):
        path = fetch_url(source, sha256, cache_dir)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(
                f"source: expected None, an existing text file or an http(s) URL, "
                f"got {source!r} (no such file)"
            )
        if sha256 is not None:
            _check_digest(str(path), sha256_of_file(path), sha256)
    else:
        raise TypeError(
            f"source: expected None, a path or a URL string, got {type(source).__name__}"
        )
    return path.read_text(encoding="utf-8-sig")


def _check_digest(what: str, received: str, expected: str) -> None:
    if received != expected:
        raise ChecksumError(
            f"{what} has SHA-256 {received}, expected {expected}",
            path=what,
            expected=expected,
            received=received,
        )


def train_valid_split(sequence, valid_fraction: float = 0.1):
    """Split a corpus (str, list or 1-D array) into a leading and a trailing part.

    The split is contiguous and deterministic: the last ``valid_fraction`` of
    the sequence (rounded to the nearest element) is for validation and the
    rest for training, so no validation text leaks into training windows.
    Returns ``(train, valid)`` of the same type as ``sequence``.
    """
    if isinstance(valid_fraction, bool) or not isinstance(valid_fraction, int | float):
        raise TypeError(f"valid_fraction: expected a float, got {type(valid_fraction).__name__}")
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction: expected a value in (0, 1), got {valid_fraction}")
    if isinstance(sequence, np.ndarray) and sequence.ndim != 1:
        raise ValueError(f"sequence: expected a 1-D array, got shape {sequence.shape}")
    length = len(sequence)
    n_valid = round(length * valid_fraction)
    if n_valid == 0 or n_valid == length:
        raise ValueError(
            f"sequence: length {length} is too short to split with valid_fraction="
            f"{valid_fraction} (one part would be empty)"
        )
    return sequence[: length - n_valid], sequence[length - n_valid :]
