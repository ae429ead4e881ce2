"""The grader (tools/grade.py) against hostile submissions, each graded beside an honest one.

The quick tests (no kernel) check the grader's decisions: which cells it restores, which verdicts it believes, the
rows it writes and where. The slow ones grade tiny two-exercise notebooks built here (notebook 01's posterior and
IWAE checks) in real kernels: one honest submission and five attackers, each attack named in its cells.
"""
from __future__ import annotations

import csv
import importlib.util
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch

from vaelib.exercises import core
from vaelib.exercises.core import NOT_ATTEMPTED, PASSED, TAMPERED, VERDICT_MIME, WRONG, verdict_mac
from vaelib.exercises.editions import check_cell, solution_cell, stub_cell

ROOT = Path(__file__).resolve().parent.parent
A, B, S, X = 1.5, 0.5, 0.8, -1.0
MEAN, STD = A * (X - B) / (A**2 + S**2), math.sqrt(S**2 / (A**2 + S**2))
POST_OK = f"my_post_mean, my_post_std = {MEAN!r}, {STD!r}"
IWAE_OK = "def iwae_bound(log_w):\n    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])"


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


grade = _load_tool("grade")


def tiny_source() -> nbformat.NotebookNode:
    """The committed notebook: a setup cell, two exercises (stub + check), the Solutions section."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tiny", id="title"),
        nbformat.v4.new_code_cell("import math\nimport torch\nfrom vaelib.exercises import nb01", id="setup"),
        stub_cell("01.posterior", "my_post_mean, my_post_std = None, None  # YOUR CODE HERE", "ans1"),
        check_cell("01.posterior", f"nb01.check_posterior(my_post_mean, my_post_std, x={X}, a={A}, b={B}, s={S})",
                   "chk1"),
        stub_cell("01.iwae", "def iwae_bound(log_w):\n    return None  # YOUR CODE HERE", "ans2"),
        check_cell("01.iwae", "nb01.check_iwae_bound(iwae_bound)", "chk2"),
        nbformat.v4.new_markdown_cell("## Solutions", id="solutions"),
        solution_cell("01.posterior", "Solution 1", POST_OK, "Section 4.", "sol1"),
        solution_cell("01.iwae", "Solution 2", IWAE_OK, "Section 5.", "sol2"),
    ]
    return nb


def submission(answers: dict[str, str], edit=None) -> nbformat.NotebookNode:
    """The learner's copy with these answers (cell id -> source); ``edit(nb)`` damages it further."""
    nb = tiny_source()
    for cell in nb.cells:
        if cell.id in answers:
            cell.source = answers[cell.id]
    if edit:
        edit(nb)
    return nb


# ------------------------------------------------------------------------------ decisions (no kernel)
def _steps(plan):
    return [(s.kind, s.exercise) for s in plan.steps]


def test_plan_runs_committed_cells_with_only_the_answers_from_the_submission():
    def damage(nb):
        nb.cells[3].source = 'print("passed")'  # check cell replaced by a print
        nb.cells[1].source = "import torch\ntorch.allclose = lambda *a, **k: True"  # setup cell edited
        nb.cells.insert(3, nbformat.v4.new_code_cell("helper = 1", id="mine"))  # a cell of the student's own
    plan = grade.make_plan(tiny_source(), submission({"ans1": POST_OK}, damage))
    assert _steps(plan) == [("setup", ""), ("answer", "01.posterior"), ("extra", ""), ("check", "01.posterior"),
                            ("seal", "01.posterior"), ("answer", "01.iwae"), ("check", "01.iwae"), ("seal", "01.iwae")]
    assert plan.steps[0].source == tiny_source().cells[1].source  # the committed setup, not the edited one
    assert "nb01.check_posterior(" in plan.steps[3].source and "print" not in plan.steps[3].source
    assert plan.steps[1].source == POST_OK and plan.steps[2].source == "helper = 1"
    assert plan.protected == ["cell setup edited", "check cell chk1 (01.posterior) edited"]
    assert plan.steps[4].key != plan.steps[7].key and len(plan.steps[4].key) == 32  # one secret per seal


