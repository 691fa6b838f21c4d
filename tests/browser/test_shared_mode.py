"""A class on one server (shared mode), in a real browser: three visitors, three contexts (their
own cookies). The second sees the first's run and watches it, with no control of it; the
teacher types the admin token and stops it from the list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import screenshot
from tests.servers import scratch_data_dir, served

TOKEN = "a-long-random-token-for-the-test"


@pytest.fixture(scope="module")
def shared_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(scratch_data_dir(tmp_path_factory.mktemp("shared-data")),
                SHARED="true", ADMIN_TOKEN=TOKEN, PRECOMPUTE_TEST_SETS="false") as url:
        yield url


def _visitor(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    return context, context.new_page()


def test_a_class_shares_one_server(browser: Browser, shared_url: str) -> None:
    alice_ctx, alice = _visitor(browser)
    bob_ctx, bob = _visitor(browser)
    teacher_ctx, teacher = _visitor(browser)
    try:
        alice.goto(shared_url + "/training")
        alice.locator("select[name=dataset]").select_option("shapes")
        expect(alice.locator("#arch-editor tfoot")).to_contain_text("6 outputs")
        alice.locator("input[name=epochs]").fill("30")  # more than the test needs: it is stopped
        alice.get_by_role("button", name="▶ Train").click()
        status = alice.locator("#run-controls .status")
        expect(status).to_have_text("running", timeout=30_000)
        expect(alice.locator("#run-controls")).to_contain_text("yours")
        expect(alice.get_by_role("button", name="■ Stop")).to_be_visible()
        run_id = alice.locator("#run-controls h2 code").inner_text()

        # another student: the run is listed as someone else's; watching it offers no control
        bob.goto(shared_url + "/training")
        row = bob.locator("#runs-list tr", has_text=run_id)
        expect(row).to_contain_text("another visitor")
        expect(bob.locator("#run-panel")).to_contain_text("No run yet")
        row.get_by_role("button", name="Watch").click()
        expect(bob.locator("#run-controls .status")).to_have_text("running", timeout=30_000)
        expect(bob.locator("#run-controls")).to_contain_text("Another visitor's run")
        expect(bob.locator("#filters-image")).to_be_visible(timeout=30_000)
        expect(bob.locator("#run-controls button")).to_have_count(0)
        expect(bob.locator("#runs-list button", has_text="Stop")).to_have_count(0)
        screenshot(bob, "shared-another-visitor")

        # the teacher: a wrong token is refused in place, the right one opens the admin view
        teacher.goto(shared_url + "/training")
        teacher.locator("#admin-panel summary").click()
        teacher.get_by_label("Admin token").fill("guess")
        teacher.get_by_role("button", name="Enter the admin view").click()
        expect(teacher.locator("#admin-panel")).to_contain_text("not the admin token")
        teacher.get_by_label("Admin token").fill(TOKEN)
        teacher.get_by_role("button", name="Enter the admin view").click()
        expect(teacher.locator("#admin-panel h2")).to_have_text("Admin view", timeout=10_000)
        stop = teacher.get_by_role("button", name=f"stop run {run_id}")
        expect(stop).to_be_visible()
        screenshot(teacher, "shared-admin-view")
        stop.click()
        # the owner's page and the list follow
        expect(status).to_have_text("stopped", timeout=60_000)
        expect(teacher.locator("#runs-list tr", has_text=run_id)).to_contain_text(
            "stopped", timeout=10_000)
        expect(stop).to_have_count(0)
    finally:
        for context in (alice_ctx, bob_ctx, teacher_ctx):
            context.close()
