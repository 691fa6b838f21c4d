"""One real local Ray for the cluster tests, started in this process (~4 s) and stopped at the
end; every app in these tests joins it as a driver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[dict]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             namespace="playground", _node_ip_address="127.0.0.1")
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()
