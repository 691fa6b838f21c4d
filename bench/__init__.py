"""Benchmarks: run each as a module from the repository root, e.g. python -m bench.stepper_trace.

Every bench first imports the app's package, before torch, OpenCV or numpy load their thread
pools, so that in-process figures run under the app's own thread settings (app/__init__.py:
OpenMP threads wait passively). Without that, torch's threads went on spinning after each op
and slowed whatever ran next on the two cores, OpenCV's filter2D (the reference) among them:
measured, 2.6 ms for a 3×3 kernel where it takes 1.7-2.0 ms left alone.
"""

import app  # noqa: F401  (for its thread settings, before anything loads torch)