def test_plan_gives_a_deleted_or_untagged_answer_a_reason_and_finds_stripped_tags_by_cell_id():
    def damage(nb):
        nb.cells[2].metadata = {}  # tags stripped, cell id kept: found by id
        del nb.cells[4]  # the second answer deleted
        del nb.cells[4]  # and its check
    plan = grade.make_plan(tiny_source(), submission({"ans1": POST_OK}, damage))
    assert plan.exercises == ["01.posterior", "01.iwae"]
    assert "lost its tags" in plan.notes["01.posterior"] and ("answer", "01.posterior") in _steps(plan)
    assert "not in the submission" in plan.missing["01.iwae"] and ("check", "01.iwae") not in _steps(plan)
    assert plan.protected == ["check cell chk2 (01.iwae) removed"]


def _sealed_cells(plan, payloads):
    """Executed cells as nbclient returns them: each seal cell shows ``payloads[exercise]`` (None: no output)."""
    cells = []
    for step in plan.steps:
        cell = nbformat.v4.new_code_cell(step.source, execution_count=1)
        p = payloads.get(step.exercise) if step.kind == "seal" else None
        if p is not None:
            cell.outputs = [nbformat.v4.new_output("execute_result", data={VERDICT_MIME: p}, execution_count=1)]
        cells.append(cell)
    return cells


def test_only_a_verdict_signed_with_the_seal_cells_key_is_believed():
    plan = grade.make_plan(tiny_source(), submission({}))
    k1, k2 = plan.steps[3].key, plan.steps[6].key
    good = {"exercise": "01.posterior", "status": PASSED, "message": "ok",
            "mac": verdict_mac(k1, "01.posterior", PASSED, "ok")}
    forged = {"exercise": "01.iwae", "status": PASSED, "message": "ok", "mac": verdict_mac(k1, "01.iwae", PASSED, "ok")}
    out = grade.verdicts(plan, _sealed_cells(plan, {"01.posterior": good, "01.iwae": forged}), grade.Options())
    assert out["01.posterior"] == (PASSED, "ok")
    assert out["01.iwae"][0] == TAMPERED  # signed with another cell's key
    assert verdict_mac(k2, "01.iwae", PASSED, "ok") != forged["mac"]
    out = grade.verdicts(plan, _sealed_cells(plan, {}), grade.Options())
    assert out["01.iwae"][0] == grade.NOT_RUN and "missing" in out["01.iwae"][1]


def test_core_seal_is_what_the_grader_verifies_and_a_tampered_pass_is_never_passed(monkeypatch):
    from vaelib.exercises import nb01
    nb01.check_posterior(MEAN, STD, x=X, a=A, b=B, s=S)
    payload = core._seal("01.posterior", "k" * 32)._repr_mimebundle_()[VERDICT_MIME]
    assert payload["status"] == PASSED and payload["mac"] == verdict_mac("k" * 32, "01.posterior", PASSED,
                                                                         payload["message"])
    assert core._seal("01.posterior", "k")._repr_mimebundle_()[VERDICT_MIME]["status"] == ""  # used up
    nb01.check_posterior(MEAN, STD, x=X, a=A, b=B, s=S)
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)  # replaced after the check, before the seal
    assert core._seal("01.posterior", "k")._repr_mimebundle_()[VERDICT_MIME]["status"] == TAMPERED
    assert torch.allclose is not None and core.tampered() == []  # put back


