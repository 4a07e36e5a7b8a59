"""Run a command that dies with the supervisor, without a ``preexec_fn``.

``preexec_fn`` runs Python between fork and exec, which is only safe while the parent has no
other threads; once the supervisor has made gRPC calls it has some. A restarted child is
therefore spawned through this small program instead: it resets SIGINT to its default, asks
the kernel for SIGTERM when its parent dies (the setting survives ``exec``), and then becomes
the command. Usage: ``python -m missiva_platform.devstack.launch <parent pid> -- argv…``.
"""

from __future__ import annotations

import os
import signal
import sys

from missiva_platform.devstack.processes import stop_with_parent


def main(args: list[str]) -> int:
    if len(args) < 3 or args[1] != "--" or not args[0].isdigit():
        print("usage: launch <parent pid> -- command [args…]", file=sys.stderr)
        return 2
    parent, argv = int(args[0]), args[2:]
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    stop_with_parent()
    if os.getppid() != parent:  # the parent died before the kernel was asked to tell us
        return 1
    os.execvp(argv[0], argv)  # noqa: S606 - argv comes from the supervisor, not a user
    return 127  # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
