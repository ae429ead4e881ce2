"""Graded exercises: each notebook's checks (``nb01`` ... ``nbNN``) on the core in ``core``.

In a notebook: ``from vaelib.exercises import nb01`` in the setup cell, then ``nb01.check_posterior(...)``
as the last line of the exercise's check cell; the returned ``Feedback`` displays itself. ``editions``
turns the committed (learner's) notebook into the student's, the instructor's and the CI edition;
tools/grade.py grades submissions (docs/grading.md).

The package itself imports nothing: ``editions`` (notebook editing, no torch) loads without the checks' core,
so `make test`'s editions step and the instructors' editions tool start in a fraction of a second.
"""
