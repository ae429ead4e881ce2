"""Grade submitted notebooks against the committed ones: one CSV row per (submission, exercise).

    python tools/grade.py SUBMISSION.ipynb ... [--out grades.csv] [--sandbox] [--smoke] [--timeout 600]

What a run does (docs/grading.md says it for instructors):

- **Restores what it trusts.** For each submission it finds the committed notebook (``--source``, or
  notebooks/NN_*.ipynb from the exercise ids) and runs *the committed cells*, setup and checks included, with only
  the student's answer cells (tag ``exercise``, matched by exercise id, else by cell id) and the code cells the
  student added put in between, as nbgrader restores its autograder cells. Every committed cell the student changed
  or removed is named in the row's ``protected_cells``; an exercise whose answer cell is gone gets a "not run" row.
- **Reads verdicts from its own cells only.** After each committed check cell it runs one cell of its own that
  displays the check's verdict signed (HMAC-SHA256) with a key created for that cell and never shown before, and it
  reads that cell's output from the kernel's messages. No file the kernel can write is ever read back.
- **Limits time.** Learner code inside a check stops after ``--time-limit`` s (vaelib.exercises.core.call); any
  cell is interrupted after ``--timeout`` s and grading goes on with the next one; a kernel that ignores the
  interrupt (still busy ``min(--timeout, 15)`` s later), or dies, is replaced and the run replayed without that cell.
  A submission with no answer to check starts no kernel.
- **Isolates each submission.** The kernel runs in a new empty folder with its own HOME and TMPDIR and a minimal
  environment; this process works from an empty private folder and keeps its arguments out of its command line;
  every process the submission started is killed before the next one runs (this process is a child subreaper, so
  even a daemonised process comes back to it). ``--sandbox`` adds bubblewrap: its own PID namespace, a read-only
  system, nothing of the instructor's files but vaelib, the data and the environment, no capabilities.
- **Says how it goes** on stderr: a progress bar (on a terminal) and one line per submission (its statuses, its
  time, any cell skipped or kernel replaced); ``--verbose`` adds the time of each kernel start and of each slow cell.
- **Writes the CSV atomically** (a temporary file renamed over ``--out``), never through a symlink and never over a
  file that is not a grades file of this tool.
"""
from __future__ import annotations

import argparse
import csv
import ctypes
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _reexec_without_arguments() -> None:
    """Run again with the arguments in a private file, so that /proc/<grader>/cmdline names no submission."""
    fd, path = tempfile.mkstemp(prefix="vaelib-grade-args-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(sys.argv[1:], f)
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "--args-file", path])


if __name__ == "__main__" and sys.argv[1:2] not in ([], ["--args-file"]) and not {"-h", "--help"} & set(sys.argv):
    _reexec_without_arguments()  # before the imports below (torch among them), which would otherwise load twice

import nbformat  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import DeadKernelError  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from vaelib.exercises.core import STATUSES, TAMPERED, TIME_LIMIT_ENV, VERDICT_MIME, verdict_mac  # noqa: E402
from vaelib.exercises.editions import CHECK, EXERCISE, SOLUTION  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOT_RUN = "not run"
FIELDS = ("file", "exercise", "status", "message", "protected_cells")
TIMEOUT_ENAME = "GraderCellTimeout"
MARKER_ENV = "VAELIB_GRADE_RUN"  # every process a submission starts inherits it (unless it scrubs its environment)
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "VAELIB_DATA", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
PR_SET_CHILD_SUBREAPER = 36
IOPUB_WAIT = 10  # seconds to wait for a finished cell's last outputs (a seal's verdict among them)


class GradeError(SystemExit):
    """A refusal: one sentence on what is wrong and what to do."""


def say(message: str) -> None:
    """One line on stderr, above the progress bar."""
    tqdm.write(f"tools/grade.py: {message}", file=sys.stderr)


