"""The API's pages (imageservice/docs.py): Swagger UI and ReDoc render from the service
alone, with no request to another host (lab networks often have no internet), and ``/``
links them, the admin and the docs site. The browser suite (tests_browser/) renders them
in Chromium; here the pages are read as HTML and every file they name is fetched."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

DOCS_PAGES = ["/api/v1/docs/", "/redoc/"]
CDN_HOSTS = ["cdn.jsdelivr.net", "fonts.googleapis.com", "fonts.gstatic.com", "unpkg.com"]


class Resources(HTMLParser):
    """The URLs a page makes the browser load: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def resources(html: str) -> list[str]:
    parser = Resources()
    parser.feed(html)
    return parser.urls


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory):
    """The static files as `make run` collects them, for whitenoise to serve."""
    return tmp_path_factory.mktemp("static")


@pytest.fixture
def served(settings, collected_static):
    """A client of the service as `make run` starts it: collectstatic, then whitenoise."""
    settings.STATIC_ROOT = collected_static
    if not any(collected_static.iterdir()):
        call_command("collectstatic", "--no-input", verbosity=0)
    return Client()  # a new handler: whitenoise indexes STATIC_ROOT as it starts


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_pages_load_every_file_from_the_service_itself(served, page):
    response = served.get(page)

    assert response.status_code == 200
    html = response.content.decode()
    urls = resources(html)
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        assert not urlsplit(url).netloc, f"{page} loads {url} from another host"
        assert url.startswith("/"), url
        asset = served.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content if asset.streaming else [asset.content])
    for host in CDN_HOSTS:
        assert host not in html


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_pages_forbid_the_browser_any_other_host(client, page):
    """ReDoc's bundle shows Redocly's logo from cdn.redoc.ly whatever it is told: the
    policy keeps the browser from asking (tests_browser/ sees no such request)."""
    policy = client.get(page)["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for directive, sources in directives.items():
        for source in sources.split():
            assert source in ("'self'", "'unsafe-inline'", "data:", "blob:"), (directive, source)


def test_swagger_ui_asks_no_online_validator(served):
    html = served.get("/api/v1/docs/").content.decode()

    assert '"validatorUrl": null' in html


def test_redoc_uses_the_system_fonts_and_the_api_title(served):
    html = served.get("/redoc/").content.decode()

    assert "<title>Image service API</title>" in html
    assert '"fontFamily": "system-ui' in html
    assert "Montserrat" not in html


@pytest.mark.parametrize("method", ["get", "head"])
def test_the_root_answers_a_page_of_its_own(client, method):
    response = getattr(client, method)("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_the_root_links_swagger_redoc_the_admin_and_the_schema(client):
    html = client.get("/").content.decode()

    for url in ("/api/v1/docs/", "/redoc/", "/admin/", "/api/v1/schema/"):
        assert f'href="{url}"' in html, url
        assert client.get(url).status_code in (200, 302), url
    assert resources(html) == []  # nothing to load: it works with no static files at all


def test_the_root_links_the_docs_site_the_setting_names(client, settings):
    settings.IMAGES_DOCS_URL = "https://docs.lab.example/images/"

    html = client.get("/").content.decode()

    assert 'href="https://docs.lab.example/images/" id="link-docs"' in html


def test_without_a_docs_site_the_root_says_where_the_docs_are(client, settings):
    settings.IMAGES_DOCS_URL = ""

    html = client.get("/").content.decode()

    assert 'id="link-docs"' in html
    assert "<code>docs/</code>" in html
    assert 'href=""' not in html
