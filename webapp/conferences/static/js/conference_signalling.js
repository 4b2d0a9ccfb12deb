// Conference room: signalling over the page's one Socket.IO connection (window.portalSocket,
// created by base.html's portal_socket.js). Every call is an ack ({"ok": true, ...} or
// {"error": code, "message": text}); server events arrive as "conf" and are dispatched by type.

import { ANSWER_TIMEOUT_MS, cfg, conferenceId, state } from "./conference_context.js";

export const socket = window.portalSocket || null;

// A call of the conference protocol: resolves with the ack, rejects with an Error whose
// message is the server's (or "no answer") and which carries the ack's fields (error, ...).
export function ask(event, payload) {
  const body = Object.assign({ conference_id: conferenceId }, payload || {});
  return new Promise(function (resolve, reject) {
    socket.timeout(ANSWER_TIMEOUT_MS).emit(event, body, function (err, res) {
      if (err) { reject(Object.assign(new Error(cfg.msgNoAnswer), { error: "timeout" })); return; }
      if (!res || res.error || !res.ok) {
        reject(Object.assign(new Error((res && res.message) || cfg.msgNoAnswer), res || {}));
        return;
      }
      resolve(res);
    });
  });
}

// Fire and forget (e.g. leaving while the page goes away: no ack can arrive).
export function tell(event, payload) {
  socket.emit(event, Object.assign({ conference_id: conferenceId }, payload || {}));
}

// Server events of this conference ("conf" with a `type`): handlers by type. Events of other
// conferences, and any after I was removed or left, are dropped.
const handlers = new Map();

export function onEvent(type, handler) { handlers.set(type, handler); }

export function listen() {
  socket.on("conf", function (ev) {
    if (!ev || Number(ev.conference_id) !== conferenceId || state.removed || state.left) return;
    const handler = handlers.get(ev.type);
    if (handler) handler(ev);
  });
}

// The connection's own life: (re)connected, lost.
export function onConnection(connected, lost) {
  socket.on("connect", connected);
  socket.on("disconnect", lost);
}

export function isConnected() { return !!socket && socket.connected; }
