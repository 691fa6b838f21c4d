"""Whether the real MNIST is here. `make test` runs `make setup`, which fetches it, so in CI
the tests marked `needs_mnist` always run (and fail if it is missing); they skip only when
pytest is run by hand in a checkout without MNIST."""

from __future__ import annotations

import os

import pytest

from app.settings import ROOT

HAVE_MNIST = (ROOT / "data" / "mnist.npz").exists()
# `make test` sets REQUIRE_MNIST=1: there a missing MNIST fails these tests instead of skipping them
needs_mnist = pytest.mark.skipif(not HAVE_MNIST and not os.environ.get("REQUIRE_MNIST"),
                                 reason="MNIST is fetched by `make setup`")