def _role(cell: nbformat.NotebookNode) -> str | None:
    tags = set(cell.get("metadata", {}).get("tags", []))
    return next((r for r in (EXERCISE, CHECK, SOLUTION) if r in tags), None)


def _ex(cell: nbformat.NotebookNode) -> str:
    return str(cell.get("metadata", {}).get("exercise", ""))


# ---------------------------------------------------------------------------------------------- plan
@dataclass
class Step:
    """One cell the grader runs: committed ("setup", "check"), the student's ("answer", "extra") or its own ("seal")."""

    kind: str
    source: str
    exercise: str = ""
    key: str = ""


@dataclass
class Plan:
    """What to run for one submission, and what was found changed in it."""

    steps: list[Step]
    exercises: list[str]
    protected: list[str] = field(default_factory=list)  # "check cell c1 (01.posterior) edited", ...
    missing: dict[str, str] = field(default_factory=dict)  # exercise -> why its answer was not run
    notes: dict[str, str] = field(default_factory=dict)  # exercise -> a remark (e.g. tags stripped)


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def make_plan(committed: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> Plan:
    """The committed code cells with the student's answers (and added cells) in place; changes recorded."""
    code = [c for c in committed.cells if c.cell_type == "code"]
    committed_ids = {c.get("id") for c in committed.cells}
    by_id = {c.get("id"): c for c in submission.cells if c.get("id")}
    answers: dict[str, nbformat.NotebookNode] = {}
    for cell in submission.cells:
        if cell.cell_type == "code" and _role(cell) == EXERCISE and _ex(cell) and _ex(cell) not in answers:
            answers[_ex(cell)] = cell
    plan = Plan([], [_ex(c) for c in code if _role(c) == EXERCISE])
    used = set()
    for ex in plan.exercises:  # each exercise's answer: by tag and exercise id, else by the stub's cell id
        stub = next(c for c in code if _role(c) == EXERCISE and _ex(c) == ex)
        cell = answers.get(ex)
        if cell is None and stub.get("id") in by_id and by_id[stub.get("id")].cell_type == "code":
            cell = by_id[stub.get("id")]
            plan.notes[ex] = f"its answer cell had lost its tags; it was found by its cell id {stub.get('id')}"
        if cell is None:
            plan.missing[ex] = (f"its answer cell (tag 'exercise', exercise {ex}, cell id {stub.get('id')}) is not in "
                                "the submission, so its check was not run")
        else:
            answers[ex] = cell
            used.add(id(cell))
    extras: dict[Any, list[str]] = {}  # committed cell id -> the student's own code cells that follow it
    anchor = None
    for cell in submission.cells:
        if cell.get("id") in committed_ids and id(cell) not in used:
            anchor = cell.get("id")
        elif id(cell) in used:
            anchor = next(c.get("id") for c in code if _role(c) == EXERCISE and answers.get(_ex(c)) is cell)
        elif cell.cell_type == "code" and _role(cell) not in (CHECK, SOLUTION) and cell.source.strip():
            extras.setdefault(anchor, []).append(cell.source)
    plan.steps += [Step("extra", s) for s in extras.get(None, [])]
    for cell in code:
        role, ex, cid = _role(cell), _ex(cell), cell.get("id")
        mine = by_id.get(cid)
        if role == EXERCISE:
            if ex in answers:
                plan.steps.append(Step("answer", answers[ex].source, ex))
        else:
            what = f"check cell {cid} ({ex})" if role == CHECK else f"cell {cid}"
            if mine is None:
                plan.protected.append(f"{what} removed")
            elif _norm(mine.source) != _norm(cell.source) or _role(mine) != role:
                plan.protected.append(f"{what} edited")
            if role == CHECK:
                if ex in plan.missing:
                    continue
                prefix = "from vaelib.exercises import core as _vaelib_core\n"
                module = f"vaelib.exercises.nb{ex[:2]}"
                if importlib.util.find_spec(module) is not None:
                    prefix += f"from vaelib.exercises import nb{ex[:2]}\n"
                plan.steps.append(Step("check", f"{prefix}_vaelib_core._begin({ex!r})\n{cell.source}", ex))
                key = secrets.token_hex(16)
                plan.steps.append(Step("seal", "__import__('vaelib.exercises.core', fromlist=['_seal'])"
                                               f"._seal({ex!r}, {key!r})", ex, key))
            else:
                plan.steps.append(Step("setup", cell.source))
        plan.steps += [Step("extra", s) for s in extras.get(cid, [])]
    return plan


# ------------------------------------------------------------------------------------ processes
def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) for every process visible in /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def _marked(pid: int, marker: str) -> bool:
    try:
        return f"{MARKER_ENV}={marker}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def become_subreaper() -> bool:
    """Make orphaned descendants (a daemonised process included) children of this process (Linux); False elsewhere."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_leftovers(before: set[int], marker: str) -> int:
    """SIGKILL every child of this process that was not there before the submission ran, and every process that
    carries the submission's marker; repeat until none is left. Returns how many were killed."""
    killed, me = 0, os.getpid()
    for _ in range(100):
        table = _proc_table()
        victims = [pid for pid, (ppid, state) in table.items() if state != "Z" and pid != me and
                   ((ppid == me and pid not in before) or _marked(pid, marker))]
        for pid, (ppid, state) in table.items():
            if ppid == me and pid not in before and state == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        if not victims:
            return killed
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return killed


