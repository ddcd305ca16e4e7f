"""The gateway's version: `main.py --version`, `system.health`, the OpenRPC document."""

VERSION = "0.1.0"
