"""What starting Julia changes in this process, and how it is put back.

docs/bridge.md, "What embedding Julia changes in the process, and how it is restored",
explains each item; this module is its implementation.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import stat

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
