"""gunicorn settings for ``tracker serve`` in a container.

The image (``Dockerfile``) copies this file to ``/etc/tracker/gunicorn.conf.py``
and points ``TRACKER_GUNICORN_CONFIG`` at it. ``tracker serve``
(``tracker/server.py``) reads it over its own defaults and under what it
decides itself: the address, ``TRACKER_WORKERS``, ``TRACKER_THREADS``, the
worker class, the log level and the hooks (Prometheus, the workers' shared
connection counts) always win, so this file
holds only the choices a container adds. It is plain gunicorn syntax, the
same as ``gunicorn -c`` reads; ``tests/service/test_deploy_files.py`` serves
with it.

Not set here, on purpose: ``max_requests``. Every worker restart leaves its
Prometheus counter files behind (they must be kept to keep the counters
monotonic), and ``/metrics`` reads all of them at each scrape.
"""

# Workers' heartbeat files in memory: on the container's overlay filesystem
# the heartbeat's fchmod can stall a worker long enough for the master to
# kill it as hung (gunicorn's FAQ, "Blocking os.fchmod").
worker_tmp_dir = "/dev/shm"

# gunicorn >= 25 opens a control socket under $HOME by default. A container is
# steered by its orchestrator, not by gunicornc, and runs with a read-only
# root filesystem (deploy/compose.yaml).
control_socket_disable = True

# Under the orchestrator's stop timeout (compose: stop_grace_period: 45s), so
# that requests in flight finish before SIGKILL.
graceful_timeout = 30

# Longer than the interval of a load balancer's idle connections (most keep
# them 60 s): gunicorn then never closes one the balancer is about to reuse.
keepalive = 75
