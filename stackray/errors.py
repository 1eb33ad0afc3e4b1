"""How failures and interrupts reach the person at the terminal: one clear line and an exit code.

Why one module: every command (and jobs/run_active.py) ends the same way. A mistake the user can fix
(a bad config key, a missing file, a garbage ledger line, no network for an ``hf:`` spec) prints one
line naming the problem and exits 2; an unanswered label request exits 3; Ctrl-C exits 130 and
SIGTERM 143; anything else is a bug and prints one line too. ``--debug`` adds the full traceback.

Ray hides errors behind its own: an exception raised in an actor arrives as a `RayTaskError`, as an
`UnserializableException` when its class cannot be rebuilt from its pickle, or, when it was raised in
an actor's constructor, as an `ActorDiedError` that keeps only the text. `ray_get` unwraps all three
into the original exception (rebuilt from its message when Ray could not rebuild it), and waits in
short slices so that the driver never sits in one long uninterruptible wait.
"""

from __future__ import annotations

import builtins
import re
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable

WAIT_SLICE_S = 0.25  # longest single wait inside `ray_get`: signals are handled at least this often

EXIT_USER_ERROR = 2
EXIT_LABEL_TIMEOUT = 3
EXIT_INTERNAL_ERROR = 1
DEBUG_HELP = "show the full traceback of an error (for developers)"


class UserError(Exception):
    """A problem the user fixes that is not a ValueError or an OSError (those count already)."""


class NoNetworkError(UserError, ConnectionError):
    """A remote resource (the Hugging Face hub) cannot be reached from this machine."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived. `message` is what the user is told (e.g. how to resume)."""

    def __init__(self, signum: int = signal.SIGINT, message: str = "interrupted") -> None:
        super().__init__(message)
        self.signum = int(signum)
        self.message = message

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


# ---- signals ------------------------------------------------------------------------------------------
_last_signal: int | None = None


def _on_signal(signum: int, frame: Any) -> None:
    global _last_signal
    _last_signal = signum
    raise Interrupted(signum)


def install_signal_handlers() -> dict[int, Any]:
    """SIGINT and SIGTERM raise `Interrupted` in the main thread, so `finally` blocks run and Ray is shut
    down. Returns the handlers replaced (none off the main thread, where signals cannot be handled).

    Call it again after `ray.init`: Ray's core worker installs a C++ SIGTERM handler that prints a stack
    dump and aborts, and Python's own handler only comes back when it is set again.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, _on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}


def signal_handlers_installed() -> bool:
    """Whether `install_signal_handlers` owns SIGTERM now (so whoever starts Ray must take it back after)."""
    return signal.getsignal(signal.SIGTERM) is _on_signal


def received_signal() -> int:
    """The last signal `install_signal_handlers` caught (SIGINT when none): Ray re-raises a signal
    handler's exception inside `ray.get` as a plain KeyboardInterrupt, so the number is kept here."""
    return signal.SIGINT if _last_signal is None else _last_signal


def as_interrupted(exc: KeyboardInterrupt, message: str) -> Interrupted:
    """`exc` (any KeyboardInterrupt, whatever signal caused it) as an `Interrupted` telling `message`."""
    signum = exc.signum if isinstance(exc, Interrupted) else received_signal()
    return Interrupted(signum, message)


# ---- Ray --------------------------------------------------------------------------------------------------
def ray_get(refs: Any, *, timeout: float | None = None) -> Any:
    """`ray.get(refs)` that stays interruptible and raises the actor's own exception.

    Waits in slices of at most WAIT_SLICE_S, so Ctrl-C and SIGTERM are acted on within a slice however
    long the actor takes (a human-oracle label may take an hour). `timeout` (seconds) bounds the whole
    wait with Ray's GetTimeoutError. Errors are unwrapped by `unwrap_ray_error`.
    """
    import ray
    from ray.exceptions import GetTimeoutError, RayError

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return ray.get(refs, timeout=WAIT_SLICE_S if left is None else min(WAIT_SLICE_S, left))
        except GetTimeoutError:
            if left is not None and left <= WAIT_SLICE_S:
                raise
        except RayError as exc:
            cause = unwrap_ray_error(exc)
            if cause is exc:
                raise
            raise cause from exc


