"""A content-hash cache of computation stages: a stage's result is stored under the hash of exactly
what it depends on, and read back only when that hash matches and the entry passes its checks.

A stage is a named computation whose result is a JSON-serialisable dict (optionally with tables as
text, e.g. ECSV). Layout (``results`` is :func:`cmsi_lib.paths.results_dir`)::

    results/stages/<name>/<key>.json           the entry: {"schema", "stage", "key", "complete",
                                               "seconds", "inputs", "provenance", "tables",
                                               "outputs", "result"}
    results/stages/<name>/<key>.<table>        a table of the entry (its sha256 is in "tables")

``key`` (:func:`stage_key`) is the sha256 of: the stage's name, its ``inputs`` (the parameters and
options it uses, as JSON), the registry sha256 of each data file it reads
(:func:`cmsi_lib.datafiles.registry`) and the source of the cmsi_lib modules it runs, followed
through their imports transitively (:func:`code_hash`). A stage may also write files elsewhere
under ``results`` (``outputs``, e.g. results/survey/): their sha256 are recorded in the entry and
checked when it is read, so an entry whose files were since overwritten by another run is stale.

Every entry is checked when it is read (:func:`cached`): it parses, has this module's schema, is
``complete``, names its stage, its stored key equals the key asked for, its tables and outputs are
present with their recorded sha256. An entry failing a check is logged, removed and recomputed;
it is never returned and never raises. Writes are atomic and the entry is written last, so an
interrupted stage leaves no entry. No lock: two processes computing the same key write the same
result, the last rename wins.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from . import datafiles, paths
from .errors import DataFileError, InputError
from .results import atomic_write_text, json_default

__all__ = [
    "SCHEMA",
    "stages_dir",
    "entry_file",
    "table_file",
    "module_files",
    "code_hash",
    "data_checksums",
    "provenance",
    "stage_key",
    "cached",
    "store",
    "run_stage",
]

log = logging.getLogger(__name__)

#: version of the entry layout; an entry of another schema is stale
SCHEMA = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KEY = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------- places
def stages_dir() -> Path:
    """results/stages/: one folder per stage."""
    return paths.results_dir() / "stages"


def _check_name(name: str, what: str = "stage name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{what} {name!r}: use letters, digits, '_', '.', '-' (not starting with '.', '_', '-')")
    return name


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InputError(f"stage key {key!r}: expected 64 lowercase hex digits (a sha256)")
    return key


def entry_file(name: str, key: str) -> Path:
    """The entry of stage ``name`` under ``key``: results/stages/<name>/<key>.json."""
    return stages_dir() / _check_name(name) / f"{_check_key(key)}.json"


def table_file(name: str, key: str, table: str) -> Path:
    """Table ``table`` (a file name such as ``rows.ecsv``) of the entry: results/stages/<name>/<key>.<table>."""
    return stages_dir() / _check_name(name) / f"{_check_key(key)}.{_check_name(table, 'table name')}"


# --------------------------------------------------------------------------- what a key covers
def _module_file(module: str) -> Path | None:
    """The source file of dotted module ``module`` of cmsi_lib (a package: its __init__.py), or None."""
    parts = module.split(".")
    if parts[0] != "cmsi_lib" or not all(p.isidentifier() for p in parts):
        return None
    base = paths.repo_root().joinpath(*parts)
    for f in (base / "__init__.py", base.with_suffix(".py")):
        if f.is_file():
            return f
    return None


def _imports(module: str, path: Path) -> set[str]:
    """Dotted names ``module`` (source at ``path``) may import, with their parent packages: every
    import statement, function-level ones included (candidates that are not modules are dropped later)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    for n in list(names):
        parts = n.split(".")
        names |= {".".join(parts[:i]) for i in range(1, len(parts))}
    return names


#: modules left out of every key: this cache only stores and reads results (its entry layout is
#: versioned by SCHEMA), it computes none of them
NOT_IN_KEY = frozenset({"cmsi_lib.stages"})


