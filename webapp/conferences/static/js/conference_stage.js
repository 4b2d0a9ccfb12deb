// Conference room: the stage (issue 16). The host plays a course into the conference (picker,
// play / pause / resume / seek slider / stop) and allows participants to share a screen; the
// host, or a participant while allowed, shares a screen or a window (getDisplayMedia), sent as
// a second stream of theirs (conf_share). What is on the stage comes from the server with every
// "floor" and "sources" event and the entry ack (`stage`: kind media|share|none, title, playing,
// position at the server's `at`, duration, sharer, grants); conference_floor.js shows its source
// ("media" or "screen") as the main video, with sound, at every level. Pause and seek act on the
// server's playback, so every viewer sees them.

import { GATHER_LIMIT_MS, cfg, fmt, iceServers, isHost, me, root, state, toastError } from "./conference_context.js";
import { ask } from "./conference_signalling.js";
import { gathered } from "./conference_media.js";

function $(id) { return document.getElementById(id); }
const ui = {
  panel: $("stage-panel"), info: $("stage-info"), course: $("stage-course"), play: $("stage-play"),
  pause: $("stage-pause"), resume: $("stage-resume"), stop: $("stage-stop"), seek: $("stage-seek"),
  time: $("stage-time"), share: $("share-btn"), shareStop: $("share-stop"),
};

let changed = function () {};       // set by main: redraw the main stream (floor.reconcile)
export function onChange(fn) { changed = fn; }

let receivedAt = 0;                 // performance.now() when the stage arrived
let dragging = false;

function clock(s) {
  const t = Math.max(0, Math.floor(Number(s) || 0));
  const m = Math.floor(t / 60), sec = t % 60;
  return m + ":" + (sec < 10 ? "0" : "") + sec;
}

// The position now, from the server's position at its `at` (it runs while playing).
export function positionNow() {
  const st = state.stage || {};
  if (st.kind !== "media") return 0;
  let pos = Number(st.position) || 0;
  if (st.playing) pos += (performance.now() - receivedAt) / 1000;
  return Math.min(pos, Number(st.duration) || pos);
}

export function applyStage(stage) {
  if (!stage || typeof stage !== "object") return;
  const before = state.stage || {};
  state.stage = stage;
  receivedAt = performance.now();
  if (state.sharePc && !(stage.kind === "share" && stage.user_id === me)) stopSharing(false);   // revoked, replaced
  render();
  if (before.kind !== stage.kind || before.source_id !== stage.source_id || before.user_id !== stage.user_id) changed();
}

export function setCourses(courses) {
  if (!ui.course || !Array.isArray(courses)) return;
  const chosen = ui.course.value;
  ui.course.textContent = "";
  courses.forEach(function (c) {
    const option = document.createElement("option");
    option.value = String(c.id);
    option.textContent = String(c.title || "");
    ui.course.appendChild(option);
  });
  if (chosen) ui.course.value = chosen;
  ui.play.disabled = !courses.length;
  if (!courses.length) ui.info.textContent = cfg.msgNoCourses;
}

function render() {
  const st = state.stage || { kind: "none", grants: [] };
  root.dataset.stage = st.kind || "none";
  root.dataset.stagePlaying = st.playing ? "1" : "0";
  const allowed = isHost || (st.grants || []).indexOf(me) >= 0;
  const mine = st.kind === "share" && st.user_id === me;
  if (ui.share) {
    ui.share.hidden = !allowed || mine;
    ui.shareStop.hidden = !(mine || (isHost && st.kind === "share"));
  }
  if (st.kind === "media") {
    ui.info.textContent = fmt(st.playing ? cfg.msgStagePlaying : cfg.msgStagePaused, { title: st.title || "" });
  } else if (st.kind === "share") {
    ui.info.textContent = fmt(cfg.msgStageSharing, { name: mine ? cfg.msgBadgeMe : (st.name || "") });
  } else {
    ui.info.textContent = cfg.msgStageNone;
  }
  if (isHost && ui.seek) {
    const media = st.kind === "media";
    ui.pause.disabled = !media || !st.playing;
    ui.resume.disabled = !media || !!st.playing;
    ui.stop.disabled = !media;
    ui.seek.disabled = !media;
    ui.seek.max = media ? String(Math.floor(Number(st.duration) || 0)) : "0";
  }
  tick();
}

