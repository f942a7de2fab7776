"""Signals other apps listen to; ingestion itself does not know who listens.

``documents_changed`` is sent inside the transaction that changes the documents, so what a receiver
does is committed or rolled back with the change. Arguments: ``document_ids`` (list of primary keys)
and ``change``: "changed" (new content), "withdrawn" (gone from the source) or "unpublished".
"""

from __future__ import annotations

from django.dispatch import Signal

documents_changed = Signal()
