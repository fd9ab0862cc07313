"""How stakes opens and uses a SQLite file: shared by the ledger and the approval queue."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from stakes.errors import LedgerError

__all__ = ["Database", "Synchronous", "connect"]

Synchronous = Literal["NORMAL", "FULL", "OFF"]
_T = TypeVar("_T")

_BUSY_TIMEOUT_S = 10.0
# A checkpoint copies the WAL back into the database and fsyncs both; every 4096 pages (16 MiB)
# rather than SQLite's default 1000 amortizes its fixed cost over more appends.
_AUTOCHECKPOINT_PAGES = 4096
_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def connect(path: str | Path, synchronous: Synchronous) -> sqlite3.Connection:
    """Open `path` the way every stakes store does.

    WAL journal (readers never block the writer), the given `synchronous` level, a busy timeout
    so that several processes can share the file, autocommit (transactions are explicit) and a
    connection usable from any thread (each store serializes its own use with a lock). The
    parent directory is created if missing.

    Raises:
        LedgerError: `ledger.bad_option` for an unknown `synchronous` level, `ledger.open_failed`
            when SQLite cannot open or configure the file.
    """
    if synchronous not in ("NORMAL", "FULL", "OFF"):
        raise LedgerError(
            f"`synchronous` must be `NORMAL`, `FULL` or `OFF`, got `{synchronous}`",
            code="ledger.bad_option", field="synchronous",
        )
    if sqlite3.sqlite_version_info < (3, 31, 0):
        raise LedgerError(
            f"the ledger needs SQLite >= 3.31 (generated columns, JSON), found "
            f"`{sqlite3.sqlite_version}`",
            code="ledger.sqlite_too_old",
        )
    name = str(path)
    try:
        if name != ":memory:" and not name.startswith("file:"):
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            name, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
            cached_statements=64,
        )
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {_AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
    except (sqlite3.Error, OSError) as exc:
        raise LedgerError(
            f"cannot open `{name}`: {exc}", code="ledger.open_failed", file=name
        ) from None
    return conn


class Database:
    """One connection to a stakes SQLite file, serialized by a lock (base of the stores)."""

    _integrity_code = "ledger.write_failed"
    """The error code for a constraint violation (a store may name its own)."""

    def __init__(self, path: str | Path, synchronous: Synchronous) -> None:
        self.path = Path(path)
        self.synchronous: Synchronous = synchronous
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = connect(path, synchronous)

    def close(self) -> None:
        """Close the connection (idempotent); an open transaction is rolled back."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError(f"`{self.path}` is closed", code="ledger.closed")
        return self._conn

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(
                    f"cannot read `{self.path}`: {exc}", code="ledger.read_failed"
                ) from None

    def _transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` in one `BEGIN IMMEDIATE` transaction, committed before this returns.

        If `work` or the commit fails, the transaction is rolled back.
        """
        with self._lock:
            conn = self._connection()

            def run() -> _T:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
                return result

            return self._guarded(run)

    def _guarded(self, work: Callable[[], _T]) -> _T:
        """Run `work`, turning SQLite errors into `LedgerError`s."""
        try:
            return work()
        except sqlite3.IntegrityError as exc:
            raise LedgerError(
                f"cannot write `{self.path}`: {exc}", code=self._integrity_code
            ) from None
        except sqlite3.Error as exc:
            raise LedgerError(
                f"cannot write `{self.path}`: {exc}", code="ledger.write_failed"
            ) from None

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # the original error matters more
                conn.execute("ROLLBACK")
