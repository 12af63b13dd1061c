"""Every URL of the project, tried by everyone who has no business there.

The sweep walks Django's URL resolver (included URLconfs, the admin, the API, the auth views, the
API schema), so a URL added tomorrow is swept without anyone listing it. Each pattern's parameters
are filled with objects of a *victim* clinic, and the URL is requested with GET and POST (and PUT,
PATCH and DELETE for API views) as four people:

- anonymous: nobody signed in;
- patient: another patient of the victim's clinic (their own `me` pages are theirs to use);
- outsider: a therapist of another clinic;
- staff: a staff member of the victim's clinic (reads reports and patient pages, changes nothing,
  never reaches the admin).

GRANTS is default-deny: a role may reach a URL only where it is listed there; everywhere else the
answer must be a refusal (a redirect to a sign-in page, 401, 403, 404 or 405). No answer to anyone
but the victim's care team carries the victim's name or record number, and no answer is a 500 (the
test client re-raises the view's exception).

The victim's world is built once for the module, inside a transaction rolled back at the end; each
test runs in a savepoint of its own, so a request that writes changes nothing for the next one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token, TokenProxy

from exercises.models import Prescription, SetLog, StageChange
from patients.models import ClearanceNote, Clinic, Membership, Patient, Role
from tests.api.helpers import start
from tests.factories import (
    ClearanceNoteFactory,
    ClinicFactory,
    MembershipFactory,
    PatientFactory,
    SetLogFactory,
    UserFactory,
)

ANONYMOUS, PATIENT, OUTSIDER, STAFF = "anonymous", "patient", "outsider", "staff"
ROLES = (ANONYMOUS, PATIENT, OUTSIDER, STAFF)
EVERYONE = frozenset(ROLES)
SIGNED_IN = frozenset({PATIENT, OUTSIDER, STAFF})

# The victim's name and record number: no answer to a stranger may contain them.
VICTIM_MARKERS = ("Zephyrine", "Quillfeather", "VICTIM-7731")


@dataclass(frozen=True)
class Grant:
    roles: frozenset[str]
    methods: frozenset[str]


def grant(roles: frozenset[str] | set[str], *methods: str) -> Grant:
    return Grant(frozenset(roles), frozenset(methods))


# Where each role has business, by URL name (namespaced: "admin:login"). Everything not listed is
# refused to every role of the sweep. A role listed here may get any answer but a 500 and may not
# see the victim's data; the views' own tests check what the answer is.
GRANTS: dict[str, list[Grant]] = {
    # Signing in, out, and recovering a password: public by nature.
    "root": [grant(EVERYONE, "GET")],
    "login": [grant(EVERYONE, "GET", "POST")],
    "logout": [grant(EVERYONE, "POST")],
    "admin:login": [grant(EVERYONE, "GET", "POST")],
    # Signing out is harmless; the admin sends non-staff to its index, which refuses them.
    "admin:logout": [grant(EVERYONE, "GET", "POST")],
    "password_change": [grant(SIGNED_IN, "GET", "POST")],
    "password_change_done": [grant(SIGNED_IN, "GET")],
    "home": [grant(SIGNED_IN, "GET")],
    # The API's sign-in is public; signing out revokes one's own token.
    "api-token": [grant(EVERYONE, "POST"), grant(SIGNED_IN, "DELETE")],
    # The API's description holds no data: a phone app's developers read it without an account.
    "api-schema": [grant(EVERYONE, "GET")],
    "api-docs": [grant(EVERYONE, "GET")],
    # A patient's own pages and API (their own data only: the sweep checks for the victim's).
    "me": [grant({PATIENT}, "GET")],
    "me-log": [grant({PATIENT}, "POST")],
    "api-token-check": [grant({PATIENT}, "GET")],
    "api-me": [grant({PATIENT}, "GET")],
    "api-plan": [grant({PATIENT}, "GET")],
    "api-progress": [grant({PATIENT}, "GET")],
    "api-sets": [grant({PATIENT}, "GET", "POST")],
    "api-sets-batch": [grant({PATIENT}, "POST")],
    # A therapist's own start pages, in their own clinic.
    "dashboard": [grant({OUTSIDER}, "GET")],
    "patient-create": [grant({OUTSIDER}, "GET", "POST")],
    "reports": [grant({OUTSIDER, STAFF}, "GET")],
    "access-log": [grant({OUTSIDER, STAFF}, "GET")],
    # The victim clinic's staff read the patient's pages and exports; they change nothing.
    "patient-detail": [grant({STAFF}, "GET")],
    "patient-history": [grant({STAFF}, "GET")],
    "patient-report": [grant({STAFF}, "GET")],
    "patient-clearance-document": [grant({STAFF}, "GET")],
    # Who said what: no patient data, for every signed-in user.
    "sources": [grant(SIGNED_IN, "GET")],
    "api-patient-fhir": [grant({STAFF}, "GET")],
}


def granted(key: str, role: str, method: str) -> bool:
    return any(role in g.roles and method in g.methods for g in GRANTS.get(key, []))


# -- the URL patterns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # the namespaced URL name, or the pattern text for an unnamed pattern
    text: str  # the whole pattern, for messages and test ids
    parts: tuple[Any, ...]  # the RoutePattern/RegexPattern of each level, root first
    leaf: URLPattern

    @property
    def is_api(self) -> bool:
        # DRF's as_view() marks its views with `cls`.
        return hasattr(self.leaf.callback, "cls")

    @property
    def methods(self) -> tuple[str, ...]:
        return ("GET", "POST", "PUT", "PATCH", "DELETE") if self.is_api else ("GET", "POST")


def _walk(
    resolver: URLResolver, parts: tuple[Any, ...] = (), namespaces: tuple[str, ...] = ()
) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespaces + ((entry.namespace,) if entry.namespace else ())
            yield from _walk(entry, (*parts, entry.pattern), inner)
        else:
            text = "".join(str(p) for p in (*parts, entry.pattern))
            key = ":".join((*namespaces, entry.name)) if entry.name else text
            yield Route(key, text, (*parts, entry.pattern), entry)


def all_routes() -> list[Route]:
    """Every reachable pattern once (a pattern shadowed by an identical earlier one is skipped)."""
    seen: dict[str, Route] = {}
    for route in _walk(get_resolver()):
        seen.setdefault(route.text, route)
    return list(seen.values())


ROUTES = all_routes()

# -- filling the parameters with the victim's objects ----------------------------------------------

ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
REGEX_GROUP = re.compile(r"\((?:\?P<(?P<name>\w+)>)?[^()]*\)")
# Unnamed regex groups, by the end of the URL name: what each position holds.
POSITIONAL = {"_simple_history": ("object_id", "history_id")}


@dataclass
class World:
    clinic: Clinic
    therapist: Any
    victim: Patient
    prescription: Prescription
    set_log: SetLog
    note: ClearanceNote
    sessions: dict[str, str]  # role -> session key
    objects: dict[type[models.Model], Any]  # the victim's object of each model, for the admin

    def pk_of(self, model: type[models.Model]) -> str:
        obj = self.objects.get(model)
        if obj is None:
            # A model the sweep does not know: any row (or a made-up id) is refused the same.
            obj = model._default_manager.order_by("pk").first()
        return str(obj.pk) if obj is not None else "1"

    def history_id_of(self, model: type[models.Model]) -> str:
        obj = self.objects.get(model)
        history = getattr(model, "history", None)
        if obj is None or history is None:
            return "1"
        row = history.filter(id=obj.pk).order_by("history_id").first()
        return str(row.history_id) if row is not None else "1"


ADMIN_MODEL_URL = re.compile(r"admin/(?P<app_label>\w+)/(?P<model_name>\w+)/")


def _admin_model(route: Route) -> type[models.Model] | None:
    """The model behind an admin URL such as admin/patients/patient/<path:object_id>/change/."""
    match = ADMIN_MODEL_URL.match(route.text)
    if match is None:
        return None
    return next(
        (
            model
            for model in admin.site._registry
            if (model._meta.app_label, model._meta.model_name)
            == (match["app_label"], match["model_name"])
        ),
        None,
    )


def _value(name: str, route: Route, world: World) -> str | None:
    model = _admin_model(route)
    if route.key == "admin:view_on_site":
        return {
            "content_type_id": str(ContentType.objects.get_for_model(Patient).pk),
            "object_id": str(world.victim.pk),
        }.get(name)
    if model is not None and name in ("object_id", "id"):
        return world.pk_of(model)
    if model is not None and name == "history_id":
        return world.history_id_of(model)
    return {
        "pk": str(world.victim.pk),
        "rx": str(world.prescription.pk),
        "set_pk": str(world.set_log.pk),
        "note_pk": str(world.note.pk),
        "side": "left",
        "uidb64": urlsafe_base64_encode(force_bytes(world.victim.user.pk)),
        "token": "set-password",
        "app_label": "patients",
        "url": "no-such-page/",
    }.get(name)


class Unfillable(Exception):
    pass


def _fill_route(text: str, route: Route, world: World) -> str:
    def one(match: re.Match[str]) -> str:
        value = _value(match["name"], route, world)
        if value is None:
            raise Unfillable(match["name"])
        return value

    return ROUTE_PARAMETER.sub(one, text)


def _fill_regex(text: str, route: Route, world: World) -> str:
    positional = next(
        (names for suffix, names in POSITIONAL.items() if route.key.endswith(suffix)), ()
    )
    index = 0

    def one(match: re.Match[str]) -> str:
        nonlocal index
        name = match["name"]
        if name is None:
            name = positional[index] if index < len(positional) else f"group {index + 1}"
            index += 1
        value = _value(name, route, world)
        if value is None:
            raise Unfillable(name)
        return value

    filled = REGEX_GROUP.sub(one, text).removeprefix("^").removesuffix("$")
    return filled.replace("\\", "")


def url_for(route: Route, world: World) -> str:
    """A concrete URL of the pattern, naming the victim's objects; fails with a hint when the
    sweep does not know how to fill a parameter."""
    try:
        path = "/" + "".join(
            _fill_route(str(p), route, world)
            if isinstance(p, RoutePattern)
            else _fill_regex(p.regex.pattern, route, world)
            for p in route.parts
        )
    except Unfillable as exc:
        pytest.fail(
            f"The URL sweep cannot fill the parameter {exc} of {route.text} ({route.key}). Add a "
            f"filler to `_value` in tests/security/test_url_sweep.py (an object of the victim "
            f"clinic), so that this URL is swept too."
        )
    match = resolve(urlsplit(path).path)
    assert match.func is route.leaf.callback, (
        f"{path} (filled from {route.text}) resolves to {match.route}, not to its own pattern: "
        f"fix its filler in `_value`."
    )
    return path


# -- the victim's world -----------------------------------------------------------------------------


def _build_world() -> World:
    clinic = ClinicFactory(name="Victim Clinic", slug="victim", timezone="Europe/London")
    therapist = MembershipFactory(clinic=clinic, role=Role.THERAPIST).user
    staff = MembershipFactory(clinic=clinic, role=Role.STAFF)
    victim = PatientFactory(
        clinic=clinic,
        primary_therapist=therapist,
        first_name=VICTIM_MARKERS[0],
        last_name=VICTIM_MARKERS[1],
        record_number=VICTIM_MARKERS[2],
        user=UserFactory(),
    )
    other_patient = PatientFactory(clinic=clinic, primary_therapist=therapist, user=UserFactory())
    prescription = start(victim, therapist)
    set_log = SetLogFactory(prescription=prescription, logged_by=victim.user, note="steady")
    note = ClearanceNoteFactory(patient=victim, recorded_by=therapist)
    # A scanned copy, so that the document URL serves the victim's file to whoever is let in.
    note.document_type = "application/pdf"
    note.document.save("victim-scan.pdf", ContentFile(b"%PDF-1.4 Zephyrine"), save=True)

    elsewhere = ClinicFactory(name="Elsewhere Physio", slug="elsewhere")
    outsider = MembershipFactory(clinic=elsewhere, role=Role.THERAPIST).user
    PatientFactory(clinic=elsewhere, primary_therapist=outsider)

    token = Token.objects.create(user=victim.user)
    sessions = {}
    for role, user in ((PATIENT, other_patient.user), (OUTSIDER, outsider), (STAFF, staff.user)):
        client = Client()
        client.force_login(user)
        sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    objects: dict[type[models.Model], Any] = {
        Clinic: clinic,
        Membership: staff,
        Patient: victim,
        ClearanceNote: note,
        Prescription: prescription,
        StageChange: StageChange.objects.filter(patient=victim).first(),
        SetLog: set_log,
        type(victim.user): victim.user,
        Token: token,
        TokenProxy: token,
    }
    return World(clinic, therapist, victim, prescription, set_log, note, sessions, objects)


@pytest.fixture(scope="module")
def sweep_world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


def client_as(role: str, world: World) -> Client:
    client = Client()
    if role != ANONYMOUS:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    return client


SIGN_IN_PAGES = {"/accounts/login/", "/admin/login/"}


def is_refusal(response: HttpResponse) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    return response.status_code == 302 and urlsplit(response["Location"]).path in SIGN_IN_PAGES


def body_of(response: HttpResponse) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]  # streaming, above
    return response.content


def call(client: Client, method: str, url: str, *, api: bool) -> HttpResponse:
    kwargs: dict[str, Any] = {}
    if method in ("POST", "PUT", "PATCH"):
        kwargs = {"data": "{}", "content_type": "application/json"} if api else {"data": {}}
    return getattr(client, method.lower())(url, **kwargs)


CASES = [
    pytest.param(route, method, role, id=f"{method} {route.text} as {role}")
    for route in ROUTES
    for method in route.methods
    for role in ROLES
]


@pytest.mark.parametrize(("route", "method", "role"), CASES)
def test_the_url_refuses_whoever_has_no_business_there(
    sweep_world: World, db: Any, route: Route, method: str, role: str
) -> None:
    url = url_for(route, sweep_world)
    response = call(client_as(role, sweep_world), method, url, api=route.is_api)

    assert response.status_code < 500, f"{method} {url} as {role}: {response.status_code}"
    if not granted(route.key, role, method):
        assert is_refusal(response), (
            f"{method} {url} as {role} answered {response.status_code} "
            f"{response.get('Location', '')}: expected a refusal (302 to sign-in, 401, 403, 404 "
            f"or 405). If this role has business here, grant it in GRANTS "
            f"(tests/security/test_url_sweep.py, key {route.key!r}); otherwise the view must "
            f"refuse."
        )
    if role != STAFF:
        body = body_of(response).decode("utf-8", "replace")
        leaked = [m for m in VICTIM_MARKERS if m in body]
        assert not leaked, f"{method} {url} as {role} shows the victim's {leaked}"


# Pages that choose what to show from the query string: naming the victim's clinic (or its
# therapist) there must be refused like naming it in the path.
VICTIM_QUERIES = [
    ("reports", "clinic", lambda w: w.clinic.pk),
    ("reports", "therapist", lambda w: w.therapist.pk),
    ("access-log", "clinic", lambda w: w.clinic.pk),
]


@pytest.mark.parametrize("role", [PATIENT, OUTSIDER])
@pytest.mark.parametrize(
    ("key", "parameter", "value"), VICTIM_QUERIES, ids=[f"{k}?{p}" for k, p, _ in VICTIM_QUERIES]
)
def test_a_query_naming_the_victim_clinic_is_refused(
    sweep_world: World, db: Any, key: str, parameter: str, value: Any, role: str
) -> None:
    route = next(r for r in ROUTES if r.key == key)
    url = url_for(route, sweep_world)
    response = client_as(role, sweep_world).get(url, {parameter: value(sweep_world)})

    assert response.status_code in (400, 403, 404), f"{url}?{parameter} as {role}"
    body = response.content.decode()
    assert not [m for m in (*VICTIM_MARKERS, "Victim Clinic") if m in body]


def test_the_sweep_sees_every_kind_of_url() -> None:
    """A broken walk would sweep nothing and pass: check it reaches each URLconf."""
    keys = {route.key for route in ROUTES}
    for expected in (
        "root",
        "password_change",
        "patient-edit",
        "patient-set-void",
        "api-sets-batch",
        "api-patient-fhir",
        "api-schema",
        "admin:index",
        "admin:app_list",
        "admin:patients_patient_change",
        "admin:patients_patient_simple_history",
        "admin/(?P<url>.*)$",
    ):
        assert expected in keys
    assert len(CASES) > 500


def test_every_grant_names_a_url_that_exists() -> None:
    """A grant left behind by a removed or renamed URL would hide a new URL of the same name."""
    keys = {route.key for route in ROUTES}
    assert set(GRANTS) <= keys, sorted(set(GRANTS) - keys)
