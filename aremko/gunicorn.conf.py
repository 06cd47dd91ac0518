"""Gunicorn configuration: `gunicorn -c aremko/gunicorn.conf.py aremko.wsgi`.

Threaded workers (gthread): a proposal that waits seconds on an AI backend holds one thread, not a whole
process, so other staff keep browsing. Tune with the GUNICORN_* variables.
"""

import multiprocessing
import os

# Loopback by default: the reverse proxy in front talks to it; set GUNICORN_BIND to listen elsewhere.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", min(4, multiprocessing.cpu_count() + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 8))
# Longer than the slowest upstream call (30 s AI timeout plus one retry).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 75))
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Warm each worker before it takes requests (crm.services.warmup): the first proposal after a restart
    costs what any other does. A failed warm-up is logged and the worker serves anyway (it only warms)."""
    from django.db import connections

    from crm.services.warmup import warm_up

    try:
        warm_up()
    except Exception:
        worker.log.exception("Warm-up failed; the worker starts cold")
    finally:
        connections.close_all()  # requests run on the worker's threads, each with its own connection
