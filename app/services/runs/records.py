"""Run records in one SQLite file: what every backend writes and every web worker reads.

A record survives a restart; a run that was going when the app stopped is marked interrupted
at the next start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.services.errors import NotFound

ACTIVE = ("queued", "running", "paused", "stopping")
FINISHED = ("completed", "stopped", "failed", "interrupted")


class UnknownRun(NotFound):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no training run with id {run_id!r}", "id", listing="training-runs")
        self.run_id = run_id


@dataclass
class RunRecord:
    id: str
    status: str
    dataset: str
    config: dict
    created: float
    started: float | None = None
    finished: float | None = None
    message: str = ""
    metrics: dict = field(default_factory=dict)
    has_weights: bool = False
    node: str = ""  # where it runs or ran: a host name (and address, on a cluster)
    owner: str | None = None  # shared mode: the visitor who started it (app.services.owners)
    queue_position: int | None = None  # 1 = next to start


class RunStore:
    """Run records in one SQLite file; safe to call from the event loop and worker threads."""

    COLUMNS = ("id", "status", "dataset", "config", "created", "started", "finished", "message",
               "metrics", "has_weights", "node", "owner")

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # several web workers may share the file: wait for another's write rather than fail
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, "
                "dataset TEXT NOT NULL, config TEXT NOT NULL, created REAL NOT NULL, started REAL, "
                "finished REAL, message TEXT NOT NULL DEFAULT '', metrics TEXT NOT NULL "
                "DEFAULT '{}', has_weights INTEGER NOT NULL DEFAULT 0, "
                "node TEXT NOT NULL DEFAULT '', owner TEXT)")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
            if "node" not in columns:  # a records file from before runs had a place
                self._db.execute("ALTER TABLE runs ADD COLUMN node TEXT NOT NULL DEFAULT ''")
            if "owner" not in columns:  # …or an owner
                self._db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")

    def add(self, r: RunRecord) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT INTO runs ({', '.join(self.COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(self.COLUMNS))})",
                (r.id, r.status, r.dataset, json.dumps(r.config), r.created, r.started,
                 r.finished, r.message, json.dumps(r.metrics), int(r.has_weights), r.node,
                 r.owner))

    @staticmethod
    def _assignments(values: dict[str, Any]) -> tuple[str, list[Any]]:
        """`a = ?, b = ?` and the values, the JSON columns encoded."""
        encoded = {k: json.dumps(v) if k in ("config", "metrics") else v for k, v in values.items()}
        return ", ".join(f"{k} = ?" for k in encoded), list(encoded.values())

    def update(self, run_id: str, **values: Any) -> None:
        sets, args = self._assignments(values)
        with self._lock:
            self._db.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*args, run_id))

    def update_if(self, run_id: str, statuses: tuple[str, ...], **values: Any) -> bool:
        """Updates only while the run's status is one of `statuses`; True if it did. Several
        web workers may see a run end at once: exactly one of them records it."""
        sets, args = self._assignments(values)
        with self._lock:
            cur = self._db.execute(
                f"UPDATE runs SET {sets} WHERE id = ? AND status IN "
                f"({', '.join('?' * len(statuses))})", (*args, run_id, *statuses))
        return cur.rowcount == 1

    def active(self) -> list[RunRecord]:
        """Queued, running, paused or stopping runs, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(self.COLUMNS)} FROM runs WHERE status IN "
                f"({', '.join('?' * len(ACTIVE))}) ORDER BY created", ACTIVE).fetchall()
        return [self._record(r) for r in rows]

    def active_of(self, owner: str) -> int:
        """How many runs of this owner are queued, running, paused or stopping."""
        with self._lock:
            (n,) = self._db.execute(
                f"SELECT COUNT(*) FROM runs WHERE owner = ? AND status IN "
                f"({', '.join('?' * len(ACTIVE))})", (owner, *ACTIVE)).fetchone()
        return int(n)

    def get(self, run_id: str) -> RunRecord:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(self.COLUMNS)} FROM runs WHERE id = ?",
                                   (run_id,)).fetchone()
        if row is None:
            raise UnknownRun(run_id)
        return self._record(row)

    def list(self, limit: int = 50) -> list[RunRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(self.COLUMNS)} FROM runs "
                                    "ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [self._record(r) for r in rows]

    def delete_if(self, run_id: str, statuses: tuple[str, ...]) -> bool:
        """Deletes the record only while its status is one of `statuses`; True if it did."""
        with self._lock:
            cur = self._db.execute(
                f"DELETE FROM runs WHERE id = ? AND status IN ({', '.join('?' * len(statuses))})",
                (run_id, *statuses))
        return cur.rowcount == 1

    def interrupt_unfinished(self) -> int:
        """Runs the previous app process left queued or running: they will never finish."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE runs SET status = 'interrupted', finished = ?, message = "
                "'the app stopped (shut down or killed) while this run was queued or running; "
                "it did not finish' "
                f"WHERE status IN ({', '.join('?' * len(ACTIVE))})", (time.time(), *ACTIVE))
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _record(row: tuple) -> RunRecord:
        d = dict(zip(RunStore.COLUMNS, row, strict=True))
        d["config"], d["metrics"] = json.loads(d["config"]), json.loads(d["metrics"])
        d["has_weights"] = bool(d["has_weights"])
        return RunRecord(**d)
