"""The bridge: libjulia embedded in this process through ctypes.

Julia starts on the first kernel call, on one bridge-owned thread that makes every Julia
call (Julia <= 1.8 cannot be entered from threads it does not know). Callers from any
Python thread hand their call to that thread and wait; the GIL is released while Julia
computes (ctypes releases it around foreign calls).

A kernel is called as ``call("name", *args)`` with C-contiguous NumPy arrays, ints, floats
and strings; Julia receives the same memory, no copy (see docs/bridge.md).
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
from pathlib import Path

import numpy as np

__all__ = ["JuliaError", "JuliaSetupError", "call", "info", "runtime_info"]

_SETUP_HINT = ("run 'make setup' (or scripts/setup.sh) in the recovar_jl checkout, or install "
               "Julia >= 1.5 and set RECOVAR_JL_JULIA=/path/to/julia")
_FFTW_HINT = ("install FFTW 3: 'apt-get install libfftw3-single3 libfftw3-double3' on Debian/Ubuntu "
              "(or run 'make setup' in the recovar_jl checkout; elsewhere your system's fftw3 package)")
_CORE_HINT = ("repair or reinstall recovar_jl ('make setup' in the checkout, or "
              "'pip install --force-reinstall recovar_jl'); if only the compile cache is stale, "
              "delete ~/.julia/compiled/v*/RecovarCore")


class JuliaError(RuntimeError):
    """A Julia exception raised inside a kernel; the message is Julia's."""


class JuliaSetupError(RuntimeError):
    """Julia, libjulia, FFTW or RecovarCore could not be found or loaded."""


_ELTYPE_CODES = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.complex64): 3,
                 np.dtype(np.complex128): 4, np.dtype(np.int32): 5, np.dtype(np.int64): 6,
                 np.dtype(np.uint8): 7, np.dtype(np.bool_): 8}
_MAX_DIMS = 8
_MESSAGE_CAPACITY = 8192


class _ArgDesc(ctypes.Structure):
    # Mirrors `ArgDesc` in julia/RecovarCore/src/cabi.jl.
    _fields_ = [("kind", ctypes.c_int64), ("eltype", ctypes.c_int64), ("ndim", ctypes.c_int64),
                ("ptr", ctypes.c_uint64), ("ival", ctypes.c_int64), ("fval", ctypes.c_double),
                ("dims", ctypes.c_int64 * _MAX_DIMS)]


def package_julia_dir() -> Path:
    """Directory of the RecovarCore Julia package (shipped copy, else the source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "RecovarCore", here.parent / "julia" / "RecovarCore"):
        if (candidate / "Project.toml").is_file():
            return candidate
    raise JuliaSetupError(f"RecovarCore Julia package not found next to {here}; reinstall recovar_jl")


def find_julia() -> str:
    """Path of the Julia executable: $RECOVAR_JL_JULIA, else `julia` on PATH."""
    explicit = os.environ.get("RECOVAR_JL_JULIA")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise JuliaSetupError(f"RECOVAR_JL_JULIA={explicit} is not an executable file; {_SETUP_HINT}")
        return explicit
    found = shutil.which("julia")
    if found is None:
        raise JuliaSetupError(f"Julia was not found on PATH; {_SETUP_HINT}")
    return found


_PROBE = r"""
import Libdl
lib = ""
for p in Libdl.dllist()
    if occursin(r"libjulia\.(so|dylib)", basename(p)) || basename(p) == "libjulia.dll"
        global lib = p; break
    end
end
if isempty(lib)
    for name in ("libjulia.so.1", "libjulia.so")
        p = joinpath(Sys.BINDIR, Base.LIBDIR, name)
        if isfile(p); global lib = p; break; end
    end
end
print("{\"version\": \"", VERSION, "\", \"bindir\": \"", escape_string(Sys.BINDIR),
      "\", \"libjulia\": \"", escape_string(realpath(lib)), "\", \"image\": \"",
      escape_string(unsafe_string(Base.JLOptions().image_file)), "\"}")
