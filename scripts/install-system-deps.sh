#!/usr/bin/env bash
# Debian packages the platform and its tests need: ffmpeg (HLS renditions), a CJK font
# (Chinese slide text); with --test also Chromium (browser tests, driven by Playwright), nginx
# (the signed-media test), wrk (the smoke run of bench.media, tests/bench) and the PostgreSQL
# server (tests/pg.py: the integration tests start a throw-away cluster of their own), Redis and
# coturn (the production-stack and TURN tests start their own), Janus (the media-room contract
# tests start their own); with --bench nginx and wrk
# (python -m bench.media); with --production what `python -m deploy.stack up` runs: PostgreSQL,
# redis-server, nginx-light, coturn and openssl (scripts/run.sh --production), and janus for
# CONFERENCE_MEDIA_BACKEND=janus.
set -euo pipefail
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need+=(fonts-noto-cjk)
# (fonts-noto-cjk above also carries the VR scenes' Chinese subtitles: vr_scenes/fonts.py)
# a TrueType CJK font for the monthly PDF report (reportlab embeds TrueType, not Noto's CFF outlines)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
# Panda3D's software renderer (p3tinydisplay: VR scene tests, gallery, bench.vr) links libX11 even offscreen
ldconfig -p | grep -q 'libX11.so.6 ' || need+=(libx11-6)
# opencv-contrib-python (mediapipe's OpenCV) links libGL and glib even when no window is shown
ldconfig -p | grep -q 'libGL.so.1 ' || need+=(libgl1)
ldconfig -p | grep -q 'libgthread-2.0.so.0 ' || need+=(libglib2.0-0)
# the VR scenes' sound: Panda3D's OpenAL plug-in (libp3openal_audio, in the wheel) links libopenal;
# spoken Chinese subtitles are rendered offline by eSpeak NG (GPL-3+; the audio it makes is not
# covered by it): vr_scenes/speech.py, docs/vr_gallery/CREDITS.md
ldconfig -p | grep -q 'libopenal.so.1 ' || need+=(libopenal1)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null || need+=(chromium)
  command -v ip >/dev/null || need+=(iproute2)   # scripts/in-netns.sh: the private test network
  command -v Xvfb >/dev/null || need+=(xvfb)        # tests/vr/test_vr_window.py: a real window on a virtual screen
  command -v xdotool >/dev/null || need+=(xdotool)  # ... driven by real key and mouse events
  # tests/vr/test_vr_look.py and bench.vr's gl pipeline: Panda3D's p3headlessgl on EGL with Mesa's llvmpipe
  ldconfig -p | grep -q 'libEGL_mesa.so.0 ' || need+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
  command -v wrk >/dev/null || need+=(wrk)          # tests/bench: the smoke run of bench.media
  # tests/pg.py: initdb + pg_ctl from /usr/lib/postgresql/<version>/bin (Debian 12: 15); no
  # server of the package's own is used
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
  # tests/integration/test_production_stack.py and test_turn_server.py start their own
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v turnserver >/dev/null || need+=(coturn)
  command -v openssl >/dev/null || need+=(openssl)
  # tests/integration/test_media_room_contract.py: a private Janus (deploy/janus_server.py)
  command -v janus >/dev/null || need+=(janus)
fi
if [ "${1:-}" = "--production" ]; then
  # deploy/stack.py runs each with a config of its own under its run folder (not Debian's services)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
  command -v turnserver >/dev/null || need+=(coturn)
  command -v openssl >/dev/null || need+=(openssl)
  # CONFERENCE_MEDIA_BACKEND=janus: conferences on a Janus VideoRoom (deploy/janus_server.py)
  command -v janus >/dev/null || need+=(janus)
fi
if [ "${1:-}" = "--bench" ]; then
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
  command -v wrk >/dev/null || need+=(wrk)
  # bench.media's production half runs deploy.stack: PostgreSQL, Redis, coturn, openssl
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v turnserver >/dev/null || need+=(coturn)
  command -v openssl >/dev/null || need+=(openssl)
fi
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
