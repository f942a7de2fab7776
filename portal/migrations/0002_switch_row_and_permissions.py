"""The kill switch's one row (chat online), and who may use it: Editors turn it on and off, Reviewers see it.

Permissions are normally created after all migrations (post_migrate); they are created here first,
as in ingestion/migrations/0003_editor_reviewer_groups.py, so that one ``migrate`` is enough.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS: dict[str, list[str]] = {
    "Editor": ["view_serviceswitch", "change_serviceswitch", "view_historicalserviceswitch"],
    "Reviewer": ["view_serviceswitch", "view_historicalserviceswitch"],
}


def switch_and_permissions(apps: Any, schema_editor: Any) -> None:
    app_config = apps.get_app_config("portal")
    # create_permissions skips apps without a models module; historical app configs have none.
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    ServiceSwitch = apps.get_model("portal", "ServiceSwitch")
    ServiceSwitch.objects.get_or_create(pk=1, defaults={"chat_offline": False, "reason": "Initial state: online."})
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="portal", codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("ingestion", "0003_editor_reviewer_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(switch_and_permissions, migrations.RunPython.noop)]