def sandbox_available() -> bool:
    """True when bubblewrap is installed and can create a PID namespace here."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = os.system(f"{bwrap} --ro-bind / / --unshare-pid --proc /proc --dev /dev true >/dev/null 2>&1")
    return probe == 0


def _bwrap_argv(work: Path, conn_dir: Path) -> list[str]:
    """bubblewrap: own PID/IPC/UTS namespaces, read-only system and Python, vaelib and the data read-only, the
    submission's folder writable, a private /tmp, no capabilities, killed with the grader."""
    argv = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    ro = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), ROOT / "vaelib"}
    if (ROOT / "pretrained").is_dir():
        ro.add(ROOT / "pretrained")
    if os.environ.get("VAELIB_DATA") and Path(os.environ["VAELIB_DATA"]).is_dir():
        ro.add(Path(os.environ["VAELIB_DATA"]).resolve())
    for path in sorted(ro):
        if not str(path).startswith(("/usr/", "/etc/")):
            argv += ["--ro-bind", str(path), str(path)]
    argv += ["--bind", str(work), str(work), "--ro-bind", str(conn_dir), str(conn_dir), "--chdir", str(work),
             "--unsetenv", "JPY_PARENT_PID"]  # its parent is invisible in the namespace: --die-with-parent instead
    return argv


def _kernel_spec(folder: Path, sandbox: bool, work: Path, conn_dir: Path) -> KernelSpecManager:
    """A kernelspec of this environment's Python (inside bubblewrap with ``sandbox``)."""
    spec = folder / "kernels" / "vaelib-grade"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if sandbox:  # the environment's python by its real path (only that is mounted), so the venv is still found
        python = Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name
        argv = _bwrap_argv(work, conn_dir) + ["--", str(python)] + argv[1:]
    spec_json = {"argv": argv, "display_name": "grader", "language": "python",
                 "interrupt_mode": "message" if sandbox else "signal"}  # a signal would reach bwrap, not the kernel
    (spec / "kernel.json").write_text(json.dumps(spec_json))
    return KernelSpecManager(kernel_dirs=[str(folder / "kernels")])


# ---------------------------------------------------------------------------------------------- run
@dataclass
class Options:
    """How to run submissions."""

    timeout: int = 600  # seconds per student or check cell
    setup_timeout: int = 600  # seconds per committed setup cell (training may take long; at least ``timeout``)
    time_limit: float = 60.0
    smoke: bool = False
    sandbox: bool = False
    max_restarts: int = 3
    verbose: bool = False  # say the time of each kernel start and of each cell over a second

    @property
    def grace(self) -> int:
        """Seconds an interrupted kernel has to become responsive again before it is replaced."""
        return min(self.timeout, 15)


