"""``GET /metrics``: the Prometheus exposition, for the monitoring system only.

Who may read it (a safe default: nobody from outside the machine):

- a client whose own address (``REMOTE_ADDR``) is in ``METRICS_ALLOWED_NETWORKS`` (default loopback
  only) and whose request came straight, not through a proxy: a request carrying ``X-Forwarded-For``,
  ``Forwarded``, ``X-Real-IP`` or the configured ``TRUSTED_PROXY_HEADER`` was relayed, and a reverse
  proxy on the same machine would otherwise make every citizen look like loopback;
- or, when ``METRICS_TOKEN`` is set, a request with ``Authorization: Bearer <METRICS_TOKEN>``.

Everything else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from portal.observability import metrics
from portal.observability.collectors import IngestionCollector

_RELAY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


class _ProcessRegistry(Collector):
    """This process's metrics (one-process mode): everything the default registry holds."""

    def collect(self):  # type: ignore[no-untyped-def]
        return REGISTRY.collect()


@lru_cache(maxsize=1)
def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every process's files, summed
    else:
        registry.register(_ProcessRegistry())
    registry.register(IngestionCollector())
    return registry


def _relayed(request: HttpRequest) -> bool:
    proxy_header = "HTTP_" + settings.TRUSTED_PROXY_HEADER.upper().replace("-", "_")
    return any(name in request.META for name in (*_RELAY_HEADERS, proxy_header))


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def _token_presented(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def metrics_allowed(request: HttpRequest) -> bool:
    if _token_presented(request):
        return True
    return not _relayed(request) and _address_allowed(request)


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain; charset=utf-8")
    metrics.queue_depth_sample()
    # The format Prometheus asks for (OpenMetrics, text 1.0.0), else the classic text format 0.0.4.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(scrape_registry()), content_type=content_type)
