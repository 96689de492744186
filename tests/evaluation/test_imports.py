"""`keras_expface.evaluation` and the CLI import their optional dependencies lazily."""

import ast
import pathlib
import sys

import pytest

import keras_expface
from keras_expface.evaluation import _utils

PACKAGE = pathlib.Path(keras_expface.__file__).parent
OPTIONAL = {"sklearn", "scipy", "matplotlib", "PIL"}
MODULES = [*sorted((PACKAGE / "evaluation").glob("*.py")), PACKAGE / "cli.py"]


def test_no_module_level_import_of_optional_dependencies():
    offenders = {}
    for path in MODULES:
        imported = set()
        for node in ast.parse(path.read_text()).body:  # module level; in functions is lazy
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        if imported & OPTIONAL:
            offenders[path.name] = sorted(imported & OPTIONAL)
    assert len(MODULES) > 5 and not offenders


def test_missing_optional_dependency_names_the_extra(monkeypatch):

    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'keras-expface\[evaluation\]'"):
        _utils.import_optional("sklearn.metrics")
