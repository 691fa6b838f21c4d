"""DecodeTogether: the points of concurrent requests decoded in one product, each request
answered with its own pictures."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pytest
import torch

from app.core import generative as gen
from app.services.generative import DecodeTogether

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a thread of its own: the browser tests' session-wide Playwright keeps an
    event loop running on the main thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _decoder() -> gen.NumpyDecoder:
    torch.manual_seed(0)
    return gen.NumpyDecoder(gen.VAE(gen.VAEConfig(latent=4, hidden=32)))


def test_concurrent_points_share_one_product_and_get_their_own_pictures() -> None:
    decode = _decoder()
    products: list[int] = []

    def counted(z: np.ndarray) -> np.ndarray:
        products.append(len(z))
        return decode(z)

    together = DecodeTogether(counted, max_points=32)
    rng = np.random.default_rng(0)
    requests = [rng.normal(size=(n, 4)).astype(np.float32) for n in (1, 3, 1, 2)]

    async def turn() -> list[np.ndarray]:
        return await asyncio.gather(*(together(z) for z in requests))

    answers = run(turn())
    assert products == [7]  # one product for the four requests of one turn
    for z, got in zip(requests, answers, strict=True):
        np.testing.assert_array_equal(got, decode(z))  # each its own rows, in order


def test_a_product_holds_at_most_max_points_but_never_splits_a_request() -> None:
    decode = _decoder()
    products: list[int] = []
    together = DecodeTogether(lambda z: products.append(len(z)) or decode(z), max_points=4)
    sizes = (3, 2, 2, 6, 1)
    rng = np.random.default_rng(1)
    requests = [rng.normal(size=(n, 4)).astype(np.float32) for n in sizes]

    async def turn() -> list[np.ndarray]:
        return await asyncio.gather(*(together(z) for z in requests))

    answers = run(turn())
    assert products == [3, 4, 6, 1]  # a request larger than the cap goes alone
    assert [len(a) for a in answers] == list(sizes)


def test_a_failed_product_fails_each_of_its_requests_and_the_next_turn_works() -> None:
    calls = 0

    def fails_once(z: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the decoder broke")
        return np.zeros((len(z), 28, 28), np.uint8)

    together = DecodeTogether(fails_once, max_points=32)
    z = np.zeros((1, 4), np.float32)

    async def turn() -> tuple[list, np.ndarray]:
        first = await asyncio.gather(together(z), together(z), return_exceptions=True)
        return first, await together(z)

    first, later = run(turn())
    assert all(isinstance(e, RuntimeError) for e in first) and len(first) == 2
    assert later.shape == (1, 28, 28)


def test_a_request_that_gave_up_leaves_the_others_answered() -> None:
    decode = _decoder()
    together = DecodeTogether(decode, max_points=32)
    z = np.ones((1, 4), np.float32)

    async def turn() -> np.ndarray:
        gone = asyncio.ensure_future(together(z))
        kept = asyncio.ensure_future(together(2 * z))
        await asyncio.sleep(0)  # both are waiting now
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    np.testing.assert_array_equal(run(turn()), decode(2 * z))


def test_points_left_by_a_loop_that_stopped_before_its_turn_do_not_block_the_next() -> None:
    decode = _decoder()
    together = DecodeTogether(decode, max_points=32)
    z = np.ones((1, 4), np.float32)

    def a_loop_that_stops_early() -> None:
        loop = asyncio.new_event_loop()
        stepped = []

        def step_then_stop() -> None:  # the request waits; the loop stops before the product
            coroutine = together(z)
            coroutine.send(None)
            stepped.append(coroutine)
            loop.stop()

        loop.call_soon(step_then_stop)
        loop.run_forever()
        loop.close()
        stepped[0].close()

    with ThreadPoolExecutor(1) as pool:  # off the main thread, as run() is
        pool.submit(a_loop_that_stops_early).result()

    async def turn() -> np.ndarray:
        return await together(3 * z)

    np.testing.assert_array_equal(run(turn()), decode(3 * z))
