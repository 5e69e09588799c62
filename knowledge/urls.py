from django.urls import path

from knowledge import api, views

urlpatterns = [
    path("api/search", views.api_search, name="api-search"),
    path("api/documents", api.documents, name="api-documents"),
    path("api/documents/<int:document_id>", api.document, name="api-document"),
    path("search/", views.search_page, name="search"),
    path("documents/<int:document_id>/", views.document_view, name="document"),
]
