"""Settings of the floor project: the demo project's own (its apps, middleware, DRF and
authentication settings, database options), with bench/limit/floor.py's URLs."""

from __future__ import annotations

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.limit.floor"
