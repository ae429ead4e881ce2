"""vaelib.manifest and the decisions of vaelib.pretrained, on a stand-in pretrained/ folder (cheap: no shipped file
is read except the real manifest's text, and the Makefile).

Each decision that keeps a wrong file or a wrong number out has a test that fails if the decision is inverted,
skipped or its threshold moved: the schema of an entry (one sentence naming the entry and the key), the sha256 check
of every file an entry names, finding the shipped model of exactly a config, the live comparison with the shipped
per-image values, the one writer of pretrained/ (which never re-signs a partial result), and `make pretrained`
rebuilding every entry.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import torch

import vaelib.pretrained as pretrained_mod
from vaelib import sweep as sweep_mod
from vaelib import twostage as twostage_mod
from vaelib.build import main as build_main
from vaelib.checkpoint import file_digest, save_checkpoint
from vaelib.config import REPO_ROOT
from vaelib.evaluate import evaluate
from vaelib.manifest import (
    EVAL_SEED,
    MANIFEST,
    PretrainedError,
    read_manifest,
    register_artefact,
    ship,
    verified_file,
    verify_all,
)
from vaelib.models import ModelConfig, build_model
from vaelib.pretrained import compare_with_shipped, find_pretrained, load_or_train
from vaelib.shipped import shipped_configs
from vaelib.train import TrainConfig

TINY = TrainConfig(model=ModelConfig(latent_dim=2, hidden=(8,)), epochs=1, batch_size=50, seed=0)
SHA = "0" * 64


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.rstrip().endswith(".") and not re.search(r"[.!?]\s+[A-Z]", message)


@pytest.fixture(scope="module")
def tiny_files() -> tuple[dict, dict]:
    """A tiny untrained VAE's state and its per-image test values (made once: each test writes its own copy)."""
    with torch.random.fork_rng(devices=[]):  # a module fixture runs outside the per-test RNG of conftest.py
        torch.manual_seed(0)
        model = build_model(TINY.model)
    x = torch.randint(0, 256, (60, 784), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    test = evaluate(model, x, k=4, seed=EVAL_SEED, batch_size=20, per_example=True)
    return model.state_dict(), {key: v.float() for key, v in test["values"].items()}


@pytest.fixture
def folder(tmp_path, monkeypatch, tiny_files):
    """A stand-in pretrained/ with the tiny VAE, its per-image test values and a manifest; runs/ in tmp."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    monkeypatch.setattr(pretrained_mod, "MANIFEST", folder / "manifest.json")
    monkeypatch.setenv("VAELIB_RUNS", str(tmp_path / "runs"))
    state, values = tiny_files
    save_checkpoint(folder / "tiny.pt", {"config": TINY.to_dict(), "epoch": 1, "history": {"seconds": [0.0]},
                                         "model": state})
    save_checkpoint(folder / "tiny.eval.pt", values | {"eval_seed": EVAL_SEED, "k": 4}, kind="eval-values")
    entry = {"name": "tiny", "kind": "vae", "file": "tiny.pt", "sha256": file_digest(folder / "tiny.pt"),
             "config": TINY.to_dict(), "eval_seed": EVAL_SEED, "k": 4, "values_file": "tiny.eval.pt",
             "values_sha256": file_digest(folder / "tiny.eval.pt"), "command": "python -m vaelib.build tiny"}
    write(folder, [entry])
    return folder


def write(folder: Path, models) -> None:
    (folder / "manifest.json").write_text(json.dumps({"about": "test", "models": models}))


def entries(folder: Path) -> list[dict]:
    return json.loads((folder / "manifest.json").read_text())["models"]


# --- the schema: each wrong entry is one sentence naming the entry and the key ------------------------------------

def _without(key):
    return lambda e: {k: v for k, v in e.items() if k != key}


BAD = {
    "models-is-a-dict": (lambda e: None, "'models' is a dict"),
    "no-sha256": (_without("sha256"), "'tiny' has no 'sha256'"),
    "no-file": (_without("file"), "'tiny' has no 'file'"),
    "no-command": (_without("command"), "'tiny' has no 'command'"),
    "no-config": (_without("config"), "'tiny' has no 'config'"),
    "no-name": (_without("name"), "#1 has no 'name'"),
    "file-outside": (lambda e: e | {"file": "../../x"}, "'tiny' has 'file' = '../../x', which is not a file inside"),
    "file-absolute": (lambda e: e | {"file": "/etc/passwd"}, "'file' = '/etc/passwd', which is not a file inside"),
    "values-outside": (lambda e: e | {"values_file": "../v.pt"}, "'values_file' = '../v.pt', which is not a file"),
    "sha256-not-hex": (lambda e: e | {"sha256": "abc"}, "'sha256' = 'abc', which should be 64 hexadecimal"),
    "sha256-a-number": (lambda e: e | {"sha256": 5}, "'sha256' = 5, which should be a string or null"),
    "name-a-number": (lambda e: e | {"name": 3}, "#1 has 'name' = 3, which should be a string"),
    "k-a-string": (lambda e: e | {"k": "4"}, "'k' = '4', which should be an integer"),
    "k-a-bool": (lambda e: e | {"k": True}, "'k' = True, which should be an integer"),
    "kind-unknown": (lambda e: e | {"kind": "weights"}, "'kind' = 'weights', which should be one of"),
    "values-without-sha": (_without("values_sha256"), "has 'values_file' but no 'values_sha256'"),
    "sha-without-file": (lambda e: e | {"file": None}, "has 'sha256' but 'file' is null"),
    "command-elsewhere": (lambda e: e | {"command": "rm -rf /"}, "'command' = 'rm -rf /', which should start with"),
    "entry-a-string": (lambda e: "tiny", "#1 is a str, not an object"),
    "twice": (lambda e: [e, e], "'tiny' appears twice"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_wrong_entry_is_one_sentence_naming_the_entry_and_the_key(folder, case):
    change, expected = BAD[case]
    entry = entries(folder)[0]
    if case == "models-is-a-dict":
        (folder / "manifest.json").write_text(json.dumps({"models": {"tiny": entry}}))
    else:
        changed = change(entry)
        write(folder, changed if isinstance(changed, list) else [changed])
    before = (folder / "manifest.json").read_text()
    for read in (lambda: read_manifest(folder / "manifest.json"), lambda: pretrained_mod.load_pretrained("tiny"),
                 lambda: load_or_train(TINY, progress=False, device="cpu")):
        with pytest.raises(PretrainedError, match="is not a valid manifest") as err:
            read()
        assert expected in str(err.value) and one_sentence(str(err.value)), str(err.value)
        assert "git checkout -- pretrained/manifest.json" in str(err.value)
    assert (folder / "manifest.json").read_text() == before and not (folder.parent / "runs").exists()  # no training


def test_a_file_that_leads_outside_pretrained_through_a_link_is_refused(folder, tmp_path):
    (tmp_path / "elsewhere.pt").write_bytes((folder / "tiny.pt").read_bytes())
    (folder / "link.pt").symlink_to(tmp_path / "elsewhere.pt")
    write(folder, [entries(folder)[0] | {"file": "link.pt"}])
    with pytest.raises(PretrainedError, match="'file' = 'link.pt', which is not a file inside pretrained/"):
        read_manifest(folder / "manifest.json")


def test_the_shipped_manifest_fits_the_schema_and_names_only_files_inside_pretrained():
    models = read_manifest(MANIFEST)  # raises on any wrong entry
    assert len(models) >= 30 and {m.get("kind", "vae") for m in models} == {"vae", "classifier", "artefact"}


# --- verifying a shipped file: every file an entry names, against its own sha256 ---------------------------------

def test_verified_file_accepts_the_intact_file_and_refuses_a_changed_or_missing_one(folder):
    entry = entries(folder)[0]
    manifest = folder / "manifest.json"
    assert verified_file(entry, "file", manifest) == folder / "tiny.pt"
    assert verified_file(entry, "values_file", manifest) == folder / "tiny.eval.pt"
    assert verify_all(manifest) == []
    for key, file in (("file", "tiny.pt"), ("values_file", "tiny.eval.pt")):
        data = (folder / file).read_bytes()
        (folder / file).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit of the last byte
        with pytest.raises(PretrainedError, match="does not match its sha256") as err:
            verified_file(entry, key, manifest)
        assert "python -m vaelib.build tiny" in str(err.value) and one_sentence(str(err.value))
        assert [file in p for p in verify_all(manifest)] == [True]  # every file is checked, each on its own
        (folder / file).write_bytes(data)
        (folder / file).unlink()
        with pytest.raises(PretrainedError, match="is missing"):
            verified_file(entry, key, manifest)
        (folder / file).write_bytes(data)


def test_a_values_only_entry_names_the_command_that_trains_it(folder):
    entry = entries(folder)[0] | {"file": None, "sha256": None}
    with pytest.raises(PretrainedError, match="test values only") as err:
        verified_file(entry, "file", folder / "manifest.json")
    assert "`python -m vaelib.build tiny`" in str(err.value) and one_sentence(str(err.value))


def test_a_restore_message_names_the_entry_s_own_command_which_build_does_not_run_for_artefacts(folder, capsys):
    artefact = {"name": "sweep", "kind": "artefact", "file": "sweep.json", "sha256": SHA,
                "command": "python -m vaelib.sweep --ship"}
    (folder / "sweep.json").write_text("{}")
    with pytest.raises(PretrainedError) as err:
        verified_file(artefact, "file", folder / "manifest.json")
    assert "`python -m vaelib.sweep --ship`" in str(err.value) and "vaelib.build" not in str(err.value)
    with pytest.raises(SystemExit):  # and the build command sends whoever asks it for an artefact to that command
        build_main(["sweep"])
    assert "sweep is rebuilt by `python -m vaelib.sweep --ship`" in capsys.readouterr().err


# --- finding the shipped model of exactly a config -----------------------------------------------------------------

def test_find_pretrained_finds_exactly_that_config_and_only_a_shipped_vae(folder):
    manifest = folder / "manifest.json"
    assert find_pretrained(TINY.to_dict(), manifest)["name"] == "tiny"
    other = TrainConfig(model=ModelConfig(latent_dim=2, hidden=(8,)), epochs=2, batch_size=50, seed=0)
    assert find_pretrained(other.to_dict(), manifest) is None  # one epoch more is another model
    tiny = entries(folder)[0]
    for changed in ({"file": None, "sha256": None}, {"kind": "artefact"}, {"kind": "classifier"}):
        write(folder, [tiny | changed])
        assert find_pretrained(TINY.to_dict(), manifest) is None, changed
    write(folder, [tiny | {"name": "other", "config": other.to_dict()}, tiny])  # not the first entry
    assert find_pretrained(TINY.to_dict(), manifest)["name"] == "tiny"


def test_load_or_train_loads_the_shipped_model_and_refuses_a_changed_one_without_training(folder):
    assert load_or_train(TINY, device="cpu", progress=False).source == "loaded"
    (folder / "tiny.pt").write_bytes((folder / "tiny.pt").read_bytes() + b"\0")
    with pytest.raises(PretrainedError, match="does not match its sha256"):
        load_or_train(TINY, device="cpu", progress=False)
    assert not (folder.parent / "runs").exists()


# --- the live comparison with the shipped per-image values ---------------------------------------------------------

def test_compare_with_shipped_pairs_the_same_images_binarization_and_draws(folder):
    model, _ = pretrained_mod.load_pretrained("tiny")
    x = torch.randint(0, 256, (60, 784), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    same = compare_with_shipped(model, "tiny", x[:40], k=4, batch_size=20)  # the first 40 of the 60 shipped
    for key in ("elbo", "log_px"):
        assert abs(same[key][0]) < 1e-4 and same[key][1] < 1e-4, (key, same[key])
    assert same["live"]["elbo"] == pytest.approx(evaluate(model, x[:40], k=4, seed=EVAL_SEED,
                                                          batch_size=20)["elbo"], abs=1e-6)
    shifted = compare_with_shipped(model, "tiny", x[20:60], k=4, batch_size=20)  # other images than the first 40
    assert shifted["elbo"][1] > 1e-3
    values = torch.load(folder / "tiny.eval.pt", weights_only=True)
    values["elbo"] = values["elbo"] + 1.0  # shipped one nat higher everywhere: live minus shipped = -1 exactly
    save_checkpoint(folder / "tiny.eval.pt", {k: v for k, v in values.items() if k not in ("format", "kind")},
                    kind="eval-values")
    write(folder, [entries(folder)[0] | {"values_sha256": file_digest(folder / "tiny.eval.pt")}])
    moved = compare_with_shipped(model, "tiny", x[:40], k=4, batch_size=20)
    assert moved["elbo"][0] == pytest.approx(-1.0, abs=1e-4) and abs(moved["log_px"][0]) < 1e-4


# --- the one writer of pretrained/ ---------------------------------------------------------------------------------

def test_ship_copies_in_records_sha256_and_keeps_the_other_entries(folder, tmp_path):
    staged = tmp_path / "runs" / "build" / "extra.json"
    staged.parent.mkdir(parents=True)
    staged.write_text('{"runs": []}\n')
    entry = register_artefact("extra", staged, "python -m vaelib.sweep --ship", manifest=folder / "manifest.json")
    assert (folder / "extra.json").read_bytes() == staged.read_bytes() and entry["sha256"] == file_digest(staged)
    assert [m["name"] for m in entries(folder)] == ["extra", "tiny"]
    assert verify_all(folder / "manifest.json") == [] and not list(folder.glob("*.tmp"))
    staged.write_text('{"runs": [1]}\n')  # shipped again: the entry and the file are replaced, not doubled
    again = register_artefact("extra", staged, "python -m vaelib.sweep --ship", manifest=folder / "manifest.json")
    assert [m["name"] for m in read_manifest(folder / "manifest.json")] == ["extra", "tiny"]
    assert again["sha256"] != entry["sha256"] and (folder / "extra.json").read_text() == '{"runs": [1]}\n'


def test_ship_refuses_a_wrong_entry_or_a_broken_manifest_and_writes_nothing(folder, tmp_path):
    staged = tmp_path / "x.json"
    staged.write_text("{}")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match="should start with"):
        ship({"name": "x", "kind": "artefact", "file": None, "sha256": None, "command": "make x"}, {"file": staged},
             folder / "manifest.json")
    (folder / "manifest.json").write_text('{"models": {}}')
    before["manifest.json"] = b'{"models": {}}'
    with pytest.raises(PretrainedError, match="not a valid manifest"):  # never overwrite what the user has
        register_artefact("x", staged, "python -m vaelib.sweep --ship", manifest=folder / "manifest.json")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".lock"} == before


def test_a_trial_sweep_or_a_partial_study_cannot_replace_a_shipped_file(tmp_path, capsys):
    for argv in (["--ship", "--epochs", "1"], ["--ship", "--out", str(tmp_path / "s.json")],
                 ["--out", str(REPO_ROOT / "pretrained" / "sweep.json")]):
        with pytest.raises(SystemExit) as stop:
            sweep_mod.main(argv)
        assert stop.value.code == 2, argv
    for argv in (["--ship", "--models", "ae-d2"], ["--ship", "--dims", "2"],
                 ["--out", str(REPO_ROOT / "pretrained" / "nb08-study.json")]):
        with pytest.raises(SystemExit) as stop:
            twostage_mod.main(argv)
        assert stop.value.code == 2, argv
    full = {"config": twostage_mod.asdict(twostage_mod.StudyConfig()),
            "seconds": dict.fromkeys(twostage_mod.study_model_names(), {}), "tensors": {}}
    assert twostage_mod.incomplete_study(full) is None
    part = full | {"seconds": dict.fromkeys(twostage_mod.study_model_names()[:-1], {})}
    assert "missing vamp-d40" in twostage_mod.incomplete_study(part)
    small = full | {"config": twostage_mod.asdict(twostage_mod.SMOKE_STUDY)}
    assert "another StudyConfig" in twostage_mod.incomplete_study(small)
    with pytest.raises(ValueError, match="Not shipping this study"):
        twostage_mod.write_study(dict(part), tmp_path / "study.json", "test", ship=True)
    assert not (tmp_path / "study.json").exists()


# --- make pretrained rebuilds every entry, in dependency order ------------------------------------------------------

def pretrained_recipe() -> list[list[str]]:
    """The commands of the Makefile's `pretrained` recipe, as argv lists starting at `python`."""
    lines = (REPO_ROOT / "Makefile").read_text().split("\npretrained:", 1)[1].split("\n")[1:]
    recipe = []
    for line in lines:
        if not line.startswith("\t"):
            break
        argv = shlex.split(line.split("#")[0])
        recipe.append(["python", *argv[1:]] if argv and argv[0].endswith("/python") else argv)
    return recipe


def covers(recipe: list[str], command: list[str]) -> bool:
    """Whether the recipe line runs ``command``: the same module and flags, and its names among the line's (a line
    without names runs everything)."""
    if recipe[:3] != command[:3]:
        return False
    flags, names = {a for a in recipe[3:] if a.startswith("-")}, [a for a in recipe[3:] if not a.startswith("-")]
    wanted = [a for a in command[3:] if not a.startswith("-")]
    return flags == {a for a in command[3:] if a.startswith("-")} and (not names or set(wanted) <= set(names))


def test_make_pretrained_runs_every_entry_s_command_in_dependency_order():
    recipe = pretrained_recipe()
    buildable = {*shipped_configs(), "classifier"}
    for entry in read_manifest(MANIFEST):
        command = shlex.split(entry["command"])
        lines = [i for i, r in enumerate(recipe) if covers(r, command)]
        assert lines, f"`make pretrained` does not run {entry['command']!r} ({entry['name']})"
        if command[2] == "vaelib.build":
            assert command[3:] == [entry["name"]] and entry["name"] in buildable
    modules = [r[2] for r in recipe]
    assert modules.index("vaelib.build") < min(modules.index(m) for m in ("vaelib.artefacts", "vaelib.twostage"))
    seeds = next(i for i, r in enumerate(recipe) if "--seeds" in r)
    assert seeds > modules.index("vaelib.build")  # the seed replicas read the shipped models
