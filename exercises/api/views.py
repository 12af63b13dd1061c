"""The patient API, version 1 (docs/api.md). One view per operation; every write goes through
`exercises.services`, so the API adds no rule of its own."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import django_filters
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exercises.adherence import Window, patient_current_window
from exercises.api import schema
from exercises.api import serializers as s
from exercises.api.authentication import LockedOut
from exercises.api.errors import describe, error_body, invalid_body
from exercises.api.permissions import IsPatient, request_patient, request_user
from exercises.api.throttles import SignInAddressThrottle, SignInUsernameThrottle, WriteThrottle
from exercises.models import Prescription, SetLog, Source
from exercises.plan import pain_warning, plan_for, progress_for
from exercises.services import LoggedSet, SetLogRequest, set_log
from patients.lockout import is_locked_out, lockout_message, lockout_wait
from patients.models import Patient, Side


class PatientView(APIView):
    permission_classes = [IsAuthenticated, IsPatient]


# -- sign-in ----------------------------------------------------------------------------------


class TokenView(APIView):
    """Sign in with a username and password to get a token; DELETE signs out (revokes it)."""

    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_throttles(self) -> list[Any]:
        if self.request.method == "POST":
            return [SignInAddressThrottle(), SignInUsernameThrottle()]
        return []

    def get_authenticators(self) -> list[Any]:
        # Signing in must not fail because the app still sends an old, revoked token.
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    @extend_schema(**schema.SIGN_IN)
    def post(self, request: Request) -> Response:
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Django's own request: the lockout (axes) reads the client's address from it.
        user = authenticate(
            request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None and is_locked_out(request._request):
            wait = lockout_wait(request._request, data.validated_data["username"])
            raise LockedOut(lockout_message(wait), wait)
        if user is None or not user.is_active:
            return Response(
                error_body("invalid_credentials", "Username or password is incorrect."),
                status=status.HTTP_400_BAD_REQUEST,
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(**schema.SIGN_OUT)
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=request_user(request)).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenCheckView(PatientView):
    """Is this token still good? A phone app asks at start-up, before it syncs.

    It does no work of its own: the only query is the token lookup every request makes (with the
    user, patient and clinic), which also makes it the baseline the API load benchmark compares
    writes against (docs/performance.md).
    """

    @extend_schema(**schema.CHECK_TOKEN)
    def get(self, request: Request) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- me, plan, progress -----------------------------------------------------------------------


class MeView(PatientView):
    @extend_schema(
        operation_id="me", responses={200: s.MeSerializer, **schema.PATIENT_READ_RESPONSES}
    )
    def get(self, request: Request) -> Response:
        patient = request_patient(request)
        therapist = patient.primary_therapist
        return Response(
            s.MeSerializer(
                {
                    "id": patient.pk,
                    "first_name": patient.first_name,
                    "last_name": patient.last_name,
                    "record_number": patient.record_number,
                    "clinic": patient.clinic,
                    "therapist": {"name": therapist.get_full_name() or therapist.username}
                    if therapist
                    else None,
                }
            ).data
        )


class PlanView(PatientView):
    @extend_schema(
        operation_id="plan", responses={200: s.PlanSerializer, **schema.PATIENT_READ_RESPONSES}
    )
    def get(self, request: Request) -> Response:
        plans = plan_for(request_patient(request))
        return Response(s.PlanSerializer({"sides": plans}).data)


def monitoring_window_today(patient: Patient, *, now: dt.datetime) -> Window | None:
    """Today's monitoring window, by the one rule (`adherence.patient_current_window`)."""
    return patient_current_window(patient, today=patient.clinic.local_date(now))


