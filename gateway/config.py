"""The gateway's configuration: one value built from flags and environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import attrs


@attrs.frozen
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    admin_port: int = 8081
    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret: str | None = None
    shutdown_timeout: float = 25.0
    log_level: str = "info"
    log_format: str = "text"
    db_pool_size: int = 10
    db_timeout: float = 5.0
    access_token_ttl: float = 900.0
    playback_flush_interval: float = 1.0
    playback_idle_timeout: float = 1800.0
    drain_quiet: float = 0.5
    slow_client_timeout: float = 10.0
    refresh_reuse_interval: float = 30.0
    # The WebSocket port's limits (README, "Limits") and the admin port's address.
    admin_host: str = "127.0.0.1"
    allowed_origins: str = ""
    rate_limit: float = 100.0
    rate_burst: int = 200
    handshake_timeout: float = 10.0
    max_handshake_bytes: int = 16 * 1024
    max_message_bytes: int = 1 << 20
    max_partial_bytes: int = 64 << 20
    message_timeout: float = 15.0
    # What callers may make a node store (README "Limits").
    register_rate: float = 10.0
    assign_record_rate: float = 50.0
    assign_record_per_connection: int = 100
    # serve --workers N: processes sharing the port, and when their supervisor gives up.
    workers: int = 1
    worker_max_restarts: int = 5
    worker_restart_period: float = 60.0

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').as_posix()}"

    def effective_jwt_secret(self) -> str:
        """The configured secret, else one generated once and kept in the data dir (0600)."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secret.encode())
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return secret
