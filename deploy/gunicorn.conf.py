"""gunicorn settings of one production web process:

    PORTAL_BIND=127.0.0.1:5101 gunicorn -c deploy/gunicorn.conf.py webapp.wsgi:app

One worker with many threads (Flask-SocketIO in threading mode with simple-websocket: gunicorn
cannot spread one Socket.IO app over several workers), so a node runs several of these on
different ports behind nginx (deploy/nginx.conf.template), one per core or so. Each open
websocket holds one thread for as long as it is open: PORTAL_THREADS bounds the learners one
process serves at once (README "Production mode").

Environment: PORTAL_BIND (host:port, default 127.0.0.1:5101), PORTAL_THREADS (default 100),
PORTAL_GRACEFUL_TIMEOUT_S (default 20), PORTAL_CONTROL_SOCKET (gunicorn's control socket; unset:
none, so several processes on one machine do not share the default path).
"""
import os

bind = [os.environ.get("PORTAL_BIND", "127.0.0.1:5101")]
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("PORTAL_THREADS", 100))
# A stop (SIGTERM) lets requests in flight finish for this long; websockets are then closed and
# the browsers reconnect through nginx to another web process.
graceful_timeout = int(os.environ.get("PORTAL_GRACEFUL_TIMEOUT_S", 20))
# The worker's heartbeat to the master (gthread: its main loop, not a request thread; an open
# websocket does not count against it)
timeout = 60
keepalive = 75            # nginx keeps its upstream connections open (keepalive 32 in the template)
accesslog = None          # nginx in front logs what is needed; the portal keeps its own audit trail
errorlog = "-"
loglevel = os.environ.get("PORTAL_LOG_LEVEL", "info")
proc_name = "portal-web-" + bind[0].rsplit(":", 1)[-1]
preload_app = False
if os.environ.get("PORTAL_CONTROL_SOCKET"):
    control_socket = os.environ["PORTAL_CONTROL_SOCKET"]
else:
    control_socket_disable = True
