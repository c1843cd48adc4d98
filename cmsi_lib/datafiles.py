"""Input data files: fetched from their official URLs with sha256 checks (pooch), or read
from a local mirror folder: the one named by ``CMSI_DATA_DIR``, else the one recorded in
``results/config.json`` (member ``"data_dir"``) by the last command that ran with a valid
``CMSI_DATA_DIR`` (``make book`` exports it), so a later ``cmsi ...`` finds the data the build used.
An explicit ``CMSI_DATA_DIR`` always wins; a recorded folder that no longer exists is an error
naming the config file and the folder.

The registry ``data/registry.txt`` lists, one file a line::

    relative/path  sha256  url-or-dash

``fetch("sparc/SPARC_Lelli2016c.mrt")`` returns a verified local path. Loaders call it; they
never open a data path themselves. A checksum mismatch names the file and both hashes; a
file that is neither mirrored nor downloadable says how to provide it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .errors import DataFileError

__all__ = [
    "DataFileError",
    "RegistryEntry",
    "registry",
    "fetch",
    "sha256",
    "config_file",
    "mirror_dir",
    "record_mirror",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    sha256: str
    url: str | None  # None: no official URL (a staged third-party transcription)


@functools.cache
def registry() -> dict[str, RegistryEntry]:
    reg: dict[str, RegistryEntry] = {}
    path = paths.registry_file()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or len(parts[1]) != 64:
            raise DataFileError(f"{path}, line {lineno}: expected 'path sha256 url-or-dash', got {line!r}")
        reg[parts[0]] = RegistryEntry(parts[0], parts[1].lower(), None if parts[2] == "-" else parts[2])
    return reg


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _how_to_provide(entry: RegistryEntry) -> str:
    src = f"download it from {entry.url}" if entry.url else "it has no official URL (see its PROVENANCE.md)"
    return (
        f"Provide {entry.name}: set CMSI_DATA_DIR to a folder holding it at that relative path "
        f"(the Makefile uses ../shared/data when it exists), or {src} and place it there."
    )


def config_file() -> Path:
    """``results/config.json``: where a command run with a valid ``CMSI_DATA_DIR`` records it."""
    return paths.results_dir() / "config.json"


def _read_config() -> dict:
    """The config file as a dict ({} when absent; a malformed file is logged and ignored)."""
    f = config_file()
    try:
        conf = json.loads(f.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: it does not parse as JSON (%s)", f, exc)
        return {}
    if not isinstance(conf, dict):
        log.warning("ignoring %s: it holds a JSON %s, not an object", f, type(conf).__name__)
        return {}
    return conf


def _recorded_mirror() -> Path | None:
    """The mirror recorded in the config file, or None (absent, or not an absolute path: logged)."""
    value = _read_config().get("data_dir")
    if value is None:
        return None
    if not isinstance(value, str) or not Path(value).is_absolute():
        log.warning("ignoring %s: its 'data_dir' %r is not an absolute path", config_file(), value)
        return None
    return Path(value)


def mirror_dir() -> Path | None:
    """The local data mirror: ``CMSI_DATA_DIR`` when set (it always wins), else the folder recorded in
    :func:`config_file`, else None (files are downloaded). Raises DataFileError, naming the config file
    and the folder, when the recorded folder no longer exists."""
    env = paths.mirror_dir()
    if env is not None:
        return env
    recorded = _recorded_mirror()
    if recorded is not None and not recorded.is_dir():
        raise DataFileError(
            f"{config_file()} records the data mirror {recorded} (from a run with CMSI_DATA_DIR set, e.g. "
            "make book), but that folder no longer exists. Set CMSI_DATA_DIR to the mirror's folder (the next "
            f"command records it), or delete {config_file()} to download the files from their official URLs."
        )
    return recorded


def record_mirror() -> Path | None:
    """Record ``CMSI_DATA_DIR`` in :func:`config_file` when it names an existing folder (the file is
    rewritten, atomically, only when the folder differs; its other members are kept). Returns the folder
    recorded, or None when ``CMSI_DATA_DIR`` is unset or not a folder (nothing is written)."""
    env = paths.mirror_dir()
    if env is None or not env.is_dir():
        return None
    conf = _read_config()
    if conf.get("data_dir") != str(env):
        paths.atomic_write_text(config_file(), json.dumps({**conf, "data_dir": str(env)}, indent=1) + "\n")
    return env


def fetch(name: str) -> Path:
    """Return a local, checksum-verified path for registry file ``name``."""
    reg = registry()
    if name not in reg:
        raise DataFileError(f"{name!r} is not in the data registry {paths.registry_file()}")
    entry = reg[name]
    mirror = mirror_dir()
    if mirror is not None and not mirror.is_dir():
        raise DataFileError(
            f"CMSI_DATA_DIR names {mirror}, which is not a folder. Point CMSI_DATA_DIR at the data mirror "
            "(the layout of ../shared/data), or unset it to download the files from their official URLs."
        )
    if mirror is not None:
        local = mirror / name
        if local.exists():
            got = sha256(local)
            if got != entry.sha256:
                raise DataFileError(
                    f"checksum mismatch for {local}: expected sha256 {entry.sha256}, got {got}. "
                    "The file is corrupted or a different version; replace it with the official file."
                )
            return local
    if entry.url is None:
        where = f"in the mirror {mirror}" if mirror else "(CMSI_DATA_DIR is not set)"
        raise DataFileError(f"{name} was not found {where}. " + _how_to_provide(entry))
    import pooch  # imported only to download (its tqdm import warns inside notebooks)

    try:
        local = pooch.retrieve(
            entry.url,
            known_hash=f"sha256:{entry.sha256}",
            fname=name.replace("/", "__"),
            path=paths.cache_dir(),
            progressbar=False,
        )
    except ValueError as exc:  # pooch's hash mismatch
        raise DataFileError(f"checksum mismatch for {name} downloaded from {entry.url}: {exc}") from None
    except Exception as exc:  # network errors of every kind
        raise DataFileError(
            f"{name} is not in a local mirror and could not be downloaded ({type(exc).__name__}: {exc}). "
            + _how_to_provide(entry)
        ) from None
    return Path(local)
