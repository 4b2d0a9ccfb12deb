// Conference room: the floor. Who is there (participants, hands, mute state), who is on the
// main stage (spotlight, else the host), the host's page of participant tiles, and the host's
// commands. It decides which sources to watch (reconcile) and draws the stage.

import { PAGE_SIZE, cfg, els, fmt, isHost, me, root, state, toastError } from "./conference_context.js";
import { ask } from "./conference_signalling.js";
import { subscribe, unsubscribe } from "./conference_media.js";

// --- which sources: the main stream and the host's page of tiles -------------------------

function mainSource() {
  const floor = state.floor || {};
  const stage = state.stage || {};
  let src = null;
  // The stage's stream (course media, a shared screen) is the main stream while it is there.
  if (stage.kind === "share" && stage.user_id === me) return null;   // my own screen: shown locally
  if (stage.kind === "media" || stage.kind === "share") {
    src = state.sources.find(function (s) { return s.source_id === stage.source_id; }) || null;
    if (src) return src;
  }
  if (floor.spotlight != null) {
    if (floor.spotlight === me) return null;
    src = state.sources.find(function (s) { return s.user_id === floor.spotlight; }) ||
          state.sources.find(function (s) { return s.kind === "speaker"; }) || null;
  }
  if (!src && !isHost) {
    src = state.sources.find(function (s) { return s.source_id === "host"; }) ||
          state.sources.find(function (s) { return s.user_id != null && s.user_id === floor.host_id; }) ||
          state.sources.find(function (s) { return s.kind === "host"; }) || null;
  }
  if (src && src.user_id === me) return null;
  return src;
}

function tileSources(main) {
  return state.sources.filter(function (s) {
    return s.user_id !== me && s.source_id !== "host" && s.kind !== "host" &&
      s.kind !== "media" && s.kind !== "screen" &&
      !(main && s.source_id === main.source_id);
  });
}

function pageCount(all) { return Math.max(1, Math.ceil(all.length / PAGE_SIZE)); }

function wanted() {
  const main = mainSource();
  const list = main ? [main] : [];
  let tiles = [];
  if (isHost) {
    const all = tileSources(main);
    state.page = Math.min(Math.max(0, state.page), pageCount(all) - 1);
    tiles = all.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    list.push.apply(list, tiles);
  }
  return { main: main, tiles: tiles, all: list };
}

let chain = Promise.resolve();
export function reconcile() {
  chain = chain.then(doReconcile).catch(function () {});
  return chain;
}

function doReconcile() {
  if (!state.entered) { renderStage(); return null; }
  const gen = state.gen;
  const want = wanted();
  const ids = new Set(want.all.map(function (s) { return s.source_id; }));
  Array.from(state.subs.keys()).forEach(function (id) { if (!ids.has(id)) unsubscribe(id); });
  renderStage();
  const adds = want.all.filter(function (s) { return !state.subs.has(s.source_id) && !state.failed.has(s.source_id); });
  return Promise.all(adds.map(function (s) { return subscribe(s, gen); })).then(renderStage);
}

export function setSources(sources) {
  state.sources = Array.isArray(sources) ? sources : [];
  state.failed.clear();
  reconcile();
}

// --- stage rendering ---------------------------------------------------------------------

const tileEls = new Map();   // source_id -> {box, video}

function playSafely(video) {
  const p = video.play();
  if (p && p.catch) {
    p.catch(function () {
      // Autoplay with sound refused: play muted and offer the sound button.
      if (!video.muted) { video.muted = true; video.play().catch(function () {}); els.sound.hidden = false; }
    });
  }
}

function attach(video, stream) {
  if (video.srcObject !== stream) {
    video.srcObject = stream;
    if (stream) playSafely(video);
  }
}

