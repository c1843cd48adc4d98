"""Execute one notebook page with its parameters injected: the engines the atlas runner can use.

    nb = execute_page_notebook(jupytext.reads(text, fmt="md:myst"), {"galaxy": "NGC3198"}, cwd, timeout=300)

Three engines (measured against each other in ``benchmarks/atlas.md``):

``"papermill"``
    papermill with a fresh Jupyter kernel per page (the runner's original engine). Pages are
    isolated by the process: nothing survives a page. Each page pays a kernel start and the
    imports of numpy, scipy, matplotlib and cmsi_lib (about 2 s).
``"warm"`` (the default)
    one Jupyter kernel per process that calls this (one per Dask worker), kept alive across pages
    and driven by nbclient. Before each page the kernel is reset: a new IPython session
    (``InteractiveShell.reset(new_session=True)``: every variable, ``In``/``Out`` and the
    execution counter are gone); every matplotlib figure closed; ``matplotlib.rcParams`` and
    backend, the inline backend's figure formats (``%config InlineBackend...``), the warnings
    filters, ``sys.path`` and ``os.environ`` put back as they were after kernel start; the working
    directory set to ``cwd``. What a page leaves is therefore not visible to the next, except
    state inside imported modules (their caches: the SPARC tables read once per kernel are the
    point of the warm kernel; a page that mutated a module's globals would leak, and the template
    does not). The page runs in the kernel's process, not the caller's: an exception is reported
    as :class:`nbclient.exceptions.CellExecutionError` and the kernel stays usable; a kernel that
    dies (segfault, ``os._exit``) raises :class:`nbclient.exceptions.DeadKernelError` and a cell
    over ``timeout`` raises :class:`nbclient.exceptions.CellTimeoutError`; in both cases the
    kernel is shut down and the next page starts a new one. The caller never dies.
``"inprocess"``
    ploomber-engine's in-process client (:class:`ploomber_engine.ipython.PloomberClient`): each
    page runs in a new IPython shell with a new namespace, in the caller's process; the state
    listed for ``"warm"`` is put back after each page. It cannot enforce ``timeout`` (nothing can
    stop a cell running in the caller's own thread), a page that kills its process kills the
    caller (a Dask worker: the nanny restarts it and the page's future fails), and it drops the
    outputs' metadata (a retina PNG loses the width that makes the book show it at half size).

Every engine returns the executed notebook (outputs as Jupyter renders them: ``image/png`` for
figures, ``text/markdown``/``text/html`` for displays, cell tags untouched) with an
``injected-parameters`` cell after the cell tagged ``parameters``, and raises
:class:`nbclient.exceptions.CellExecutionError` for a failing cell, with the message naming the
cell (index and first lines of its source) and the error (name, value, traceback).
"""

from __future__ import annotations

import atexit
import copy
import inspect
import os
import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

__all__ = ["ENGINES", "DEFAULT_ENGINE", "execute_page_notebook", "shutdown_warm_kernel"]

