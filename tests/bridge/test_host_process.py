"""Starting Julia leaves the Python process as it was (issue 12, docs/bridge.md).

Every test runs its own Python process through real pipes, sockets, files and terminals:
the state of the stdio fds, signals, environment, locale, limits and fds; output through
slow readers and into `head -1`; crash reports; child processes and exit statuses.
"""
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHILD = HERE / "host_process_child.py"
ROOT = HERE.parent
ENV = dict(os.environ, RECOVAR_JL_NUM_THREADS="2")  # two threads: Julia's signal handlers are installed


def _python(code, **kwargs):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=kwargs.pop("env", ENV), **kwargs)


# ---- the state of the process before and after Julia starts --------------------------------------
def _stdio(kind, fd, keep):
    """An fd of `kind` for the child's fd `fd`; returns (child fd or None for closed, parent's end)."""
    if kind == "pipe":
        read_end, write_end = os.pipe()
        keep.extend([read_end, write_end])
        return (read_end if fd == 0 else write_end), (write_end if fd == 0 else read_end)
    if kind == "socket":
        mine, theirs = socket.socketpair()
        keep.extend([mine, theirs])
        return theirs.fileno(), mine
    if kind == "file":
        path = f"/tmp/recovar_jl_host_{os.getpid()}_{fd}.txt"
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.unlink(path)
        keep.append(handle)
        return handle, None
    if kind == "devnull":
        handle = os.open(os.devnull, os.O_RDWR)
        keep.append(handle)
        return handle, None
    if kind == "tty":
        controller, terminal = pty.openpty()
        keep.extend([controller, terminal])
        return terminal, controller
    assert kind == "closed"
    return None, None


def _run_child(kinds, tmp_path, thread, threads="2"):
    """Run host_process_child.py with fds 0-2 of the given kinds; returns its JSON result."""
    keep, child_fds, parent_ends = [], [], []
    for fd, kind in enumerate(kinds):
        child_fd, parent_end = _stdio(kind, fd, keep)
        child_fds.append(child_fd)
        parent_ends.append(parent_end)
    result = tmp_path / "state.json"
    args = [sys.executable, str(CHILD), str(result)] + (["--thread"] if thread else [])

    def arrange_fds():  # in the child, before exec
        for fd, child_fd in enumerate(child_fds):
            if child_fd is not None:
                os.dup2(child_fd, fd)
        for fd, child_fd in enumerate(child_fds):
            if child_fd is None:
                os.close(fd)

    child = subprocess.Popen(args, env=dict(ENV, RECOVAR_JL_NUM_THREADS=threads), preexec_fn=arrange_fds)
    # Read what the child writes (so that it never waits for us); its stdin stays open and empty.
    readers = {id(end): end for end in parent_ends[1:] if end is not None}
    drains = [threading.Thread(target=_drain, args=(end,), daemon=True) for end in readers.values()]
    for t in drains:
        t.start()
    assert child.wait(timeout=240) == 0
    for item in keep:
        item.close() if isinstance(item, socket.socket) else os.close(item)
    return json.loads(result.read_text())


def _drain(end):
    try:
        while end.recv(65536) if isinstance(end, socket.socket) else os.read(end, 65536):
            pass
    except OSError:  # closed by the test, or the terminal's child side has gone (EIO)
        pass


CASES = [  # (stdin, stdout, stderr, start Julia from a worker thread, Julia threads)
    ("pipe", "pipe", "file", False, "2"),
    ("devnull", "socket", "pipe", True, "2"),
    ("closed", "file", "socket", False, "2"),
    ("socket", "closed", "devnull", True, "2"),
    ("pipe", "pipe", "closed", True, "2"),
    ("tty", "tty", "tty", False, "2"),
    ("pipe", "pipe", "pipe", False, "1"),  # one thread: Julia installs fewer handlers
]


@pytest.mark.parametrize("stdin,stdout,stderr,thread,threads", CASES)
def test_starting_julia_changes_nothing_in_the_process_it_should_not(stdin, stdout, stderr, thread, threads,
                                                                     tmp_path):
    state = _run_child((stdin, stdout, stderr), tmp_path, thread, threads)
    before, after, later = state["before"], state["after"], state["later"]
    for when in (after, later):
        assert when["stdio"] == before["stdio"]  # O_NONBLOCK and every other flag; terminal modes
        for key in ("mask", "environ", "locale", "rlimits", "cwd", "umask"):
            assert when[key] == before[key], key
        changed = {int(s) for s in before["signals"] if when["signals"][s] != before["signals"][s]}
        # Julia keeps SIGSEGV/SIGBUS (GC safepoints) and SIGUSR2, behind the bridge's dispatch.
        assert changed <= {signal.SIGSEGV, signal.SIGBUS, signal.SIGUSR2}
    assert state["julia_threads"] == threads
    assert all(state["new_fds"].values()), "fds opened by Julia must close on exec"


