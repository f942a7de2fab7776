"""Groups for civil servants: Editors curate sources and documents, Reviewers read everything.

Permissions are normally created after all migrations (post_migrate); they are created here
first so that a fresh database gets its groups in one ``migrate``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS: dict[str, list[tuple[str, str]]] = {
    "Editor": [
        ("ingestion", "add_source"),
        ("ingestion", "change_source"),
        ("ingestion", "view_source"),
        ("ingestion", "view_historicalsource"),
        ("ingestion", "add_document"),
        ("ingestion", "change_document"),
        ("ingestion", "view_document"),
        ("ingestion", "view_historicaldocument"),
        ("ingestion", "view_documentversion"),
        ("ingestion", "view_chunk"),
        ("ingestion", "view_ingestionrun"),
        # To follow a document's "cited in" links to the answers that cite it.
        ("assistant", "view_conversation"),
        ("assistant", "view_answer"),
    ],
    "Reviewer": [
        ("ingestion", "view_source"),
        ("ingestion", "view_document"),
        ("ingestion", "view_documentversion"),
        ("ingestion", "view_chunk"),
        ("ingestion", "view_ingestionrun"),
        ("assistant", "view_conversation"),
        ("assistant", "view_answer"),
    ],
}


def create_groups(apps: Any, schema_editor: Any) -> None:
    for label in ("ingestion", "assistant"):
        app_config = apps.get_app_config(label)
        # create_permissions skips apps without a models module; historical app configs have none.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        for app_label, codename in codenames:
            permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
            group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0002_sources_versions_runs"),
        ("assistant", "0002_answer_routed_status"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
