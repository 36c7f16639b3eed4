"""Prints the pipeline environment's key versions; exits non-zero if one is off its pin."""

from __future__ import annotations

import sys
from importlib import metadata

EXPECTED = {"tfx": "1.16.0", "tensorflow": "2.16.2", "keras": "3.6.0", "keras-tuner": "1.4.7"}


def main() -> int:
    problems = []
    for name, want in EXPECTED.items():
        have = metadata.version(name)
        print(f"{name}=={have}")
        if have != want:
            problems.append(f"{name} is {have}, expected {want}")
    for name in ("apache-beam", "mlflow", "protobuf", "numpy"):
        print(f"{name}=={metadata.version(name)}")
    if sys.version_info[:2] != (3, 10):
        problems.append(f"Python is {sys.version.split()[0]}, expected 3.10")
    for p in problems:
        print(f"error: {p}; run `make setup`", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
