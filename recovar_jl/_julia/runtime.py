"""The bridge-owned thread that runs Julia, the job slot it serves, and fork handling.

Julia starts on the first kernel call, on one bridge-owned thread that makes every Julia
call (Julia <= 1.8 cannot be entered from threads it does not know). Callers from any
Python thread hand their call to that thread and wait; the GIL is released while Julia
computes (ctypes releases it around foreign calls).
"""
from __future__ import annotations

import ctypes
import os
import signal
import threading

from . import locate
from .cabi import _JobSlot
from .errors import _CORE_HINT, _FFTW_HINT, _SETUP_HINT, JuliaSetupError
from .process import (_dispatch_supported, _give_julia_its_own_stdio, _install_signal_dispatch, _libc,
                      _ProcessState, _thread_ids)


def _thread_count() -> int:
    value = os.environ.get("RECOVAR_JL_NUM_THREADS", "")
    if value.strip():
        try:
            count = int(value)
        except ValueError:
            raise JuliaSetupError(f"RECOVAR_JL_NUM_THREADS={value!r} is not an integer") from None
        if count < 1:
            raise JuliaSetupError(f"RECOVAR_JL_NUM_THREADS={value!r} must be at least 1")
        return count
    return os.cpu_count() or 1


class _Semaphore:
    """An unnamed POSIX semaphore; `wait` releases the GIL (ctypes) and lets signals through."""

    _libc = _libc

    def __init__(self):
        self.buffer = ctypes.create_string_buffer(64)  # sizeof(sem_t) is 32 on 64-bit Linux
        if self._libc.sem_init(self.buffer, 0, 0) != 0:
            raise JuliaSetupError(f"sem_init failed (errno {ctypes.get_errno()})")

    def post(self):
        self._libc.sem_post(self.buffer)

    def wait(self, spin: int = 200):
        # Try a few times before sleeping: short kernels finish within the spin.
        trywait = self._libc.sem_trywait
        for _ in range(spin):
            if trywait(self.buffer) == 0:
                return
        # EINTR returns to Python, which runs pending signal handlers (Ctrl-C) here.
        while self._libc.sem_wait(self.buffer) != 0:
            pass

    def wait_interruptible(self, spin: int = 200) -> bool:
        """Take the token (True), or return False when a signal interrupted the wait."""
        trywait = self._libc.sem_trywait
        for _ in range(spin):
            if trywait(self.buffer) == 0:
                return True
        return self._libc.sem_wait(self.buffer) == 0