def _kernel_env(work: Path, marker: str, opts: Options) -> dict[str, str]:
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    home, tmp = work / "home", work / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(ROOT), MPLBACKEND="Agg", PYTHONNOUSERSITE="1",
               JUPYTER_PLATFORM_DIRS="1", **{MARKER_ENV: marker, TIME_LIMIT_ENV: f"{opts.time_limit:g}"})
    if opts.smoke:
        env["VAELIB_SMOKE"] = "1"
    return env


def _error_of(cell: nbformat.NotebookNode) -> tuple[str, str] | None:
    """(exception name, first line of its message) of a cell that raised, else None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            lines = str(out.get("evalue", "")).strip().splitlines()
            return str(out.get("ename", "")), lines[0] if lines else ""
    return None


class _Client(NotebookClient):
    """nbclient's client, except that a cell interrupted for its timeout is not waited for any longer: whether the
    kernel obeyed the interrupt is the probe's question (``execute``), so a kernel that ignores it costs the grader
    one grace period, not IOPUB_WAIT on top of it. (An nbclient without this hook is only slower.)"""

    async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
        self.iopub_timeout = 0  # the timed-out cell's outputs are not awaited; execute() resets it for the next cell
        return await super()._async_handle_timeout(timeout, cell)


def execute(plan: Plan, folder: Path, opts: Options) -> tuple[list[nbformat.NotebookNode], list[str]]:
    """Run the plan's cells in a fresh kernel, interrupting a cell after ``opts.timeout`` s; a kernel that stays
    busy after the interrupt, or dies, is replaced and the run replayed without that cell. Returns the executed
    cells (same order as the steps; a skipped one has no outputs) and notes on what happened."""
    skipped: set[int] = set()
    notes: list[str] = []
    for attempt in range(opts.max_restarts + 1):
        work = Path(tempfile.mkdtemp(prefix="work-", dir=folder))
        conn_dir = Path(tempfile.mkdtemp(prefix="conn-", dir=folder))
        marker = secrets.token_hex(8)
        cells = [nbformat.v4.new_code_cell(s.source) for s in plan.steps]
        nb = nbformat.v4.new_notebook(cells=cells + [nbformat.v4.new_code_cell("pass")])  # the last: a probe
        ksm = _kernel_spec(conn_dir, opts.sandbox, work, conn_dir)
        km = AsyncKernelManager(kernel_name="vaelib-grade", kernel_spec_manager=ksm)  # async: a hung cell's
        # leftover output poll must not block the event loop
        km.connection_file = str(conn_dir / "kernel.json")
        client = _Client(nb, km=km, timeout=opts.timeout, allow_errors=True, interrupt_on_timeout=True,
                         error_on_timeout={"ename": TIMEOUT_ENAME, "traceback": [],
                                           "evalue": f"the cell was interrupted after {opts.timeout} s"},
                         iopub_timeout=IOPUB_WAIT, shutdown_kernel="immediate")
        limits = {id(c): max(opts.timeout, opts.setup_timeout) if s.kind == "setup" else opts.timeout
                  for c, s in zip(cells, plan.steps)}
        client.timeout_func = lambda cell, limits=limits: limits.get(id(cell), opts.grace)
        before = {pid for pid, (ppid, _s) in _proc_table().items() if ppid == os.getpid()}
        hung = None
        started = time.monotonic()
        try:
            with client.setup_kernel(env=_kernel_env(work, marker, opts), cwd=str(work)):
                if opts.verbose:
                    say(f"  kernel {attempt + 1} ready in {time.monotonic() - started:.1f} s")
                for i, cell in enumerate(cells):
                    if i in skipped:
                        continue
                    started = time.monotonic()
                    client.iopub_timeout = IOPUB_WAIT  # _Client drops it to 0 once a cell times out
                    try:
                        client.execute_cell(cell, i)
                    except DeadKernelError:
                        hung, why = i, "the kernel died"
                        break
                    took = time.monotonic() - started
                    if opts.verbose and took >= 1:
                        of = f" of {plan.steps[i].exercise}" if plan.steps[i].exercise else ""
                        say(f"  {plan.steps[i].kind} cell {i}{of} took {took:.1f} s")
                    if took >= limits[id(cell)]:  # timed out and interrupted
                        if not _error_of(cell):
                            cell.outputs.append(nbformat.v4.new_output(
                                "error", ename=TIMEOUT_ENAME, evalue=f"interrupted after {limits[id(cell)]} s",
                                traceback=[]))
                        probe = nbformat.v4.new_code_cell("pass")  # responsive again within the grace period?
                        nb.cells[-1] = probe
                        started = time.monotonic()
                        client.iopub_timeout = IOPUB_WAIT
                        try:
                            client.execute_cell(probe, len(cells))
                        except DeadKernelError:
                            pass
                        if time.monotonic() - started >= opts.grace or probe.get("execution_count") is None:
                            hung, why = i, f"it ignored the interrupt after {limits[id(cell)]} s"
                            break
        except Exception as err:  # the kernel would not start or the client failed: the run stops here
            notes.append(f"the kernel failed ({type(err).__name__}: {str(err)[:200]})")
            hung, why = None, ""
            cells = [nbformat.v4.new_code_cell("") for _ in plan.steps]
        finally:
            pid = getattr(km.provisioner, "pid", None) if km.provisioner is not None else None
            if pid:  # the kernel leads its own process group
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            killed = kill_leftovers(before, marker)
            if opts.verbose and killed:
                say(f"  killed {killed} leftover process(es)")
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(conn_dir, ignore_errors=True)
        if hung is None:
            return cells, notes
        skipped.add(hung)
        step = plan.steps[hung]
        notes.append(f"the {step.kind} cell{' of ' + step.exercise if step.exercise else ''} was skipped: {why}")
        if step.kind == "check":
            skipped.add(hung + 1)  # its seal
    notes.append(f"gave up after {opts.max_restarts} restarts")
    return [nbformat.v4.new_code_cell("") for _ in plan.steps], notes


def verdicts(plan: Plan, cells: list[nbformat.NotebookNode], opts: Options) -> dict[str, tuple[str, str]]:
    """exercise -> (status, message) from the grader's own seal cells (signature checked) and the check cells."""
    out: dict[str, tuple[str, str]] = {}
    for i, step in enumerate(plan.steps):
        if step.kind != "seal":
            continue
        check = cells[i - 1]
        found = []
        for o in cells[i].get("outputs", []):
            data = o.get("data", {}) if o.get("output_type") == "execute_result" else {}
            payload = data.get(VERDICT_MIME)
            if isinstance(payload, dict):
                found.append(payload)
        good = [p for p in found if p.get("exercise") == step.exercise and p.get("status") in STATUSES + ("",) and
                isinstance(p.get("message"), str) and isinstance(p.get("mac"), str) and
                secrets.compare_digest(p["mac"], verdict_mac(step.key, step.exercise, p["status"], p["message"]))]
        err = _error_of(check)
        if len(found) != 1 or len(good) != 1:
            why = "its verdict was missing or not signed by the grader"
            if found:
                out[step.exercise] = (TAMPERED, f"{why} (a forged verdict was shown)")
                continue
        elif good[0]["status"]:
            out[step.exercise] = (good[0]["status"], good[0]["message"])
            continue
        else:
            why = good[0]["message"]
        if err and err[0] in (TIMEOUT_ENAME, "KeyboardInterrupt"):
            why = f"its check cell did not finish within {opts.timeout} s and was interrupted"
        elif err:
            why = f"its check cell raised {err[0]}: {err[1]}"
        elif check.get("execution_count") is None:
            why = "its check cell was skipped (the kernel hung or died before it)"
        out[step.exercise] = (NOT_RUN, why)
    return out


