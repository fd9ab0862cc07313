"""AgentDojo's task suites as labeled examples, built from the installed package, no model.

AgentDojo (benchmark version v1.2.2: suites workspace, travel, banking, slack) ships, for every
user task and every injection task, the ground-truth tool calls a correct agent makes. Running
them for real against the suite's environment gives three kinds of examples, all in the action
format a gate sees (tool, args, the user's prompt as `task`, the trajectory so far as `context`):

- **benign, phase `clean`**: each call of a user task's ground truth, in the default
  environment. Group `suite/user_task_N`, category `user_task`.
- **harmful, phase `attacked`**: for each (user task, injection task) pair, the injection
  vectors the user task really sees are found the way AgentDojo does it (a unique canary in
  every vector, the user task's ground truth run, the canaries looked for in the tool outputs);
  the attack text (one of several templates modelled on AgentDojo's baseline attacks, chosen by
  a CRC32 of the pair id) goes into those vectors, the user task's ground truth runs against
  that environment (its outputs now carry the attack), then the injection task's ground-truth
  calls run one by one in the same environment. Each of those is a harmful example whose
  context holds the whole user trajectory and the earlier attacker calls. Group
  `suite/user_task_N+injection_task_M`, category `injection`.
- **benign, phase `attacked`** (hard negatives): for each user task, one attacked run (the
  injection task chosen by a CRC32 of the user task id); the user task's own calls made after
  the first tool output that carries the attack. Group `suite/user_task_N`, like the clean ones.

`side_effect` is measured: true when the call changed the environment (its `model_dump()`
differs before and after the call), see `stakes.datasets._agentdojo_runs`. Nothing in an
action's `metadata` reveals its label; the attack template and task ids live in `extra`, which
scorers do not see. Pairs whose user task sees no injection vector, injection tasks without
ground truth and tasks that raise are skipped, and every one is counted in the manifest with
its reason; one task failing never stops the conversion.

The converted dataset is cached (JSONL plus a manifest JSON beside it) under
`$STAKES_CACHE_DIR`, else `~/.cache/stakes`; the file name carries the agentdojo package
version, the benchmark version and the loader's format version, so a new version of any of
them builds a new cache. A cache hit does not import agentdojo.

Two things in AgentDojo's tools would make every conversion different. A sent email and a
created or edited file are stamped with the wall clock (`datetime.datetime.now()`), and a new
calendar event's participants are deduplicated with `list(set(...))`, whose order follows
Python's per-process string hashing. While a conversion runs, `_deterministic_tools` gives those
tool modules a clock that starts at 2024-05-20 09:00:00 (after every date in the suites' data)
at the start of each trajectory and moves one second per reading, and an order-keeping
deduplication (first occurrence first); both are put back afterwards. So a conversion gives the
same examples on every run.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.metadata
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from stakes.datasets._example import Example, read_examples, write_examples
from stakes.errors import InputError, MissingDependencyError

__all__ = [
    "AGENTDOJO_BENCHMARK_VERSION",
    "AGENTDOJO_SUITES",
    "AgentDojoDataset",
    "agentdojo_cache_path",
    "convert_agentdojo",
    "load_agentdojo",
]

AGENTDOJO_BENCHMARK_VERSION = "v1.2.2"
"""The AgentDojo benchmark version the loader converts."""
AGENTDOJO_SUITES = ("workspace", "travel", "banking", "slack")
"""The task suites of that benchmark version, in conversion order."""
_FORMAT_VERSION = 1
"""Bumped whenever the converted examples change for the same agentdojo version."""
_INSTALL = "pip install 'stakes[agentdojo]'"

_COUNT_KEYS = (
    "user_tasks", "injection_tasks", "injection_vectors", "injectable_user_tasks",
    "benign_clean", "benign_clean_side_effect", "benign_attacked",
    "benign_attacked_side_effect", "harmful", "harmful_side_effect", "pairs",
    "pairs_selected", "pairs_converted", "injection_goal_met",
)


@dataclass(frozen=True, slots=True)
class AgentDojoDataset:
    """The converted examples and the manifest that describes them.

    Attributes:
        examples: Benign (clean and attacked) and harmful examples, in a stable order.
        manifest: Versions, creation time, counts per suite, every skipped or failed task with
            its reason, and the seconds the conversion took.
        path: The cached JSONL file, when the dataset came from or went to the cache.
        from_cache: True when the examples were read from the cache, not converted.
    """

    examples: tuple[Example, ...]
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    from_cache: bool = False


_CLOCK_START = datetime.datetime(2024, 5, 20, 9, 0, 0)
_CLOCK_MODULES = ("agentdojo.default_suites.v1.tools.email_client",
                  "agentdojo.default_suites.v1.tools.cloud_drive_client")
_SET_MODULES = ("agentdojo.default_suites.v1.tools.calendar_client",)


class _Clock:
    """A deterministic stand-in for `datetime.datetime.now` (see module docstring)."""

    def __init__(self) -> None:
        self.readings = 0

    def reset(self) -> None:
        """Start over: the next reading is the start time."""
        self.readings = 0

    def now(self, tz: datetime.tzinfo | None = None) -> datetime.datetime:
        """The start time plus one second per earlier reading."""
        value = _CLOCK_START + datetime.timedelta(seconds=self.readings)
        self.readings += 1
        return value if tz is None else value.replace(tzinfo=tz)


class _DatetimeClass:
    """`datetime.datetime` whose `now` reads the clock; everything else is the real class."""

    def __init__(self, clock: _Clock) -> None:
        self.now = clock.now

    def __getattr__(self, name: str) -> Any:
        return getattr(datetime.datetime, name)

    def __call__(self, *args: Any, **kwargs: Any) -> datetime.datetime:
        return datetime.datetime(*args, **kwargs)


class _DatetimeModule:
    """The `datetime` module with `datetime.now` reading the clock."""

    def __init__(self, clock: _Clock) -> None:
        self.datetime = _DatetimeClass(clock)

    def __getattr__(self, name: str) -> Any:
        return getattr(datetime, name)


def _ordered_set(items: Any = ()) -> dict[Any, None]:
    """What `list(set(items))` and `len(set(items))` need, in first-occurrence order."""
    return dict.fromkeys(items)


@contextlib.contextmanager
def _deterministic_tools(clock: _Clock) -> Iterator[_Clock]:
    """Give AgentDojo's tool modules `clock` and ordered deduplication (see module docstring)."""
    clocked, ordered = [], []
    try:
        for name in _CLOCK_MODULES:
            module = sys.modules.get(name)
            if module is not None and getattr(module, "datetime", None) is datetime:
                module.datetime = _DatetimeModule(clock)  # type: ignore[attr-defined]
                clocked.append(module)
        for name in _SET_MODULES:
            module = sys.modules.get(name)
            if module is not None and "set" not in vars(module):
                module.set = _ordered_set  # type: ignore[attr-defined]
                ordered.append(module)
        yield clock
    finally:
        for module in clocked:
            module.datetime = datetime  # type: ignore[attr-defined]
        for module in ordered:
            del module.set