# ---- output and input through real pipes --------------------------------------------------------
LINE = "x" * 999


@pytest.mark.parametrize("thread", [False, True])
def test_twenty_megabytes_printed_after_a_kernel_call_reach_a_slow_reader(thread):
    start = ("import threading; t = threading.Thread(target=_julia.call, args=('noop',)); t.start(); t.join()"
             if thread else "_julia.call('noop')")
    child = _python(f"""
        from recovar_jl import _julia
        {start}
        for i in range(20000):
            print({LINE!r})
        """, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)  # the reader is late: the pipe fills and Python must wait, not drop
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, err
    assert err == b""
    assert len(out) == 20000 * 1000 and out.count(b"\n") == 20000


def test_five_megabytes_piped_into_stdin_all_arrive_after_a_kernel_call():
    child = _python("""
        import sys
        from recovar_jl import _julia
        _julia.call('noop')
        print('ready', flush=True)
        print(sum(len(line) for line in sys.stdin.buffer))
        """, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"ready\n"
    chunk = (b"y" * 99 + b"\n") * 1000  # 100 kB, written slower than the child reads
    for _ in range(50):
        child.stdin.write(chunk)
        child.stdin.flush()
        time.sleep(0.01)
    child.stdin.close()
    out, err = child.stdout.read(), child.stderr.read()
    assert child.wait(timeout=240) == 0, err
    assert int(out) == 50 * len(chunk)


def test_julia_output_from_a_kernel_arrives_in_order_through_a_slow_reader():
    child = _python("""
        from recovar_jl import _julia
        print('python before', flush=True)
        _julia.call('print_text', 1, 'j' * 999 + '\\n', 2000)  # 2 MB from Julia, far more than a pipe holds
        print('python after', flush=True)
        _julia.call('warn', 'a warning from Julia')
        """, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, err
    lines = out.decode().splitlines()
    assert lines[0] == "python before" and lines[-1] == "python after"
    assert lines[1:-1] == ["j" * 999] * 2000
    assert "a warning from Julia" in err.decode()


def test_julia_output_into_a_closed_pipe_neither_hangs_nor_crashes():
    child = _python("""
        import os, sys
        from recovar_jl import _julia
        _julia.call('noop')
        print('first', flush=True)
        sys.stdin.read()  # the parent closes our stdout's reader, then stdin
        try:
            _julia.call('print_text', 1, 'lost\\n', 100000)
            print('julia: no error', file=sys.stderr)
        except Exception as exc:
            print('julia:', type(exc).__name__, file=sys.stderr)
        _julia.call('noop')
        print('usable', file=sys.stderr)
        """, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"first\n"
    child.stdout.close()
    child.stdin.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=240) == 0, err
    assert "usable" in err and "julia:" in err


# ---- the recovar-jl command in pipelines --------------------------------------------------------
@pytest.fixture(scope="module")
def small_star(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipes")
    code = f"""
        from recovar_jl.cli import main
        from recovar_jl.jobs.mrc import write_volume
        from recovar_jl.jobs.phantom import gaussian_atom_phantom
        write_volume({str(d / 'map.mrc')!r}, gaussian_atom_phantom(16), 5.0)
        raise SystemExit(main(['simulate', {str(d / 'map.mrc')!r}, '--n-images', '200', '--snr', '2',
                               '--out', {str(d / 'sim')!r}, '-q']))
        """
    assert _python(code).wait(timeout=240) == 0
    return d / "sim" / "particles.star"


def _recovar_jl(*args):
    return [sys.executable, "-m", "recovar_jl", *map(str, args)]


def test_recovar_jl_into_head_stops_quietly(small_star, tmp_path):
    shell = (f"{' '.join(_recovar_jl('reconstruct', small_star, '--out', tmp_path / 'rec'))} | head -1; "
             "echo \"status ${PIPESTATUS[0]}\"")
    done = subprocess.run(["bash", "-c", shell], env=ENV, capture_output=True, text=True, timeout=240)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("reconstructing 200 particles")
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert lines[-1] in ("status 0", "status 141")  # 141: head left before the last line was written


def test_recovar_jl_through_a_slow_reader_loses_no_line(small_star, tmp_path):
    child = subprocess.Popen(_recovar_jl("reconstruct", small_star, "--out", tmp_path / "rec"), env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("reconstructing 200 particles")
    assert [line.split()[0] for line in lines[1:]] == ["wrote", "FSC=0.143"]


# ---- crashes outside Julia still explain themselves ---------------------------------------------
def _crash(code, *python_options, threads="2"):
    env = dict(ENV, RECOVAR_JL_NUM_THREADS=threads)
    return subprocess.run([sys.executable, *python_options, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=240)


NULL_READ = """
    import ctypes
    from recovar_jl import _julia
    _julia.call('noop')
    ctypes.string_at(0)
"""


def test_segfault_in_python_after_julia_started_names_the_signal_and_the_docs():
    done = _crash(NULL_READ)
    assert done.returncode == -signal.SIGSEGV
    assert "fatal signal SIGSEGV" in done.stderr and "docs/reliability.md" in done.stderr


@pytest.mark.parametrize("threads", ["1", "2"])
def test_segfault_in_python_after_julia_started_still_gives_the_faulthandler_traceback(threads):
    done = _crash(NULL_READ, "-X", "faulthandler", threads=threads)
    assert done.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in done.stderr
    assert "string_at" in done.stderr and '"<string>", line 5' in done.stderr


def test_signals_sent_to_the_process_reach_python_s_handlers_while_sleeping_and_in_a_kernel():
    sent = [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP]
    child = _python(f"""
        import signal, time
        from recovar_jl import _julia
        for signum in {[int(s) for s in sent]}:
            signal.signal(signum, lambda n, frame: print('got', n, flush=True))
        _julia.call('noop')
        print('ready', flush=True)
        deadline = time.time() + 60
        while time.time() < deadline:  # half the time in Python, half inside a kernel
            time.sleep(0.05)
            _julia.call('busy_wait', 0.05)
        """, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        for signum in sent:
            child.send_signal(signum)
            assert child.stdout.readline() == f"got {int(signum)}\n"
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("handler", [False, True])
def test_sigusr2_sent_to_the_process_gets_python_s_action_not_julia_s(handler):
    install = "signal.signal(signal.SIGUSR2, lambda *a: (print('python handler', flush=True), os._exit(7)))"
    child = _python(f"""
        import os, signal, time
        {install if handler else ''}
        from recovar_jl import _julia
        _julia.call('noop')
        print('ready', flush=True)
        time.sleep(30)
        """, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGUSR2)
    out, err = child.communicate(timeout=60)
    if handler:
        assert child.returncode == 7 and "python handler" in out, err
    else:
        assert child.returncode == -signal.SIGUSR2, err  # Python's default: terminate


def test_faults_in_julia_threads_still_go_to_julia():
    # A stack overflow in a kernel becomes a Julia exception (Julia's SIGSEGV handler), not a crash.
    done = _crash("""
        import recovar_jl
        from recovar_jl import _julia
        try:
            _julia.call('recurse', 10)
        except recovar_jl.JuliaError as exc:
            print('julia error:', str(exc)[:60])
        _julia.call('noop')
        print('usable')
        """)
    assert done.returncode == 0, done.stderr
    assert "StackOverflowError" in done.stdout and "usable" in done.stdout
    # A bad read inside a kernel is reported by Julia, not by the bridge's line for Python faults.
    done = _crash("import numpy; from recovar_jl import _julia; _julia.call('read_address', numpy.zeros(1, int), 0)")
    assert done.returncode != 0
    assert "signal (11)" in done.stderr and "not Julia's" not in done.stderr


# ---- child processes and exit status ------------------------------------------------------------
def test_children_and_exit_status_work_in_a_process_that_started_julia(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import atexit, multiprocessing, subprocess, sys
        from concurrent.futures import ProcessPoolExecutor
        from recovar_jl import _julia

        def exit_with(code):
            sys.exit(code)

        if __name__ == '__main__':
            _julia.call('noop')
            assert subprocess.run([sys.executable, '-c', 'raise SystemExit(7)']).returncode == 7
            context = multiprocessing.get_context('spawn')
            worker = context.Process(target=exit_with, args=(5,))
            worker.start()
            worker.join()
            assert worker.exitcode == 5, worker.exitcode
            with ProcessPoolExecutor(2, mp_context=context) as pool:
                assert list(pool.map(abs, [-1, -2, -3])) == [1, 2, 3]
            atexit.register(print, 'atexit ran')
            sys.exit(3)
        """))
    done = subprocess.run([sys.executable, str(script)], env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 3, done.stderr
    assert "atexit ran" in done.stdout
