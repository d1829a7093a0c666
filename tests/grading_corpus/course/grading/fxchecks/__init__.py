"""Test helpers of the fixture course (the grader's own tests use them)."""
