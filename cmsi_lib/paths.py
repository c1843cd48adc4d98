"""Where things live, resolved from the installed package (never from the cwd).

Jupyter Book runs a chapter with its own folder as the working directory and papermill
runs wherever it is told, so every path goes through here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: the repository checkout (cmsi_lib is installed editable from it)
REPO_ROOT = Path(__file__).resolve().parent.parent


def repo_root() -> Path:
    return REPO_ROOT


def registry_file() -> Path:
    """The data registry: relative path, sha256 and official URL of every input file."""
    return REPO_ROOT / "data" / "registry.txt"


def chapters_dir() -> Path:
    return REPO_ROOT / "chapters"


def results_dir() -> Path:
    """Generated results (tables per run, named by parameter hash). ``CMSI_RESULTS_DIR`` overrides."""
    env = os.environ.get("CMSI_RESULTS_DIR")
    p = Path(env).expanduser() if env else REPO_ROOT / "results"
    p.mkdir(parents=True, exist_ok=True)
    return p


def mirror_dir() -> Path | None:
    """The local data mirror named by ``CMSI_DATA_DIR`` (same layout as ``../shared/data``), or None."""
    env = os.environ.get("CMSI_DATA_DIR")
    return Path(env).expanduser().resolve() if env else None


def cache_dir() -> Path:
    """Where downloaded data files are kept (``CMSI_CACHE_DIR`` overrides; default the OS cache)."""
    import pooch  # lazy: only a download needs it, and it is slow to import

    env = os.environ.get("CMSI_CACHE_DIR")
    return Path(env).expanduser() if env else Path(pooch.os_cache("cmsi-book"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same folder, then ``os.replace``.

    The file gets the permissions of an ordinary new file (0666 less the umask), not mkstemp's 0600;
    an interrupted write leaves no temporary file and the old content in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
