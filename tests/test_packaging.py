"""The installed layout: every package folder of the repository is installed under `mcusim`."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_installed_under_mcusim():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {f"mcusim.{top}": top for top in ("isa", "simulator", "kernels_asm", "workloads")}
    assert setuptools["package-dir"] == {"mcusim": "mcusim", **folders}
    found = {"mcusim"}
    for name, top in folders.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]))
    assert sorted(setuptools["packages"]) == sorted(found)


def test_the_subpackages_resolve_to_this_tree():
    import mcusim.simulator
    assert Path(mcusim.simulator.__file__).resolve().parent == ROOT / "simulator"