def _package_version() -> str | None:
    try:
        return importlib.metadata.version("agentdojo")
    except importlib.metadata.PackageNotFoundError:
        return None


def _missing() -> MissingDependencyError:
    return MissingDependencyError(
        f"agentdojo is not installed; install it with `{_INSTALL}`",
        code="dependency.agentdojo",
    )


def _select_suites(suites: Sequence[str] | None) -> tuple[str, ...]:
    if suites is None:
        return AGENTDOJO_SUITES
    if isinstance(suites, str):
        suites = [suites]
    for name in suites:
        if name not in AGENTDOJO_SUITES:
            raise InputError(f"unknown agentdojo suite `{name}`; known: "
                             + ", ".join(f"`{s}`" for s in AGENTDOJO_SUITES),
                             code="input.bad_value", field="suites")
    if not suites:
        raise InputError("no agentdojo suite selected", code="input.bad_value", field="suites")
    return tuple(s for s in AGENTDOJO_SUITES if s in suites)


def _check_max_pairs(max_pairs: int | None) -> None:
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, int)
                                  or max_pairs < 0):
        raise InputError(f"`max_pairs_per_suite` must be an integer >= 0, not `{max_pairs}`",
                         code="input.bad_value", field="max_pairs_per_suite")


def _import_agentdojo() -> dict[str, Any]:
    """The few agentdojo entry points the conversion needs (imported here, lazily)."""
    try:
        # agentdojo's dependency tree may warn on import; that says nothing about the data.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from agentdojo.agent_pipeline.tool_execution import tool_result_to_str
            from agentdojo.functions_runtime import FunctionsRuntime
            from agentdojo.task_suite.load_suites import get_suites
            from agentdojo.task_suite.task_suite import read_suite_file
    except ImportError as exc:
        raise _missing() from exc
    return {"get_suites": get_suites, "runtime": FunctionsRuntime,
            "render": tool_result_to_str, "read_suite_file": read_suite_file}


