"""The package's layers: imports only point down model -> tto -> export -> engines -> jobs -> cli.

Every ``from ..x import`` / ``from .x import`` / ``import uao_deploy.x`` in the package is read
with ``ast`` and must name a layer at or below its own. A new top-level module or folder must be
given a layer here, so nobody adds one without deciding where it sits.
"""
import ast
from pathlib import Path

import uao_deploy

PACKAGE = Path(uao_deploy.__file__).parent

# Lower numbers sit lower. The runtime floors (contract, engines and what they stand on) import
# neither torch nor the exporter; tests/test_runtime_without_torch.py proves that part.
LAYERS = {
    "errors": 0, "arrays": 0, "skeleton": 1, "shapes": 1, "fileio": 1, "metrics": 1, "camera": 1, "runtimes": 1,
    "compare": 2, "contract": 2, "io": 2, "trajectory": 2,
    "model": 3, "data": 3, "device": 3, "inputs": 3,
    "tto": 4,
    "export": 5,
    "engines": 6,
    "pipeline": 7,
    "jobs": 8, "bench": 8, "viz": 8,
    "cli": 9, "__main__": 9,
}


def _top(module: Path) -> str:
    parts = module.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_tops(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    depth = len(module.relative_to(PACKAGE).parts) - 1  # folders below the package
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.split(".")[0] == "uao_deploy" and "." in node.module:
                    found.add(node.module.split(".")[1])
                continue
            if node.level <= depth:  # relative within its own folder
                continue
            target = (node.module or "").split(".")[0]
            if target:
                found.add(target)
            else:  # "from .. import skeleton, engines"
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "uao_deploy" and len(parts) > 1:
                    found.add(parts[1])
    return found - {"__version__", "UaoError"}


def test_every_top_level_part_has_a_layer():
    parts = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()
             if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()}
    assert parts <= set(LAYERS), f"give these a layer in tests/test_layers.py: {sorted(parts - set(LAYERS))}"


def test_imports_point_down():
    upward = []
    for module in sorted(PACKAGE.rglob("*.py")):
        if module.parent == PACKAGE and module.stem == "__init__":
            continue  # the package root re-exports lazily
        own = LAYERS[_top(module)]
        for target in _imported_tops(module):
            if target in LAYERS and LAYERS[target] > own:
                upward.append(f"{module.relative_to(PACKAGE)} imports {target}")
    assert not upward, "imports that point up: " + "; ".join(upward)
