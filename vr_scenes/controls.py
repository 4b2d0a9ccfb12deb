"""Learner input devices turned into :class:`vr_scenes.core.Inputs`: keyboard and mouse-look on the
desktop, and the head pose of an HMD through OpenXR (panda3d-openxr) where a runtime exists.

Keys: W/S or Up/Down walk (or throttle/brake), A/D or Left/Right strafe (or steer), the mouse looks
around (or Q/Z, and the arrow keys with Shift), E or Space is the action, 1 and 2 are choices.
"""
from __future__ import annotations

from .core import Inputs

OPENXR_PACKAGE = "panda3d-openxr==0.1.2"


class DesktopControls:
    def __init__(self, base, sensitivity: float = 0.12, mouse: bool = True):
        from panda3d.core import WindowProperties

        self.b = base
        self.sensitivity = sensitivity
        self.mouse = mouse and base.win is not None and not base.win.is_of_type(_offscreen_type())
        self.yaw = 0.0
        self.pitch = 0.0
        self._was_down: dict[str, bool] = {}
        # presses are latched from key events as well: a tap shorter than a frame is not lost
        self._latched: set[str] = set()
        for key, name in (("e", "action"), ("space", "action"), ("1", "1"), ("2", "2")):
            base.accept(key, self._latched.add, [name])
        if self.mouse:
            props = WindowProperties()
            props.set_cursor_hidden(True)
            props.set_mouse_mode(WindowProperties.M_relative)
            base.win.request_properties(props)
            self._center()

    def _center(self) -> None:
        win = self.b.win
        win.move_pointer(0, win.get_x_size() // 2, win.get_y_size() // 2)

    def _down(self, *names: str) -> bool:
        from panda3d.core import KeyboardButton

        watcher = getattr(self.b, "mouseWatcherNode", None)
        if watcher is None:
            return False
        for name in names:
            # single characters are ASCII keys; "up", "down", "left", "right", "space" are named keys
            button = KeyboardButton.ascii_key(name) if len(name) == 1 else getattr(KeyboardButton, name)()
            if watcher.is_button_down(button):
                return True
        return False

    def _pressed(self, name: str, *keys: str) -> bool:
        down = self._down(*keys)
        was = self._was_down.get(name, False)
        self._was_down[name] = down
        latched = name in self._latched
        self._latched.discard(name)
        return (down and not was) or (latched and not (down and was))

    def read(self, dt: float) -> Inputs:
        if self.mouse:
            pointer = self.b.win.get_pointer(0)
            cx, cy = self.b.win.get_x_size() // 2, self.b.win.get_y_size() // 2
            self.yaw -= (pointer.get_x() - cx) * self.sensitivity
            self.pitch -= (pointer.get_y() - cy) * self.sensitivity
            self._center()
        turn = 90.0 * dt
        if self._down("q"):
            self.yaw += turn
        if self._down("z"):
            self.yaw -= turn
        self.yaw = max(-170.0, min(170.0, self.yaw))
        self.pitch = max(-80.0, min(80.0, self.pitch))
        forward = 1.0 if self._down("w", "up") else 0.0
        back = 1.0 if self._down("s", "down") else 0.0
        right = 1.0 if self._down("d", "right") else 0.0
        left = 1.0 if self._down("a", "left") else 0.0
        choice = 1 if self._pressed("1", "1") else (2 if self._pressed("2", "2") else None)
        return Inputs(move=forward - back, strafe=right - left, yaw=self.yaw, pitch=self.pitch,
                      steer=right - left, throttle=forward, brake=back,
                      action=self._pressed("action", "e", "space"), choice=choice)


def _offscreen_type():
    from panda3d.core import GraphicsBuffer

    return GraphicsBuffer.get_class_type()


class OpenXRUnavailable(RuntimeError):
    """OpenXR cannot drive the head here; ``reason`` says why in one English sentence and ``kind`` is
    ``"no-package"`` (panda3d-openxr not installed), ``"no-runtime"`` (the OpenXR loader finds no
    runtime: no active_runtime.json, no XR_RUNTIME_JSON), ``"no-gl"`` (the window is not OpenGL) or
    ``"failed"`` (the runtime refused: no HMD connected, a session error)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _import_openxr():
    """Imports pyopenxr and panda3d-openxr without their side effects on this process: the OpenXR
    loader's own stderr chatter (unless XR_LOADER_DEBUG is set) and p3dopenxr's
    ``logging.basicConfig(level=DEBUG)`` on the root logger at import."""
    import logging
    import os

    os.environ.setdefault("XR_LOADER_DEBUG", "none")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import xr
        from p3dopenxr.p3dopenxr import P3DOpenXR
    except ImportError as exc:
        raise OpenXRUnavailable("no-package", f"{OPENXR_PACKAGE} is not installed ({exc})") from exc
    except OSError as exc:  # the bundled libopenxr_loader.so does not load
        raise OpenXRUnavailable("no-runtime", f"the OpenXR loader does not load ({exc})") from exc
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    return xr, P3DOpenXR


class OpenXRHead:
    """Head tracking and the HMD's own stereo rendering through panda3d-openxr (pinned in
    requirements.txt; it needs an OpenXR runtime such as Monado or SteamVR and an OpenGL window).
    The learner's body position still comes from the scene; the HMD adds the head's rotation.
    Raises :class:`OpenXRUnavailable` when any of that is missing, before touching the scene."""

    def __init__(self, viewer):
        xr, P3DOpenXR = _import_openxr()
        # ask the loader for a runtime first: cheap, no instance, and the usual failure on a desktop
        try:
            xr.enumerate_instance_extension_properties()
        except xr.exception.RuntimeUnavailableError as exc:
            raise OpenXRUnavailable(
                "no-runtime", "no OpenXR runtime found (the OpenXR loader finds no active runtime "
                "manifest and XR_RUNTIME_JSON is unset or invalid; install and start Monado or "
                "SteamVR)") from exc
        except xr.exception.XrException as exc:
            raise OpenXRUnavailable("no-runtime", "the OpenXR runtime does not answer "
                                    f"({type(exc).__name__}: {exc})") from exc
        win = viewer.b.win
        if win is None or win.get_pipe().get_interface_name() != "OpenGL":
            raise OpenXRUnavailable("no-gl", "OpenXR needs an OpenGL window (not --offscreen or the "
                                    "software renderer)")
        self.viewer = viewer
        self.xr = P3DOpenXR()
        try:
            # the tracking space hangs under the scene's root (P3DOpenXR.tracking_space is the OpenXR
            # space object; its node is tracking_space_anchor)
            self.xr.init(root=viewer.root)
        except (xr.exception.XrException, OSError, RuntimeError, AttributeError) as exc:
            import atexit

            atexit.unregister(self.xr.destroy)
            try:
                self.xr.destroy()
            except xr.exception.XrException:
                pass
            raise OpenXRUnavailable("failed", f"the OpenXR runtime could not start a session: "
                                    f"{type(exc).__name__}: {exc}") from exc
        # the HMD's tracking space follows the learner's body; our own eye regions are not needed
        for eye in viewer.eyes:
            eye.region.set_active(False)

    def apply(self, inputs: Inputs) -> Inputs:
        body = self.viewer.scene.body
        anchor = self.xr.tracking_space_anchor
        anchor.set_pos(body.x, body.y, 0)
        anchor.set_h(body.heading)
        hpr = self.xr.hmd_anchor.get_hpr(anchor)
        inputs.yaw, inputs.pitch = hpr[0], hpr[1]
        return inputs
