// Conference room: media. My camera and microphone (kept across reconnects), my published
// stream, and the peer connections of the streams I watch (one per source). Which sources to
// watch is the floor's decision (conference_floor.js); this module only makes and drops them.

import { GATHER_LIMIT_MS, VIDEO, cfg, els, iceServers, root, state, toast, toastError } from "./conference_context.js";
import { ask } from "./conference_signalling.js";

// Set by main: what to redraw when streams change, and what to apply to a new local stream.
let changed = function () {};
let localReady = function () {};
export function onChange(fn) { changed = fn; }
export function onLocalStream(fn) { localReady = fn; }

export function gathered(pc, limitMs) {
  // The server takes the whole offer at once (non-trickle): wait for our candidates, bounded.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise(function (resolve) {
    const t = setTimeout(resolve, limitMs);
    pc.addEventListener("icegatheringstatechange", function () {
      if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
    });
  });
}

export function closeMedia() {
  // Peer connections die with the signalling that made them: a re-entry starts afresh.
  state.entered = false;
  if (state.publishPc) { state.publishPc.close(); state.publishPc = null; }
  delete root.dataset.published;
  state.subs.forEach(function (entry) { entry.pc.close(); });
  state.subs.clear();
  state.failed.clear();
  changed();
}

export function stopLocal() {
  if (state.local) { state.local.getTracks().forEach(function (t) { t.stop(); }); state.local = null; }
  els.self.srcObject = null;
}

// --- my camera and microphone ----------------------------------------------------------

function localMedia() {
  if (state.local) return Promise.resolve(state.local);
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return Promise.reject(new Error(cfg.msgMediaFailed));
  return md.getUserMedia({ video: VIDEO, audio: true }).catch(function () {
    return md.getUserMedia({ video: VIDEO, audio: false });   // no microphone: camera only
  }).then(function (stream) {
    if (state.removed || state.left) { stream.getTracks().forEach(function (t) { t.stop(); }); throw new Error("closed"); }
    state.local = stream;
    els.self.srcObject = stream;
    els.self.play().catch(function () {});
    localReady();
    changed();
    return stream;
  });
}

// The media server restarting (a Janus restart ends every peer connection, and answers
// "media_unavailable" while it is away): publish again by ourselves, with a growing pause.
let republishPause = 1000;

function republishLater(gen) {
  if (state.publishPc) { state.publishPc.close(); state.publishPc = null; }
  delete root.dataset.published;
  const pause = republishPause;
  republishPause = Math.min(republishPause * 2, 15000);
  setTimeout(function () { if (gen === state.gen && !state.publishPc) publish(gen); }, pause);
}

export function publish(gen) {
  localMedia().then(function (stream) {
    if (gen !== state.gen) return null;
    const pc = new RTCPeerConnection({ iceServers: iceServers });
    state.publishPc = pc;
    pc.addEventListener("connectionstatechange", function () {
      if (state.publishPc !== pc || gen !== state.gen) return;
      if (pc.connectionState === "connected") republishPause = 1000;
      else if (pc.connectionState === "failed") republishLater(gen);
    });
    stream.getTracks().forEach(function (track) { pc.addTrack(track, stream); });
    return pc.createOffer().then(function (offer) {
      return pc.setLocalDescription(offer);
    }).then(function () {
      return gathered(pc, GATHER_LIMIT_MS);
    }).then(function () {
      if (state.publishPc !== pc) return null;
      return ask("conf_publish", { sdp: pc.localDescription.sdp, type: "offer" });
    }).then(function (answer) {
      if (!answer || state.publishPc !== pc) return null;
      return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp }).then(function () {
        root.dataset.published = "1";
      });
    });
  }).catch(function (err) {
    if (gen !== state.gen || (err && err.message === "closed")) return;
    if (err && err.error === "media_unavailable") { if (republishPause === 1000) toastError(err); republishLater(gen); return; }
    root.dataset.published = "error";
    if (err && err.error) toastError(err); else toast(cfg.msgMediaFailed);
  });
}

// --- the streams I watch ------------------------------------------------------------------

// The server offers (MediaRoom.subscribe_offer: every media backend has it, and Janus only has
// that): conf_subscribe_offer gives the room's offer (video, and audio when the source has it),
// the page answers receive-only with its candidates gathered, conf_subscribe_answer.
export function subscribe(source, gen) {
  const id = source.source_id;
  const pc = new RTCPeerConnection({ iceServers: iceServers });
  const entry = { pc: pc, stream: null, source: source };
  state.subs.set(id, entry);
  pc.addEventListener("track", function (ev) {
    const tracks = entry.stream ? entry.stream.getTracks() : [];
    entry.stream = new MediaStream(tracks.concat([ev.track]));
    changed();
  });
  return ask("conf_subscribe_offer", { source_id: id, audio: true }).then(function (offer) {
    if (state.subs.get(id) !== entry) return null;
    return pc.setRemoteDescription({ type: "offer", sdp: offer.sdp }).then(function () {
      pc.getTransceivers().forEach(function (t) { t.direction = "recvonly"; });
      return pc.createAnswer();
    }).then(function (answer) {
      return pc.setLocalDescription(answer);
    }).then(function () {
      return gathered(pc, GATHER_LIMIT_MS);
    }).then(function () {
      if (state.subs.get(id) !== entry) {   // dropped meanwhile (a reconnect): nothing to keep
        pc.close();
        return null;
      }
      return ask("conf_subscribe_answer", { source_id: id, sdp: pc.localDescription.sdp, type: "answer" });
    });
  }).catch(function (err) {
    pc.close();
    if (state.subs.get(id) === entry) { state.subs.delete(id); state.failed.add(id); }
    if (gen === state.gen) toastError(err);
  });
}

export function unsubscribe(id) {
  const entry = state.subs.get(id);
  if (!entry) return;
  state.subs.delete(id);
  entry.pc.close();
  if (!state.entered) return;
  ask("conf_unsubscribe", { source_id: id }).catch(function (err) {
    if (err.error !== "unknown_source" && err.error !== "not_found") toastError(err);
  });
}
