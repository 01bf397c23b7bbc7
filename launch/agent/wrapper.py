"""`python -m runyard.launch.agent.wrapper EXITFILE -- CMD...`: run CMD, record its exit code.

The local-process runner starts every job through this wrapper so that an agent that
restarts can still learn how a job it did not start (or stopped watching) ended: the
exit code lands in EXITFILE, written atomically, whoever is listening.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the command, forward SIGTERM/SIGINT to it, write its exit code."""
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: wrapper EXITFILE -- CMD...\n")
        return 2
    exit_file = Path(argv[0])
    child = subprocess.Popen(argv[2:])

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    tmp = exit_file.with_suffix(".tmp")
    tmp.write_text(str(code))
    os.replace(tmp, exit_file)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
