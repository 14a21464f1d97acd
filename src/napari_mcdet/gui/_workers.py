"""One way for the widgets to run long work in a thread and report its failure once, clearly.

napari's own ``create_worker`` sends a worker's exception to napari's notification manager (with
a traceback whose frames list every local, a whole model included) and, unless an ``errored``
handler is given at creation, raises it again in the GUI thread: one failure would show up to
three times, none of them in the widget. :func:`make_worker` builds a plain superqt worker whose
only error path is the widget's handler, which gets a one-line message.

:class:`WorkerWidget` is the base of every dock widget that runs long work: one worker at a time,
its progress bar, Cancel (the work stops itself at its next check, so a training generator still
closes and saves), the run buttons disabled meanwhile, and one error path to the status line and
napari's notifications. It also fixes the name of the layer-list refresh, ``_refresh_layers``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QWidget

__all__ = ["WorkerWidget", "error_text", "make_worker"]

log = logging.getLogger(__name__)


def error_text(what: str, err: BaseException) -> str:
    """``'<what> failed: <message>'``; the exception's type name stands in for an empty message,
    and precedes messages of errors that are not plain input errors."""
    message = str(err).strip() or type(err).__name__
    if not isinstance(err, ValueError | FileNotFoundError | OSError):
        message = f"{type(err).__name__}: {message}"
    return f"{what} failed: {message}"


def make_worker(
    func: Callable[..., Any],
    *,
    what: str,
    on_error: Callable[[str], Any],
    **connect: Callable[..., Any],
) -> Any:
    """A worker (not started) running ``func()``; call ``.start()`` on it.

    Parameters
    ----------
    func : callable
        A function (``returned`` gets its result) or a generator function (``yielded`` gets
        each item, ``returned`` its return value).
    what : str
        What the work is, for the message ("scoring", "detection"...).
    on_error : callable(str)
        Gets ``error_text(what, err)`` in the GUI thread when ``func`` raises; the exception
        goes nowhere else (its traceback is logged at debug level).
    **connect
        Other signals to connect: ``returned=...``, ``yielded=...``, ``finished=...``.
    """
    from superqt.utils import create_worker

    def errored(err: BaseException) -> None:
        log.debug("%s failed", what, exc_info=(type(err), err, err.__traceback__))
        on_error(error_text(what, err))

    return create_worker(func, _start_thread=False, _connect={"errored": errored, **connect})


class _Ticks(QObject):
    """Carries ``(done, total)`` from the worker thread to the GUI thread (a queued signal)."""

    tick = Signal(int, int)


class WorkerWidget(QWidget):
    """Base of the plugin's dock widgets: the viewer, the layer-list refresh and one worker.

    Subclasses build their form, then set the attributes below and call :meth:`follow_layers`.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    parent : QWidget, optional

    Attributes
    ----------
    viewer : napari.Viewer
    worker : superqt worker or None
        The running work; None when idle.
    status : QLabel
        Where messages go (:meth:`say`; a subclass with another kind of label overrides it).
    progress : QProgressBar or None
        Driven by :meth:`show_progress`.
    run_buttons : list of QPushButton
        Disabled while a worker runs.
    cancel_button : QPushButton or None
        Enabled only while a worker runs.
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.worker: Any = None
        self.progress: Any = None
        self.run_buttons: list[Any] = []
        self.cancel_button: Any = None
        self._stop = threading.Event()
        self._what = ""
        self._total = 0
        self._ticks = _Ticks(self)
        self._ticks.tick.connect(self.show_progress)

    # -- layers --------------------------------------------------------------------------------
    def follow_layers(self, *events: str) -> None:
        """Call :meth:`_refresh_layers` now and whenever a layer is added or removed (and on
        the other layer-list ``events`` named)."""
        for name in ("inserted", "removed", *events):
            getattr(self.viewer.layers.events, name).connect(self._refresh_layers)
        self._refresh_layers()

    def _refresh_layers(self, _event: Any = None) -> None:
        """Update the widget's layer choices from the viewer's layer list."""
        raise NotImplementedError

    # -- messages ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Show ``text`` in the status line."""
        self.status.setText(text)

    def show_error(self, text: str) -> None:
        """Show ``text`` in the status line and as one napari error notification."""
        from napari.utils.notifications import show_error

        self.say(text)
        show_error(text)

    def on_worker_error(self, text: str) -> None:
        """The worker failed (``text`` is :func:`error_text`'s line); override to also drop
        results that no longer hold."""
        self.show_error(text)

    # -- progress ------------------------------------------------------------------------------
    def report_progress(self, done: int, total: int) -> None:
        """``progress(done, total)`` callback for core functions; safe from any thread."""
        self._ticks.tick.emit(int(done), int(total))

    def show_progress(self, done: int, total: int) -> None:
        """Set the progress bar to ``done`` of ``total`` (``total`` 0: busy, length unknown)."""
        if self.progress is not None:
            self.progress.setRange(0, max(int(total), 0))
            self.progress.setValue(int(done))

    # -- running -------------------------------------------------------------------------------
    def start_worker(self, work: Callable[..., Any], *, what: str, busy: str,
                     total: int = 0, returned: Callable[[Any], Any] | None = None,
                     yielded: Callable[[Any], Any] | None = None) -> Any:
        """Run ``work(should_stop)`` in a worker thread unless one is running.

        Parameters
        ----------
        work : callable
            Called in the worker thread with one argument, ``should_stop()`` (True once Cancel
            was pressed for this run); a function (``returned`` gets its result) or a generator
            function (``yielded`` gets each item). It must stop by itself when asked.
        what : str
            What the work is, for messages ("detection", "training"...).
        busy : str
            The status while it runs.
        total : int
            The progress bar's length at the start (0: busy until :meth:`report_progress`).
        returned, yielded : callable, optional
            Called in the GUI thread.

        Returns
        -------
        worker or None
            None (and a message) when another worker is still running.
        """
        if self.worker is not None:
            self.say(f"busy: wait for the running {self._what}")
            return None
        stop = threading.Event()  # one per run: a late Cancel never stops the next run
        connect = {"finished": self._worker_finished}
        connect |= {k: v for k, v in (("returned", returned), ("yielded", yielded)) if v}
        self.worker = make_worker(partial(work, stop.is_set), what=what,
                                  on_error=self.on_worker_error, **connect)
        self._stop, self._what, self._total = stop, what, total
        self._set_running(True)
        self.show_progress(0, total)
        self.say(busy)
        self.worker.start()
        return self.worker

    @property
    def cancelled(self) -> bool:
        """Whether Cancel was pressed during the latest run."""
        return self._stop.is_set()

    def cancel(self) -> None:
        """Ask the running work to stop at its next check of ``should_stop``."""
        if self.worker is not None:
            self._stop.set()
            self.say("cancelling...")

    def _worker_finished(self) -> None:
        self.worker = None
        self._set_running(False)
        if self._total == 0:
            self.show_progress(1, 1)  # a busy bar ends full

    def _set_running(self, running: bool) -> None:
        for button in self.run_buttons:
            button.setEnabled(not running)
        if self.cancel_button is not None:
            self.cancel_button.setEnabled(running)