def unwrap_ray_error(exc: BaseException) -> BaseException:
    """The exception an actor raised, behind Ray's wrapper; `exc` itself when there is none.

    Ray-side failures that are not the actor's own exception (an actor process that died, a lost
    node) are returned unchanged: callers restart actors on them.
    """
    from ray.exceptions import ActorDiedError, RayError, RayTaskError, UnserializableException

    if isinstance(exc, RayTaskError):
        cause = exc.cause
        if isinstance(cause, (RayTaskError, UnserializableException, ActorDiedError)):
            return unwrap_ray_error(cause)  # a task that failed waiting on another task
        if isinstance(cause, RayError):  # the cause could not be pickled: Ray kept only its text
            return rebuild_from_text(exc.traceback_str) or exc
        return cause if isinstance(cause, Exception) else exc
    if isinstance(exc, UnserializableException):
        return rebuild_from_text(getattr(exc, "_original_stack_trace", None) or str(exc)) or exc
    if isinstance(exc, ActorDiedError) and exc.actor_init_failed:
        return rebuild_from_text(str(exc)) or exc
    return exc


# "package.module.ClassName: message" at the start of a line: how a traceback names its exception.
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*): (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def rebuild_from_text(text: str) -> Exception | None:
    """The first non-Ray exception named in a formatted traceback, rebuilt from its message.

    Only classes already imported here are rebuilt (nothing is imported on the word of a text); the
    instance carries the message but not the attributes its constructor would have set.
    """
    from ray.exceptions import RayError

    lines = _ANSI.sub("", text or "").splitlines()
    for i, line in enumerate(lines):
        match = _EXCEPTION_LINE.match(line)
        cls = _loaded_class(match.group(1)) if match else None
        if cls is None or not issubclass(cls, Exception) or issubclass(cls, RayError):
            continue
        message = "\n".join([match.group(2), *_continuation(lines[i + 1:])])
        return _instantiate(cls, message)
    return None


def _loaded_class(dotted: str) -> type | None:
    module, _, name = dotted.rpartition(".")
    owner = sys.modules.get(module) if module else builtins
    cls = getattr(owner, name, None) if owner is not None else None
    return cls if isinstance(cls, type) else None


def _continuation(lines: list[str]) -> list[str]:
    """The rest of a multi-line exception message: up to the next traceback or blank line."""
    out = []
    for line in lines:
        if not line.strip() or line.startswith(("Traceback ", "During handling", "The above exception")):
            break
        out.append(line)
    return out


def _instantiate(cls: type, message: str) -> Exception | None:
    try:
        exc = cls(message)
        if str(exc) == message:
            return exc
    except Exception:
        pass
    try:  # a constructor with other arguments: bypass it, keep the message
        exc = cls.__new__(cls, message)
        BaseException.__init__(exc, message)
        return exc if str(exc) == message else None
    except Exception:
        return None


# ---- the end of a command ---------------------------------------------------------------------------------
def _user_error_types() -> tuple[type, ...]:
    from stackray.budget import FileLockedError

    # ValueError covers config, data and ledger-integrity errors (ConfigError, DataError); OSError covers
    # missing or unreadable user paths, a full disk and an unreachable cluster address.
    return UserError, ValueError, OSError, FileLockedError


def describe(exc: BaseException, prog: str) -> tuple[int, str]:
    """(exit code, the one line telling the user) for an exception that ended command `prog`."""
    from stackray.budget import LabelTimeoutError

    if isinstance(exc, KeyboardInterrupt):
        exc = exc if isinstance(exc, Interrupted) else as_interrupted(exc, "interrupted")
        return exc.exit_code, exc.message
    if isinstance(exc, LabelTimeoutError):  # annotators were slow: the run is checkpointed, not failed
        return EXIT_LABEL_TIMEOUT, f"{prog}: {exc}"
    if isinstance(exc, _user_error_types()):
        return EXIT_USER_ERROR, f"{prog}: error: {exc}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return EXIT_INTERNAL_ERROR, (f"{prog}: internal error: {type(exc).__name__}: {first} "
                                 "(run again with --debug for the traceback)")


def run_guarded(prog: str, command: Callable[[], int | None], *, debug: bool = False) -> int:
    """Run `command` and turn what ends it into an exit code and one line on stderr (plus the
    traceback with `debug`). SIGINT and SIGTERM are caught while it runs."""
    global _last_signal
    _last_signal = None
    previous = install_signal_handlers()
    try:
        return int(command() or 0)
    except (Exception, KeyboardInterrupt) as exc:
        code, line = describe(exc, prog)
        if debug:
            traceback.print_exc()
        print(line, file=sys.stderr)
        return code
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: a handler set outside Python, which cannot be put back
                signal.signal(signum, handler)
