// Conference room: what every module of the room shares (the page's configuration from
// #room's data attributes, its elements, the room's mutable state) and small helpers.
// No side effects: conference.js (main) wires the modules together once the page is there.

export const root = document.getElementById("room");
export const cfg = root ? root.dataset : {};
export const conferenceId = parseInt(cfg.conferenceId, 10);
export const me = parseInt(cfg.me, 10);
export const isHost = cfg.host === "1";
export const iceServers = (function () {
  try { return JSON.parse(cfg.iceServers || "[]"); } catch (e) { return []; }
})();

export const PAGE_SIZE = 9;          // tiles per page: the host never subscribes to more at once
export const ANSWER_TIMEOUT_MS = 20000;
export const GATHER_LIMIT_MS = 3000;
export const RETRY_ENTER_MS = 10000; // while the host has not opened the conference yet
// Modest capture, as the study camera: enough for the roll call's face checks, cheap to relay.
export const VIDEO = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 6, max: 10 } };

function $(id) { return document.getElementById(id); }
export const els = {
  status: $("room-status"), main: $("main-video"), mainLabel: $("main-label"), sound: $("sound-on"),
  self: $("self-video"), mic: $("mic-state"), hand: $("hand-btn"), leave: $("leave-btn"), end: $("end-btn"),
  tiles: $("tiles"), prev: $("tiles-prev"), next: $("tiles-next"), pageLabel: $("tiles-page"),
  participants: $("participants"), count: $("participant-count"),
  chatLog: $("chat-log"), chatForm: $("chat-form"), chatText: $("chat-text"),
  rcState: $("rollcall-state"), rcCalling: $("rollcall-calling"), rcCounts: $("rollcall-counts"),
  rcRecords: $("rollcall-records"), rcTable: $("rollcall-table"), rcAll: $("rollcall-start-all"),
  rcChecked: $("rollcall-start-checked"), rcEnd: $("rollcall-end"),
  overlay: $("call-overlay"), callText: $("call-text"), callAction: $("call-action"),
  callCountdown: $("call-countdown"), callOutcome: $("call-outcome"),
};

export const state = {
  gen: 0,               // one per (re)entry: late answers of an earlier one are dropped
  entered: false, removed: false, left: false, waitingToasted: false,
  floor: null, sources: [], page: 0,
  local: null,          // the local MediaStream, kept across reconnects
  publishPc: null,
  subs: new Map(),      // source_id -> {pc, stream, source}
  failed: new Set(),    // sources whose subscription failed: not retried until the sources change
  hand: false, muted: false,
  rollcall: null, rollcallAt: 0, picked: new Set(),
  call: null,           // the running countdown of my own roll call
  stage: null,          // what is on the stage (the server's stage view; conference_stage.js)
  sharePc: null, screen: null,   // my shared screen's peer connection and stream
};

const toastRoot = document.getElementById("notices");

export function fmt(template, values) {
  return String(template || "").replace(/\{(\w+)\}/g, function (m, key) {
    return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : m;
  });
}

export function toast(text) {
  if (!text) return;
  if (window.portalToast && toastRoot) {
    window.portalToast(toastRoot, String(text), null, toastRoot.dataset.open, toastRoot.dataset.close);
  }
}

export function toastError(err) { toast((err && err.message) || cfg.msgNoAnswer); }

export function label(prefix, code) {
  // data-msg-outcome-present_verified -> dataset.msgOutcomePresent_verified
  const key = prefix + String(code).charAt(0).toUpperCase() + String(code).slice(1);
  return cfg[key] || String(code || "");
}

export function setStatus(name, text) {
  root.dataset.state = name;
  els.status.textContent = text;
}

export function sameSite(url) {
  return typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/";
}