def test_rows_for_every_exercise_and_the_csv_is_never_written_through_a_link(tmp_path):
    rows = [{"file": "a.ipynb", "exercise": "01.x", "status": PASSED, "message": "m", "protected_cells": ""}]
    out = tmp_path / "grades.csv"
    assert grade.write_csv(rows, out) == out and list(csv.DictReader(out.open())) == rows
    victim = tmp_path / "roster.csv"
    victim.write_text("precious\n")
    link = tmp_path / "linked.csv"
    link.symlink_to(victim)
    with pytest.raises(SystemExit, match="symbolic link"):
        grade.check_out(link)
    assert grade.write_csv(rows, link) == link  # a link that appeared while grading is replaced, never followed
    assert victim.read_text() == "precious\n" and not link.is_symlink() and list(csv.DictReader(link.open())) == rows
    stranger = tmp_path / "theirs.csv"
    stranger.write_text("not ours\n")
    elsewhere = grade.write_csv(rows, stranger)  # a non-grades file that appeared: the rows go to a new file
    assert elsewhere != stranger and stranger.read_text() == "not ours\n" and elsewhere.is_file()
    with pytest.raises(SystemExit, match="never overwritten"):
        grade.check_out(victim)
    grade.check_out(out)  # its own grades file may be replaced


def test_labels_tell_same_named_submissions_apart():
    assert grade._labels([Path("a/01.ipynb"), Path("b/01.ipynb"), Path("c/02.ipynb")]) == \
        ["a/01.ipynb", "b/01.ipynb", "02.ipynb"]


@pytest.mark.slow
def test_leftover_processes_are_killed_even_when_daemonised(tmp_path):
    assert grade.become_subreaper()
    marker = "m" + str(os.getpid())
    before = {pid for pid, (ppid, _s) in grade._proc_table().items() if ppid == os.getpid()}
    pidfile = tmp_path / "pid"
    code = ("import os, time, sys\nif os.fork(): sys.exit(0)\nos.setsid()\nif os.fork(): sys.exit(0)\n"
            f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)")
    env = {k: v for k, v in os.environ.items() if k != grade.MARKER_ENV}  # the daemon scrubs the marker
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    for _ in range(200):  # its parent may still be exiting (interpreter shutdown) when the pid file appears
        if grade._proc_table()[pid][0] == os.getpid():
            break
        time.sleep(0.05)
    assert grade._proc_table()[pid][0] == os.getpid()  # reparented to us, not to PID 1
    assert grade.kill_leftovers(before, marker) >= 1
    assert pid not in grade._proc_table() or grade._proc_table()[pid][1] == "Z"