def find_source(submission: nbformat.NotebookNode, name: str, sources: list[Path]) -> Path:
    """The committed notebook a submission is of: the one (of ``sources``, default notebooks/NN_*.ipynb) sharing
    its notebook number (from the exercise ids in the submission, else the file name's NN_)."""
    numbers = {_ex(c)[:2] for c in submission.cells if _ex(c)[:2].isdigit()}
    if not numbers and re.match(r"\d\d_", name):
        numbers = {name[:2]}
    candidates = sources or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    hits = [p for p in candidates if p.name[:2] in numbers] or (candidates if len(candidates) == 1 else [])
    if len(hits) != 1:
        raise LookupError(f"cannot tell which committed notebook it is (exercise numbers {sorted(numbers)})")
    return hits[0]


def grade_one(path: Path, label: str, sources: list[Path], folder: Path, opts: Options,
              ) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of one submission, and notes on its run (cells skipped, kernels replaced)."""
    try:
        sub = nbformat.read(path, as_version=4)
        src = find_source(sub, label, sources)
    except Exception as err:  # not JSON, not a notebook, or of no known notebook: one row says so
        why = f"not gradable ({type(err).__name__}: {str(err)[:120]}); ask for the .ipynb file again"
        return [{"file": label, "exercise": "", "status": NOT_RUN, "protected_cells": "", "message": why}], []
    plan = make_plan(nbformat.read(src, as_version=4), sub)
    checked = any(step.kind == "check" for step in plan.steps)
    if checked:
        cells, notes = execute(plan, folder, opts)
    else:  # no answer to check: its rows say why, and none of its code runs
        cells, notes = [nbformat.v4.new_code_cell("") for _ in plan.steps], []
    found = verdicts(plan, cells, opts)
    protected = "; ".join(plan.protected)
    rows = []
    for ex in plan.exercises:
        if ex in plan.missing:
            status, message = NOT_RUN, plan.missing[ex]
        else:
            status, message = found.get(ex, (NOT_RUN, "its check did not run"))
        if status == NOT_RUN and notes:
            message += "; " + "; ".join(notes)
        if ex in plan.notes:
            message += f" ({plan.notes[ex]})"
        edited = [p for p in plan.protected if f"({ex})" in p]
        if edited:
            message += f" [{', '.join(edited)}: the committed cell was run]"
        rows.append({"file": label, "exercise": ex, "status": status, "message": message, "protected_cells": protected})
    return rows, notes if checked else ["no answer to check, so no kernel was started"]


def _labels(paths: list[Path]) -> list[str]:
    """Each submission's name in the CSV: its file name, or parent/name when two share a file name."""
    names = [p.name for p in paths]
    return [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]


