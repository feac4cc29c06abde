"""Child process for tests/bridge/test_host_process.py: records process state before and after Julia.

    python host_process_child.py RESULT_PATH [--thread]

Writes JSON to RESULT_PATH: the state of the process before the first kernel call, after
it, and after more calls (stdio flags and termios, signal actions and mask, C environment,
locale, rlimits, cwd, umask, fds opened since). With --thread Julia is started from a
worker thread.
"""
import ctypes
import fcntl
import json
import os
import resource
import signal
import sys
import termios
import threading

libc = ctypes.CDLL(None)
libc.setlocale.restype = ctypes.c_char_p


def stdio_state(fd):
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return "closed"
    try:
        tty = repr(termios.tcgetattr(fd))  # modes and control characters
    except termios.error:
        tty = None
    return [flags, tty]


def signal_actions():
    actions = {}
    for signum in range(1, 65):
        raw = ctypes.create_string_buffer(152)
        if libc.sigaction(signum, None, raw) == 0:
            handler = int.from_bytes(raw.raw[:8], "little")
            flags = int.from_bytes(raw.raw[136:140], "little") & ~0x04000000  # SA_RESTORER: glibc's
            mask = int.from_bytes(raw.raw[8:16], "little")
            actions[signum] = [handler, flags, mask]
    return actions


def c_environ():
    environ = ctypes.POINTER(ctypes.c_char_p).in_dll(libc, "environ")
    entries, i = [], 0
    while environ[i] is not None:
        entries.append(environ[i].decode(errors="replace"))
        i += 1
    return sorted(entries)


def snapshot():
    umask = os.umask(0)
    os.umask(umask)
    return {
        "stdio": [stdio_state(fd) for fd in (0, 1, 2)],
        "signals": signal_actions(),
        "mask": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "environ": c_environ(),
        "locale": libc.setlocale(6, None).decode(),
        "rlimits": {name: resource.getrlimit(getattr(resource, name))
                    for name in dir(resource) if name.startswith("RLIMIT_")},
        "cwd": os.getcwd(),
        "umask": umask,
    }


def open_fds():
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = fcntl.fcntl(int(name), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        except OSError:
            pass
    return fds


def main():
    result_path = sys.argv[1]
    before = snapshot()
    fds_before = open_fds()
    from recovar_jl import _julia

    def first_call():
        _julia.call("noop")

    if "--thread" in sys.argv:
        worker = threading.Thread(target=first_call)
        worker.start()
        worker.join()
    else:
        first_call()
    after = snapshot()
    _julia.call("print_text", 1, "julia to stdout\n", 1)
    _julia.call("print_text", 2, "julia to stderr\n", 1)
    for _ in range(20):
        _julia.call("noop")
    later = snapshot()
    new_fds = {fd: cloexec for fd, cloexec in open_fds().items() if fd not in fds_before}
    with open(result_path, "w") as out:
        json.dump({"before": before, "after": after, "later": later, "new_fds": new_fds,
                   "julia_threads": _julia.runtime_info()["julia_threads"]}, out)


if __name__ == "__main__":
    main()
