from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Clips, captions and tracks"

    def ready(self) -> None:
        # Register the Celery tasks in every process (a worker's autodiscovery does it there too):
        # the jobs enqueue them by name (generation.engine.task) and never import the module.
        from generation import tasks  # noqa: F401
