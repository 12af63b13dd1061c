"""What a signed-in browser may keep of the clinic's records, and what it forgets at sign-out.

A shared clinic computer must hold no patient data once its user has gone (docs/security.md):

- **Nothing in the HTTP cache.** Every HTML page and CSV download answered to a signed-in session
  is sent with `Cache-Control: no-store`: the patient page and its htmx partials, the history,
  "my exercises", the dashboard, the reports and their CSVs, the access log, the patient create,
  edit and login pages. Anonymous answers (the sign-in page) and static files (whitenoise answers
  them before this middleware) keep their caching. JSON is the API's business: the FHIR export
  sets `no-store` itself.
- **Nothing in the origin's storage after the session ends.** The answer to the request that ends
  a session (the sign-out page, the admin's sign-out, an idle or day-long session expiring) carries
  `Clear-Site-Data: "storage"`: the browser then empties `localStorage`, `sessionStorage` (htmx's
  history cache lived there), IndexedDB, the Cache API and service workers for our origin.
  `"cache"` is left out on purpose: with `no-store` above no page with patient data is in the HTTP
  cache, so it would only throw away the content-hashed static files, and Chromium can hold the
  sign-out answer back for seconds while it empties the cache. `"cookies"` is not needed: Django
  deletes the session itself.

htmx's own history cache is off (`historyCacheSize: 0` in base.html's `htmx-config`), so paging
with `hx-push-url` never writes a page to `sessionStorage` in the first place.

Reads the session, never `request.user` (a query; after an API view it is the token's user), as
`SessionTimeoutMiddleware` does; it goes before that middleware, so it sees the sessions it ends.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

# The kinds of answer that carry patient data to a browser: pages, htmx partials and CSV exports.
PRIVATE_CONTENT_TYPES = ("text/html", "text/csv")
CLEAR_SITE_DATA = '"storage"'


class BrowserDataMiddleware:
    """`no-store` on a signed-in session's pages and CSVs; `Clear-Site-Data` when a session ends."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        signed_in_before = _signed_in(request)
        response = self.get_response(request)
        signed_in_after = _signed_in(request)
        if signed_in_before and not signed_in_after:
            response["Clear-Site-Data"] = CLEAR_SITE_DATA
        if (signed_in_before or signed_in_after) and _private(response):
            patch_cache_control(response, no_store=True)
        return response


def _signed_in(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return session is not None and SESSION_KEY in session


def _private(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type in PRIVATE_CONTENT_TYPES