def module_files(modules: Iterable[str]) -> dict[str, Path]:
    """Dotted name -> source file of the cmsi_lib ``modules`` and of every cmsi_lib module they import,
    transitively (parent packages included), except :data:`NOT_IN_KEY`, sorted by name. An unknown
    module is an InputError."""
    todo = list(modules)
    bad = [m for m in todo if _module_file(m) is None]
    if bad:
        raise InputError(f"not cmsi_lib module(s): {bad} (give dotted names such as 'cmsi_lib.solar_system')")
    todo += [".".join(m.split(".")[:i]) for m in list(todo) for i in range(1, m.count(".") + 1)]  # parents
    found: dict[str, Path] = {}
    while todo:
        m = todo.pop()
        if m in found or m in NOT_IN_KEY:
            continue
        f = _module_file(m)
        if f is None:
            continue
        found[m] = f
        todo += sorted(_imports(m, f) - set(found))
    return dict(sorted(found.items()))


def code_hash(modules: Iterable[str]) -> str:
    """sha256 over the names and sources of :func:`module_files` of ``modules``: a stage is recomputed
    when a module it runs changes, not when an unrelated one does."""
    h = hashlib.sha256()
    for name, f in module_files(modules).items():
        h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def data_checksums(data_files: Iterable[str]) -> dict[str, str]:
    """Registry name -> registry sha256 of each data file (a name not in the registry: DataFileError)."""
    reg = datafiles.registry()
    unknown = [f for f in data_files if f not in reg]
    if unknown:
        raise DataFileError(f"{unknown} not in the data registry {paths.registry_file()}")
    return {f: reg[f].sha256 for f in sorted(set(data_files))}


def provenance(modules: Iterable[str], data_files: Iterable[str]) -> dict:
    """The sha256 of each module source (:func:`module_files`) and data file (registry) a key covers:
    stored in the entry so that a recomputation can be explained by comparing two entries."""
    return {
        "modules": {n: hashlib.sha256(f.read_bytes()).hexdigest() for n, f in module_files(modules).items()},
        "data": data_checksums(data_files),
    }


def _canonical(obj) -> str:
    """Canonical JSON of ``obj`` (sorted keys, floats exact via repr; numpy values and Params allowed)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=json_default)


def stage_key(name: str, inputs: dict, modules: Iterable[str], data_files: Iterable[str]) -> str:
    """The cache key of stage ``name``: sha256 of its name, ``inputs`` (a JSON-serialisable dict of the
    parameters and options it uses), the registry sha256 of ``data_files`` and :func:`code_hash` of
    ``modules`` (dotted cmsi_lib module names), and this module's :data:`SCHEMA`."""
    _check_name(name)
    if not isinstance(inputs, dict):
        raise InputError(f"stage {name!r}: inputs must be a dict, got {type(inputs).__name__}")
    material = {
        "schema": SCHEMA,
        "stage": name,
        "inputs": inputs,
        "data": data_checksums(data_files),
        "code": code_hash(modules),
    }
    return hashlib.sha256(_canonical(material).encode()).hexdigest()


# --------------------------------------------------------------------------- reading and writing entries
def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outputs_manifest(outputs: Iterable[Path]) -> dict[str, str]:
    """results-relative path -> sha256 of every file of ``outputs`` (files, or folders: every file under them)."""
    root = paths.results_dir().resolve()
    files: list[Path] = []
    for p in outputs:
        p = Path(p).resolve()
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    out = {}
    for f in files:
        if not f.is_relative_to(root):
            raise InputError(f"stage output {f} is not under the results folder {root}")
        out[f.relative_to(root).as_posix()] = _sha_file(f)
    return out


def _problem(entry, name: str, key: str) -> str | None:
    """Why ``entry`` (parsed JSON) is not a valid, complete entry of stage ``name`` under ``key``, or None."""
    if not isinstance(entry, dict):
        return f"holds a JSON {type(entry).__name__}, not an object"
    checks = (
        (entry.get("schema") == SCHEMA, f"schema {entry.get('schema')!r}, expected {SCHEMA}"),
        (entry.get("complete") is True, "not marked complete"),
        (entry.get("stage") == name, f"names stage {entry.get('stage')!r}"),
        (entry.get("key") == key, f"stores key {entry.get('key')!r}"),
        (isinstance(entry.get("result"), dict), "has no result object"),
        (isinstance(entry.get("tables", {}), dict) and isinstance(entry.get("outputs", {}), dict), "bad lists"),
    )
    for ok, why in checks:
        if not ok:
            return why
    for table, sha in entry.get("tables", {}).items():
        f = table_file(name, key, table)
        if not f.is_file() or _sha_file(f) != sha:
            return f"its table {f.name} is missing or differs from its recorded sha256"
    root = paths.results_dir()
    for rel, sha in entry.get("outputs", {}).items():
        f = root / rel
        if not f.is_file() or _sha_file(f) != sha:
            return f"its output {f} is missing or was rewritten since"
    return None


