"""The runtime's public surface, pinned (as trio's test_exports.py does): everything
public is re-exported from `runtime`, nothing else is, and the underscore modules stay
private. A change here is a change of the API: make it on purpose."""

from __future__ import annotations

import pkgutil

import runtime

PUBLIC = {
    "DEFAULT_ASK_TIMEOUT",
    "Actor",
    "ActorCrashed",
    "ActorRef",
    "ActorStopped",
    "AskTimeout",
    "Charge",
    "ChildSpec",
    "Overloaded",
    "Registry",
    "Rejection",
    "Restart",
    "Shared",
    "ShutdownCoordinator",
    "Strategy",
    "Supervisor",
    "SupervisorGaveUp",
    "backoff_delay",
    "spawn",
}


def test_all_is_the_public_surface() -> None:
    assert set(runtime.__all__) == PUBLIC
    assert len(runtime.__all__) == len(PUBLIC)  # no name listed twice


def test_every_public_name_is_importable_and_nothing_else_public_is_exported() -> None:
    for name in PUBLIC:
        assert getattr(runtime, name) is not None, name
    exported = {name for name in vars(runtime) if not name.startswith("_")}
    assert exported == PUBLIC


def test_every_module_of_the_package_is_private() -> None:
    modules = [m.name for m in pkgutil.iter_modules(runtime.__path__)]
    assert modules and all(name.startswith("_") for name in modules)


def test_public_classes_say_they_come_from_runtime_or_a_private_module() -> None:
    for name in PUBLIC:
        module = getattr(getattr(runtime, name), "__module__", "runtime")
        assert module == "runtime" or module.startswith("runtime._"), (name, module)
