"""Entry point of the media gateway: `python main.py [serve|migrate|create-user|import-catalog|demo-catalog|call] ...`.

The command line itself is gateway/cli.py."""

import sys
import warnings

# trio-asyncio on 3.12 touches asyncio's deprecated child watcher; nothing we can act on.
warnings.filterwarnings("ignore", message=".*AbstractChildWatcher.*", category=DeprecationWarning)

from gateway.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
