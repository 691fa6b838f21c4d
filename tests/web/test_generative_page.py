"""The generative lab's arithmetic fragment: the form parsed into the API's ArithmeticRequest,
the same picture as POST /api/v1/generative/{model}/arithmetic, refusals in its place."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from tests.mnist import needs_mnist


@needs_mnist
def test_the_fragment_shows_the_same_sum_as_the_api(client: TestClient) -> None:
    form = {"model": "vae-16d", "plus": ["7", "1"], "minus": ["1"]}
    page = client.post("/generative/arithmetic", data=form)
    api = client.post("/api/v1/generative/vae-16d/arithmetic",
                      json={"plus": ["7", "1"], "minus": ["1"]})
    assert page.status_code == 200 and api.status_code == 200
    body = api.json()
    assert body["png"] in page.text
    assert len(body["terms"]) == 3
    assert all(t["png"] in page.text for t in body["terms"])


def test_a_refusal_is_shown_in_the_results_place(client: TestClient) -> None:
    bad_digit = client.post("/generative/arithmetic", data={"model": "vae-2d", "plus": ["x"]})
    assert bad_digit.status_code == 200 and "error-banner" in bad_digit.text
    assert "plus.0" in html.unescape(bad_digit.text)
    unknown = client.post("/generative/arithmetic", data={"model": "nope", "plus": ["1"]})
    assert "no generative model named 'nope'" in html.unescape(unknown.text)
    nothing = client.post("/generative/arithmetic", data={"model": "vae-2d"})
    assert "error-banner" in nothing.text


def test_a_clipped_sum_says_so_in_the_fragment(client: TestClient) -> None:
    """Twenty times the average 1 lies far outside the prior: clipped and said, not refused."""
    page = client.post("/generative/arithmetic", data={"model": "dcgan", "plus": ["1"] * 20})
    assert page.status_code == 200 and "error-banner" not in page.text
    assert "clipped-note" in page.text and "beyond ±4" in page.text
    fine = client.post("/generative/arithmetic", data={"model": "dcgan", "plus": ["1"]})
    assert "clipped-note" not in fine.text
