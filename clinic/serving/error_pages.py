"""Error answers for what Django itself handles: the API's in its JSON error shape, pages as pages.

DRF views answer their own errors in the shape (`exercises.api.errors`). What reaches Django's
handlers instead is what no API view raised: an address under /api/ that matches no URL (404), a
body over DATA_UPLOAD_MAX_MEMORY_SIZE read before a view ran (Django raises it as a 400; it is a
413), and a server error (500). A phone app always gets JSON it can read, never an HTML page.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from exercises.api.errors import error_body
from exercises.api.parsers import PayloadTooLarge

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        too_large = PayloadTooLarge()
        if _is_api(request):
            return _api_error(too_large.status_code, "too_large", str(too_large.detail))
        return render(request, "413.html", status=too_large.status_code)
    if _is_api(request):
        return _api_error(400, "bad_request", "The request could not be read.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _api_error(403, "permission_denied", "You do not have permission for this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _api_error(
            404, "not_found", "No such address in the API: the API's addresses are in /api/docs/."
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        # Says nothing about the cause: the details are in the server's log.
        return _api_error(500, "server_error", "Something went wrong on our side. Try again later.")
    return defaults.server_error(request)
