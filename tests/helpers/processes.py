"""What every process on this machine shows in `ps`: a secret must never be among them."""

import os


def command_lines():
    """The command line of every process, as `ps -eo args` would show it."""
    lines = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                lines.append(fh.read().replace(b"\0", b" ").decode("utf-8", "replace"))
        except OSError:
            continue
    return lines