class _Runtime:
    """libjulia on one thread, which runs Julia's `serve` loop; `run` hands it one job."""

    def __init__(self):
        self._ready = threading.Event()
        self._lock = threading.Lock()   # one job in the slot at a time
        self._request, self._done = _Semaphore(), _Semaphore()
        self._slot = _JobSlot()
        self.error: BaseException | None = None
        self.facts: dict = {}
        self.lib = None
        self.pid = os.getpid()
        self._thread = threading.Thread(target=self._serve, name="recovar_jl-julia", daemon=True)
        self._thread.start()

    def wait_ready(self):
        """Wait until Julia has started (or failed to); a Ctrl-C here leaves the start running."""
        self._ready.wait()

    def _serve(self):
        try:
            self._start()
        except BaseException as exc:  # reported to every caller
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        slot = ctypes.addressof(self._slot)
        request = ctypes.addressof(self._request.buffer)
        done = ctypes.addressof(self._done.buffer)
        # Blocks this thread inside Julia for the life of the process, GIL released.
        self.lib.jl_eval_string(f"Main.RecovarCore.serve(Ptr{{Main.RecovarCore.JobSlot}}({slot}), "
                                f"Ptr{{Cvoid}}({request}), Ptr{{Cvoid}}({done}))".encode())

    def _start(self):
        state = _ProcessState()
        julia = locate.find_julia()
        facts = locate.probe_julia(julia)
        facts["julia"] = julia
        self.facts = facts
        # Julia 1.5 brings its own libunwind, loaded globally; without libgcc_s first in the
        # global namespace, C++ extensions loaded later (matplotlib, pybind11) abort on their
        # first internal exception because the wrong _Unwind_* symbols are found.
        try:
            ctypes.CDLL("libgcc_s.so.1", mode=ctypes.RTLD_GLOBAL)
        except OSError:
            pass
        try:
            lib = ctypes.CDLL(facts["libjulia"], ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise JuliaSetupError(f"libjulia of {julia} ({facts['libjulia']}) could not be loaded: {exc}; "
                                  f"{_SETUP_HINT}") from None
        threads = _thread_count()
        # Julia's GC stops threads through signals: with more than one thread Julia must
        # install its handlers; those it needs get the dispatcher, the others are put back.
        handle = "yes" if threads > 1 else "no"
        thread_option = str(threads) + (",0" if locate._version_tuple(facts["version"]) >= (1, 9) else "")
        args = [b"python", b"--startup-file=no", b"--history-file=no",
                b"--handle-signals=" + handle.encode(), b"--threads=" + thread_option.encode()]
        argc = ctypes.c_int(len(args))
        argv = (ctypes.c_char_p * len(args))(*args)
        argv_ptr = ctypes.cast(argv, ctypes.POINTER(ctypes.c_char_p))
        lib.jl_eval_string.restype = ctypes.c_void_p
        lib.jl_eval_string.argtypes = [ctypes.c_char_p]
        lib.jl_string_ptr.restype = ctypes.c_char_p
        lib.jl_string_ptr.argtypes = [ctypes.c_void_p]
        state.fill_closed_stdio()
        lib.jl_parse_opts(ctypes.byref(argc), ctypes.byref(argv_ptr))
        if hasattr(lib, "jl_init_with_image__threading"):
            init = lib.jl_init_with_image__threading
        else:
            init = lib.jl_init_with_image
        threads_before = _thread_ids()
        init(facts["bindir"].encode(), facts["image"].encode())
        # Julia's threads: this one, and those jl_init started (its workers, its signal
        # thread, its BLAS threads). Their faults are Julia's to report.
        julia_threads = sorted(_thread_ids() - threads_before | {threading.get_native_id()})
        _give_julia_its_own_stdio(lib)
        faults = (signal.SIGSEGV, signal.SIGBUS) if threads > 1 else ()
        julia_signals = faults + (signal.SIGUSR2,) if _dispatch_supported() else faults
        state.restore(keep=julia_signals)
        self.lib = lib
        project = str(locate.package_julia_dir()).replace("\\", "\\\\").replace('"', '\\"')
        code = ('try\n'
                f'    pushfirst!(LOAD_PATH, "{project}")\n'
                '    @eval Main using RecovarCore\n'
                '    ""\n'
                'catch err\n'
                '    sprint(showerror, err)\n'
                'end')
        try:
            self._load_package(code, project)
        finally:
            # Loading may have precompiled in a child process: libuv then installed a SIGCHLD handler.
            state.restore(keep=julia_signals)
        if _dispatch_supported():
            if not _install_signal_dispatch(julia_signals, faults, julia_threads, state.actions):
                state.restore(keep=faults)  # SIGUSR2 back to Python's; faults stay Julia's

    def _load_package(self, code: str, project: str):
        problem = self._eval_text(code)
        if problem:
            if "Failed to precompile" in problem:
                # The cause went to stderr of the precompiling process: load the source
                # once more, uncached, to get it (file and line of a syntax error, say).
                cause = self._eval_text(
                    'try\n'
                    f'    Base.include(Module(:RecovarCoreDiagnosis), joinpath("{project}", "src", "RecovarCore.jl"))\n'
                    '    ""\n'
                    'catch err\n'
                    '    sprint(showerror, err)\n'
                    'end')
                if cause:
                    problem = f"{problem.rstrip('.')}: {cause}"
            raise JuliaSetupError(f"RecovarCore at {locate.package_julia_dir()} failed to load: {problem}; {_CORE_HINT}")
        missing = self._eval_text("Main.RecovarCore.fftw_problem()")
        if missing:
            raise JuliaSetupError(f"the FFTW library could not be loaded ({'; '.join(missing.splitlines())}); "
                                  f"{_FFTW_HINT}")

    def _eval_text(self, code: str) -> str:
        """Evaluate Julia code whose value is a String; returns it."""
        value = self.lib.jl_eval_string(code.encode())
        if not value:
            return "Julia evaluation failed"
        return self.lib.jl_string_ptr(value).decode(errors="replace")

    def run(self, name: bytes, descs, nargs: int, message, keep) -> int:
        """Run one kernel on the Julia thread; returns its status (0 = success).

        Only the main thread receives KeyboardInterrupt. There, the SIGINT handler is
        deferred while the call lock and the two semaphore tokens change hands: an exception
        raised between two of those steps (say, right after `sem_trywait` took the "done"
        token) would leave the lock held forever. A Ctrl-C while Julia computes is still
        delivered at once; the job finishes in the background and frees the lock.
        """
        handler = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
        if not callable(handler):
            return self._run_plain(name, descs, nargs, message)
        pending = []
        signal.signal(signal.SIGINT, lambda signum, frame: pending.append((signum, frame)))
        try:
            while not self._lock.acquire(timeout=0.05):
                if pending:
                    handler(*pending.pop())   # nothing is held yet
            self._post(name, descs, nargs, message)
            while not self._done.wait_interruptible():
                if pending:
                    try:
                        handler(*pending.pop())
                    except BaseException:
                        # The job still runs: keep its buffers alive and free the lock when
                        # it is done, so that the package stays usable.
                        threading.Thread(target=self._finish_interrupted, args=(keep, message, descs),
                                         daemon=True).start()
                        raise
            status = self._slot.status
            self._lock.release()
        finally:
            signal.signal(signal.SIGINT, handler)
        if pending:
            handler(*pending.pop())  # a Ctrl-C that arrived while the call completed
        return status

    def _run_plain(self, name, descs, nargs, message) -> int:
        self._lock.acquire()
        self._post(name, descs, nargs, message)
        self._done.wait()
        status = self._slot.status
        self._lock.release()
        return status

    def _post(self, name, descs, nargs, message):
        slot = self._slot
        slot.name, slot.args, slot.nargs = name, descs, nargs
        slot.message, slot.capacity, slot.status = ctypes.cast(message, ctypes.c_char_p), len(message), -1
        self._request.post()

    def _finish_interrupted(self, *buffers):
        self._done.wait()
        self._lock.release()


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()
_forked_from: int | None = None  # pid of the parent whose Julia this forked child cannot use


def _after_fork_in_child() -> None:
    # The Julia thread does not survive fork(), and libjulia cannot be initialised twice in
    # one address space: a call would wait forever for a thread that is gone. Refuse instead.
    global _forked_from, _runtime_lock
    _runtime_lock = threading.Lock()
    if _runtime is not None and _runtime.error is None and _forked_from is None:
        _forked_from = _runtime.pid


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def runtime() -> _Runtime:
    """The started Julia runtime (starting it on first use); raises JuliaSetupError."""
    global _runtime
    if _forked_from is not None:
        raise JuliaSetupError(
            f"this process was forked from process {_forked_from} after Julia had started there, and "
            "Julia cannot run in a forked child; use multiprocessing with the 'spawn' or 'forkserver' "
            "start method (multiprocessing.set_start_method('spawn')), or fork before the first "
            "recovar_jl kernel call")
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                # Published before waiting: a Ctrl-C during the start must not lead the next
                # call to start a second Julia in this process (jl_init twice segfaults).
                _runtime = _Runtime()
    _runtime.wait_ready()
    if _runtime.error is not None:
        err = _runtime.error
        if isinstance(err, JuliaSetupError):
            raise JuliaSetupError(str(err))
        raise JuliaSetupError(f"Julia could not start: {err}; {_SETUP_HINT}") from err
    return _runtime
