"""One way for the widgets to run long work in a thread and report its failure once, clearly.

napari's own ``create_worker`` sends a worker's exception to napari's notification manager (with
a traceback whose frames list every local, a whole model included) and, unless an ``errored``
handler is given at creation, raises it again in the GUI thread: one failure would show up to
three times, none of them in the widget. :func:`make_worker` builds a plain superqt worker whose
only error path is the widget's handler, which gets a one-line message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["error_text", "make_worker"]

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
