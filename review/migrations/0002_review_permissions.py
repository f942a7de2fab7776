"""Reviewers work the queue and draft verified answers; only Editors approve them and resolve flags."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

REVIEWER = [
    "view_reviewitem",
    "change_reviewitem",
    "view_historicalreviewitem",
    "add_verifiedanswer",
    "change_verifiedanswer",
    "view_verifiedanswer",
    "view_historicalverifiedanswer",
    "add_verifiedanswertext",
    "change_verifiedanswertext",
    "view_verifiedanswertext",
    "add_documentflag",
    "view_documentflag",
    "add_goldencase",
    "change_goldencase",
    "view_goldencase",
]
# Nothing is deleted by hand: verified answers are withdrawn by going back to draft or expiring.
EDITOR = [*REVIEWER, "approve_verifiedanswer", "change_documentflag"]


def grant(apps: Any, schema_editor: Any) -> None:
    app_config = apps.get_app_config("review")
    # create_permissions skips apps without a models module; historical app configs have none.
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (("Reviewer", REVIEWER), ("Editor", EDITOR)):
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="review", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0001_initial"),
        ("ingestion", "0003_editor_reviewer_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