"""


def probe_julia(julia: str) -> dict:
    """Ask `julia` for its version, bindir, libjulia and system image paths."""
    try:
        # stdin=DEVNULL: a Julia child sharing our stdin pipe would leave it non-blocking.
        out = subprocess.run([julia, "--startup-file=no", "--history-file=no", "-e", _PROBE],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JuliaSetupError(f"could not run {julia}: {exc}; {_SETUP_HINT}") from exc
    if out.returncode != 0:
        raise JuliaSetupError(f"{julia} failed ({out.stderr.strip()[-500:]}); {_SETUP_HINT}")
    try:
        facts = json.loads(out.stdout)
        major, minor = (int(v) for v in facts["version"].split(".")[:2])
        facts = {key: str(facts[key]) for key in ("version", "bindir", "libjulia", "image")}
    except (ValueError, KeyError, TypeError, AttributeError):
        # Not Julia, or a Julia too old to run the probe (it needs 1.5's Libdl and JLOptions).
        printed = (out.stdout.strip() or out.stderr.strip())[:200]
        raise JuliaSetupError(f"{julia} did not answer like Julia >= 1.5 (it printed {printed!r}); "
                              f"{_SETUP_HINT}") from None
    if (major, minor) < (1, 5):
        raise JuliaSetupError(f"{julia} is Julia {facts['version']}; recovar_jl needs 1.5 or newer; {_SETUP_HINT}")
    if not os.path.isfile(facts["libjulia"]):
        raise JuliaSetupError(f"libjulia of {julia} not found; {_SETUP_HINT}")
    return facts


def _version_tuple(version: str) -> tuple:
    return tuple(int(v) for v in version.split("-")[0].split(".")[:2])


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


# ---- What starting Julia changes in this process, and how it is put back -------------------
# docs/bridge.md, "What embedding Julia changes in the process, and how it is restored",
# explains each item; this section is its implementation.

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setlocale.restype = ctypes.c_char_p
_libc.setlocale.argtypes = [ctypes.c_int, ctypes.c_char_p]
_LC_ALL = 6  # glibc
_NSIG = 65
_UNSETTABLE_SIGNALS = (signal.SIGKILL, signal.SIGSTOP)


class _Sigaction(ctypes.Structure):
    # glibc's `struct sigaction` on Linux (x86-64 and aarch64): 152 bytes.
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_uint64 * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]


def _sigaction(signum: int) -> _Sigaction | None:
    """The current action for `signum` (None for signals glibc keeps for itself)."""
    action = _Sigaction()
    if _libc.sigaction(signum, None, ctypes.byref(action)) != 0:
        return None
    return action


def _meaning(action: _Sigaction) -> tuple:
    # glibc adds SA_RESTORER and its restorer to any action it sets: not a difference. Only
    # the first 64 bits of the mask are the kernel's; glibc leaves the rest as it found it.
    return action.handler or 0, action.flags & ~0x04000000, action.mask[0]


def _c_environ() -> dict:
    """The C environment (os.environ is Python's copy taken at start-up; Julia changes the C one)."""
    environ = ctypes.POINTER(ctypes.c_char_p).in_dll(_libc, "environ")
    entries, i = {}, 0
    while environ[i] is not None:
        key, _, value = environ[i].partition(b"=")
        entries[key] = value
        i += 1
    return entries


def _thread_ids() -> set:
    """Linux thread ids of this process's threads."""
    try:
        return {int(tid) for tid in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _fd_flags(fd: int) -> int | None:
    try:
        return fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return None  # closed


class _ProcessState:
    """Process-wide state that jl_init changes, taken before it and put back after it.

    Covers the O_NONBLOCK (and other status) flags of fds 0-2, every signal action, the C
    locale and the C environment. Signals in `keep` (Julia needs them) are left to
    `_install_signal_dispatch`.
    """

    def __init__(self):
        self.stdio_flags = {fd: _fd_flags(fd) for fd in (0, 1, 2)}
        self.actions = {s: _sigaction(s) for s in range(1, _NSIG) if s not in _UNSETTABLE_SIGNALS}
        self.locale = _libc.setlocale(_LC_ALL, None)
        self.environ = _c_environ()
        self.placeholders: list[int] = []

    def fill_closed_stdio(self):
        """Point closed fds 0-2 at /dev/null while Julia starts (libuv aborts on a closed stdio fd)."""
        while any(flags is None and _fd_flags(fd) is None for fd, flags in self.stdio_flags.items()):
            fd = os.open(os.devnull, os.O_RDWR)  # the lowest free fd: one of the closed ones
            if fd > 2:
                os.close(fd)  # another thread took the closed fd meanwhile: it is theirs now
                break
            self.placeholders.append(fd)

    def restore(self, keep=()):
        """Put back what Julia changed, except the signals in `keep`."""
        for fd in self.placeholders:
            os.close(fd)
        self.placeholders = []
        for fd, flags in self.stdio_flags.items():
            if flags is not None and _fd_flags(fd) not in (None, flags):
                fcntl.fcntl(fd, fcntl.F_SETFL, flags)
        for signum, before in self.actions.items():
            if before is None or signum in keep:
                continue
            now = _sigaction(signum)
            if now is not None and _meaning(now) != _meaning(before):
                _libc.sigaction(signum, ctypes.byref(before), None)
        if self.locale is not None and _libc.setlocale(_LC_ALL, None) != self.locale:
            _libc.setlocale(_LC_ALL, self.locale)
        now = _c_environ()
        for key in now.keys() - self.environ.keys():
            _libc.unsetenv(key)
        for key, value in self.environ.items():
            if now.get(key) != value:
                _libc.setenv(key, value, 1)


_JULIA_STDIO_FD = "try Int(Base.cconvert(Cint, Base._fd({}))) catch; -1 end"


def _give_julia_its_own_stdio(lib) -> None:
    """Move Julia's stdio off the file descriptions it shares with fds 0-2.

    jl_init dups fds 0-2 for libuv, which sets O_NONBLOCK on pipes and sockets: on the file
    description, so Python's fds (and the shell's, and the reader's) become non-blocking too.
    Julia's copies get descriptions of their own instead, before libuv has used them: stdin
    a pipe at end of file (kernels never read it), stdout/stderr the same pipe reopened
    through /proc (its own O_NONBLOCK; output still goes straight to the reader), or
    /dev/null when that cannot be done (a socket, a pipe with no reader left). TTYs (libuv
    reopens them itself), regular files and /dev/null are left alone: libuv keeps them blocking.
    """
    lib.jl_unbox_int64.restype, lib.jl_unbox_int64.argtypes = ctypes.c_int64, [ctypes.c_void_p]
    for stream, name in enumerate(("stdin", "stdout", "stderr")):
        value = lib.jl_eval_string(_JULIA_STDIO_FD.format(name).encode())
        julia_fd = lib.jl_unbox_int64(value) if value else -1
        if julia_fd <= 2:
            continue
        mode = os.fstat(julia_fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            continue
        if stream == 0:
            read_end, write_end = os.pipe()
            os.close(write_end)
            replacement = read_end
        else:
            try:
                if not stat.S_ISFIFO(mode):
                    raise OSError("a socket cannot be reopened")
                replacement = os.open(f"/proc/self/fd/{julia_fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:  # no reader any more (ENXIO), no /proc, or a socket
                replacement = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        os.dup2(replacement, julia_fd, inheritable=False)
        os.close(replacement)


# Julia needs some of its signal handlers: with more than one thread, SIGSEGV (threads stop
# at GC safepoints by faulting on a protected page; SIGBUS on some CPUs), and SIGUSR2 (its
# signal thread suspends Julia threads with it). A handler is process-wide, so a crash in
# Python or in a C extension would be reported by Julia as if it were Julia's, and a
# `kill -USR2` meant for Python would be swallowed. This x86-64 dispatcher, installed in
# their place, sends a signal raised on one of Julia's threads to Julia's handler and any
# other to the action that was there before Julia started (Python's faulthandler, Python's
# own handler, or the default); a fatal one first writes one line naming the signal.
#
#       push rdi; push rsi; push rdx
#       mov eax, 186; syscall                   # gettid
#       lea rcx, [rip+data]; mov r8d, [rcx]; xor r9d, r9d
#   1:  cmp r9d, r8d; jae 2f                    # data: int32 count, int32 Julia thread ids
#       cmp eax, [rcx+4+r9*4]; je 3f; inc r9d; jmp 1b
#   3:  pop rdx; pop rsi; pop rdi; mov edi, edi
#       lea rax, [rip+data+1024]; jmp [rax+rdi*8]   # Julia's handler, same arguments
#   2:  mov edi, [rsp+16]; lea rax, [rip+data+1600]; mov rax, [rax+rdi*8]   # the previous action
#       cmp rax, 1; je 5f                       # SIG_IGN: return
#       lea rcx, [rip+data+3400]; cmp byte [rcx+rdi], 0; jne 6f   # fatal signal?
#       test rax, rax; jz 6f
#       pop rdx; pop rsi; pop rdi; jmp rax      # not fatal: the previous handler
#   6:  lea rsi, [rip+data+3328]; xor edx, edx; mov r10d, 8
#       mov eax, 13; syscall                    # rt_sigaction(sig, SIG_DFL, NULL, 8)
#       mov edi, [rsp+16]; lea rax, [rip+data+2176]; mov rsi, [rax+rdi*8]
#       lea rax, [rip+data+2752]; mov rdx, [rax+rdi*8]
#       mov edi, 2; mov eax, 1; syscall         # write(2, message[sig], length[sig])
#       pop rdx; pop rsi; pop rdi; mov edi, edi
#       lea rax, [rip+data+1600]; mov rax, [rax+rdi*8]
#       test rax, rax; jz 4f; jmp rax           # the previous handler (faulthandler, ...)
#   4:  push rdi; mov eax, 39; syscall; push rax    # getpid
#       mov eax, 186; syscall; mov rsi, rax; pop rdi; pop rdx
#       mov eax, 234; syscall; ret              # tgkill(pid, tid, sig): default action on return
#   5:  pop rdx; pop rsi; pop rdi; ret
#   data = code + 4096
_DISPATCH_X86_64 = bytes.fromhex(
    "575652b8ba0000000f05488d0def0f0000448b014531c94539c1731b423b448904740541ffc1ebef5a5e5f89ff"
    "488d05cc130000ff24f88b7c2410488d05fe150000488b04f84883f8010f8487000000488d0df11c0000803c39"
    "00750a4885c074055a5e5fffe0488d35921c000031d241ba08000000b80d0000000f058b7c2410488d05f81700"
    "00488b34f8488d052d1a0000488b14f8bf02000000b8010000000f055a5e5f89ff488d0591150000488b04f848"
    "85c07402ffe057b8270000000f0550b8ba0000000f054889c65f5ab8ea0000000f05c35a5e5fc3")
_DISPATCH_FATAL = 3400
_DISPATCH_TIDS, _DISPATCH_JULIA, _DISPATCH_PREVIOUS, _DISPATCH_TEXT, _DISPATCH_LENGTH = 0, 1024, 1600, 2176, 2752
_DISPATCH_MAX_THREADS = 255
_PAGE = 4096
_dispatch_memory = None  # kept for the life of the process: the kernel jumps into it


def _dispatch_supported() -> bool:
    import platform

    return platform.machine() in ("x86_64", "AMD64")


def _install_signal_dispatch(signals, fatal, julia_thread_ids, before: dict) -> bool:
    """Route `signals` raised on threads other than `julia_thread_ids` to their pre-Julia action.

    Returns False where that cannot be done (not x86-64, no executable memory).
    """
    global _dispatch_memory
    if not _dispatch_supported() or not 0 < len(julia_thread_ids) <= _DISPATCH_MAX_THREADS:
        return False
    mmap_ = _libc.mmap
    mmap_.restype, mmap_.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
    _libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    code = mmap_(None, 3 * _PAGE, 0x1 | 0x2, 0x02 | 0x20, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    if code in (None, ctypes.c_void_p(-1).value):
        return False
    data = code + _PAGE
    ctypes.memmove(code, _DISPATCH_X86_64, len(_DISPATCH_X86_64))
    (ctypes.c_int32 * (1 + len(julia_thread_ids))).from_address(data)[:] = [len(julia_thread_ids), *julia_thread_ids]
    table = {name: (ctypes.c_uint64 * _NSIG).from_address(data + offset)
             for name, offset in (("julia", _DISPATCH_JULIA), ("previous", _DISPATCH_PREVIOUS),
                                  ("text", _DISPATCH_TEXT), ("length", _DISPATCH_LENGTH))}
    is_fatal = (ctypes.c_uint8 * _NSIG).from_address(data + _DISPATCH_FATAL)
    text_at = data + _PAGE
    for signum in signals:
        previous = before.get(signum)
        handler = (previous.handler or 0) if previous is not None else 0
        table["previous"][signum] = handler  # 0 SIG_DFL, 1 SIG_IGN, else a handler
        if signum in fatal:
            is_fatal[signum] = 1
            hint = "" if handler > 1 else " (for a Python traceback, run with 'python -X faulthandler')"
            line = (f"recovar_jl: fatal signal {signal.Signals(signum).name} ({signal.strsignal(signum)}) in a "
                    f"thread that is not Julia's; see docs/reliability.md{hint}\n").encode()
            ctypes.memmove(text_at, line, len(line))
            table["text"][signum], table["length"][signum] = text_at, len(line)
            text_at += len(line)
    if _libc.mprotect(code, _PAGE, 0x1 | 0x4) != 0:  # PROT_READ|EXEC
        return False
    _dispatch_memory = code
    for signum in signals:
        julia = _sigaction(signum)
        table["julia"][signum] = julia.handler or 0
        julia.handler = code  # Julia's flags and mask (SA_SIGINFO | SA_ONSTACK) stay
        _libc.sigaction(signum, ctypes.byref(julia), None)
    return True


class _JobSlot(ctypes.Structure):
    # Mirrors `JobSlot` in julia/RecovarCore/src/cabi.jl.
    _fields_ = [("name", ctypes.c_char_p), ("args", ctypes.POINTER(_ArgDesc)), ("nargs", ctypes.c_int),
                ("status", ctypes.c_int), ("message", ctypes.c_char_p), ("capacity", ctypes.c_size_t),
                ("stop", ctypes.c_int)]


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
        julia = find_julia()
        facts = probe_julia(julia)
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
        thread_option = str(threads) + (",0" if _version_tuple(facts["version"]) >= (1, 9) else "")
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
        project = str(package_julia_dir()).replace("\\", "\\\\").replace('"', '\\"')
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
            raise JuliaSetupError(f"RecovarCore at {package_julia_dir()} failed to load: {problem}; {_CORE_HINT}")
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


def _describe(arg, position: int, kernel: str) -> tuple[_ArgDesc, object]:
    desc = _ArgDesc()
    keep = arg
    if isinstance(arg, np.ndarray):
        code = _ELTYPE_CODES.get(arg.dtype)
        if code is None:
            raise TypeError(f"{kernel}: argument {position} has unsupported dtype {arg.dtype}")
        if not arg.flags.c_contiguous or not arg.flags.aligned:
            raise ValueError(f"{kernel}: argument {position} must be C-contiguous and aligned")
        if arg.ndim > _MAX_DIMS:
            raise ValueError(f"{kernel}: argument {position} has more than {_MAX_DIMS} dimensions")
        desc.kind, desc.eltype, desc.ndim = 0, code, arg.ndim
        desc.ptr = arg.ctypes.data if arg.size else 0
        for i, n in enumerate(arg.shape):
            desc.dims[i] = n
    elif isinstance(arg, (bool, np.bool_)):
        desc.kind, desc.ival = 1, int(arg)
    elif isinstance(arg, (int, np.integer)):
        value = int(arg)
        if not -2**63 <= value < 2**63:  # ctypes would silently keep only the low 64 bits
            raise ValueError(f"{kernel}: argument {position} = {value} does not fit in a 64-bit integer")
        desc.kind, desc.ival = 1, value
    elif isinstance(arg, (float, np.floating)):
        desc.kind, desc.fval = 2, float(arg)
    elif isinstance(arg, str):
        keep = arg.encode()
        desc.kind, desc.ival = 3, len(keep)
        desc.ptr = ctypes.cast(ctypes.c_char_p(keep), ctypes.c_void_p).value or 0
        keep = (keep, ctypes.c_char_p(keep))
    else:
        raise TypeError(f"{kernel}: argument {position} of type {type(arg).__name__} cannot go to Julia")
    return desc, keep


def call(kernel: str, *args) -> None:
    """Run the registered Julia kernel `kernel` on `args` (outputs are written in place).

    Arrays must be C-contiguous with a supported dtype (float32/64, complex64/128, int32/64,
    uint8, bool); validate and convert before calling. Raises JuliaError with Julia's message.
    """
    rt = runtime()
    descs = (_ArgDesc * max(len(args), 1))()
    keep = []
    for i, arg in enumerate(args):
        descs[i], held = _describe(arg, i, kernel)
        keep.append(held)
    message = ctypes.create_string_buffer(_MESSAGE_CAPACITY)
    status = rt.run(kernel.encode(), descs, len(args), message, keep)
    if status != 0:
        raise JuliaError(f"{kernel}: {message.value.decode(errors='replace')}")


def runtime_info() -> dict:
    """Facts about the Julia runtime (starts it): version, threads, FFTW, paths."""
    rt = runtime()
    buffer = np.zeros(4096, dtype=np.uint8)
    call("runtime_info", buffer)
    text = bytes(buffer[:np.argmin(buffer)]).decode()
    facts = dict(line.split(": ", 1) for line in text.splitlines())
    facts["julia_executable"] = rt.facts.get("julia", "")
    facts["libjulia"] = rt.facts.get("libjulia", "")
    return facts


def info(file=None) -> None:
    """Print Julia version, threads, FFTW library and RecovarCore path (or what is missing)."""
    import sys

    out = file or sys.stdout
    try:
        facts = runtime_info()
    except JuliaSetupError as exc:
        print(f"recovar_jl: Julia not usable: {exc}", file=out)
        known = _runtime.facts if _runtime is not None else {}
        for key, label in (("julia", "julia_executable"), ("version", "julia_version"), ("libjulia", "libjulia")):
            if known.get(key):
                print(f"{label}: {known[key]}", file=out)
        print(f"recovarcore: {_package_dir_or_problem()}", file=out)
        return
    for key, value in facts.items():
        print(f"{key}: {value}", file=out)


def _package_dir_or_problem() -> str:
    try:
        return str(package_julia_dir())
    except JuliaSetupError as exc:
        return f"NOT FOUND ({exc})"
