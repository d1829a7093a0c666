#!/usr/bin/env bash
# Instructor and student workflow for the nbgrader course in assignments/.
# Run from the repository root; every command works on all five problem sets
# unless problem sets are named.
#
#   assignments/course.sh release [--force] [PS ...]    student versions -> assignments/release/
#   assignments/course.sh autograde [--force] [PS ...]  grade every submission in assignments/submitted/
#   assignments/course.sh feedback [PS ...]             feedback HTML -> assignments/feedback/ (python -m grader)
#   assignments/course.sh export [FILE]                 grades CSV (default assignments/reports/nbgrader_grades.csv)
#   assignments/course.sh validate NOTEBOOK...          run a notebook's tests (a student version: the visible ones);
#                                                       exit 1 if any test fails
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

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

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
        # From the course directory, so that the course settings apply (an instructor can
        # validate a source notebook, hidden tests included, as well as a student version).
        # nbgrader validate exits 0 even when tests fail: its verdict is read from its output.
        status=0
        for notebook in "${notebooks[@]}"; do
            output="$(in_course nbgrader validate "$notebook" 2>&1)" || status=2
            printf '%s\n' "$output"
            if ! grep -q "Success! Your notebook passes all the tests." <<<"$output"; then
                echo "course.sh: validate: $notebook FAILED (see above)" >&2
                [[ $status -eq 0 ]] && status=1
            fi
        done
        exit "$status"
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