def _discard(name: str, key: str, f: Path, why: str) -> None:
    log.warning("stage %s: discarding cache entry %s (%s); recomputing", name, f, why)
    for p in [f, *f.parent.glob(f"{key}.*")]:
        try:
            p.unlink(missing_ok=True)
        except OSError:  # e.g. a read-only results folder: the entry is ignored all the same
            pass


def cached(name: str, key: str) -> dict | None:
    """The stored result of stage ``name`` under ``key`` when a valid entry exists, else None.

    The entry must parse, have :data:`SCHEMA`, be ``complete``, name the stage, store this key and
    have its tables and outputs with their recorded sha256; one that fails a check is logged and
    removed (never raised), so the caller recomputes it.
    """
    f = entry_file(name, key)
    try:
        text = f.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _discard(name, key, f, f"unreadable: {exc}")
        return None
    try:
        entry = json.loads(text)
    except ValueError as exc:
        _discard(name, key, f, f"not JSON: {exc}")
        return None
    try:
        why = _problem(entry, name, key)
    except (OSError, ValueError, TypeError, InputError) as exc:  # e.g. a table name that is not a file name
        why = f"unreadable record: {type(exc).__name__}: {exc}"
    if why is not None:
        _discard(name, key, f, why)
        return None
    return entry["result"]


def store(
    name: str,
    key: str,
    result: dict,
    *,
    inputs: dict | None = None,
    tables: dict[str, str] | None = None,
    outputs: Iterable[Path] = (),
    seconds: float | None = None,
    provenance: dict | None = None,
) -> dict:
    """Write the entry of stage ``name`` under ``key`` (tables first, the entry last, each atomically)
    and return ``result`` as it reads back (JSON types: lists for tuples, str keys, no numpy).

    ``tables``: file name -> text (e.g. ``{"rows.ecsv": ...}``); ``outputs``: files or folders under
    the results folder the stage wrote, whose sha256 the entry records; ``inputs`` are stored for
    reading (the key already covers them); ``seconds``: the compute time [s]; ``provenance``: what
    else the key covered, for reading too (:func:`provenance`: each module's and data file's sha256).
    """
    if not isinstance(result, dict):
        raise InputError(f"stage {name!r}: a result must be a dict, got {type(result).__name__}")
    shas = {}
    for table, text in (tables or {}).items():
        atomic_write_text(table_file(name, key, table), text)
        shas[table] = hashlib.sha256(text.encode()).hexdigest()
    entry = {
        "schema": SCHEMA,
        "stage": name,
        "key": key,
        "complete": True,
        "seconds": seconds,
        "inputs": inputs,
        "provenance": provenance,
        "tables": shas,
        "outputs": _outputs_manifest(outputs),
        "result": result,
    }
    text = json.dumps(entry, indent=1, default=json_default)
    atomic_write_text(entry_file(name, key), text + "\n")
    return json.loads(text)["result"]


def run_stage(
    name: str,
    inputs: dict,
    compute: Callable[[], dict | tuple[dict, dict[str, str]]],
    modules: Iterable[str],
    data_files: Iterable[str] = (),
    force: bool = False,
    outputs: Iterable[Path] = (),
) -> tuple[dict, bool]:
    """The result of stage ``name``: read from its entry when one is valid for the key of ``inputs``,
    ``modules`` and ``data_files`` (:func:`stage_key`), else computed by ``compute()`` and stored.

    ``compute`` returns the result dict, or (result, tables) with tables a dict file name -> text.
    ``outputs``: files/folders under the results folder that ``compute`` writes (checked on reading).
    ``force``: compute and store even when a valid entry exists. Returns (result, was_cached); the
    result is always as it reads back from JSON, so a cached and a fresh result print identically.
    """
    modules = list(modules)
    key = stage_key(name, inputs, modules, data_files)
    if not force:
        hit = cached(name, key)
        if hit is not None:
            return hit, True
    t0 = time.perf_counter()
    out = compute()
    result, tables = out if isinstance(out, tuple) else (out, None)
    seconds = time.perf_counter() - t0
    prov = provenance(modules, data_files)
    return store(
        name, key, result, inputs=inputs, tables=tables, outputs=outputs, seconds=seconds, provenance=prov
    ), False