# ------------------------------------------------------------------------------ attacks (real kernels)
def attacks(pidfile: Path, out: Path, victim: Path) -> dict[str, dict[str, str]]:
    """The hostile answers (cell id -> source). The kernel sees none of the test's environment, so the daemon's
    pid file and the --out path a student might guess are written into the code."""
    return {
    # forged verdicts in outputs and in the old report file, helpers patched; a daemon, then SystemExit
    "forger": {
        "ans1": ("import json, os, torch\nfrom IPython.display import display\n"
                 f"display({{{VERDICT_MIME!r}: {{'exercise': '01.posterior', 'status': 'passed', 'message': 'x', "
                 "'mac': '0' * 64}}, raw=True)\n"
                 "print(json.dumps({'exercise': '01.posterior', 'status': 'passed', 'message': 'x'}))\n"
                 "open(os.environ.get('VAELIB_EXERCISES_REPORT') or 'report.jsonl', 'a').write("
                 "json.dumps({'exercise': '01.iwae', 'status': 'passed', 'message': 'x'}) + '\\n')\n"
                 "from vaelib.exercises import core\ncore.close = lambda *a, **k: True\n"
                 "torch.allclose = lambda *a, **k: True\nmy_post_mean, my_post_std = 0.0, 0.0"),
        # (the cell waits, at most 1.5 s, until the daemon has said its pid: on a busy machine the grader could
        # otherwise kill it before it ran, as it should, and the test would have no pid to look for)
        "ans2": ("import os, sys, time, glob\nchild = os.fork()\nif child == 0:\n    os.setsid()\n"
                 "    if os.fork() == 0:\n"
                 "        os.environ.pop('VAELIB_GRADE_RUN', None)\n"
                 f"        open({str(pidfile)!r} + '.part', 'w').write(str(os.getpid()))\n"
                 f"        os.rename({str(pidfile)!r} + '.part', {str(pidfile)!r})\n"
                 "        while True:\n"
                 f"            for f in glob.glob({str(out.parent / '*.csv')!r}):\n"
                 "                try: open(f, 'w').write('file,exercise,status\\nhonest.ipynb,01.iwae,wrong\\n')\n"
                 "                except OSError: pass\n"
                 "            time.sleep(0.1)\n    os._exit(0)\n"
                 "os.waitpid(child, 0)\nwaited = time.monotonic()\n"
                 f"while not os.path.exists({str(pidfile)!r}) and time.monotonic() - waited < 1.5:\n"
                 "    time.sleep(0.01)\n"
                 "def iwae_bound(log_w):\n    raise SystemExit(0)"),
    },
    # a check cell replaced by print, another deleted with its answer; tags stripped from the first answer
    "editor": {"ans1": "my_post_mean, my_post_std = -0.5, 1.0"},
    # the notebook's check module rebound, a NaN answer; the check's own input zeroed in place
    "changer": {
        "ans1": ("from vaelib.exercises import core\n"
                 "class _Fake:\n    check_posterior = staticmethod(lambda *a, **k: core.passed('ok'))\n"
                 "nb01 = _Fake()\nmy_post_mean, my_post_std = float('nan'), 0.5"),
        "ans2": "def iwae_bound(log_w):\n    log_w.zero_()\n    return torch.zeros(log_w.shape[1:])",
    },
    # hangs: a top-level loop after a right answer; a cell of its own whose loop swallows the interrupt; a function
    # that never returns
    "hanger": {
        "ans1": POST_OK + "\nwhile True:\n    pass",
        "mine": ("import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n"
                 "        pass\n"),
        "ans2": "def iwae_bound(log_w):\n    while True:\n        pass",
    },
    # (a cell of its own after the first answer) the grader's folder, argv and home: delete what is there, copy a
    # classmate's answers, replace --out with a link to another file
    "escaper": {
        "mine": ("import os, shutil, json, glob\nppid = os.getppid()\ncwd = os.readlink(f'/proc/{ppid}/cwd')\n"
                 "for f in glob.glob(cwd + '/**', recursive=True):\n"
                 "    if os.path.isfile(f): os.remove(f)\n"
                 "argv = open(f'/proc/{ppid}/cmdline').read().split('\\0')\n"
                 "mate = [a for a in argv if a.endswith('.ipynb') and 'honest' in a]\n"
                 "if mate:\n    nb = json.load(open(mate[0]))\n"
                 "    for c in nb['cells']:\n"
                 "        if 'exercise' in c['metadata'].get('tags', []): exec(''.join(c['source']))\n"
                 "home = os.path.expanduser('~')\nopen(os.path.join(home, 'roster.csv'), 'w').write('gone')\n"
                 f"os.remove({str(out)!r}) if os.path.exists({str(out)!r}) else None\n"
                 f"os.symlink({str(victim)!r}, {str(out)!r})"),
    },
    }


def _escaper(answers):
    """Add the cell ``answers["mine"]`` of the student's own after the first answer."""
    def edit(nb):
        nb.cells.insert(3, nbformat.v4.new_code_cell(answers["mine"], id="mine"))
    return edit


def _editor(nb):
    nb.cells[3].source = 'print("passed")'
    nb.cells[2].metadata = {}
    nb.cells[2].id = "renamed"  # untagged and renamed: the grader cannot find it
    del nb.cells[4:6]  # the second exercise's answer and check deleted


