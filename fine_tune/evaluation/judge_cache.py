"""Judgments cached by (judge, prompt, both responses): a rerun costs nothing, an interrupted one resumes.

SQLite (standard library) commits every judgment as it is made, so a judge that
dies half-way loses nothing, and parallel sweep jobs can share one cache file.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from fine_tune.outputs import content_key


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
        return content_key([judge, prompt, first, second])

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


class CachedCompletions:
    """A judge client whose completions are cached: DeepEval's G-Eval asks the same prompts on every re-evaluation.

    A completion the caller could not use (`reject`: no JSON where a schema wanted one) is asked
    again on a later run, up to `max_attempts` in all, as an invalid pairwise verdict is.
    """

    def __init__(self, client, cache: JudgmentCache, max_attempts: int = 3):
        self.client, self.cache, self.max_attempts = client, cache, max_attempts
        self.name = client.name
        self.calls = 0  # completions actually asked for (not from the cache)

    def _key(self, prompt: str) -> str:
        return JudgmentCache.key(self.name, "completion", prompt, "")

    def complete(self, prompt: str) -> str:
        hit = self.cache.get(self._key(prompt))
        if hit is not None and (not hit.get("rejected") or hit["rejected"] >= self.max_attempts):
            return hit["text"]
        text = self.client.complete(prompt)
        self.calls += 1
        self.cache.put(self._key(prompt), {"text": text, "rejected": 0, "tries": (hit or {}).get("rejected", 0)})
        return text

    def reject(self, prompt: str) -> None:
        """Mark the cached completion of `prompt` as unusable: a later run asks again (bounded)."""
        hit = self.cache.get(self._key(prompt))
        if hit is not None:
            self.cache.put(self._key(prompt), {**hit, "rejected": hit.get("tries", 0) + 1})