class ProgressView(PatientView):
    @extend_schema(
        operation_id="progress",
        responses={200: s.ProgressSerializer, **schema.PATIENT_READ_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        patient = request_patient(request)
        now = timezone.now()
        progress = progress_for(patient, now=now)
        sides = [
            {
                "side": sp.side,
                "stage": sp.plan.prescription.stage.number if sp.plan.prescription else None,
                "stage_name": sp.plan.prescription.stage.name if sp.plan.prescription else None,
                "status": sp.plan.status,
                "best_reps_at_stage": sp.best_reps_at_stage,
                "progress_at_reps": sp.plan.prescription.effective_progress_at_reps
                if sp.plan.prescription
                else None,
                "ready_to_progress": sp.plan.ready_to_progress,
                "ladder_complete": sp.plan.ladder_complete,
                "sessions_this_week": sp.sessions_this_week,
                "sessions_per_week_target": sp.plan.prescription.sessions_per_week
                if sp.plan.prescription
                else None,
                "history": sp.history,
            }
            for sp in progress.sides
        ]
        return Response(
            s.ProgressSerializer(
                {
                    "data_days_last_30": progress.data_days_last_30,
                    "adherence_band": progress.adherence_band.value,
                    "current_window": monitoring_window_today(patient, now=now),
                    "sides": sides,
                }
            ).data
        )


# -- sets -------------------------------------------------------------------------------------


class SetFilter(django_filters.FilterSet):
    side = django_filters.ChoiceFilter(choices=Side.choices)
    # Only YYYY-MM-DD (`format: date`); Django's date field also reads "11/24/2026" and others.
    date_from = django_filters.DateFilter(
        method="filter_date_from",
        input_formats=["%Y-%m-%d"],
        label="First day (your clinic's calendar), inclusive.",
    )
    date_to = django_filters.DateFilter(
        method="filter_date_to",
        input_formats=["%Y-%m-%d"],
        label="Last day (your clinic's calendar), inclusive.",
    )

    class Meta:
        model = SetLog
        fields = ["side"]

    def _local_start(self, day: dt.date) -> dt.datetime:
        # The request is the API's (SetListView), whose user is a patient; django-filter types it
        # as Django's, and maybe missing.
        tz = self.request.user.patient.clinic.tzinfo  # type: ignore[union-attr]  # above
        return dt.datetime.combine(day, dt.time.min, tzinfo=tz)

    # The calendar's first and last days are open bounds: nothing is earlier or later, and their
    # edges in the clinic's zone fall outside what a datetime can hold (e.g. 0001-01-01 in Tokyo).
    # (`value: dt.date` also gives the schema its `format: date`.)
    def filter_date_from(
        self, queryset: QuerySet[SetLog], name: str, value: dt.date
    ) -> QuerySet[SetLog]:
        if value == dt.date.min:
            return queryset
        return queryset.filter(performed_at__gte=self._local_start(value))

    def filter_date_to(
        self, queryset: QuerySet[SetLog], name: str, value: dt.date
    ) -> QuerySet[SetLog]:
        if value == dt.date.max:
            return queryset
        return queryset.filter(performed_at__lt=self._local_start(value + dt.timedelta(days=1)))


class SetPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    # Page numbers only: DRF would also read "last".
    last_page_strings = ()

    def get_page_size(self, request: Request) -> int:
        # DRF quietly falls back to the default on a bad page_size and clamps a big one: an app
        # asking for 500 a page would never learn it got 200.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {"page_size": [f"Give a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


def _logged_response(logged: LoggedSet) -> Response:
    return Response(
        s.LoggedSetSerializer(logged.set_log).data,
        status=status.HTTP_201_CREATED if logged.created else status.HTTP_200_OK,
    )


def _with_thresholds(logged: LoggedSet, patient: Patient) -> LoggedSet:
    """The stored set with what its pain warning reads (`exercises.plan.pain_warning`): the
    prescription's own thresholds and the patient's clinic.

    A new set comes with both (the service stored it against the prescription it locked). A
    replay comes as it was stored, without its prescription: reading it is one query, and the
    replay then carries the same warning as the first answer.
    """
    row = logged.set_log
    assert row.patient_id == patient.pk  # the service reads and stores sets of this patient only
    row.patient = patient  # with its clinic, loaded with the token
    if not SetLog.prescription.is_cached(row):
        prescription = (
            Prescription.objects.filter(patient=patient, pk=row.prescription_id)
            .only("pk", "patient_id", "progress_at_reps", "pain_ceiling", "pain_alert_above")
            .first()
        )
        assert prescription is not None  # a set never loses its prescription (PROTECT)
        row.prescription = prescription
    row.prescription.patient = patient
    return logged


def _log_one(request: Request, data: dict[str, Any]) -> LoggedSet:
    patient = request_patient(request)
    logged = set_log(
        SetLogRequest.from_input(data, patient=patient, by=request_user(request), source=Source.APP)
    )
    return _with_thresholds(logged, patient)


class SetListView(PatientView, generics.ListAPIView[SetLog]):
    serializer_class = s.SetLogSerializer
    pagination_class = SetPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = SetFilter

    def get_throttles(self) -> list[Any]:
        return [WriteThrottle()] if self.request.method == "POST" else []

    def get_queryset(self) -> QuerySet[SetLog]:
        if getattr(self, "swagger_fake_view", False):
            return SetLog.objects.none()
        return (
            SetLog.objects.filter(patient=request_patient(self.request))
            .select_related("stage")
            .order_by("-performed_at", "-id")
        )

    @extend_schema(**schema.LIST_SETS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Django keeps the last of a repeated parameter (?side=left&side=right) and the filters
        # ignore an empty one (?side=): refuse both instead of guessing what the app meant.
        errors = {
            name: ["Give this parameter once."] if len(values) > 1 else ["Give a value."]
            for name, values in request.query_params.lists()
            if len(values) > 1 or not values[0]
        }
        if errors:
            raise ValidationError(errors)
        return super().get(request, *args, **kwargs)

    @extend_schema(**schema.LOG_SET)
    def post(self, request: Request) -> Response:
        data = s.SetLogInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _logged_response(_log_one(request, data.validated_data))


class SetBatchView(PatientView):
    throttle_classes = [WriteThrottle]

    @extend_schema(**schema.LOG_SETS_BATCH)
    def post(self, request: Request) -> Response:
        # The envelope only; each item is validated on its own so one bad item is just that
        # item's rejection.
        envelope = s.BatchRequestSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        items = envelope.validated_data["sets"]
        results = [self._one(request, index, item) for index, item in enumerate(items)]
        counts = {
            k: sum(r["status"] == k for r in results) for k in ("created", "duplicate", "rejected")
        }
        return Response(
            s.BatchResponseSerializer(
                {
                    "created": counts["created"],
                    "duplicates": counts["duplicate"],
                    "rejected": counts["rejected"],
                    "warnings": sum(
                        r["set"] is not None and pain_warning(r["set"]) is not None for r in results
                    ),
                    "results": results,
                }
            ).data
        )

    def _one(self, request: Request, index: int, item: Any) -> dict[str, Any]:
        client_id = item.get("client_id") if isinstance(item, dict) else None
        result: dict[str, Any] = {
            "index": index,
            "client_id": str(client_id) if client_id is not None else None,
            "set": None,
            "error": None,
        }
        data = s.SetLogInputSerializer(data=item)
        if not data.is_valid():
            return {
                **result,
                "status": "rejected",
                "http_status": 400,
                "error": invalid_body(data.errors)["error"],
            }
        try:
            logged = _log_one(request, data.validated_data)
        except DjangoValidationError as exc:
            code, body = describe(exc)
            return {**result, "status": "rejected", "http_status": code, "error": body["error"]}
        return {
            **result,
            "status": "created" if logged.created else "duplicate",
            "http_status": 201 if logged.created else 200,
            "set": logged.set_log,
        }
