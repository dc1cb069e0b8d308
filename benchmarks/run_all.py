"""`make bench`: run every benchmarks/bench_*.py in turn (pass --quick for small sizes)."""
import subprocess
import sys
from pathlib import Path


def main() -> int:
    extra = sys.argv[1:]
    failed = []
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        module = f"benchmarks.{script.stem}"
        print(f"\n=== {module} {' '.join(extra)}", flush=True)
        if subprocess.run([sys.executable, "-m", module, *extra]).returncode:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
