"""MetricResult moves from the survey app to analysis, keeping its table (``survey_metricresult``)
and its rows: the state moves, the database is left as it is. Its content type follows, so that
the permissions granted on it (the Researcher group's view_metricresult) are kept."""

import django.db.models.deletion
from django.db import migrations, models


def _move_content_type(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=new, model="metricresult").exists():
        ContentType.objects.filter(app_label=old, model="metricresult").update(app_label=new)


def _content_type_to_analysis(apps, schema_editor):
    _move_content_type(apps, "survey", "analysis")


def _content_type_to_survey(apps, schema_editor):
    _move_content_type(apps, "analysis", "survey")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('generation', '0004_caption_pipeline'),
        ('survey', '0007_data_deletion'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(
            name='MetricResult',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('run', models.UUIDField(db_index=True, help_text='The command run that stored this row.')),
                ('kind', models.CharField(choices=[('caption', 'Caption metric'), ('audio', 'Audio metric')], max_length=8)),
                ('metric', models.CharField(help_text='fad, kad, fad_inf, kld, clap_score, bleu1 ... bertscore.', max_length=40)),
                ('variant', models.CharField(help_text='Caption mode, or the embedding / classifier / CLAP model.', max_length=300)),
                ('reference', models.CharField(help_text='original, a condition, or the reference caption kind.', max_length=200)),
                ('scope', models.CharField(choices=[('condition', 'Condition'), ('clip_condition', 'Clip x condition'), ('caption_kind', 'Caption kind'), ('clip_caption_kind', 'Clip x caption kind')], max_length=20)),
                ('candidate', models.CharField(blank=True, help_text='Candidate caption kind[@model].', max_length=200)),
                ('value', models.FloatField()),
                ('n', models.PositiveIntegerField(help_text='How many units the value rests on.')),
                ('n_unit', models.CharField(help_text='frames, pairs, segments, windows, tracks ...', max_length=20)),
                ('settings', models.JSONField(blank=True, default=dict, help_text='Models, framing, sample sizes, seed ...')),
                ('software', models.JSONField(blank=True, default=dict, help_text='Versions of the packages behind the value.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('clip', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='generation.clip')),
                ('condition', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='generation.condition')),
                ('study', models.ForeignKey(blank=True, help_text='Empty for caption metrics over all clips.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='metric_results', to='survey.study')),
                ('track', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='generation.track')),
            ],
            options={
                'db_table': 'survey_metricresult',
                'ordering': ['-created_at', 'kind', 'metric', 'id'],
                'indexes': [models.Index(fields=['study', 'kind', 'metric'], name='survey_metr_study_i_fd6dcf_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('kind__in', ['caption', 'audio'])), name='metricresult_kind_valid'), models.CheckConstraint(condition=models.Q(('scope__in', ['condition', 'clip_condition', 'caption_kind', 'clip_caption_kind'])), name='metricresult_scope_valid')],
            },
        )], database_operations=[]),
        migrations.RunPython(_content_type_to_analysis, _content_type_to_survey),
    ]
