from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat.api_schema import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("knowledge.urls")),
    path("", include("chat.urls")),
    path("", api.urls),  # /api/… and /v1/…, schema at /api/schema, docs at /api/docs; last: it has a root of its own
]
