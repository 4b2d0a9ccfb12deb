"""Flask extensions, created unbound and initialised in create_app."""
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
# threading mode: aiortc needs a real asyncio loop, so no eventlet/gevent monkey-patching.
socketio = SocketIO(async_mode="threading")