function tick() {
  const st = state.stage || {};
  const media = st.kind === "media";
  const pos = positionNow();
  root.dataset.stagePosition = media ? pos.toFixed(1) : "";
  if (ui.time) ui.time.textContent = media ? clock(pos) + " / " + clock(st.duration) : "";
  if (isHost && ui.seek && media && !dragging) ui.seek.value = String(Math.floor(pos));
}

function media(action, extra) {
  return ask("conf_media", Object.assign({ action: action }, extra || {})).then(function (res) {
    applyStage(res.stage);
  }, toastError);
}

// --- sharing a screen ---------------------------------------------------------------------

export function stopSharing(tellServer) {
  const pc = state.sharePc, stream = state.screen;
  if (!pc && !stream && !tellServer) return;
  state.sharePc = null;
  state.screen = null;
  delete root.dataset.sharing;
  const close = function () {
    if (pc) pc.close();
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
  };
  if (tellServer) {
    // Tell the server first: a closed connection alone also ends the share there, and the
    // request would then find nothing to stop.
    ask("conf_share", { action: "stop" }).then(function (res) { applyStage(res.stage); }, function (err) {
      if (err.error !== "not_sharing") toastError(err);
    }).then(close);
  } else {
    close();
  }
  render();
  changed();
}

function share() {
  const md = navigator.mediaDevices;
  if (!md || !md.getDisplayMedia) { toastError({ message: cfg.msgShareUnsupported }); return; }
  ui.share.disabled = true;
  md.getDisplayMedia({ video: { frameRate: { ideal: 10, max: 15 } }, audio: false }).then(function (stream) {
    if (state.sharePc) stopSharing(false);
    const pc = new RTCPeerConnection({ iceServers: iceServers });
    state.sharePc = pc;
    state.screen = stream;
    stream.getTracks().forEach(function (track) {
      pc.addTrack(track, stream);
      // the browser's own "stop sharing" bar
      track.addEventListener("ended", function () { if (state.sharePc === pc) stopSharing(true); });
    });
    return pc.createOffer().then(function (offer) {
      return pc.setLocalDescription(offer);
    }).then(function () {
      return gathered(pc, GATHER_LIMIT_MS);
    }).then(function () {
      return ask("conf_share", { action: "start", sdp: pc.localDescription.sdp, type: "offer" });
    }).then(function (answer) {
      if (state.sharePc !== pc) return null;
      return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp }).then(function () {
        root.dataset.sharing = "1";
        changed();
      });
    }).catch(function (err) {
      if (state.sharePc === pc) stopSharing(false);
      throw err;
    });
  }).catch(function (err) {
    if (err && err.name === "NotAllowedError") return;   // the person cancelled the picker
    toastError(err && err.error ? err : { message: cfg.msgShareFailed });
  }).then(function () { ui.share.disabled = false; });
}

// --- wiring ---------------------------------------------------------------------------------

export function install() {
  if (!ui.panel) return;
  if (ui.share) {
    ui.share.addEventListener("click", share);
    ui.shareStop.addEventListener("click", function () {
      if (state.sharePc) stopSharing(true);
      else ask("conf_share", { action: "stop" }).then(function (res) { applyStage(res.stage); }, toastError);
    });
  }
  if (isHost && ui.play) {
    ui.play.addEventListener("click", function () {
      const id = parseInt(ui.course.value, 10);
      if (!Number.isFinite(id)) return;
      ui.play.disabled = true;
      media("play", { course_id: id }).then(function () { ui.play.disabled = false; });
    });
    ui.pause.addEventListener("click", function () { media("pause"); });
    ui.resume.addEventListener("click", function () { media("resume"); });
    ui.stop.addEventListener("click", function () { media("stop"); });
    ui.seek.addEventListener("input", function () { dragging = true; ui.time.textContent = clock(ui.seek.value); });
    ui.seek.addEventListener("change", function () {
      dragging = false;
      media("seek", { position: Number(ui.seek.value) });
    });
  }
  // The host's grant buttons live in the participants list (conference_floor.js draws them).
  const list = $("participants");
  if (isHost && list) {
    list.addEventListener("click", function (ev) {
      const button = ev.target.closest ? ev.target.closest("button[data-action^='share_']") : null;
      if (!button) return;
      button.disabled = true;
      ask("conf_share_grant", { user_id: parseInt(button.dataset.userId, 10),
                                allowed: button.dataset.action === "share_grant" }).then(function (res) {
        applyStage(res.stage);
      }, toastError).then(function () { button.disabled = false; });
    });
  }
  setInterval(tick, 500);
  render();
}
