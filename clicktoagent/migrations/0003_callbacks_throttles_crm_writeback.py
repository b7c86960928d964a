# Webhook callback retries, the shared throttle counter and CRM write-back, in one step.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('clicktoagent', '0002_webhooks'),
    ]

    operations = [
        migrations.AddField(
            model_name='webhookevent',
            name='callback_next_try_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='webhookevent',
            index=models.Index(fields=['callback_status', 'callback_next_try_at'], name='clicktoagent_webhook_callback'),
        ),
        migrations.CreateModel(
            name='ThrottleCounter',
            fields=[
                ('key', models.CharField(max_length=200, primary_key=True, serialize=False)),
                ('hits', models.PositiveIntegerField(default=0)),
                ('expires_at', models.FloatField(db_index=True)),
            ],
            options={
                'verbose_name': 'throttle counter',
            },
        ),
        migrations.CreateModel(
            name='CrmWriteback',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('provider', models.CharField(choices=[('hubspot', 'HubSpot'), ('salesforce', 'Salesforce'), ('pipedrive', 'Pipedrive')], max_length=32)),
                ('object_type', models.CharField(blank=True, help_text='e.g. contact, Lead, person.', max_length=64)),
                ('object_id', models.CharField(blank=True, max_length=64, verbose_name='object ID')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('written', 'Written'), ('failed', 'Failed'), ('unknown', 'Unknown')], db_index=True, default='pending', max_length=16)),
                ('tries', models.PositiveSmallIntegerField(default=0)),
                ('next_try_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('crm_record_id', models.CharField(blank=True, help_text='The activity the CRM created.', max_length=128, verbose_name='CRM record ID')),
                ('lookup_key', models.CharField(blank=True, editable=False, max_length=128)),
                ('maybe_written', models.BooleanField(default=False, editable=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('written_at', models.DateTimeField(blank=True, null=True)),
                ('attempt', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='crm_writeback', to='clicktoagent.callattempt')),
            ],
            options={
                'verbose_name': 'CRM write-back',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['status', 'next_try_at'], name='clicktoagent_crm_due')],
                'constraints': [models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'written', 'failed', 'unknown'])), name='clicktoagent_crm_writeback_status_valid')],
            },
        ),
    ]
