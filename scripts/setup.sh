#!/usr/bin/env bash
# Idempotent set-up for recovar_jl: Julia (>= 1.5), the FFTW libraries, a working
# libunwind for Debian's Julia 1.5.3, and the .venv. Quiet when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"; fi
have_apt() { command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; }

BULLSEYE_LIST=/etc/apt/sources.list.d/recovar-jl-bullseye.list
BULLSEYE_PREF=/etc/apt/preferences.d/recovar-jl-bullseye
apt_updated=0

add_bullseye_source() {
    # Bullseye is an extra source pinned low (100): only what we ask for, and what it alone
    # provides, comes from it. libunwind8 is pinned to bullseye (1001, downgrade allowed):
    # Julia 1.5.3 segfaults on every exception with bookworm's libunwind 1.6.2.
    if [ ! -f "$BULLSEYE_LIST" ]; then
        echo "deb http://deb.debian.org/debian bullseye main" | $SUDO tee "$BULLSEYE_LIST" >/dev/null
        apt_updated=0
    fi
    if [ ! -f "$BULLSEYE_PREF" ]; then
        printf '%s\n' \
            "Package: *" "Pin: release n=bullseye" "Pin-Priority: 100" "" \
            "Package: libunwind8" "Pin: release n=bullseye" "Pin-Priority: 1001" \
            | $SUDO tee "$BULLSEYE_PREF" >/dev/null
    fi
}

apt_install() {
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        $SUDO apt-get update -qq >/dev/null
        apt_updated=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --allow-downgrades "$@" >/dev/null
}

julia_ok() {  # $1: julia executable; true if it runs and is >= 1.5
    "$1" --startup-file=no -e 'exit(VERSION >= v"1.5" ? 0 : 1)' >/dev/null 2>&1
}

# --- Julia -------------------------------------------------------------------------
JULIA="${RECOVAR_JL_JULIA:-}"
if [ -n "$JULIA" ]; then
    julia_ok "$JULIA" || die "RECOVAR_JL_JULIA=$JULIA does not run or is older than 1.5"
elif command -v julia >/dev/null 2>&1 && julia_ok julia; then
    JULIA=$(command -v julia)
else
    if ! have_apt; then
        die "no Julia >= 1.5 found. Install Julia 1.5 or newer and put it on PATH (or set RECOVAR_JL_JULIA=/path/to/julia); on Debian/Ubuntu run this script as root to install Debian's julia."
    fi
    add_bullseye_source
    apt_install julia libunwind8
    JULIA=$(command -v julia)
    julia_ok "$JULIA" || die "installed julia does not run"
fi

# Debian's Julia 1.5.x needs libunwind8 1.3.x (bullseye); check that exceptions survive.
if ! "$JULIA" --startup-file=no -e 'f(x) = error("probe"); try f(1) catch end' >/dev/null 2>&1; then
    if [ -f /usr/lib/x86_64-linux-gnu/libjulia.so.1 ] || dpkg -s julia >/dev/null 2>&1; then
        have_apt || die "Julia crashes on exceptions (libunwind8 too new). As root: add Debian bullseye as an apt source and 'apt-get install --allow-downgrades libunwind8/bullseye'."
        add_bullseye_source
        apt_install libunwind8
    fi
    "$JULIA" --startup-file=no -e 'f(x) = error("probe"); try f(1) catch end' >/dev/null 2>&1 \
        || die "$JULIA crashes when an exception is thrown; see README (libunwind8 must be 1.3.x for Debian's Julia 1.5)"
fi

# --- FFTW ----------------------------------------------------------------------------
fftw_ok() {
    local libs; libs=$(PATH="$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null) || return 1
    for lib in libfftw3f.so.3 libfftw3.so.3 libfftw3f_threads.so.3 libfftw3_threads.so.3; do
        grep -q "$lib " <<<"$libs" || return 1
    done
}
if ! fftw_ok; then
    have_apt || die "FFTW 3 not found. Install libfftw3-single3 and libfftw3-double3 (Debian/Ubuntu) or your system's fftw3 package."
    apt_install libfftw3-single3 libfftw3-double3
fi

# --- Python ------------------------------------------------------------------------------
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.recovar_jl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing recovar_jl into .venv"
    # pip's warnings (e.g. about a machine's unreachable extra index) are shown only on failure.
    log=$(mktemp)
    if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[test]'; } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"; die "pip could not install recovar_jl into .venv (output above)"
    fi
    rm -f "$log"
    touch "$stamp"
fi
# Remember which Julia set-up chose, for the Makefile and the bridge.
echo "$JULIA" > .venv/julia-path.new
if ! cmp -s .venv/julia-path.new .venv/julia-path 2>/dev/null; then mv .venv/julia-path.new .venv/julia-path; else rm -f .venv/julia-path.new; fi
