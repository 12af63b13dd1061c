"""The API's docs page and schema: served from our own static files, nothing fetched from elsewhere
(clinic networks may have no internet, and a patient API's docs should not report to a CDN), and a
schema that is valid OpenAPI 3 and says what the API really does."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

DOCS_URL = "/api/docs/"
SCHEMA_URL = "/api/schema/"
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


class _References(HTMLParser):
    """Every URL an element of the page loads or links to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "data", "poster") and value:
                self.urls.append(value)


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def _is_local(url: str) -> bool:
    """Relative, or absolute to this same server (the test client's host)."""
    parts = urlsplit(url)
    return not parts.netloc or parts.netloc == "testserver"


def _static_path(url: str) -> str | None:
    path = urlsplit(url).path
    prefix = "/" + settings.STATIC_URL.lstrip("/")
    return path.removeprefix(prefix) if path.startswith(prefix) else None


@pytest.fixture
def docs_page(client) -> str:
    response = client.get(DOCS_URL)
    assert response.status_code == 200
    return response.content.decode()


def test_the_docs_page_renders_for_anyone(client):
    response = client.get(DOCS_URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b'id="swagger-ui"' in response.content


def test_every_script_stylesheet_and_link_of_the_docs_page_is_local(docs_page):
    references = _references(docs_page)

    assert references, "the page loads Swagger UI from somewhere"
    assert [url for url in references if not _is_local(url)] == []


def test_no_url_anywhere_in_the_docs_page_points_to_another_host(docs_page):
    # Inline script included: the schema URL and any CDN or validator Swagger UI could be told.
    assert [url for url in ABSOLUTE_URL.findall(docs_page) if not _is_local(url)] == []


def test_swagger_ui_comes_from_our_static_files(docs_page):
    static = [path for url in _references(docs_page) if (path := _static_path(url))]

    assert any(path.endswith("swagger-ui-bundle.js") for path in static)
    assert any(path.endswith("swagger-ui.css") for path in static)
    assert [path for path in static if finders.find(path) is None] == []


def test_the_stylesheets_load_nothing_from_elsewhere(docs_page):
    for path in [p for url in _references(docs_page) if (p := _static_path(url))]:
        if not path.endswith(".css"):
            continue
        css = open(finders.find(path), encoding="utf-8").read()  # noqa: SIM115
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", css) + re.findall(
            r"@import\s+['\"]([^'\"]+)", css
        )
        assert [u for u in urls if not u.startswith("data:") and not _is_local(u)] == [], path


def test_the_online_validator_badge_is_off(docs_page):
    # Swagger UI's default validatorUrl sends the schema's address to validator.swagger.io.
    assert '"validatorUrl": null' in docs_page


def test_the_schema_is_valid_openapi_3(client):
    response = client.get(SCHEMA_URL)

    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    validate_schema(document)  # drf-spectacular's OpenAPI 3 JSON Schema; raises if invalid


def test_the_schema_is_served_as_json_too(client):
    response = client.get(SCHEMA_URL, {"format": "json"})

    assert response.status_code == 200
    assert json.loads(response.content)["info"]["title"] == "Clamshell clinic patient API"


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    # What CI would run: `manage.py spectacular --validate --fail-on-warn`; raises if either fails.
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    assert yaml.safe_load(out.read_text())["paths"]


@pytest.fixture
def schema_document(client) -> dict:
    return json.loads(client.get(SCHEMA_URL, {"format": "json"}).content)


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_response_has_the_one_error_shape(schema_document):
    wrong = [
        f"{name} {code}"
        for name, operation in _operations(schema_document)
        for code, response in operation["responses"].items()
        if code.startswith("4")
        and response["content"]["application/json"]["schema"]
        != {"$ref": "#/components/schemas/Error"}
    ]

    assert wrong == []


def test_every_throttled_operation_documents_429_with_retry_after(schema_document):
    throttled = {"POST /api/v1/auth/token/", "POST /api/v1/me/sets/", "POST /api/v1/me/sets/batch/"}
    for name, operation in _operations(schema_document):
        if name in throttled:
            assert "Retry-After" in operation["responses"]["429"]["headers"], name


def test_request_bodies_refuse_unknown_fields(schema_document):
    components = schema_document["components"]["schemas"]

    for name in ("TokenRequestRequest", "SetLogInputRequest", "BatchRequestRequest"):
        assert components[name]["additionalProperties"] is False, name


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Prescription", "progress_at_reps"),
        ("Prescription", "pain_ceiling"),
        ("Prescription", "pain_alert_above"),
        ("Prescription", "pain_key"),
        ("PlanSide", "ready_to_progress"),
        ("PainKeyBand", "band"),
        ("PainKeyBand", "lowest"),
        ("PainKeyBand", "highest"),
        ("PainKeyBand", "scores"),
        ("PainKeyBand", "words"),
        ("LoggedSet", "warning"),
        ("PainWarning", "title"),
        ("PainWarning", "steps"),
        ("PainWarning", "message"),
        ("PainWarning", "pain"),
        ("PainWarning", "pain_alert_above"),
        ("PainWarning", "clinic_name"),
        ("PainWarning", "clinic_phone"),
        ("BatchResult", "set"),
        ("BatchResponse", "warnings"),
        ("Progress", "current_window"),
        ("Progress", "data_days_last_30"),
        ("MonitoringWindow", "number"),
        ("MonitoringWindow", "first_day"),
        ("MonitoringWindow", "last_day"),
        ("MonitoringWindow", "counted_until"),
        ("MonitoringWindow", "days_counted"),
        ("MonitoringWindow", "data_days"),
        ("MonitoringWindow", "adherence_band"),
        ("MonitoringWindow", "status"),
    ],
)
def test_every_new_field_is_described(schema_document, component, field):
    properties = schema_document["components"]["schemas"][component]["properties"]
    schema = properties[field]
    # A $ref cannot carry its own description in OpenAPI 3.0: drf-spectacular wraps it in allOf.
    assert schema.get("description"), (component, field, schema)


def test_the_warning_is_an_object_or_null_and_only_on_a_logged_set(schema_document):
    schemas = schema_document["components"]["schemas"]
    warning = schemas["LoggedSet"]["properties"]["warning"]

    assert warning.get("nullable") is True
    assert "warning" in schemas["LoggedSet"]["required"]
    assert "warning" not in schemas["SetLog"]["properties"]  # the list of sets keeps its shape
    assert set(schemas["PainWarning"]["required"]) >= {"title", "steps", "message"}
    log_set = schema_document["paths"]["/api/v1/me/sets/"]["post"]["responses"]
    for status in ("200", "201"):
        assert log_set[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/LoggedSet"
        }


def test_the_current_window_can_only_be_one_of_todays_statuses(schema_document):
    status = schema_document["components"]["schemas"]["MonitoringWindow"]["properties"]["status"]
    (ref,) = status["allOf"]  # a $ref with a description of its own (OpenAPI 3.0)
    enum = schema_document["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]["enum"]

    assert set(enum) == {"complete", "in_progress", "discharged"}
