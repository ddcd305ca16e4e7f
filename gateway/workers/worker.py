"""A worker process of `serve --workers N`: `python -m gateway.workers.worker`, started
by the main process, never by hand. Its brief comes on standard input (see `link`)."""

import sys
import warnings

# As main.py: trio-asyncio on 3.12 touches asyncio's deprecated child watcher.
warnings.filterwarnings("ignore", message=".*AbstractChildWatcher.*", category=DeprecationWarning)


def main() -> int:
    from gateway import logs
    from gateway.cli import serve
    from gateway.workers.link import Brief, WorkerLink

    line = sys.stdin.buffer.readline()
    if not line:
        print("gateway.workers.worker is started by `main.py serve --workers N`", file=sys.stderr)
        return 2
    brief = Brief.decode(line)
    logs.configure(brief.config.log_level, brief.config.log_format, worker=brief.index)
    return serve(brief.config, WorkerLink(brief, sys.stdout.buffer, sys.stdin.fileno()))


if __name__ == "__main__":
    sys.exit(main())