export function renderStage() {
  const want = state.entered ? wanted() : { main: null, tiles: [], all: [] };
  const main = want.main;
  const entry = main ? state.subs.get(main.source_id) : null;
  if (main) {
    els.main.muted = els.sound.hidden ? false : els.main.muted;
    attach(els.main, entry && entry.stream);
    els.mainLabel.textContent = main.name || "";
  } else if (state.screen) {
    els.main.muted = true;    // my own shared screen
    attach(els.main, state.screen);
    els.mainLabel.textContent = "";
  } else if (state.local && (isHost || (state.floor && state.floor.spotlight === me))) {
    els.main.muted = true;    // myself on the main stage: never play my own microphone
    attach(els.main, state.local);
    els.mainLabel.textContent = "";
  } else {
    attach(els.main, null);
    els.mainLabel.textContent = state.entered ? cfg.msgNoMain : "";
  }
  root.dataset.main = main ? String(main.source_id) : "";
  root.dataset.subscribed = Array.from(state.subs.keys()).join(",");
  if (isHost) renderTiles(want);
}

function renderTiles(want) {
  const keep = new Set(want.tiles.map(function (s) { return s.source_id; }));
  tileEls.forEach(function (t, id) {
    if (!keep.has(id)) { t.video.srcObject = null; t.box.remove(); tileEls.delete(id); }
  });
  want.tiles.forEach(function (s) {
    let t = tileEls.get(s.source_id);
    if (!t) {
      const box = document.createElement("div");
      box.className = "tile";
      box.dataset.sourceId = String(s.source_id);
      if (s.user_id != null) box.dataset.userId = String(s.user_id);
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      const name = document.createElement("p");
      name.className = "tile-name";
      box.appendChild(video);
      box.appendChild(name);
      t = { box: box, video: video, name: name };
      tileEls.set(s.source_id, t);
    }
    t.name.textContent = s.name || "";
    els.tiles.appendChild(t.box);   // appending again keeps the page's order
    const entry = state.subs.get(s.source_id);
    attach(t.video, entry ? entry.stream : null);
  });
  let empty = els.tiles.querySelector(".tiles-empty");
  if (!want.tiles.length) {
    if (!empty) {
      empty = document.createElement("p");
      empty.className = "hint tiles-empty";
      empty.textContent = cfg.msgNoTiles;
      els.tiles.appendChild(empty);
    }
  } else if (empty) {
    empty.remove();
  }
  const pages = pageCount(tileSources(want.main));
  els.pageLabel.textContent = fmt(cfg.msgPage, { page: state.page + 1, pages: pages });
  els.prev.disabled = state.page <= 0;
  els.next.disabled = state.page >= pages - 1;
}

// --- my microphone: muted by myself or by the host ----------------------------------------

export function applyMute() {
  const tracks = state.local ? state.local.getAudioTracks() : [];
  tracks.forEach(function (t) { t.enabled = !state.muted; });
  root.dataset.muted = state.muted ? "1" : "0";
  els.mic.dataset.muted = state.muted ? "1" : "0";
  if (state.muted) els.mic.textContent = cfg.msgMicMuted;
  else els.mic.textContent = (state.local && !tracks.length) ? cfg.msgMicNone : cfg.msgMicOn;
}

export function setMuted(muted) {
  if (state.muted === muted) return;
  state.muted = muted;
  applyMute();
}

// --- participants, hands, spotlight ----------------------------------------------------------

export function applyFloor(floor) {
  const before = state.floor || {};
  state.floor = floor || {};
  const people = state.floor.participants || [];
  const mine = people.find(function (p) { return p.user_id === me; });
  if (mine) {
    state.hand = !!mine.hand;
    setMuted(!!mine.muted);
  }
  renderHand();
  renderParticipants(people);
  if (before.spotlight !== state.floor.spotlight || before.host_id !== state.floor.host_id) reconcile();
}

export function renderHand() {
  els.hand.textContent = state.hand ? cfg.msgLower : cfg.msgRaise;
  els.hand.dataset.raised = state.hand ? "1" : "0";
}

function tag(text, cls) {
  const span = document.createElement("span");
  span.className = "tag " + cls;
  span.textContent = text;
  return span;
}

function actionButton(action, text, userId, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.action = action;
  b.dataset.userId = String(userId);
  if (cls) b.className = cls;
  b.textContent = text;
  return b;
}

