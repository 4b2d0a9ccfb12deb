// Conference room (templates/conferences/room.html), main module: enters the live conference
// over the page's one Socket.IO connection (window.portalSocket, from base.html), publishes
// camera + microphone, subscribes to the main stream (and, for the host, one page of participant
// tiles at a time), and shows the floor: participants, hands, mute state, chat, roll calls.
// Protocol: the README (events and payloads) and webapp/conferences/sockets.py.
// Every signalling call is an ack; an error's Chinese `message` is shown with the shared toast.
// User-provided text (names, chat) is only ever set with textContent.
//
// The modules, each wired here:
//   conference_context.js     configuration, elements, the room's state, small helpers
//   conference_signalling.js  the shared socket: acks (ask), "conf" events by type, connect/disconnect
//   conference_media.js       my camera and microphone, publishing, subscriptions (peer connections)
//   conference_floor.js       participants, hands, mute, spotlight, main stage, tiles and paging
//   conference_chat.js        the chat
//   conference_rollcall.js    the host's roll-call panel, being called (overlay)
//   conference_stage.js       the stage: course media the host plays, shared screens
//                             (conf_media {action: play|pause|resume|seek|stop, course_id, position},
//                             conf_share {action: start|stop, sdp}, conf_share_grant {user_id, allowed};
//                             the stage view comes with conf_enter's ack and every floor/sources event)
// This module: entering, reconnecting, leaving, ending.

import { RETRY_ENTER_MS, cfg, conferenceId, els, root, setStatus, state, toastError } from "./conference_context.js";
import * as signalling from "./conference_signalling.js";
import * as media from "./conference_media.js";
import * as floor from "./conference_floor.js";
import * as chat from "./conference_chat.js";
import * as rollcall from "./conference_rollcall.js";
import * as stage from "./conference_stage.js";

const ask = signalling.ask;

function enter() {
  if (state.removed || state.left) return;
  media.closeMedia();
  const gen = ++state.gen;
  setStatus("connecting", cfg.msgConnecting);
  ask("conf_enter", {}).then(function (res) {
    if (gen !== state.gen) return;
    state.entered = true;
    state.waitingToasted = false;
    setStatus("live", cfg.msgEntered);
    els.hand.disabled = false;
    chat.renderChat((res.state && res.state.chat) || []);
    if (res.courses) stage.setCourses(res.courses);
    stage.applyStage(res.stage);
    floor.applyFloor(res.state || {});
    floor.setSources(res.sources || []);
    if (res.rollcall) rollcall.onRollcall(res.rollcall);
    media.publish(gen);
  }).catch(function (err) {
    if (gen !== state.gen) return;
    if (err.error === "removed") { onRemoved(); return; }
    if (err.error === "not_live") {
      setStatus("waiting", cfg.msgWaiting);
      if (!state.waitingToasted) { toastError(err); state.waitingToasted = true; }
      setTimeout(function () { if (gen === state.gen && signalling.isConnected()) enter(); }, RETRY_ENTER_MS);
      return;
    }
    setStatus("error", err.message || cfg.msgNoAnswer);
    toastError(err);
  });
}

function lost() {
  if (state.removed || state.left) return;
  state.gen++;
  stage.stopSharing(false);
  media.closeMedia();
  setStatus("reconnecting", cfg.msgReconnecting);
}

function closeEverything() {
  state.gen++;
  stage.stopSharing(false);
  media.closeMedia();
  media.stopLocal();
  rollcall.stopCall();
  els.overlay.hidden = true;
  els.hand.disabled = true;
}

function onRemoved() {
  state.removed = true;
  closeEverything();
  setStatus("removed", cfg.msgRemoved);
  root.querySelectorAll(".room-grid").forEach(function (g) { g.hidden = true; });
}

function onEnded() {
  state.left = true;
  closeEverything();
  setStatus("ended", cfg.msgEnded);
  root.querySelectorAll(".room-grid").forEach(function (g) { g.hidden = true; });
}

function start() {
  media.onChange(floor.renderStage);
  media.onLocalStream(floor.applyMute);
  floor.install();
  chat.install();
  rollcall.install();
  stage.onChange(floor.reconcile);
  stage.install();

  if (els.end) {
    els.end.addEventListener("click", function () {
      if (!window.confirm(cfg.msgConfirmEnd)) return;
      ask("conf_end", {}).then(onEnded, toastError);
    });
  }
  els.leave.addEventListener("click", function () {
    const done = function () {
      state.left = true;
      closeEverything();
      setStatus("left", cfg.msgLeft);
      window.location.href = cfg.detailUrl;
    };
    ask("conf_leave", {}).then(done, function (err) { toastError(err); done(); });
  });
  window.addEventListener("pagehide", function () {
    if (!state.left && !state.removed && state.entered) signalling.tell("conf_leave", {});
  });

  // Server events of this conference.
  signalling.onEvent("floor", function (ev) { stage.applyStage(ev.stage); floor.applyFloor(ev.state); });
  signalling.onEvent("sources", function (ev) { stage.applyStage(ev.stage); floor.setSources(ev.sources); });
  signalling.onEvent("chat", function (ev) { chat.addChat(ev.message); });
  signalling.onEvent("muted", function (ev) { floor.setMuted(!!ev.muted); });
  signalling.onEvent("removed", onRemoved);
  signalling.onEvent("rollcall", function (ev) { rollcall.onRollcall(ev.rollcall); });
  signalling.onEvent("ended", onEnded);
  signalling.onEvent("rollcall_call", rollcall.onCall);
  signalling.onEvent("rollcall_challenge", rollcall.onChallenge);
  signalling.onEvent("rollcall_result", rollcall.onResult);
  signalling.listen();

  floor.applyMute();
  floor.renderHand();
  floor.renderStage();

  signalling.onConnection(enter, lost);
  if (signalling.isConnected()) enter();
}

if (root && signalling.socket && Number.isFinite(conferenceId)) start();