ENGINES = ("warm", "inprocess", "papermill")
DEFAULT_ENGINE = "warm"
KERNEL = "python3"
#: quiet kernel start and stop (no "connecting to kernel" chatter in the workers' logs)
_KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute_page_notebook(
    nb: NotebookNode, parameters: dict, cwd: str, timeout: float, *, engine: str = DEFAULT_ENGINE
) -> NotebookNode:
    """Execute a copy of ``nb`` with ``parameters`` injected, working directory ``cwd``; return it.

    ``timeout`` [s] bounds each cell (engines ``"warm"`` and ``"papermill"``; ``"inprocess"``
    cannot stop a cell). Raises CellExecutionError naming the failing cell and its error,
    CellTimeoutError, DeadKernelError (see the module docstring), or ValueError for an unknown
    engine or a timeout that is not > 0.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine = {engine!r} is not valid; it must be one of {', '.join(ENGINES)}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout = {timeout!r} s is not valid; it must be > 0 s")
    nb = copy.deepcopy(nb)
    if engine == "papermill":
        return _run_papermill(nb, parameters, str(cwd), float(timeout))
    if engine == "inprocess":
        return _run_inprocess(nb, parameters, str(cwd))
    with _WARM_LOCK:
        return _run_warm(nb, parameters, str(cwd), float(timeout))


# --------------------------------------------------------------------------- errors
def _cell_error(nb: NotebookNode, index: int, ename: str, evalue: str, traceback: list[str]) -> Exception:
    """The error of code cell ``nb.cells[index]``: its index in the template, its first source lines, the traceback."""
    from nbclient.exceptions import CellExecutionError  # imported here: the notebook stack is heavy

    cell = nb.cells[index]
    # the index in the template: not counting the cell the engine injected
    index -= sum("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells[:index])
    lines = cell.source.splitlines()
    preview = "\n".join(lines[:6]) + ("\n..." if len(lines) > 6 else "")
    tags = cell.get("metadata", {}).get("tags", [])
    tb = _ANSI.sub("", "\n".join(traceback)).strip()
    text = (
        f"cell {index} of the page{f' (tags: {tags})' if tags else ''} raised {ename}: {evalue}\n"
        f"--- the cell ---\n{preview}\n--- traceback ---\n{tb}"
    )
    return CellExecutionError(text, ename, evalue)


def _first_error(nb: NotebookNode) -> tuple[int, dict] | None:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                return i, out
    return None


def _reraise_cell_error(nb: NotebookNode, exc: BaseException) -> None:
    found = _first_error(nb)
    if found is None:
        raise exc
    i, out = found
    raise _cell_error(
        nb, i, out.get("ename", type(exc).__name__), out.get("evalue", str(exc)), out.get("traceback", [])
    )


# --------------------------------------------------------------------------- papermill
def _run_papermill(nb: NotebookNode, parameters: dict, cwd: str, timeout: float) -> NotebookNode:
    import papermill  # imported here: only this engine needs papermill's execution stack
    from papermill.exceptions import PapermillExecutionError  # (same)

    try:
        return papermill.execute_notebook(
            nb,
            None,
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=cwd,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            execution_timeout=timeout,
            extra_arguments=_KERNEL_ARGS,
        )
    except PapermillExecutionError as exc:
        # papermill numbers its own error cell in; name the page's cell instead
        idx = next(
            (i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source == exc.source), exc.cell_index
        )
        raise _cell_error(nb, idx, exc.ename, exc.evalue, exc.traceback) from None


# --------------------------------------------------------------------------- state a page may change
def _capture() -> dict:
    """What a page may change in its interpreter: matplotlib's rc parameters and backend, the
    inline backend's figure formats (``%config InlineBackend...``), the warnings filters,
    ``sys.path`` and ``os.environ``. Self-contained: its source is also sent to the warm kernel."""
    import copy as _copy  # imported here: the function's source runs in the kernel too
    import os as _os  # (same)
    import sys as _sys  # (same)
    import warnings as _warnings  # (same)

    import matplotlib as _mpl  # (same)

    rc = {k: _copy.deepcopy(v) for k, v in _mpl.rcParams.items() if k != "backend"}
    backend = _mpl.rcParams._get_backend_or_none()  # None: not chosen yet (choosing it imports a GUI)
    state = {"rc": rc, "backend": backend, "filters": list(_warnings.filters), "path": list(_sys.path)}
    inline = _sys.modules.get("matplotlib_inline.config")
    if inline is not None and inline.InlineBackend.initialized():  # %config InlineBackend.* of a page
        cfg = inline.InlineBackend.instance()
        state["inline"] = (cfg.figure_format, set(cfg.figure_formats), _copy.deepcopy(cfg.print_figure_kwargs))
    return {**state, "environ": dict(_os.environ)}


def _restore(state: dict, cwd: str) -> None:
    """Close every matplotlib figure, put back what :func:`_capture` saved, and chdir to ``cwd``."""
    import os as _os  # imported here: the function's source runs in the kernel too
    import sys as _sys  # (same)
    import warnings as _warnings  # (same)

    import matplotlib as _mpl  # (same)
    import matplotlib.pyplot as _plt  # (same)

    _plt.close("all")
    if state["backend"] is not None and _mpl.rcParams._get_backend_or_none() != state["backend"]:
        _plt.switch_backend(state["backend"])
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        _mpl.rcParams.update(state["rc"])
    inline = _sys.modules.get("matplotlib_inline.config")
    if "inline" in state and inline is not None:
        cfg = inline.InlineBackend.instance()
        if (cfg.figure_format, set(cfg.figure_formats), cfg.print_figure_kwargs) != state["inline"]:
            cfg.figure_format, cfg.figure_formats, cfg.print_figure_kwargs = state["inline"]
    _warnings.filters[:] = state["filters"]
    getattr(_warnings, "_filters_mutated", lambda: None)()
    _sys.path[:] = state["path"]
    if dict(_os.environ) != state["environ"]:
        _os.environ.clear()
        _os.environ.update(state["environ"])
    _os.chdir(cwd)


def _new_session() -> None:
    """IPython's reset (every variable, ``In``/``Out``, the execution counter back to 1) without
    its full garbage collection (0.1 s per page; the collector runs as usual later)."""
    import gc as _gc  # imported here: the function's source runs in the kernel too

    from IPython import get_ipython  # (same)

    collect, _gc.collect = _gc.collect, lambda *args, **kwargs: 0
    try:
        get_ipython().reset(new_session=True)
    finally:
        _gc.collect = collect


#: defines the module ``_cmsi_page_state`` in the warm kernel, holding the state after kernel start
_KERNEL_SNAPSHOT = (
    "%matplotlib inline\n"
    "import sys as _s, types as _t\n"
    "_m = _t.ModuleType('_cmsi_page_state')\n"
    "exec({src!r}, _m.__dict__)\n"
    "_m.saved = _m._capture()\n"
    "_s.modules['_cmsi_page_state'] = _m\n"
    "del _s, _t, _m\n"
)
#: before each page in the warm kernel: back to that state, then a new IPython session
_KERNEL_RESET = (
    "import sys as _s\n"
    "_s.modules['_cmsi_page_state']._restore(_s.modules['_cmsi_page_state'].saved, {cwd!r})\n"
    "_s.modules['_cmsi_page_state']._new_session()\n"
)


# --------------------------------------------------------------------------- warm kernel
class _WarmKernel:
    """One Jupyter kernel kept alive across pages, with a blocking client for the resets."""

    def __init__(self, cwd: str):
        from jupyter_client import AsyncKernelManager, BlockingKernelClient  # imported here: kernel stack
        from jupyter_core.utils import run_sync  # (same)

        self._run_sync = run_sync
        self._akc, self._akc_thread = None, None
        self.km = AsyncKernelManager(kernel_name=KERNEL)
        run_sync(self.km.start_kernel)(extra_arguments=_KERNEL_ARGS, cwd=cwd)
        # its own session (sharing the manager's would see every broadcast message twice); the
        # manager as parent: "alive" is the process running, not heartbeats (missed under load)
        self.kc = BlockingKernelClient(parent=self.km)
        self.kc.load_connection_info(self.km.get_connection_info())
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        src = "\n\n".join(inspect.getsource(f) for f in (_capture, _restore, _new_session))
        self.run_silent(_KERNEL_SNAPSHOT.format(src=src), timeout=120)

    def client(self):
        """The kernel client nbclient uses, kept across pages (one per thread: its sockets belong to
        the thread's event loop); starting one costs 0.2 s."""
        if self._akc is None or self._akc_thread != threading.get_ident():
            if self._akc is not None:
                self._akc.stop_channels()
            self._akc, self._akc_thread = self.km.client(), threading.get_ident()
            self._akc.start_channels()
            self._run_sync(self._akc.wait_for_ready)(timeout=60)
        return self._akc

    def run_silent(self, code: str, timeout: float) -> None:
        """Run ``code`` without history or outputs; RuntimeError if it fails."""
        reply = self.kc.execute_interactive(
            code, silent=True, store_history=False, timeout=timeout, output_hook=lambda msg: None
        )
        if reply["content"]["status"] != "ok":
            c = reply["content"]
            raise RuntimeError(f"resetting the warm kernel failed: {c.get('ename')}: {c.get('evalue')}")

    def reset(self, cwd: str) -> None:
        """A clean page: new IPython session, figures closed, snapshot restored, working directory ``cwd``."""
        self.run_silent(_KERNEL_RESET.format(cwd=cwd), timeout=60)

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
            if self._akc is not None:
                self._akc.stop_channels()
            self._run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - a kernel that is already gone is shut down
            pass


_WARM: _WarmKernel | None = None
_WARM_LOCK = threading.Lock()


def shutdown_warm_kernel() -> None:
    """Stop this process's warm kernel, if any (also run at exit)."""
    global _WARM
    if _WARM is not None:
        _WARM.shutdown()
        _WARM = None


atexit.register(shutdown_warm_kernel)


def _run_warm(nb: NotebookNode, parameters: dict, cwd: str, timeout: float) -> NotebookNode:
    global _WARM
    import nbformat  # imported here: the notebook stack is heavy, and importing this module is not
    from nbclient import NotebookClient  # (same)
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError  # (same)
    from papermill.parameterize import parameterize_notebook  # (same)

    nb = nbformat.v4.upgrade(nb)
    nb.metadata.setdefault("papermill", {"parameters": {}})
    for cell in nb.cells:  # as papermill prepares a notebook: every cell has tags
        cell.metadata.setdefault("tags", [])
    nb = parameterize_notebook(nb, parameters, kernel_name=KERNEL, language="python")
    if _WARM is not None and not _WARM._run_sync(_WARM.km.is_alive)():
        shutdown_warm_kernel()
    if _WARM is None:
        _WARM = _WarmKernel(cwd)
    _WARM.reset(cwd)
    client = NotebookClient(
        nb, km=_WARM.km, timeout=timeout, kernel_name=KERNEL, allow_errors=False, resources={"metadata": {"path": cwd}}
    )
    client.kc = _WARM.client()
    try:
        client.execute()
    except CellExecutionError as exc:
        _reraise_cell_error(nb, exc)
    except (CellTimeoutError, DeadKernelError):
        shutdown_warm_kernel()  # a cell may still be running, or the kernel is gone: start anew next page
        raise
    finally:
        atexit.unregister(client._cleanup_kernel)  # the client registered itself; it holds the page
    return nb


# --------------------------------------------------------------------------- in process
def _run_inprocess(nb: NotebookNode, parameters: dict, cwd: str) -> NotebookNode:
    import nbformat  # imported here: the notebook stack is heavy
    from ploomber_engine.ipython import PloomberClient  # (same; and only this engine needs it)

    saved, back_to = _capture(), os.getcwd()
    nb = nbformat.v4.upgrade(nb)
    client = PloomberClient(nb, display_stdout=False, progress_bar=False, cwd=cwd)
    try:
        out = client.execute(parameters=parameters)
    except Exception as exc:  # noqa: BLE001 - any error of a page's cell
        got = client._nb
        got.cells = [c for c in got.cells if "ploomber-engine-error-cell" not in c.metadata.get("tags", [])]
        _reraise_cell_error(got, exc)
    finally:
        _restore(saved, back_to)
    for cell in out.cells:
        cell.metadata.pop("ploomber", None)
    return out