function renderParticipants(people) {
  const spotlight = state.floor ? state.floor.spotlight : null;
  const present = new Set(people.map(function (p) { return p.user_id; }));
  state.picked.forEach(function (id) { if (!present.has(id)) state.picked.delete(id); });
  els.participants.textContent = "";
  people.forEach(function (p) {
    const li = document.createElement("li");
    li.dataset.userId = String(p.user_id);
    li.dataset.hand = p.hand ? "1" : "0";
    li.dataset.muted = p.muted ? "1" : "0";
    li.dataset.publishing = p.publishing ? "1" : "0";
    const mine = p.user_id === me;
    if (isHost && !mine) {
      const pick = document.createElement("input");
      pick.type = "checkbox";
      pick.className = "rc-pick";
      pick.value = String(p.user_id);
      pick.checked = state.picked.has(p.user_id);
      pick.setAttribute("aria-label", String(p.name || ""));
      li.appendChild(pick);
    }
    const name = document.createElement("span");
    name.className = "p-name";
    name.textContent = String(p.name || "") + (mine ? " " + cfg.msgBadgeMe : "");
    li.appendChild(name);
    if (p.unit) {
      const unit = document.createElement("span");
      unit.className = "p-unit";
      unit.textContent = String(p.unit);
      li.appendChild(unit);
    }
    if (p.host) li.appendChild(tag(cfg.msgBadgeHost, "host"));
    if (spotlight != null && spotlight === p.user_id) li.appendChild(tag(cfg.msgBadgeSpeaker, "speaker"));
    if (p.hand) li.appendChild(tag(cfg.msgBadgeHand, "hand"));
    if (p.muted) li.appendChild(tag(cfg.msgBadgeMuted, "muted"));
    if (isHost && !mine) {
      const actions = document.createElement("span");
      actions.className = "p-actions";
      actions.appendChild(p.muted ? actionButton("unmute", cfg.msgUnmute, p.user_id)
                                  : actionButton("mute", cfg.msgMute, p.user_id));
      actions.appendChild(spotlight === p.user_id ? actionButton("unspotlight", cfg.msgUnspotlight, p.user_id)
                                                  : actionButton("spotlight", cfg.msgSpotlight, p.user_id));
      if (p.hand) actions.appendChild(actionButton("lower_hand", cfg.msgLower, p.user_id));
      const grants = (state.stage && state.stage.grants) || [];
      actions.appendChild(grants.indexOf(p.user_id) >= 0
        ? actionButton("share_revoke", cfg.msgShareRevoke, p.user_id)
        : actionButton("share_grant", cfg.msgShareGrant, p.user_id));
      actions.appendChild(actionButton("remove", cfg.msgRemove, p.user_id, "danger"));
      li.appendChild(actions);
    }
    els.participants.appendChild(li);
  });
  els.count.textContent = String(people.length);
}

// --- the page's controls -------------------------------------------------------------------

export function install() {
  els.sound.addEventListener("click", function () {
    els.sound.hidden = true;
    [els.main].concat(Array.from(tileEls.values()).map(function (t) { return t.video; })).forEach(function (v) {
      if (v.srcObject && v.srcObject !== state.local) { v.muted = false; v.play().catch(function () {}); }
    });
  });

  if (isHost) {
    els.prev.addEventListener("click", function () { state.page -= 1; reconcile(); });
    els.next.addEventListener("click", function () { state.page += 1; reconcile(); });
  }

  els.participants.addEventListener("change", function (ev) {
    const box = ev.target;
    if (!box.classList || !box.classList.contains("rc-pick")) return;
    const id = parseInt(box.value, 10);
    if (box.checked) state.picked.add(id); else state.picked.delete(id);
  });

  els.participants.addEventListener("click", function (ev) {
    const button = ev.target.closest ? ev.target.closest("button[data-action]") : null;
    if (!button || !isHost) return;
    const action = button.dataset.action;
    if (action.indexOf("share_") === 0) return;   // conference_stage.js: screen-share permissions
    const userId = parseInt(button.dataset.userId, 10);
    if (action === "remove" && !window.confirm(cfg.msgConfirmRemove)) return;
    button.disabled = true;
    ask("conf_host", { action: action, user_id: userId }).catch(toastError).then(function () {
      button.disabled = false;
    });
  });

  els.hand.addEventListener("click", function () {
    const raised = !state.hand;
    els.hand.disabled = true;
    ask("conf_hand", { raised: raised }).then(function () {
      state.hand = raised;
      renderHand();
    }, toastError).then(function () { els.hand.disabled = !state.entered; });
  });
}
