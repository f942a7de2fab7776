from __future__ import annotations

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# The app serves its own stylesheet, script and the admin's assets (one process, no CDN, no
# reverse proxy needed on one machine); ASGIStaticFilesHandler does so whatever DEBUG is.
application = ASGIStaticFilesHandler(get_asgi_application())
