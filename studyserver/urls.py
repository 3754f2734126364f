from django.contrib import admin
from django.urls import include, path

from studyserver import ops
from survey.throttle import ThrottledAdminLoginForm

admin.site.login_form = ThrottledAdminLoginForm
admin.site.site_header = "MusiScene Studio"

urlpatterns = [
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