# The hostile run's limits: short, so that the hanger costs seconds, yet no legitimate cell may ever be interrupted,
# on a loaded CI machine either. Measured on the 2-core CPU at a load average of 4 to 6: every answer, check and seal
# cell here takes under 0.1 s, a learner function a few ms, the slowest legitimate cell (the hanger's IWAE check) is
# TIME_LIMIT plus under 0.05 s, and an interrupted kernel answers again within 0.15 s. TIMEOUT, which is also the
# grace an interrupted kernel gets (min(TIMEOUT, 15) s), leaves that check 1 s to spare (20 times what it needs) and
# the kernel's recovery 13 times what it takes; TIME_LIMIT gives the honest functions hundreds of times theirs.
TIMEOUT, TIME_LIMIT = 2, 1


@pytest.mark.slow
def test_hostile_submissions_are_graded_beside_an_honest_one(tmp_path):
    src = tmp_path / "src" / "01_tiny.ipynb"
    src.parent.mkdir()
    nbformat.write(tiny_source(), src)
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(submission({"ans1": POST_OK, "ans2": IWAE_OK}), subs / "honest.ipynb")
    out = tmp_path / "out" / "grades.csv"
    out.parent.mkdir()
    pidfile = tmp_path / "daemon.pid"
    hostile = attacks(pidfile, out, tmp_path / "roster.csv")
    for name in ("forger", "editor"):
        nbformat.write(submission(hostile[name], _editor if name == "editor" else None), subs / f"{name}.ipynb")
    nbformat.write(submission(hostile["hanger"], _escaper(hostile["hanger"])), subs / "hanger.ipynb")
    nbformat.write(submission(hostile["changer"], _escaper(hostile["escaper"])), subs / "changer.ipynb")
    order = ["forger", "honest", "editor", "changer", "hanger"]  # the honest one right after the daemon
    keep = {tmp_path / "roster.csv": "alice,bob\n", tmp_path / "out" / "notes.txt": "mine\n"}
    for path, text in keep.items():
        path.write_text(text)
    env = dict(os.environ, PYTHONPATH=str(ROOT), VAELIB_EXERCISES_REPORT=str(tmp_path / "report.jsonl"))
    started = time.monotonic()
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "grade.py"), *[str(subs / f"{n}.ipynb") for n in order],
                          "--out", str(out), "--source", str(src), "--timeout", str(TIMEOUT), "--time-limit",
                          str(TIME_LIMIT)],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {(r["file"], r["exercise"]): r for r in csv.DictReader(out.open())}
    status = {k: r["status"] for k, r in rows.items()}

    def row(name, ex):
        return rows[(f"{name}.ipynb", ex)]

    assert status[("honest.ipynb", "01.posterior")] == PASSED and status[("honest.ipynb", "01.iwae")] == PASSED
    assert row("honest", "01.iwae")["protected_cells"] == ""
    # forged outputs and report lines are ignored, the patched helpers make the check "tampered"
    assert row("forger", "01.posterior")["status"] == TAMPERED and "torch.allclose" in row("forger", "01.posterior")[
        "message"]
    assert row("forger", "01.iwae")["status"] == WRONG and "called exit" in row("forger", "01.iwae")["message"]
    daemon = int(pidfile.read_text())
    assert daemon not in grade._proc_table(), "the daemon outlived its submission"
    # edited and deleted check cells: the committed one runs; the untagged answer gets its row
    assert row("editor", "01.posterior")["status"] == grade.NOT_RUN
    assert "not in the submission" in row("editor", "01.posterior")["message"]
    assert row("editor", "01.iwae")["status"] == grade.NOT_RUN
    assert "check cell chk1 (01.posterior) edited" in row("editor", "01.iwae")["protected_cells"]
    assert "check cell chk2 (01.iwae) removed" in row("editor", "01.iwae")["protected_cells"]
    # a rebound module name does not replace the check; NaN is never right; zeroing the input changes nothing
    assert row("changer", "01.posterior")["status"] == WRONG and "NaN" in row("changer", "01.posterior")["message"]
    assert row("changer", "01.iwae")["status"] == WRONG
    # a hanging cell is interrupted and the next answers are still graded; a stubborn one is skipped (the kernel is
    # replaced); a function that never returns is stopped by the check's time limit, inside the kernel
    assert row("hanger", "01.posterior")["status"] == PASSED
    assert row("hanger", "01.iwae")["status"] == WRONG and f"stopped after {TIME_LIMIT} s" in row("hanger", "01.iwae")[
        "message"]
    said = dict(re.findall(r"^tools/grade.py: \[\d/5\] (\w+\.ipynb): (.+)$", run.stderr, re.M))  # a line each
    assert sorted(said) == sorted(f"{n}.ipynb" for n in order), run.stderr[-3000:]
    assert f"the extra cell was skipped: it ignored the interrupt after {TIMEOUT} s" in said["hanger.ipynb"]
    assert "no kernel was started" in said["editor.ipynb"] and "skipped" not in said["changer.ipynb"]
    # nothing of the grader's, the classmate's or the instructor's was reachable through /proc/<ppid>: the
    # changer's own (NaN) answer was graded, not the honest one's
    assert "NaN" in row("changer", "01.posterior")["message"]
    for path, text in keep.items():
        assert path.read_text() == text
    assert not out.is_symlink()  # the link the escaper put there was replaced, its target untouched
    print(f"graded 5 submissions in {time.monotonic() - started:.1f} s")


