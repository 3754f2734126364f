from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """The Django side of the analysis: exports, stored metric results, the report and their
    commands, admin pages and API. The core (stats, metrics, screening, simulate, report,
    agreement) imports no Django."""

    name = "analysis"
    verbose_name = "Analysis"
