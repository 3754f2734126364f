from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from studyserver import ops
from survey.throttle import ThrottledAdminLoginForm

admin.site.login_form = ThrottledAdminLoginForm
# Participants meet these in their language (survey/error_pages.py); Django's own are English.
handler404 = "survey.error_pages.page_not_found"
handler500 = "survey.error_pages.server_error"

admin.site.site_header = "MusiScene Studio"

urlpatterns = [
    # No home page of its own: "/" is the admin, which asks an anonymous visitor to log in and
    # names no study (participants come by their study's link, /s/<slug>/).
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("favicon.ico", ops.favicon, name="favicon"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("survey.api_urls")),
    path("api/", include("analysis.api_urls")),
    path("", include("generation.urls")),
    path("", include("survey.urls")),
]
