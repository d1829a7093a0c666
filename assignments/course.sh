#!/usr/bin/env bash
# Instructor and student workflow for the nbgrader course in assignments/.
# Run from the repository root; every command works on all five problem sets
# unless problem sets are named.
#
#   assignments/course.sh release [--force] [PS ...]    student versions -> assignments/release/
#   assignments/course.sh autograde [--force] [PS ...]  grade every submission in assignments/submitted/
#   assignments/course.sh feedback [PS ...]             feedback HTML -> assignments/feedback/ (python -m grader)
#   assignments/course.sh export [FILE]                 grades CSV (default assignments/reports/nbgrader_grades.csv)
#   assignments/course.sh validate NOTEBOOK...          run a notebook's tests in the grading sandbox (python -m
#                                                       grader validate): one line per check, then a summary;
#                                                       a student's notebook runs its visible tests, a source
#                                                       notebook its hidden ones too; exit 0 all pass, 1 some
#                                                       fail, 2 usage error
#
# --force regenerates results that already exist (nbgrader refuses otherwise).
# COURSE_DIR overrides the course directory (the pipeline tests use a copy).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COURSE_DIR="$(cd "${COURSE_DIR:-$SCRIPT_DIR}" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
# nbgrader runs the `alembic` executable: the environment's bin/ must be on PATH.
if [[ -x "$REPO_ROOT/.venv/bin/nbgrader" ]]; then
    PATH="$REPO_ROOT/.venv/bin:$PATH"
fi
export PATH
command -v nbgrader >/dev/null || { echo "course.sh: nbgrader not found; activate the course environment" >&2; exit 2; }

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

all_problem_sets() {
    local dir
    for dir in "$COURSE_DIR"/source/*/; do
        basename "$dir"
    done
}

# Parse "[--force] [PS ...]" into FORCE and PROBLEM_SETS.
parse_selection() {
    FORCE=()
    PROBLEM_SETS=()
    local arg
    for arg in "$@"; do
        case "$arg" in
            --force) FORCE=(--force) ;;
            -*) echo "course.sh: unknown option $arg" >&2; exit 2 ;;
            *)
                if [[ ! -d "$COURSE_DIR/source/$arg" ]]; then
                    echo "course.sh: PS: expected one of $(all_problem_sets | tr '\n' ' ')got '$arg'" >&2
                    exit 2
                fi
                PROBLEM_SETS+=("$arg") ;;
        esac
    done
    if [[ ${#PROBLEM_SETS[@]} -eq 0 ]]; then
        mapfile -t PROBLEM_SETS < <(all_problem_sets)
    fi
}

submitted_problem_sets() {
    # The selected problem sets that have at least one submission.
    local ps
    for ps in "${PROBLEM_SETS[@]}"; do
        if compgen -G "$COURSE_DIR/submitted/*/$ps/*.ipynb" >/dev/null; then
            echo "$ps"
        fi
    done
}

in_course() { (cd "$COURSE_DIR" && "$@"); }

command_name="${1:-}"
[[ $# -gt 0 ]] && shift
case "$command_name" in
    release)
        parse_selection "$@"
        for ps in "${PROBLEM_SETS[@]}"; do
            in_course nbgrader generate_assignment "$ps" "${FORCE[@]}"
        done
        echo "Student versions: $COURSE_DIR/release/<problem set>/<problem set>.ipynb"
        ;;
    autograde|feedback)
        parse_selection "$@"
        mapfile -t WITH_SUBMISSIONS < <(submitted_problem_sets)
        if [[ ${#WITH_SUBMISSIONS[@]} -eq 0 ]]; then
            echo "course.sh: no submissions in $COURSE_DIR/submitted/<student>/<problem set>/" >&2
            exit 1
        fi
        status=0
        for ps in "${WITH_SUBMISSIONS[@]}"; do
            if [[ "$command_name" == autograde ]]; then
                in_course nbgrader autograde "$ps" "${FORCE[@]}" || status=$?
            else
                # nbgrader's generate_feedback is refused by the course (it shows hidden
                # tests): the grader's feedback is built from its own (sandboxed) results.
                rc=0
                (cd "$REPO_ROOT" && python -m grader autograde "$ps" --course "$COURSE_DIR" \
                    --quiet) || rc=$?
                if [[ $rc -le 1 ]]; then
                    (cd "$REPO_ROOT" && python -m grader feedback "$ps" --course "$COURSE_DIR") \
                        || rc=$?
                fi
                [[ $rc -gt 1 && $rc -gt $status ]] && status=$rc
            fi
        done
        exit "$status"
        ;;
    export)
        target="${1:-$COURSE_DIR/reports/nbgrader_grades.csv}"
        mkdir -p "$(dirname "$target")"
        target="$(cd "$(dirname "$target")" && pwd)/$(basename "$target")"
        if [[ -e "$target" ]]; then
            backup="$target.$(date +%Y%m%d-%H%M%S).bak"
            mv "$target" "$backup"
            echo "course.sh: kept the previous export as $backup"
        fi
        in_course nbgrader export --to "$target"
        echo "Grades: $target"
        ;;
    validate)
        [[ $# -gt 0 ]] || { echo "course.sh: validate: expected one or more notebooks" >&2; exit 2; }
        notebooks=()
        for notebook in "$@"; do
            [[ -f "$notebook" ]] || { echo "course.sh: validate: no such notebook: $notebook" >&2; exit 2; }
            notebooks+=("$(cd "$(dirname "$notebook")" && pwd)/$(basename "$notebook")")
        done
        # The grader's validation: the same sandbox (and limits) as grading, the visible tests
        # judged as the student reads them; an instructor's source notebook also runs its hidden
        # tests with the course's helpers (COURSE/grading). Its exit status is passed through.
        cd "$REPO_ROOT"
        python="$(command -v python || command -v python3)"
        exec "$python" -m grader validate --course "$COURSE_DIR" "${notebooks[@]}"
        ;;
    ""|-h|--help|help)
        usage
        ;;
    *)
        echo "course.sh: unknown command '$command_name'" >&2
        usage >&2
        exit 2
        ;;
esac
