"""What every API answers when it cannot do what was asked: a JSON body with a stable `code` and a sentence."""

from django.http import JsonResponse


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after

    def response(self) -> JsonResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after else None
        return JsonResponse({"code": self.code, "error": str(self)}, status=self.status, headers=headers)
