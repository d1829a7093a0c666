"""Grading on Dask (issue 10): real ``dask scheduler``/``dask worker`` processes, real PostgreSQL.

- the bundle: verified by digest before anything is unpacked, plain members only;
- equality: the same 40 submissions graded serially with SQLite, on a local
  Dask cluster with SQLite, and on an external scheduler with two workers and a
  PostgreSQL gradebook give identical gradebooks and results;
- faults: a worker killed while it grades (its submission is graded again
  elsewhere, once), the coordinator killed mid-run and started again (resumes,
  nothing counted twice);
- ``sandbox-check --scheduler`` runs the sandbox check on every worker.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from cluster_servers import DaskCluster, free_port
from grading_corpus import harness
from grading_corpus.corpus import ASSIGNMENT
from grading_corpus.hostile import EVERY
from servers import postgres_server, postgres_url  # noqa: F401 - fixtures

from grader import cluster, grading, sandbox
from grader.executor import ExecutionSettings

# The corpus without its six slowest cases (loops, bombs, floods): 40 submissions.
SLOW = {"infinite_loop", "stubborn_loop", "memory_bomb", "fork_bomb", "flood", "deep_records"}
FORTY = [case for case in EVERY if case.student not in SLOW]
BY_NAME = {case.student: case for case in EVERY}


# --------------------------------------------------------------------------- the bundle


def _context(tmp_path: Path) -> grading.GradingContext:
    trusted = tmp_path / "trusted" / "checkspkg"
    trusted.mkdir(parents=True)
    (trusted / "__init__.py").write_text("VALUE = 1\n")
    return grading.GradingContext("ps", {}, {}, ExecutionSettings(), {"f"},
                                  helpers_trusted=str(tmp_path / "trusted"))


def test_a_bundle_is_verified_before_it_is_unpacked(tmp_path):
    context = _context(tmp_path)
    bundle = cluster.Bundle.build(context)
    assert cluster.Bundle.build(context).digest == bundle.digest  # deterministic bytes
    altered = bytearray(bundle.data)
    altered[len(altered) // 2] ^= 1
    with pytest.raises(cluster.BundleRejected, match="digest"):
        cluster.install_bundle(bundle.digest, bytes(altered), str(tmp_path / "worker"))
    assert not (tmp_path / "worker" / "grader-bundles" / bundle.digest).exists()
    with pytest.raises(cluster.BundleUnavailable, match="no verified course bundle"):
        cluster.grade_remote(bundle.digest, {"student": "a"})
    installed = cluster.install_bundle(bundle.digest, bundle.data, str(tmp_path / "worker"))
    try:
        assert installed.context.helpers_trusted.startswith(installed.directory)
        assert (Path(installed.context.helpers_trusted) / "checkspkg" / "__init__.py").exists()
        assert installed.context.graded_names == {"f"}
    finally:
        cluster.uninstall_bundle(bundle.digest)


@pytest.mark.parametrize("kind", ["symlink", "parent", "absolute", "fifo"])
def test_archives_with_anything_but_plain_members_are_refused(tmp_path, kind):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo({"parent": "files/../../escape", "absolute": "/tmp/escape"}.get(
            kind, "files/x"))
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        elif kind == "fifo":
            info.type = tarfile.FIFOTYPE
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(cluster.BundleRejected, match="not a plain file"):
        cluster.safe_extract(buffer.getvalue(), str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_submission_altered_in_transit_is_refused_before_grading(tmp_path):
    bundle = cluster.Bundle.build(_context(tmp_path))
    cluster.install_bundle(bundle.digest, bundle.data, str(tmp_path / "worker"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nb.ipynb").write_text("{}")
    archive = cluster.tar_directory(str(tmp_path / "sub"))
    graded = []
    try:
        with pytest.raises(cluster.BundleRejected, match="submission archive's digest"):
            cluster.grade_remote(bundle.digest, {"student": "a", "submission_digest":
                                                 cluster.sha256(archive + b"x")},
                                 graded.append, archive)
    finally:
        cluster.uninstall_bundle(bundle.digest)
    assert graded == []  # nothing was graded from the altered bytes


def test_a_staged_submission_travels_as_its_regular_files(tmp_path):
    (tmp_path / "sub" / "data").mkdir(parents=True)
    (tmp_path / "sub" / "nb.ipynb").write_text("{}")
    (tmp_path / "sub" / "data" / "x.txt").write_text("x")
    archive = cluster.tar_directory(str(tmp_path / "sub"))
    cluster.safe_extract(archive, str(tmp_path / "out"))
    assert (tmp_path / "out" / "files" / "data" / "x.txt").read_text() == "x"
    assert cluster.tar_directory(str(tmp_path / "sub")) == archive


# --------------------------------------------------------------------------- real clusters


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Where the generated fixture course lives (generated once per test process)."""
    path = tmp_path_factory.getbasetemp() / "grader"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    with DaskCluster(tmp_path_factory.mktemp("dask"), workers=2) as running:
        yield running


