from django.urls import path

from knowledge import views

urlpatterns = [
    path("search/", views.search_page, name="search"),
    path("tokens/", views.tokens_page, name="tokens"),
    path("documents/<int:document_id>/", views.document_view, name="document"),
]
