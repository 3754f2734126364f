import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyserver.settings")
application = get_wsgi_application()


def warm_up() -> None:
    """Do now what the first requests would: import every view (the URLconf), compile the
    participant pages' templates, load the translations and build the URL resolver's reverse
    table for every language. Under gunicorn with preload_app this runs once in the master, so
    every forked worker, a recycled one too, serves at once. No database is touched (a
    connection must not cross a fork)."""
    from django.conf import settings
    from django.template.loader import get_template
    from django.urls import get_resolver, reverse
    from django.utils import translation

    get_resolver().url_patterns  # noqa: B018 - the property imports the views
    for name in (
        "survey/consent.html",
        "survey/instructions.html",
        "survey/trial.html",
        "survey/annotation.html",
        "survey/questionnaire.html",
        "survey/done.html",
    ):
        get_template(name)
    with translation.override(settings.LANGUAGE_CODE):
        translation.gettext("Consent")
    for code, _name in settings.LANGUAGES:  # the URL resolver's reverse table, per language
        with translation.override(code):
            reverse("study-run", args=["warm-up"])


warm_up()
