"""Repository hygiene: one dependency list, clean notebooks, no data in git, side-effect-free imports."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

import vaelib

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as the package tomli (in the dev extra)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {re.sub(r"\s+", "", ln) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")}


def test_environment_yml_mirrors_requirements_txt():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_deps = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert {re.sub(r"\s+", "", d) for d in pip_deps} == _requirements()
    assert "pip" in env["dependencies"] and any(str(d).startswith("python") for d in env["dependencies"])


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    """The distribution name of a requirement line, normalized (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group()).lower()


def test_requirements_txt_is_pyproject_runtime_plus_every_extra():
    project = _project()
    declared = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra
                                                if _name(r) != "vaelib"]  # "vaelib[lab]": an extra of an extra
    assert {re.sub(r"\s+", "", r) for r in declared} == _requirements()
    assert {"dev", "docs", "lab"} <= set(project["optional-dependencies"])


def test_the_makefile_installs_requirements_txt_and_vaelib_without_further_dependencies():
    make = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements.txt" in make and "pip install --quiet --no-deps -e ." in make


def _imports(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    return {name.split(".")[0] for name in names}


def _code_cells(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    lines = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))  # no magics


def test_every_package_imported_directly_is_declared():
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}
    everything = runtime | {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    local = ({"vaelib", "__future__"} | set(sys.stdlib_module_names)  # and the scripts' own sibling modules
             | {p.stem for d in ("tests", "tools", "benchmarks", "docs") for p in (ROOT / d).glob("*.py")})
    dists = packages_distributions()
    sources = [(p, p.read_text(), runtime) for p in (ROOT / "vaelib").rglob("*.py")]  # the library: runtime only
    sources += [(p, p.read_text(), everything) for d in ("tools", "tests", "benchmarks", "docs")
                for p in (ROOT / d).rglob("*.py")]
    sources += [(p, _code_cells(p), everything) for p in (ROOT / "notebooks").glob("*.ipynb")]
    undeclared = set()
    for path, source, allowed in sources:
        for module in _imports(source) - local:
            names = {_name(d) for d in dists.get(module, [module])}
            if not names & allowed:
                undeclared.add(f"{path.relative_to(ROOT)}: {module} ({', '.join(sorted(names))})")
    assert not undeclared, f"imported but not declared in pyproject.toml: {sorted(undeclared)}"


def test_requirements_do_not_pin_the_broken_cpu_torch():
    assert not any(r.startswith("torch==2.13.0") for r in _requirements())


def test_notebooks_are_committed_without_outputs():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for path in notebooks:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs"


def test_notebooks_are_numbered_and_follow_the_anatomy():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert re.match(r"\d\d_[a-z0-9_]+\.ipynb$", path.name), path.name
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        for heading in ("## Setup", "## Summary", "## Further reading"):
            assert heading in text, f"{path.name} lacks '{heading}'"
        assert "setup_notebook(seed=" in path.read_text(), f"{path.name} does not seed (call setup_notebook(seed=...))"


def test_no_dataset_files_in_git():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in files if re.search(r"ubyte|MNIST/raw|\.npz$|\.gz$", f)]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text() and "make lab" in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_importing_vaelib_prints_nothing_and_writes_nothing(tmp_path):
    modules = sorted(p.stem for p in (ROOT / "vaelib").glob("*.py") if p.stem != "__main__")
    code = "import importlib\n" + "".join(f"importlib.import_module('vaelib.{m}')\n" for m in modules)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and list(tmp_path.iterdir()) == []


def test_public_vaelib_functions_are_typed_and_documented():
    missing = []
    for path in sorted((ROOT / "vaelib").rglob("*.py")):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.name} has no module docstring"
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                if not ast.get_docstring(node) or node.returns is None:
                    missing.append(f"{path.name}:{node.name}")
    assert not missing, f"public functions without docstring or return type: {missing}"


def test_the_package_map_names_every_module():
    """vaelib/__init__.py's docstring is the map of the package: every module and subpackage appears in it."""
    parts = {p.stem for p in (ROOT / "vaelib").glob("*.py") if p.stem != "__init__"}
    parts |= {p.parent.name for p in (ROOT / "vaelib").glob("*/__init__.py")}
    missing = sorted(name for name in parts if f"``{name}``" not in vaelib.__doc__)
    assert not missing, f"vaelib/__init__.py's map does not name: {missing}"
