"""Every page names its icon, and the icon is served: a browser no longer asks for /favicon.ico and logs a 404 on
every page."""

from xml.etree import ElementTree

from tests.conftest import Api


async def test_every_page_names_an_icon_the_site_serves(api: Api) -> None:
    page = await api.client.get("/", headers={"Accept": "text/html"})
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
    icon = await api.client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert ElementTree.fromstring(icon.text).tag.endswith("svg")  # noqa: S314 (our own file, parsed to prove it is well-formed)