def test_a_function_that_never_returns_is_stopped_by_the_time_limit(monkeypatch):
    from vaelib.exercises import nb01

    def iwae_bound(log_w):
        while True:
            try:
                pass
            except BaseException:  # swallowing the first alarm does not help: it comes back
                pass
    monkeypatch.setenv(core.TIME_LIMIT_ENV, "0.3")
    started = time.monotonic()
    fb = nb01.check_iwae_bound(iwae_bound)
    assert fb.status == WRONG and "stopped after 0.3 s" in fb.message and time.monotonic() - started < 5


@pytest.mark.slow
@pytest.mark.skipif(not grade.sandbox_available(), reason="bubblewrap (bwrap) is not installed or cannot run here")
def test_sandbox_hides_everything_but_the_submission_even_from_a_student_who_knows_the_paths(tmp_path):
    src = tmp_path / "src" / "01_tiny.ipynb"
    src.parent.mkdir()
    nbformat.write(tiny_source(), src)
    honest, roster = tmp_path / "honest.ipynb", tmp_path / "roster.csv"
    nbformat.write(submission({"ans1": POST_OK, "ans2": IWAE_OK}), honest)
    roster.write_text("alice,bob\n")
    snoop = ("import json, os\nmy_post_mean, my_post_std = None, None\n"
             f"try:\n    os.remove({str(roster)!r})\nexcept OSError:\n    pass\n"
             f"try:\n    nb = json.load(open({str(honest)!r}))\n"
             "    for c in nb['cells']:\n"
             "        if 'exercise' in c['metadata'].get('tags', []): exec(''.join(c['source']))\n"
             "except OSError:\n    pass\n"
             "seen = [p for p in os.listdir('/proc') if p.isdigit()]\n"
             "if len(seen) > 4:  # more than bubblewrap, the kernel and its children: the grader is visible\n"
             "    my_post_mean, my_post_std = float(len(seen)), 1.0\n")
    snooper = tmp_path / "snooper.ipynb"
    nbformat.write(submission({"ans1": snoop}), snooper)
    rows = grade.grade([snooper, honest], grade.Options(timeout=20, time_limit=2, sandbox=True), [src])
    status = {(r["file"], r["exercise"]): r["status"] for r in rows}
    assert status[("snooper.ipynb", "01.posterior")] == NOT_ATTEMPTED, rows
    assert status[("honest.ipynb", "01.posterior")] == PASSED and status[("honest.ipynb", "01.iwae")] == PASSED
    assert roster.read_text() == "alice,bob\n"
