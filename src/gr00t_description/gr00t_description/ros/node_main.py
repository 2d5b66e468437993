"""The one `main()` of every gr00t node process: init, spin, and a clean stop on SIGINT or SIGTERM.

rclpy's own signal handler shuts the context down the moment a signal arrives, while the executor
and the node's threads are still running: they then fail with `RCLError`s ("failed to initialize
wait set", "publisher's context is invalid", "Failed get goal status array") and the process
exits 1 or prints tracebacks. Here a signal only sets an event, and the main thread stops things
in dependency order while the context is still valid:

1. `node.shutdown()` (when the node has one) runs while the executor still spins: the node ends
   an active action (its client gets the result), closes files and joins its worker threads;
2. the executor stops and its callbacks finish;
3. `node.destroy_node()` (which may stop more threads, e.g. the simulator's);
4. the context shuts down, later signals are ignored, and the process exits 0 (skipping Python's
   final garbage collection, see `shutdown_context`).

Repeated signals (a terminal's Ctrl-C plus launch's forwarded SIGINT, then SIGTERM) change nothing:
the stop is already under way; a launcher that has waited long enough sends SIGKILL. A signal
that arrives before `main()` runs (while the entry point still imports torch or MuJoCo) still
meets Python's defaults.

It lives in gr00t_description because every node package already depends on it (rclpy is imported
lazily, so the configuration code keeps working without it).
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long the executor thread may sleep between checks when nothing wakes it (it is woken at once
# on a normal stop; this only bounds the delay after an unexpected context shutdown).
_SPIN_PERIOD_S = 0.5
_SIGNAL_CHECK_PERIOD_S = 0.1


def install_stop_handlers(stop: threading.Event | None = None) -> threading.Event:
    """From now on SIGINT and SIGTERM set the returned event (instead of KeyboardInterrupt or the
    default kill), for the rest of the process: a late signal (the second SIGINT of a terminal's
    Ctrl-C under `ros2 launch`) must not raise KeyboardInterrupt in an atexit handler either.

    Outside the main thread (where Python cannot install handlers) the event is returned unchanged.
    """
    stop = stop if stop is not None else threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, lambda _signum, _frame: stop.set())
    return stop


def init_without_signal_handlers(args: list[str] | None = None) -> None:
    """`rclpy.init` that leaves SIGINT/SIGTERM to `install_stop_handlers` (see the module docstring)."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)


def run_node(
    factory: Callable[[], Any],
    *,
    num_threads: int = 1,
    args: list[str] | None = None,
    startup_errors: tuple[type[BaseException], ...] = (),
    startup_exit_code: int = 2,
    report_startup_error: Callable[[BaseException], None] | None = None,
) -> None:
    """Construct the node, spin it until SIGINT/SIGTERM, stop in order; returns normally (exit 0).

    `num_threads` > 1 spins a MultiThreadedExecutor with that many threads, 1 a SingleThreadedExecutor.
    `startup_errors` raised by `factory` (bad parameters, model, backend, config file) end the
    process with `startup_exit_code` and a one-line message (`report_startup_error`, default: the
    node name and the message on stderr) instead of a traceback. Any other exception, and one
    raised by a callback while spinning, still propagates with its traceback after the clean stop.
    """

    stop = install_stop_handlers()
    init_without_signal_handlers(args)
    node = None
    try:
        try:
            node = factory()
        except startup_errors as exc:
            if report_startup_error is not None:
                report_startup_error(exc)
            else:
                print(f"{getattr(factory, '__name__', 'node')}: {exc}", file=sys.stderr)
            raise SystemExit(startup_exit_code) from exc
        spin_until_stopped(node, stop, num_threads=num_threads)
    finally:
        if node is not None:
            node.destroy_node()
        shutdown_context()


def shutdown_context() -> None:
    """The last step before the process exits: `rclpy.try_shutdown`; SIGINT and SIGTERM ignored from now on.

    rclpy would reset the handlers to the defaults, and so does Python while it finalizes (which
    takes a while with torch and DDS loaded): the second SIGINT of a Ctrl-C under `ros2 launch`
    would then kill a process that had stopped cleanly (exit -2). Ignored signals stay ignored.
    """
    import rclpy

    rclpy.try_shutdown(uninstall_handlers=False)
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        # Everything that needed an orderly end has had it. Python's final garbage collection of
        # torch's object graph took 1-8 s on two busy cores (0.4 s without it), past the 5 s after
        # which `ros2 launch` escalates to SIGTERM and then SIGKILL: leave that memory to the OS.
        gc.disable()
        gc.freeze()


def spin_until_stopped(node: Any, stop: threading.Event, *, num_threads: int = 1) -> None:
    """Spin `node` on an executor thread until `stop` is set (or the context ends), then call
    `node.shutdown()` if it has one, still spinning, and stop the executor. A callback's exception
    is raised here, after the stop."""
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    executor = MultiThreadedExecutor(num_threads=num_threads) if num_threads > 1 else SingleThreadedExecutor()
    executor.add_node(node)
    keep_spinning = threading.Event()
    keep_spinning.set()
    failure: list[BaseException] = []

    def spin() -> None:
        try:
            while keep_spinning.is_set() and executor.context.ok():
                executor.spin_once(timeout_sec=_SPIN_PERIOD_S)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread after the stop
            failure.append(exc)
        finally:
            stop.set()

    spinner = threading.Thread(target=spin, name="ros_executor", daemon=True)
    spinner.start()
    try:
        # In slices: a signal delivered to another thread (any thread may take it) runs its Python
        # handler only once the main thread is back in the interpreter, not while it blocks here.
        while not stop.wait(_SIGNAL_CHECK_PERIOD_S):
            pass
        if hasattr(node, "shutdown"):
            node.shutdown()
    finally:
        keep_spinning.clear()
        executor.wake()
        spinner.join()
        shutdown_executor(executor)
    if failure:
        raise failure[0]


def shutdown_executor(executor: Any) -> None:
    """Shut an executor down once nothing spins it any more.

    rclpy 9's Executor.shutdown destroys its guard condition without waiting for the callbacks still
    running on a MultiThreadedExecutor's pool (its wait is skipped); such a callback then fails on the
    guard ("cannot use Destroyable", printed at exit as an exception never retrieved). Let the pool
    finish first; nothing submits to it any more."""
    pool = getattr(executor, "_executor", None)
    if pool is not None:
        pool.shutdown(wait=True)
    executor.shutdown()


def spin_in_background(
    executor: Any, context: Any, name: str = "ros_client_spin", stop: threading.Event | None = None
) -> threading.Thread:
    """A daemon thread spinning `executor` until `context` shuts down or `stop` is set: the ROS side
    of a tool or test client that waits on futures from the main thread. Set `stop` and join the
    thread before shutting the executor down or destroying its nodes (else the spin meets destroyed
    handles). An exception while the context is going down ends the thread quietly; one while it is
    up is raised (a real error)."""
    stop = stop if stop is not None else threading.Event()

    def spin() -> None:
        while context.ok() and not stop.is_set():
            try:
                executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - re-raised unless the context is shutting down
                if context.ok():
                    raise
                return

    thread = threading.Thread(target=spin, name=name, daemon=True)
    thread.start()
    return thread
