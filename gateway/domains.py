"""The application: which domains a node runs, how each is configured, and which
methods it serves with what.

`start_domains` makes every domain's facade and child specs from the configuration
(`Domains.children()` is the supervision tree's list, in start order); `serve_methods`
fills the method table from each `protocol.api` module's declarations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from actors import catalog, experiments, playback, search, tokens
from actors.env import DomainEnv
from actors.playback.model import PlaybackSettings
from actors.quota import QuotaLimits
from actors.tokens.settings import TokenSettings
from gateway import domain_metrics
from gateway.config import Config
from gateway.metrics import Metrics
from protocol.api import catalog as catalog_api
from protocol.api import experiments as experiments_api
from protocol.api import playback as playback_api
from protocol.api import search as search_api
from protocol.api import system as system_api
from protocol.api import tokens as tokens_api
from protocol.api.system import Node
from protocol.api.tokens import Authorizer, BearerCheck, Revocations
from protocol.audit import Audit
from protocol.methods import MethodTable
from protocol.transport import WebSocketGateway
from runtime import ChildSpec


@attrs.frozen
class Domains:
    """Every domain of the node, in the order their actors start (and stop in reverse)."""

    catalog: catalog.CatalogDomain
    search: search.SearchDomain
    tokens: tokens.TokensDomain
    experiments: experiments.ExperimentsDomain
    playback: playback.PlaybackDomain

    def children(self) -> list[ChildSpec]:
        return [*self.catalog.children, *self.search.children, *self.tokens.children,
                *self.experiments.children, *self.playback.children]


def start_domains(config: Config, env: DomainEnv, jwt_secret: str, metrics: Metrics,
                  revocations: Revocations) -> Domains:
    """Every domain's facade and child specs (their actors start with the supervisor),
    their metrics registered."""
    search_ = search.start(env, on_cache_lookup=metrics.cache_lookup)
    domains = Domains(
        catalog=catalog.start(env, index=search_),
        search=search_,
        tokens=tokens.start(env, TokenSettings.from_config(config), jwt_secret,
                            on_revoked=revocations.close_families),
        experiments=experiments.start(env, experiments.ExperimentsSettings(records=QuotaLimits(
            rate=config.assign_record_rate, per_connection=config.assign_record_per_connection))),
        playback=playback.start(
            env, PlaybackSettings(flush_interval=config.playback_flush_interval,
                                  idle_timeout=config.playback_idle_timeout),
            on_flush=domain_metrics.playback_lag(metrics),
            # Its stop flushes: give it the budget of a slow write or two.
            shutdown_timeout=max(5.0, config.db_timeout * 2)),
    )
    domain_metrics.watch_tokens(metrics, domains.tokens)
    domain_metrics.watch_experiments(metrics, domains.experiments)
    domain_metrics.watch_playback(metrics, domains.playback)
    return domains


def serve_methods(table: MethodTable, domains: Domains, node: Node, revocations: Revocations,
                  gateway: WebSocketGateway, audit: Audit) -> list[Callable[[], Awaitable[None]]]:
    """Every method of the API, each module's with what its handlers need; the token
    checks of the table (USER, ADMIN methods) and of the WebSocket handshake. Answers
    the tasks the methods need running (the push hub's pump)."""
    push = playback_api.push_hub(domains.playback)
    table.add_all(system_api.METHODS, node)
    table.add_all(catalog_api.METHODS, domains.catalog)
    table.add_all(search_api.METHODS, domains.search)
    table.add_all(tokens_api.METHODS, tokens_api.Needs(domains.tokens, audit))
    table.add_all(experiments_api.METHODS, domains.experiments)
    table.add_all(playback_api.METHODS, playback_api.Needs(domains.playback, domains.catalog, push))
    table.authorizer = Authorizer(domains.tokens, revocations)
    gateway.handshake_auth = BearerCheck(domains.tokens)
    return [push.run]
