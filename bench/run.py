"""Run every benchmark (bench/bench_*.py) in turn; `make bench`.

Each benchmark compares recovar_jl with recovar 1.0.5 (run in .venv-recovar when present)
on the same inputs and prints a markdown table. Pass --quick for smaller sizes.
Not a test: timings depend on the machine and its load.
"""
import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent


def main(argv):
    extra = [a for a in argv if a == "--quick"]
    only = [a for a in argv if a != "--quick"]
    failures = 0
    for script in sorted(here.glob("bench_*.py")):
        if only and not any(name in script.stem for name in only):
            continue
        print(f"\n## {script.stem}\n", flush=True)
        result = subprocess.run([sys.executable, str(script), *extra])
        failures += result.returncode != 0
    if not (here.parent / ".venv-recovar" / "bin" / "python").exists():
        print("\n(recovar columns need .venv-recovar: see scripts/fixtures/README.md)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