def _course(base: Path, name: str, cases, db_url: str | None = None) -> Path:
    course = harness.course_copy(base, name)
    shutil.rmtree(course / ".grader" / "results", ignore_errors=True)
    if db_url:
        with open(course / "nbgrader_config.py", "a", encoding="utf-8") as f:
            f.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT,
                        "--force"], cwd=course, env=harness.environment(), check=True,
                       capture_output=True, text=True)
    for case in cases:
        harness.write_submission(course, case)
    return course


def _db_url(course: Path) -> str:
    from grader.course import Course

    return Course(str(course)).db_url


def _results(course: Path) -> dict[str, tuple]:
    """What a result says, without its timings."""
    found = {}
    for path in sorted((course / ".grader" / "results" / ASSIGNMENT).glob("*.json")):
        summary = json.loads(path.read_text())
        found[summary["student"]] = (
            summary["score"], summary["max_score"], summary["attention"],
            sorted(p["kind"] for p in grading.all_problems(summary)),
            [(nb["notebook"], nb["grades"], nb["comments"]) for nb in summary["notebooks"]])
    return found


@pytest.mark.slow
def test_serial_local_and_dask_with_postgresql_agree(base, dask_cluster, postgres_url):  # noqa: F811
    serial = _course(base, "equal-serial", FORTY)
    local = _course(base, "equal-local", FORTY)
    remote = _course(base, "equal-remote", FORTY, db_url=postgres_url)
    runs = {}
    for course, engine in ((serial, ["--serial"]), (local, ["--workers", "2"]),
                           (remote, ["--scheduler", dask_cluster.address])):
        # a generous cell limit: equality must not hinge on how busy the machine is
        runs[course.name] = completed = harness.autograde(course, *engine, "--cell-timeout", "60")
        assert completed.returncode == 1, completed.stdout + completed.stderr  # attention: cheats
        assert f"{ASSIGNMENT}: 40 submission(s)" in completed.stdout, completed.stdout
    assert "Dask scheduler" in runs["equal-remote"].stdout
    assert "local Dask cluster" in runs["equal-local"].stdout
    assert "in this process (serial)" in runs["equal-serial"].stdout
    from grader.gradebook import dump

    reference = dump(_db_url(serial))
    assert len([row for row in reference if row[0] == "submission"]) == 40
    assert dump(_db_url(local)) == reference
    assert dump(_db_url(remote)) == reference
    assert dump(postgres_url) == reference
    assert _results(local) == _results(serial) == _results(remote)
    for case in FORTY:  # and they are right, not merely equal
        assert _results(serial)[case.student][0] == pytest.approx(case.score), case.student
    executed = [sorted(p.relative_to(course / "autograded").as_posix() for p in
                       (course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb"))
                for course in (serial, local, remote)]
    assert executed[0] == executed[1] == executed[2]
    assert len(executed[0]) >= 30  # every notebook that could be read and run
    assert harness.sandbox_processes() == []


def _sandbox_owner_pids() -> set[int]:
    """Pids of the grading processes that own a live sandbox right now."""
    owners = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            uid = sandbox._proc_status_uid(entry, include_zombies=False)
            if uid is not None and sandbox.UID_BASE <= uid < sandbox.UID_BASE + sandbox.UID_SPAN:
                owners.add(uid - sandbox.UID_BASE)
    return owners


SIX = ["honest", "partial", "plain_wrong", "blank", "always_equal", "syntax_error"]


def _start_autograde(course: Path, *args: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(course),
            "--quiet", *harness.FAST, *args]
    return subprocess.Popen(argv, cwd=harness.REPO, env=harness.environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _expect_right_grades(course: Path, students: list[str]) -> None:
    results = _results(course)
    assert sorted(results) == sorted(students)
    for student in students:
        assert results[student][0] == pytest.approx(BY_NAME[student].score), student
        assert "worker-died" not in results[student][3], student
    from grader.gradebook import dump

    rows = dump(_db_url(course))
    submitted = [row[2] for row in rows if row[0] == "submission"]
    assert sorted(submitted) == sorted(students)  # each once
    for row in rows:
        if row[0] == "grade" and row[5] is not None:
            student = row[2]
            graded = json.loads((course / ".grader" / "results" / ASSIGNMENT /
                                 f"{student}.json").read_text())
            cell = graded["notebooks"][0]["grades"][row[4]]
            assert row[5] == pytest.approx(cell["auto_score"]), (student, row[4])


@pytest.mark.slow
def test_a_worker_killed_while_grading_costs_nothing(base, dask_cluster):
    cases = [BY_NAME[s] for s in SIX] + [dataclasses.replace(BY_NAME[s], student=f"{s}_2")
                                         for s in SIX]
    for case in cases[len(SIX):]:
        BY_NAME.setdefault(case.student, case)
    students = [case.student for case in cases]
    course = _course(base, "killed-worker", cases)
    worker_pids = set(dask_cluster.worker_pids().values())
    process = _start_autograde(course, "--scheduler", dask_cluster.address)
    victim, deadline = None, time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and process.poll() is None:
        busy = _sandbox_owner_pids() & worker_pids
        if busy:
            victim = sorted(busy)[0]
            os.kill(victim, signal.SIGKILL)  # the machine's grading process dies mid-notebook
        time.sleep(0.05)
    output, _ = process.communicate(timeout=600)
    assert victim is not None, "no worker was seen grading"
    assert process.returncode == 1, output  # attention: the cheat is flagged
    assert f"{len(students)} graded now" in output, output
    _expect_right_grades(course, students)
    dask_cluster.wait_for_workers(2)  # the nanny started a new worker process
    assert harness.sandbox_processes() == []


@pytest.mark.slow
def test_a_killed_coordinator_resumes_without_counting_twice(base, dask_cluster):
    cases = [BY_NAME[s] for s in SIX]
    course = _course(base, "killed-coordinator", cases)
    results = course / ".grader" / "results" / ASSIGNMENT
    process = _start_autograde(course, "--scheduler", dask_cluster.address)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if results.is_dir() and len(list(results.glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    process.kill()
    output, _ = process.communicate(timeout=60)
    done = len(list(results.glob("*.json")))
    assert 2 <= done < len(cases), output
    again = harness.autograde(course, "--scheduler", dask_cluster.address)
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"{len(cases) - done} graded now, {done} from an earlier run" in again.stdout
    _expect_right_grades(course, [case.student for case in cases])


def test_a_worker_refuses_a_bundle_it_cannot_verify(tmp_path, dask_cluster):
    from distributed import Client

    bundle = cluster.Bundle.build(_context(tmp_path))
    tampered = bundle.data[:-64] + b"x" * 64
    name = cluster.plugin_name(bundle.digest)
    with Client(dask_cluster.address, timeout="20s") as client:
        try:
            with pytest.raises(cluster.BundleRejected, match="refused a course bundle"):
                client.register_plugin(cluster._bundle_plugin_class()(bundle.digest, tampered),
                                       name=name)
            future = client.submit(cluster.grade_remote, bundle.digest, {"student": "a"},
                                   pure=False)
            with pytest.raises(cluster.BundleUnavailable):
                future.result(timeout=60)
        finally:
            client.unregister_worker_plugin(name)


def test_a_scheduler_started_without_the_grader_settings_is_named(tmp_path, dask_cluster):
    logged: list[str] = []
    with cluster.Engine(scheduler=dask_cluster.address, log=logged.append) as engine:
        engine.start()
    assert logged == []  # started as grader/README.md says
    with DaskCluster(tmp_path / "plain", workers=0, settings={}) as plain:
        with cluster.Engine(scheduler=plain.address, log=logged.append) as engine:
            engine.start()
    text = "\n".join(logged)
    assert "worker-saturation" in text and "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION" in text
    assert "allowed-failures" in text
    with pytest.raises(Exception, match="cannot reach the Dask scheduler"):
        cluster.Engine(scheduler=f"tcp://127.0.0.1:{free_port()}", connect_timeout=2).start()


@pytest.mark.slow
def test_sandbox_check_runs_on_every_worker(dask_cluster):
    completed = subprocess.run([sys.executable, "-m", "grader", "sandbox-check", "--scheduler",
                                dask_cluster.address], cwd=harness.REPO,
                               env=harness.environment(), capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    addresses = dask_cluster.worker_addresses()
    assert len(addresses) == 2
    for address in addresses:
        assert f"== {address}" in completed.stdout
    assert completed.stdout.count(": contained (") == 2
    assert "ESCAPED" not in completed.stdout
