"""Trusted helpers for the hidden tests of the course's problem sets.

One module per problem set (``ps1`` .. ``ps5``) provides, for every graded
function, the seeded inputs (step a), the list of reference implementations the
student must not call, and the comparison with the oracle (step c); the shared
machinery, including step (b), lives in :mod:`course_checks.common`.
The oracle is PyTorch in float64 where PyTorch has the operation, otherwise an
independent implementation here or ``rnn_lib``'s reference.
"""
