"""Benchmark settings: the production settings plus the two baseline views.

The baselines exist only here, so the service itself never serves them.
"""

from numbermasking.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
