"""Judgments cached by (judge, prompt, both responses): a rerun costs nothing, an interrupted one resumes.

SQLite (standard library) commits every judgment as it is made, so a judge that
dies half-way loses nothing, and parallel sweep jobs can share one cache file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path


class JudgmentCache:
    def __init__(self, path: Path | None):
        self._db = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=60)
            self._db.execute("CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, value TEXT)")
            self._db.commit()

    @staticmethod
    def key(judge: str, prompt: str, first: str, second: str) -> str:
        return hashlib.sha256(json.dumps([judge, prompt, first, second]).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT value FROM judgments WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict) -> None:
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO judgments VALUES (?, ?)", (key, json.dumps(value)))
            self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