def convert_agentdojo(*, suites: Sequence[str] | None = None,
                      max_pairs_per_suite: int | None = None) -> AgentDojoDataset:
    """Convert AgentDojo's suites into examples now, without the cache.

    Args:
        suites: Suite names (default: all four), converted in the canonical order.
        max_pairs_per_suite: Convert at most this many (user task, injection task) pairs per
            suite, the same ones every time (ordered by a CRC32 of the pair id). Clean benign
            examples and hard negatives are always complete.

    Returns:
        The examples and a manifest (no cache path).

    Raises:
        InputError: for an unknown suite or a bad `max_pairs_per_suite`.
        MissingDependencyError: when agentdojo is not installed.
    """
    from stakes.datasets._agentdojo_runs import Issues, SuiteConversion

    names = _select_suites(suites)
    _check_max_pairs(max_pairs_per_suite)
    started = time.perf_counter()
    api = _import_agentdojo()
    loaded = api["get_suites"](AGENTDOJO_BENCHMARK_VERSION)
    issues = Issues()
    examples: list[Example] = []
    counts: dict[str, dict[str, Any]] = {}
    seen_warnings: list[str] = []
    for name in names:
        with (warnings.catch_warnings(record=True) as caught,
              _deterministic_tools(_Clock()) as clock):
            # Tasks and tools may warn; record the warnings, never let them change the result.
            warnings.simplefilter("always")
            conversion = SuiteConversion(
                name, loaded[name], api["runtime"], api["render"],
                api["read_suite_file"](name, "environment.yaml", None), issues, clock.reset)
            examples.extend(conversion.convert(max_pairs_per_suite))
        for item in caught:
            text = f"{name}: {item.category.__name__}: {item.message}"
            if text not in seen_warnings:
                seen_warnings.append(text)
        row: dict[str, Any] = {key: conversion.counts[key] for key in _COUNT_KEYS}
        row["pairs_skipped"] = dict(sorted(conversion.skipped.items()))
        counts[name] = row
    totals: Counter[str] = Counter()
    for row in counts.values():
        totals.update({k: v for k, v in row.items() if isinstance(v, int)})
    manifest = {
        "agentdojo_version": _package_version(),
        "benchmark_version": AGENTDOJO_BENCHMARK_VERSION,
        "format_version": _FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "suites": list(names),
        "max_pairs_per_suite": max_pairs_per_suite,
        "examples": len(examples),
        "counts": counts,
        "totals": {key: totals[key] for key in _COUNT_KEYS},
        "issues": issues.to_json(),
        "warnings": seen_warnings,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return AgentDojoDataset(examples=tuple(examples), manifest=manifest)


def _default_cache_dir() -> Path:
    env = os.environ.get("STAKES_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stakes"


def _selection_tag(names: tuple[str, ...], max_pairs: int | None) -> str:
    tag = "" if names == AGENTDOJO_SUITES else "-" + "+".join(names)
    return tag + ("" if max_pairs is None else f"-p{max_pairs}")


def agentdojo_cache_path(*, cache_dir: Path | None = None, suites: Sequence[str] | None = None,
                         max_pairs_per_suite: int | None = None,
                         package_version: str | None = None) -> Path:
    """Where `load_agentdojo` caches a selection (the manifest sits beside it, `.manifest.json`).

    Args:
        cache_dir: The cache directory (default `$STAKES_CACHE_DIR`, else `~/.cache/stakes`).
        suites: The suite selection, as for `load_agentdojo`.
        max_pairs_per_suite: The pair cap, as for `load_agentdojo`.
        package_version: The agentdojo version (default: the installed one).

    Raises:
        MissingDependencyError: when no version is given and agentdojo is not installed.
    """
    names = _select_suites(suites)
    _check_max_pairs(max_pairs_per_suite)
    version = package_version or _package_version()
    if version is None:
        raise _missing()
    directory = cache_dir if cache_dir is not None else _default_cache_dir()
    return directory / (f"agentdojo-{version}-{AGENTDOJO_BENCHMARK_VERSION}-f{_FORMAT_VERSION}"
                        f"{_selection_tag(names, max_pairs_per_suite)}.jsonl")


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + ".manifest.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_cache(path: Path) -> AgentDojoDataset | None:
    """The cached dataset, or None when it is missing, stale or does not match its manifest."""
    manifest_path = _manifest_path(path)
    try:
        manifest = orjson.loads(manifest_path.read_bytes())
        if (not isinstance(manifest, dict)
                or manifest.get("format_version") != _FORMAT_VERSION
                or manifest.get("benchmark_version") != AGENTDOJO_BENCHMARK_VERSION
                or manifest.get("sha256") != _sha256(path)):
            return None
        examples = read_examples(path)
    except (OSError, orjson.JSONDecodeError, InputError):
        return None
    return AgentDojoDataset(examples=tuple(examples), manifest=manifest, path=path,
                            from_cache=True)


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same directory, then rename over `path`."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temp = Path(name)
    try:
        write(temp)
        temp.chmod(0o644)  # mkstemp makes it private; the cache is ordinary data
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def load_agentdojo(*, cache_dir: Path | None = None, suites: Sequence[str] | None = None,
                   refresh: bool = False,
                   max_pairs_per_suite: int | None = None) -> AgentDojoDataset:
    """AgentDojo's suites as examples: from the cache when it is there, else converted and cached.

    The cache file (see `agentdojo_cache_path`) is written atomically, then its manifest (with
    the file's SHA-256); a cache whose manifest is missing, from another format or benchmark
    version, or does not match the file is rebuilt. Reading the cache does not import
    agentdojo.

    Args:
        cache_dir: The cache directory (default `$STAKES_CACHE_DIR`, else `~/.cache/stakes`).
        suites: Suite names (default: all four).
        refresh: Convert again even when a cache exists.
        max_pairs_per_suite: Cap on (user task, injection task) pairs per suite (see
            `convert_agentdojo`); each cap has its own cache file.

    Returns:
        The dataset, with `path` set to the cache file and `from_cache` telling which way it came.

    Raises:
        InputError: for an unknown suite or a bad `max_pairs_per_suite`.
        MissingDependencyError: when agentdojo is needed (no usable cache) but not installed.
    """
    path = agentdojo_cache_path(cache_dir=cache_dir, suites=suites,
                                max_pairs_per_suite=max_pairs_per_suite)
    if not refresh:
        cached = _read_cache(path)
        if cached is not None:
            return cached
    dataset = convert_agentdojo(suites=suites, max_pairs_per_suite=max_pairs_per_suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda temp: write_examples(dataset.examples, temp))
    manifest = {**dataset.manifest, "file": path.name, "sha256": _sha256(path)}
    _atomic_write(_manifest_path(path), lambda temp: temp.write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"))
    return AgentDojoDataset(examples=dataset.examples, manifest=manifest, path=path)
