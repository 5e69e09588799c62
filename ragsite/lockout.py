"""What a locked-out login sees (django-axes calls this): a page in words, or JSON for the API."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def lockout_message(minutes: int) -> str:
    return (
        f"Too many failed attempts from your address. Try again in {minutes} minutes, "
        "or ask an administrator to unlock your account."
    )


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    if request.path.startswith(("/api/", "/v1/")):
        response = JsonResponse({"code": "locked_out", "error": lockout_message(seconds // 60)}, status=429)
    else:
        response = render(
            request, "registration/locked_out.html", {"message": lockout_message(seconds // 60)}, status=429
        )
    response["Retry-After"] = str(seconds)
    return response
