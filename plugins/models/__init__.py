"""Embedded models (the offline ``tiny`` model) and model-name resolution.

``resolve_model(name)`` turns what a user passes as ``--model`` into something
``from_pretrained`` can load. The embedded names — ``tiny`` (the world of seed 0) and
``tiny-<world_seed>`` (e.g. ``tiny-3``), and ``tiny-selfeval`` / ``tiny-selfeval-<world_seed>``
(the same world and answer formats, also pretrained on the P(True) query and the second-turn
confidence request, for the ``ptrue`` and ``verbalized_followup`` extractors) — are built offline on
first use and cached in ``cache_dir()/models/<name>-<recipe hash>``; every other string (a hub
id, a local folder) comes back unchanged. To load a local folder that happens to be called
``tiny``, pass ``./tiny``.

The build runs in a temporary folder that is renamed into place when complete, under a
lock file, so a killed build leaves nothing half-made and two processes never build the
same model twice. Importing this module is light: torch loads only inside the builder.

World 0's ``tiny`` model ships in the package (``shipped/``, 2.5 MB), built by ``build_tiny``
from its recipe: when a recipe's digest and every file's SHA-256 match ``shipped/<name>/
SHIPPED.json``, the folder is copied into the cache instead of pretrained (under a second
instead of about two and a half minutes). Any other world or recipe is built as before;
``tests/plugins/models/test_tiny_model.py`` rebuilds world 0 and checks the result is the shipped model
bit for bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.paths import cache_dir

if TYPE_CHECKING:
    from harness.plugins.models.tiny import Recipe

#: the file in a model folder that holds the embedded default's hyperparameters
PROFILE_FILE = "harness_profile.toml"

_EMBEDDED = re.compile(r"tiny(-selfeval)?(?:-(0|[1-9][0-9]{0,8}))?")
#: the ``tiny-selfeval`` models: a quarter of the steps in the self-evaluation formats, and a
#: third more steps in all, so that the answer formats get as many steps as ``tiny``'s 800
SELFEVAL = {"selfeval_share": 0.25, "steps": 1067}
#: embedded models shipped in the package, each folder with a ``SHIPPED.json``
SHIPPED = Path(__file__).parent / "shipped"
SHIPPED_FILE = "SHIPPED.json"


def embedded_world_seed(name: str) -> int | None:
    """The world seed of an embedded model name (``tiny`` -> 0, ``tiny-3`` -> 3,
    ``tiny-selfeval-3`` -> 3), else ``None``."""
    match = _EMBEDDED.fullmatch(name)
    if match is None:
        return None
    return int(match.group(2) or 0)


def is_embedded(name: str) -> bool:
    return embedded_world_seed(name) is not None


def resolve_model(name: str) -> str:
    """A loadable model path: an embedded name is built (once) and cached; anything else
    is returned unchanged."""
    world_seed = embedded_world_seed(name)
    if world_seed is None:
        return name
    from harness.plugins.models.tiny import Recipe

    # one cache folder per world: `tiny` and `tiny-0` are the same model
    if _EMBEDDED.fullmatch(name).group(1):  # type: ignore[union-attr]
        return str(ensure_built(f"tiny-selfeval-{world_seed}", Recipe(world_seed=world_seed, **SELFEVAL)))
    return str(ensure_built(f"tiny-{world_seed}", Recipe(world_seed=world_seed)))


def model_folder(name: str, recipe_digest: str) -> Path:
    return cache_dir() / "models" / f"{name}-{recipe_digest}"


def ensure_built(name: str, recipe: Recipe, *, progress: bool = True) -> Path:
    """The cached folder of the embedded model ``name`` built from ``recipe``, building it
    first if it is not there yet. Its profile is refreshed when the code's differs."""
    from harness.plugins.models.tiny import build_tiny, profile_text

    folder = model_folder(name, recipe.digest())
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with _lock(folder.parent / f".{folder.name}.lock"):
            if not folder.is_dir():  # another process may have built it meanwhile
                for stale in folder.parent.glob(f".{folder.name}.*.tmp"):  # left by a killed build
                    shutil.rmtree(stale, ignore_errors=True)
                shipped = shipped_folder(name, recipe)
                if shipped is None:
                    print(f"harness: building the embedded model {name!r} (first use; about two minutes) "
                          f"into {folder}", file=sys.stderr)
                tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
                try:
                    if shipped is None:
                        build_tiny(tmp, recipe, progress=progress)
                    else:  # the files as built from this very recipe
                        for path in shipped.iterdir():
                            if path.name != SHIPPED_FILE:
                                shutil.copyfile(path, tmp / path.name)
                    os.rename(tmp, folder)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
    profile = folder / PROFILE_FILE
    text = profile_text(recipe)
    if not profile.exists() or profile.read_text(encoding="utf-8") != text:
        from harness.artifacts import write_text_atomic

        write_text_atomic(profile, text)
    return folder


def shipped_folder(name: str, recipe: Recipe, root: Path | None = None) -> Path | None:
    """The shipped folder of the embedded model ``name`` (in ``root``, by default ``SHIPPED``)
    when it was built from ``recipe`` (the digests agree) and its files are intact (their
    SHA-256 agree), else ``None``."""
    folder = (root or SHIPPED) / name
    try:
        record = json.loads((folder / SHIPPED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("recipe_digest") != recipe.digest():
        return None
    files = record.get("files") or {}
    present = {p.name for p in folder.iterdir() if p.name != SHIPPED_FILE}
    if not files or present != set(files):
        return None
    for file, digest in files.items():
        if file_digest(folder / file) != digest:
            return None
    return folder


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ship(source: str | Path, name: str, recipe: Recipe, into: Path = SHIPPED) -> Path:
    """Copy the model folder ``source``, built by ``build_tiny`` from ``recipe``, to
    ``into/name`` with its ``SHIPPED.json`` (how ``shipped/`` is made; see CONTRIBUTING)."""
    from harness.artifacts import write_text_atomic

    target = into / name
    target.mkdir(parents=True, exist_ok=True)
    files = {}
    for path in sorted(Path(source).iterdir()):
        if path.is_file() and path.name != PROFILE_FILE:  # the profile is the code's: written on use
            shutil.copyfile(path, target / path.name)
            files[path.name] = file_digest(target / path.name)
    record = {"name": name, "recipe_digest": recipe.digest(), "files": files}
    write_text_atomic(target / SHIPPED_FILE, json.dumps(record, indent=2) + "\n")
    return target


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (a no-op where ``fcntl`` is missing: the
    atomic rename alone still keeps the cache consistent)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
