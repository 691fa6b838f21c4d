"""Whether the real MNIST is here. `make test` runs `make setup`, which fetches it, so in CI
the tests marked `needs_mnist` always run; they skip only in a checkout set up by hand."""

from __future__ import annotations

import pytest

from app.settings import ROOT

HAVE_MNIST = (ROOT / "data" / "mnist.npz").exists()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="MNIST is fetched by `make setup`")
