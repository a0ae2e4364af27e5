"""The portal as an installable app, in Chromium: manifest, service worker, offline page,
and nothing personal left in the cache after a call.
"""

import pytest

from calls.tests.helpers import ready_call
from tests.e2e.browser import Browsers, browsers_on, relative_joins
from tests.relative.support import kiosk_calls

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.media]

ACTIVE_WORKER = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const worker = registration.active;
  if (worker.state !== "activated") {
    await new Promise((resolve) => worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve();
    }));
  }
  return { scope: registration.scope, state: worker.state, script: worker.scriptURL };
}"""

CACHED_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) urls.push(new URL(request.url).pathname);
  }
  return urls;
}"""


def test_the_manifest_is_linked_and_valid(stack, relative_runner):
    async def scenario():
        async with Browsers() as browsers:
            page = await (await browsers.context(stack.base_url)).new_page()
            await page.goto("/")
            href = await page.get_attribute("link[rel=manifest]", "href")
            response = await page.request.get(href)
            manifest = await response.json()
            icons = []
            for icon in manifest["icons"]:
                image = await page.request.get(icon["src"])
                body = await image.body()
                icons.append((icon["sizes"], icon["purpose"], image.status, body[:8]))
            return href, response.headers["content-type"], manifest, icons

    href, content_type, manifest, icons = stack.run(relative_runner, scenario())
    assert href == "/manifest.webmanifest"
    assert content_type == "application/manifest+json"
    assert manifest["name"] == "parloir"
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#000091" and manifest["background_color"]
    assert {(sizes, purpose) for sizes, purpose, *_ in icons} >= {
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    }
    assert all(status == 200 and magic == b"\x89PNG\r\n\x1a\n" for *_, status, magic in icons)


def test_the_worker_activates_and_serves_the_offline_page_without_network(stack, relative_runner):
    async def scenario():
        async with Browsers() as browsers:
            context = await browsers.context(stack.base_url)
            page = await context.new_page()
            await page.goto("/")
            worker = await page.evaluate(ACTIVE_WORKER)
            await page.reload()  # now under the worker's control
            controlled = await page.evaluate("() => !!navigator.serviceWorker.controller")
            await context.set_offline(True)
            seen = {}
            for url in ["/appel", "/aide", "/"]:
                await page.goto(url)
                seen[url] = {
                    "title": await page.locator("h1").inner_text(),
                    "styled": await page.evaluate(
                        "() => getComputedStyle(document.querySelector('.topbar')).display"
                    ),
                    "help": await page.get_attribute("#offline-page a.help-link", "href"),
                }
            await context.set_offline(False)
            await page.get_by_role("button", name="Réessayer").click()
            await page.wait_for_selector("#code")
            back_online = await page.locator("h1").inner_text()
            return worker, controlled, seen, back_online

    worker, controlled, seen, back_online = stack.run(relative_runner, scenario())
    assert worker["state"] == "activated"
    assert worker["scope"] == f"{stack.base_url}/"
    assert worker["script"] == f"{stack.base_url}/sw.js"
    assert controlled
    for url, page in seen.items():
        assert page["title"] == "Pas de connexion Internet", url
        assert page["styled"] == "flex", url  # the style sheet came from the worker's cache
        assert page["help"] == "/aide", url
    assert back_online == "Appel vidéo avec votre proche"


def test_nothing_personal_is_kept_by_the_worker(stack, relative_runner):
    ready = ready_call()

    async def scenario(link, code, browsers):
        context = await browsers.context(stack.base_url)
        page = await context.new_page()
        await page.goto("/")
        await page.evaluate(ACTIVE_WORKER)
        await relative_joins(page, link, code)
        await page.goto("/fin")
        urls = await page.evaluate(CACHED_URLS)
        await context.set_offline(True)
        await page.goto("/appel")
        offline_title = await page.locator("h1").inner_text()
        return urls, offline_title

    with browsers_on(relative_runner) as browsers:
        _kiosk, link, code = kiosk_calls(stack, relative_runner, browsers, ready)
        urls, offline_title = stack.run(relative_runner, scenario(link, code, browsers))
    assert "/hors-ligne" in urls and "/static/css/parloir.css" in urls
    personal = [u for u in urls if not (u.startswith("/static/") or u == "/hors-ligne")]
    assert personal == []
    # The call page was never kept: without network, the offline page stands in for it.
    assert offline_title == "Pas de connexion Internet"
