# Help texts only (no schema change): the shared columns of jobs and items now come from
# generation.engine.JobBase and ItemBase, with one help text each.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('generation', '0005_condition_caption_source_and_splits'),
    ]

    operations = [
        migrations.AlterField(
            model_name='captionitem',
            name='claim_token',
            field=models.CharField(blank=True, help_text='Who holds the claim (a task id).', max_length=64),
        ),
        migrations.AlterField(
            model_name='captionitem',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, help_text='Last sign of life of the claim holder.', null=True),
        ),
        migrations.AlterField(
            model_name='captionitem',
            name='reclaims',
            field=models.PositiveIntegerField(default=0, help_text='Claims taken back from a lost or stuck worker.'),
        ),
        migrations.AlterField(
            model_name='captionjob',
            name='label',
            field=models.CharField(blank=True, help_text="What it was made for, e.g. 'study pilot'.", max_length=200),
        ),
        migrations.AlterField(
            model_name='captionjob',
            name='watch_token',
            field=models.CharField(blank=True, editable=False, help_text='The live watchdog chain of this job (stale claims are reclaimed by it).', max_length=40),
        ),
        migrations.AlterField(
            model_name='generationjob',
            name='error',
            field=models.TextField(blank=True, help_text='Why the whole job failed (e.g. a model is missing).'),
        ),
    ]