def grade(submissions: list[Path], opts: Options | None = None, sources: list[Path] | None = None,
          ) -> list[dict[str, str]]:
    """Grade each submission in isolation (see the module docstring); one row per (submission, exercise)."""
    opts = opts or Options()
    if opts.sandbox and not sandbox_available():
        raise GradeError("tools/grade.py: --sandbox needs bubblewrap (apt-get install bubblewrap), and it is not "
                         "installed or cannot create namespaces here; install it or grade without --sandbox.")
    become_subreaper()
    paths = [p.resolve() for p in submissions]
    srcs = [p.resolve() for p in sources or []]
    rows: list[dict[str, str]] = []
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="vaelib-grade-") as tmp:
        os.chmod(tmp, 0o700)
        os.chdir(tmp)  # /proc/<grader>/cwd shows an empty private folder
        bar = tqdm(total=len(paths), desc="grading", unit="submission", file=sys.stderr, disable=None)
        try:
            for n, (path, label) in enumerate(zip(paths, _labels(paths)), 1):
                started = time.monotonic()
                folder = Path(tempfile.mkdtemp(prefix="sub-", dir=tmp))
                copy = folder / "submission.ipynb"  # read once; the kernel never sees the path or the file
                shutil.copyfile(path, copy)
                if opts.verbose:
                    say(f"[{n}/{len(paths)}] {label}")
                mine, notes = grade_one(copy, label, srcs, folder, opts)
                rows += mine
                shutil.rmtree(folder, ignore_errors=True)
                counts = ", ".join(f"{sum(r['status'] == s for r in mine)} {s}" for s in
                                   dict.fromkeys(r["status"] for r in mine))
                say(f"[{n}/{len(paths)}] {label}: {counts} in {time.monotonic() - started:.1f} s"
                    + "".join(f"; {note}" for note in notes))
                bar.update()
        finally:
            bar.close()
            os.chdir(home)
    return rows


