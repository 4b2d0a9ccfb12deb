// Conference room (templates/conferences/room.html): enters the live conference over the
// portal's shared Socket.IO connection, publishes camera + microphone, subscribes to the main
// stream (and, for the host, one page of participant tiles at a time), and shows the floor:
// participants, hands, mute state, chat, roll calls. Protocol: notes/conf_protocol.md.
// Every signalling call is an ack; an error's Chinese `message` is shown with the shared toast.
// User-provided text (names, chat) is only ever set with textContent.
(function () {
  "use strict";
  const root = document.getElementById("room");
  if (!root || !window.io) return;
  const cfg = root.dataset;
  const conferenceId = parseInt(cfg.conferenceId, 10);
  const me = parseInt(cfg.me, 10);
  const isHost = cfg.host === "1";
  let iceServers = [];
  try { iceServers = JSON.parse(cfg.iceServers || "[]"); } catch (e) { iceServers = []; }
  const socket = window.portalSocket ||
    (window.portalSocket = window.io({ transports: ["websocket"], reconnectionDelayMax: 10000 }));
  const toastRoot = document.getElementById("notices");

  const PAGE_SIZE = 9;          // tiles per page: the host never subscribes to more at once
  const ANSWER_TIMEOUT_MS = 20000;
  const GATHER_LIMIT_MS = 3000;
  const RETRY_ENTER_MS = 10000; // while the host has not opened the conference yet
  // Modest capture, as the study camera: enough for the roll call's face checks, cheap to relay.
  const VIDEO = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 6, max: 10 } };

  function $(id) { return document.getElementById(id); }
  const els = {
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

  const state = {
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
  };

  // --- helpers ---------------------------------------------------------------------------

  function fmt(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (m, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : m;
    });
  }

  function toast(text) {
    if (!text) return;
    if (window.portalToast && toastRoot) {
      window.portalToast(toastRoot, String(text), null, toastRoot.dataset.open, toastRoot.dataset.close);
    }
  }

  function toastError(err) { toast((err && err.message) || cfg.msgNoAnswer); }

  function ask(event, payload) {
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

  function gathered(pc, limitMs) {
    // The server takes the whole offer at once (non-trickle): wait for our candidates, bounded.
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      const t = setTimeout(resolve, limitMs);
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
      });
    });
  }

  function label(prefix, code) {
    // data-msg-outcome-present_verified -> dataset.msgOutcomePresent_verified
    const key = prefix + String(code).charAt(0).toUpperCase() + String(code).slice(1);
    return cfg[key] || String(code || "");
  }

  function setStatus(name, text) {
    root.dataset.state = name;
    els.status.textContent = text;
  }

  function playSafely(video) {
    const p = video.play();
    if (p && p.catch) {
      p.catch(function () {
        // Autoplay with sound refused: play muted and offer the sound button.
        if (!video.muted) { video.muted = true; video.play().catch(function () {}); els.sound.hidden = false; }
      });
    }
  }

  function sameSite(url) {
    return typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/";
  }

  // --- entering, reconnecting, leaving ---------------------------------------------------

  function enter() {
    if (state.removed || state.left) return;
    closeMedia();
    const gen = ++state.gen;
    setStatus("connecting", cfg.msgConnecting);
    ask("conf_enter", {}).then(function (res) {
      if (gen !== state.gen) return;
      state.entered = true;
      state.waitingToasted = false;
      setStatus("live", cfg.msgEntered);
      els.hand.disabled = false;
      renderChat((res.state && res.state.chat) || []);
      applyFloor(res.state || {});
      setSources(res.sources || []);
      if (res.rollcall) onRollcall(res.rollcall);
      publish(gen);
    }).catch(function (err) {
      if (gen !== state.gen) return;
      if (err.error === "removed") { onRemoved(); return; }
      if (err.error === "not_live") {
        setStatus("waiting", cfg.msgWaiting);
        if (!state.waitingToasted) { toastError(err); state.waitingToasted = true; }
        setTimeout(function () { if (gen === state.gen && socket.connected) enter(); }, RETRY_ENTER_MS);
        return;
      }
      setStatus("error", err.message || cfg.msgNoAnswer);
      toastError(err);
    });
  }

  function closeMedia() {
    // Peer connections die with the signalling that made them: a re-entry starts afresh.
    state.entered = false;
    if (state.publishPc) { state.publishPc.close(); state.publishPc = null; }
    delete root.dataset.published;
    state.subs.forEach(function (entry) { entry.pc.close(); });
    state.subs.clear();
    state.failed.clear();
    renderStage();
  }

  function stopLocal() {
    if (state.local) { state.local.getTracks().forEach(function (t) { t.stop(); }); state.local = null; }
    els.self.srcObject = null;
  }

  function closeEverything() {
    state.gen++;
    closeMedia();
    stopLocal();
    stopCall();
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

  if (els.end) {
    els.end.addEventListener("click", function () {
      if (!window.confirm(cfg.msgConfirmEnd)) return;
      ask("conf_end", {}).then(onEnded, toastError);
    });
  }

  socket.on("connect", enter);
  socket.on("disconnect", function () {
    if (state.removed || state.left) return;
    state.gen++;
    closeMedia();
    setStatus("reconnecting", cfg.msgReconnecting);
  });
  if (socket.connected) enter();

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
    if (!state.left && !state.removed && state.entered) {
      socket.emit("conf_leave", { conference_id: conferenceId });
    }
  });

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
      applyMute();
      renderStage();
      return stream;
    });
  }

  function publish(gen) {
    localMedia().then(function (stream) {
      if (gen !== state.gen) return null;
      const pc = new RTCPeerConnection({ iceServers: iceServers });
      state.publishPc = pc;
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
      root.dataset.published = "error";
      if (err && err.error) toastError(err); else toast(cfg.msgMediaFailed);
    });
  }

  function applyMute() {
    const tracks = state.local ? state.local.getAudioTracks() : [];
    tracks.forEach(function (t) { t.enabled = !state.muted; });
    root.dataset.muted = state.muted ? "1" : "0";
    els.mic.dataset.muted = state.muted ? "1" : "0";
    if (state.muted) els.mic.textContent = cfg.msgMicMuted;
    else els.mic.textContent = (state.local && !tracks.length) ? cfg.msgMicNone : cfg.msgMicOn;
  }

  function setMuted(muted) {
    if (state.muted === muted) return;
    state.muted = muted;
    applyMute();
  }

  // --- subscriptions: the main stream and the host's page of tiles --------------------------

  function mainSource() {
    const floor = state.floor || {};
    let src = null;
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
  function reconcile() {
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

  function subscribe(source, gen) {
    const id = source.source_id;
    const pc = new RTCPeerConnection({ iceServers: iceServers });
    const entry = { pc: pc, stream: null, source: source };
    state.subs.set(id, entry);
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addEventListener("track", function (ev) {
      const tracks = entry.stream ? entry.stream.getTracks() : [];
      entry.stream = new MediaStream(tracks.concat([ev.track]));
      renderStage();
    });
    return pc.createOffer().then(function (offer) {
      return pc.setLocalDescription(offer);
    }).then(function () {
      return gathered(pc, GATHER_LIMIT_MS);
    }).then(function () {
      if (state.subs.get(id) !== entry) return null;
      return ask("conf_subscribe", { source_id: id, sdp: pc.localDescription.sdp, type: "offer" });
    }).then(function (answer) {
      if (!answer) return null;
      if (state.subs.get(id) !== entry) {   // dropped meanwhile (a reconnect): nothing to keep
        pc.close();
        return null;
      }
      return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    }).catch(function (err) {
      pc.close();
      if (state.subs.get(id) === entry) { state.subs.delete(id); state.failed.add(id); }
      if (gen === state.gen) toastError(err);
    });
  }

  function unsubscribe(id) {
    const entry = state.subs.get(id);
    if (!entry) return;
    state.subs.delete(id);
    entry.pc.close();
    if (!state.entered) return;
    ask("conf_unsubscribe", { source_id: id }).catch(function (err) {
      if (err.error !== "unknown_source" && err.error !== "not_found") toastError(err);
    });
  }

  function setSources(sources) {
    state.sources = Array.isArray(sources) ? sources : [];
    state.failed.clear();
    reconcile();
  }

  // --- stage rendering ---------------------------------------------------------------------

  const tileEls = new Map();   // source_id -> {box, video}

  function attach(video, stream) {
    if (video.srcObject !== stream) {
      video.srcObject = stream;
      if (stream) playSafely(video);
    }
  }

  function renderStage() {
    const want = state.entered ? wanted() : { main: null, tiles: [], all: [] };
    const main = want.main;
    const entry = main ? state.subs.get(main.source_id) : null;
    if (main) {
      els.main.muted = els.sound.hidden ? false : els.main.muted;
      attach(els.main, entry && entry.stream);
      els.mainLabel.textContent = main.name || "";
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

  // --- floor: participants, hands, mute, spotlight ----------------------------------------

  function applyFloor(floor) {
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

  function renderHand() {
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
        actions.appendChild(actionButton("remove", cfg.msgRemove, p.user_id, "danger"));
        li.appendChild(actions);
      }
      els.participants.appendChild(li);
    });
    els.count.textContent = String(people.length);
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

  // --- chat --------------------------------------------------------------------------------

  function clock(at) {
    // The server sends epoch seconds; an ISO string is accepted too.
    const when = typeof at === "number" ? new Date(at < 1e12 ? at * 1000 : at) : new Date(String(at || ""));
    if (isNaN(when.getTime())) return "";
    return when.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
  }

  function addChat(message) {
    if (!message) return;
    const li = document.createElement("li");
    li.dataset.userId = String(message.user_id);
    const time = document.createElement("span");
    time.className = "c-time";
    time.textContent = clock(message.at);
    const name = document.createElement("span");
    name.className = "c-name";
    name.textContent = String(message.name || "");
    const text = document.createElement("span");
    text.className = "c-text";
    text.textContent = String(message.text || "");
    li.appendChild(time);
    li.appendChild(name);
    li.appendChild(text);
    const atBottom = els.chatLog.scrollTop + els.chatLog.clientHeight >= els.chatLog.scrollHeight - 4;
    els.chatLog.appendChild(li);
    while (els.chatLog.children.length > 200) els.chatLog.removeChild(els.chatLog.firstChild);
    if (atBottom) els.chatLog.scrollTop = els.chatLog.scrollHeight;
  }

  function renderChat(messages) {
    els.chatLog.textContent = "";
    (messages || []).forEach(addChat);
  }

  els.chatForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const text = els.chatText.value.trim();
    if (!text) return;
    els.chatText.disabled = true;
    ask("conf_chat", { text: text }).then(function () {
      els.chatText.value = "";
    }, toastError).then(function () { els.chatText.disabled = false; els.chatText.focus(); });
  });

  // --- roll call: the host's panel ----------------------------------------------------------

  function onRollcall(rollcall) {
    state.rollcall = rollcall || null;
    state.rollcallAt = Date.now();
    renderRollcall();
  }

  function renderRollcall() {
    const rc = state.rollcall;
    const running = !!rc && rc.state === "running";
    root.dataset.rollcall = rc ? String(rc.state) : "";
    if (els.rcState) els.rcState.textContent = rc ? (running ? cfg.msgRcRunning : cfg.msgRcDone) : "";
    if (!isHost) return;
    els.rcAll.disabled = running;
    els.rcChecked.disabled = running;
    els.rcEnd.disabled = !running;
    renderCalling();
    const counts = (rc && rc.counts) || {};
    els.rcCounts.querySelectorAll("[data-count]").forEach(function (cell) {
      cell.textContent = String(counts[cell.dataset.count] || 0);
    });
    els.rcRecords.textContent = "";
    ((rc && rc.records) || []).forEach(function (r) {
      const li = document.createElement("li");
      li.dataset.userId = String(r.user_id);
      li.dataset.outcome = String(r.outcome);
      const name = document.createElement("span");
      name.className = "r-name";
      name.textContent = String(r.name || "");
      const outcome = document.createElement("span");
      outcome.className = "r-outcome";
      outcome.textContent = label("msgOutcome", r.outcome);
      li.appendChild(name);
      li.appendChild(outcome);
      els.rcRecords.appendChild(li);
    });
    if (rc && sameSite(rc.table_url)) { els.rcTable.href = rc.table_url; els.rcTable.hidden = false; }
    else els.rcTable.hidden = true;
  }

  function renderCalling() {
    const rc = state.rollcall;
    if (!isHost || !els.rcCalling) return;
    const calling = (rc && rc.state === "running" && rc.calling) || [];
    const elapsed = (Date.now() - state.rollcallAt) / 1000;
    els.rcCalling.textContent = calling.length ? cfg.msgRcCalling + " " + calling.map(function (c) {
      const left = Math.max(0, Math.ceil(Number(c.deadline_in_s || 0) - elapsed));
      return String(c.name || "") + " (" + fmt(cfg.msgSeconds, { s: left }) + ")";
    }).join("、") : "";
  }

  setInterval(function () { if (state.rollcall) renderCalling(); }, 1000);

  function startRollcall(userIds) {
    const payload = userIds ? { user_ids: userIds } : {};
    ask("rollcall_start", payload).then(function (res) {
      root.dataset.rollcallId = String(res.rollcall_id || "");
    }, toastError);
  }

  if (isHost) {
    els.rcAll.addEventListener("click", function () { startRollcall(null); });
    els.rcChecked.addEventListener("click", function () {
      const ids = Array.from(state.picked);
      if (!ids.length) { toast(cfg.msgPickSomeone); return; }
      startRollcall(ids);
    });
    els.rcEnd.addEventListener("click", function () { ask("rollcall_end", {}).catch(toastError); });
  }

  // --- roll call: being called ---------------------------------------------------------------

  function stopCall() {
    if (state.call) { clearInterval(state.call.timer); clearTimeout(state.call.hide); state.call = null; }
  }

  function runCall(tick) {
    // One ticking countdown at a time; `tick(elapsedSeconds)` renders it.
    const hide = state.call ? state.call.hide : null;
    if (state.call) clearInterval(state.call.timer);
    if (hide) clearTimeout(hide);
    const started = Date.now();
    const step = function () { tick((Date.now() - started) / 1000); };
    state.call = { timer: setInterval(step, 250), hide: null };
    step();
  }

  function onCall(ev) {
    els.overlay.hidden = false;
    els.overlay.dataset.phase = "call";
    els.callText.textContent = fmt(cfg.msgCall, { name: ev.name || "" });
    els.callAction.textContent = "";
    els.callOutcome.textContent = "";
    const within = Number(ev.answer_within_s || 0);
    runCall(function (t) {
      els.callCountdown.textContent = fmt(cfg.msgSeconds, { s: Math.max(0, Math.ceil(within - t)) });
    });
  }

  function onChallenge(ev) {
    els.overlay.hidden = false;
    els.overlay.dataset.phase = "challenge";
    els.callOutcome.textContent = "";
    const actions = Array.isArray(ev.actions) ? ev.actions : [];
    const startsIn = Number(ev.starts_in_s || 0);
    const windowS = Number(ev.window_s || 0);
    runCall(function (t) {
      if (t < startsIn) {
        els.callAction.textContent = fmt(cfg.msgChallengeReady, { s: Math.ceil(startsIn - t) });
        els.callCountdown.textContent = "";
        return;
      }
      const i = windowS > 0 ? Math.floor((t - startsIn) / windowS) : 0;
      if (i >= actions.length) { els.callAction.textContent = ""; els.callCountdown.textContent = ""; return; }
      els.overlay.dataset.action = String(actions[i]);
      els.callAction.textContent = label("msgAction", actions[i]);
      const left = windowS > 0 ? Math.ceil(startsIn + (i + 1) * windowS - t) : 0;
      els.callCountdown.textContent = fmt(cfg.msgSeconds, { s: Math.max(0, left) });
    });
  }

  function onResult(ev) {
    stopCall();
    els.overlay.hidden = false;
    els.overlay.dataset.phase = "result";
    root.dataset.myOutcome = String(ev.outcome || "");
    els.callAction.textContent = "";
    els.callCountdown.textContent = "";
    els.callOutcome.textContent = fmt(cfg.msgResult, { outcome: label("msgOutcome", ev.outcome) });
    state.call = { timer: null, hide: setTimeout(function () { els.overlay.hidden = true; state.call = null; }, 6000) };
  }

  // --- server events ---------------------------------------------------------------------------

  socket.on("conf", function (ev) {
    if (!ev || Number(ev.conference_id) !== conferenceId || state.removed || state.left) return;
    switch (ev.type) {
      case "floor": applyFloor(ev.state); break;
      case "sources": setSources(ev.sources); break;
      case "chat": addChat(ev.message); break;
      case "muted": setMuted(!!ev.muted); break;
      case "removed": onRemoved(); break;
      case "rollcall": onRollcall(ev.rollcall); break;
      case "ended": onEnded(); break;
      case "rollcall_call": onCall(ev); break;
      case "rollcall_challenge": onChallenge(ev); break;
      case "rollcall_result": onResult(ev); break;
      default: break;
    }
  });

  applyMute();
  renderHand();
  renderStage();
})();
