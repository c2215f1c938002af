"""Imports run one way: api -> services (cascade/) -> mapping/db; sync -> services;
nothing imports api or the composition root but the root itself. The root
builds everything from configuration: the app (``cascade.app``), the processes
(``cascade.cmd``) and the operator CLI's commands (``cascade.manage``).

The folders ``api/``, ``mapping/`` and ``sync/`` are imported as
``cascade.api``, ``cascade.mapping`` and ``cascade.sync`` (see
docs/architecture.md, "One import namespace"); importing them by their bare
names would load a second copy of each module, so that is refused too.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Folder -> the package it is imported as.
FOLDERS = {"cascade": "cascade", "api": "cascade.api", "mapping": "cascade.mapping",
           "sync": "cascade.sync"}
LAYERS = ("cascade.api", "cascade.mapping", "cascade.sync")
COMPOSITION = ("cascade.app", "cascade.cmd", "cascade.manage")
#: What mapping/ may use of cascade/ (the database layer and shared basics).
MAPPING_MAY_USE = ("cascade.db", "cascade.errors", "cascade.typedefs", "cascade.context",
                   "cascade.jsonutil")
BARE = ("api", "mapping", "sync")


def _under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def _layer(module: str) -> str:
    if _under(module, COMPOSITION):
        return "root"
    for layer in LAYERS:
        if _under(module, (layer,)):
            return layer.split(".")[1]
    return "services"


def _module_of(path: Path) -> str:
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    if folder == "cascade" and rest and rest[0] in BARE:
        return ""  # the symlinks into the folders: each file is read once, below
    return ".".join([FOLDERS[folder], *rest]).removesuffix(".__init__")


def _imports() -> list[tuple[str, str]]:
    out = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = _module_of(path)
            if not module or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    # the names imported, as modules or attributes of one
                    names = [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in ("cascade", *BARE):
                        out.append((module, name))
    return out


def _against(importer: str, imported: str) -> bool:
    if imported.split(".")[0] in BARE:
        return True  # a second copy of a Cascade module under its bare name
    src, dst = _layer(importer), _layer(imported)
    if src == "root":
        return False
    if dst == "root":
        return True  # nothing imports the composition root
    if dst == "api":
        return src != "api"
    if src == "mapping":
        return dst == "sync" or (dst == "services" and not _under(imported, MAPPING_MAY_USE))
    if src in ("services", "api"):
        return dst == "sync"
    return False


def _violations() -> set[tuple[str, str]]:
    found = set()
    for importer, imported in _imports():
        if _against(importer, imported):
            parts = imported.split(".")
            found.add((importer, ".".join(parts[:3])))
    return found


def test_no_import_runs_against_the_agreed_direction() -> None:
    wrong = sorted(_violations())
    assert not wrong, "imports against api -> services -> mapping/db; sync -> services:\n" + \
        "\n".join(f"  {a} imports {b}" for a, b in wrong)


def test_the_check_catches_an_import_against_the_direction() -> None:
    assert _against("cascade.mapping.rewrite", "cascade.api.middleware.public")
    assert _against("cascade.sync.server_build", "cascade.api.compute.servers")
    assert _against("cascade.images.service", "cascade.sync.jobs")
    assert _against("cascade.mapping.store", "cascade.quota.ledger")
    assert _against("cascade.api.ops", "cascade.app.create_app")
    assert _against("cascade.api.ops", "mapping.store")
    assert not _against("cascade.api.ops", "cascade.appkeys.AUTH")
    assert not _against("cascade.mapping.store", "cascade.db.models.Resource")
    assert not _against("cascade.cmd.api", "cascade.api.middleware")


def test_the_walk_reads_every_layer() -> None:
    importers = {_layer(importer) for importer, _ in _imports()}
    assert {"api", "mapping", "sync", "services", "root"} <= importers