# ----------------------------------------------------------------------------------------------- CSV
def _is_grades_file(path: Path) -> bool:
    """True when ``path`` is a regular file starting with this tool's CSV header."""
    if path.is_symlink() or not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as f:
        first = f.readline().rstrip("\r\n")
    return first in (",".join(FIELDS), "file,exercise,status,message")


def check_out(out: Path) -> None:
    """Refuse an --out that is a symlink, or an existing file that is not a grades file of this tool."""
    if out.is_symlink():
        raise GradeError(f"tools/grade.py: {out} is a symbolic link; give --out a plain file name (never written "
                         "through a link).")
    if out.exists() and not _is_grades_file(out):
        raise GradeError(f"tools/grade.py: {out} exists and is not a grades file from this tool; choose another "
                         "--out (it is never overwritten).")


def write_csv(rows: list[dict[str, str]], out: Path) -> Path:
    """Write the rows atomically: a temporary file beside ``out`` renamed over it (a symlink there is replaced, its
    target never written). If ``out`` became something else while grading, the rows go to a new file instead."""
    target = out  # a symlink put there while grading is replaced by os.replace: its target is never written
    if out.exists() and not out.is_symlink() and not _is_grades_file(out):
        target = out.with_name(f"{out.stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}{out.suffix}")
        print(f"tools/grade.py: WARNING: {out} was replaced while grading; the grades are in {target}",
              file=sys.stderr)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> None:
    """Command line: submissions, --out, --source, --sandbox, --smoke, --timeout, --time-limit, --verbose."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("submissions", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV file to write (default grades.csv)")
    parser.add_argument("--source", type=Path, action="append", default=[],
                        help="committed notebook(s) the submissions are of (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--sandbox", action="store_true", help="run each kernel inside bubblewrap (refuses if missing)")
    parser.add_argument("--smoke", action="store_true", help="run with VAELIB_SMOKE=1 (small data, few epochs)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="seconds a check lets the learner's function run (default 60)")
    parser.add_argument("--verbose", action="store_true", help="also say the time of each kernel start and slow cell")
    parser.add_argument("--args-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.args_file:  # re-executed by the guard above the imports: the real arguments, read once and deleted
        real = json.loads(args.args_file.read_text(encoding="utf-8"))
        args.args_file.unlink()
        return main(real)
    if not args.submissions:
        parser.error("give at least one submission")
    missing = [str(p) for p in args.submissions + args.source if not p.is_file()]
    if missing:
        raise GradeError(f"tools/grade.py: no such file: {', '.join(missing)}")
    out = Path(os.path.abspath(args.out))
    check_out(out)
    opts = Options(timeout=args.timeout, time_limit=args.time_limit, smoke=args.smoke, sandbox=args.sandbox,
                   verbose=args.verbose)
    if not args.sandbox:
        print("tools/grade.py: default mode: submissions run as you, without a sandbox (docs/grading.md); "
              "add --sandbox to confine each one with bubblewrap.", file=sys.stderr)
    rows = grade(args.submissions, opts, args.source)
    written = write_csv(rows, out)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"{len(args.submissions)} submission(s), {len(rows)} rows -> {written}: "
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
