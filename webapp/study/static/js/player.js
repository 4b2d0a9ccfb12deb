// Course player: HLS playback (hls.js), heartbeats to the watch ledger, random
// breakpoint confirmations. The server decides everything that earns credit;
// this script only reports and obeys (snap back, pause for a prompt).
(function () {
  "use strict";
  const root = document.getElementById("player");
  if (!root) return;
  const video = document.getElementById("video");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const cfg = root.dataset;
  const courseId = parseInt(cfg.courseId, 10);
  const els = {
    credited: document.getElementById("credited"),
    coverage: document.getElementById("coverage"),
    bar: document.getElementById("coverage-bar"),
    notice: document.getElementById("notice"),
    prompt: document.getElementById("prompt"),
    promptLeft: document.getElementById("prompt-left"),
    expired: document.getElementById("expired"),
    promptText: document.getElementById("prompt-text"),
    choices: document.getElementById("prompt-choices"),
    hold: document.getElementById("hold"),
    holdText: document.getElementById("hold-text"),
    recheck: document.getElementById("hold-recheck"),
    review: document.getElementById("hold-review"),
    reviewMessage: document.getElementById("review-message"),
    reviewAsk: document.getElementById("review-ask"),
    reviewStatus: document.getElementById("review-status"),
    challenge: document.getElementById("challenge"),
    challengeText: document.getElementById("challenge-text"),
    preview: document.getElementById("camera-preview"),
    resume: document.getElementById("resume"),
    resumeText: document.getElementById("resume-text"),
    resumeAt: document.getElementById("resume-at"),
    insecure: document.getElementById("insecure"),
  };
  const proctored = cfg.proctored === "1";
  const state = { session: null, seq: 0, frontier: 0, inFlight: false, again: false, prompt: null,
                  closed: false, timer: null, countdown: null, resumeAt: 0, hold: proctored ? "unverified" : null,
                  camera: null, away: false, beatMs: 0 };

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
    });
  }

  function notice(text) {
    els.notice.textContent = text;
    els.notice.hidden = !text;
  }

  function fmt(seconds) {
    const s = Math.floor(seconds || 0);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function showProgress(d) {
    if (typeof d.credited_s !== "number") return;
    els.credited.textContent = fmt(d.credited_s);
    els.coverage.textContent = Math.round(100 * d.coverage_share) + "%";
    els.bar.value = d.coverage_share;
    state.frontier = d.frontier;
    root.dataset.credited = d.credited_s;
    root.dataset.frontier = d.frontier;
  }

  function apiUrl(action) { return cfg.apiBase + state.session + "/" + action; }

  // Heartbeats go over the Socket.IO connection when it is up (authenticated once, so a
  // beat costs the server far less), else over HTTP. Both answer the same body. The connection
  // is the page's one (base.html's portal_socket.js), shared with the notices and the camera.
  const socket = window.portalSocket || null;

  function sendBeat(body) {
    root.dataset.transport = socket && socket.connected ? "socket" : "http";
    if (socket && socket.connected) {
      return new Promise(function (resolve, reject) {
        const payload = Object.assign({ session_id: state.session }, body);
        // A connection lost with the beat in flight (its server process died) gives up at once, so
        // the next beat goes by HTTP to another process instead of waiting out the 8 s.
        const lost = function () { reject(new Error("disconnected")); };
        socket.once("disconnect", lost);
        socket.timeout(8000).emit("heartbeat", payload, function (err, res) {
          socket.off("disconnect", lost);
          if (err) { reject(err); return; }
          resolve({ status: res.status, data: res });
        });
      });
    }
    return post(apiUrl("heartbeat"), body);
  }

  function beat() {
    if (!state.session || state.closed) return;
    if (state.inFlight) { state.again = true; return; }
    state.inFlight = true;
    state.seq += 1;
    // A page in the background never reports playing (it pauses, and stops its timer).
    const body = { seq: state.seq, position: video.currentTime || 0,
                   playing: !video.paused && !video.ended && !state.away, rate: video.playbackRate || 1 };
    sendBeat(body).then(function (res) {
      const d = res.data;
      if (res.status === 409) { closed(); return; }
      // Rate-limited (a burst of seeks): nothing was recorded; the next beat carries on from the last one.
      if (res.status === 429) return;
      if (res.status >= 500 || res.status === 0) { notice(cfg.msgError); return; }
      showProgress(d);
      if (d.accepted === false && typeof d.snap_to === "number") {
        video.currentTime = d.snap_to;
        notice(cfg.msgSeek);
      }
      if (d.prompt_expired) showExpired();
      if (d.prompt) showPrompt(d.prompt);
    }).catch(function () { notice(cfg.msgError); }).finally(function () {
      state.inFlight = false;
      if (state.again) { state.again = false; beat(); }
    });
  }

  function closed() {
    state.closed = true;
    video.pause();
    notice(cfg.msgClosed);
  }

  function showPrompt(prompt) {
    if (state.prompt && state.prompt.id === prompt.id) return;
    state.prompt = prompt;
    video.pause();
    // A surprise question shows its choices (the answer never reaches the browser).
    els.choices.textContent = "";
    if (prompt.question) {
      els.promptText.textContent = prompt.question.prompt;
      prompt.question.choices.forEach(function (text, i) {
        const label = document.createElement("label");
        const input = document.createElement("input");
        input.type = "radio"; input.name = "choice"; input.value = String(i);
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + text));
        els.choices.appendChild(label);
      });
    } else {
      els.promptText.textContent = cfg.msgConfirm;
    }
    els.prompt.hidden = false;
    let left = Math.max(0, Math.round(prompt.left_s));
    els.promptLeft.textContent = left + " s";
    clearInterval(state.countdown);
    state.countdown = setInterval(function () {
      left = Math.max(0, left - 1);
      els.promptLeft.textContent = left + " s";
      if (left === 0) { clearInterval(state.countdown); beat(); }
    }, 1000);
  }

  function hidePrompt() {
    clearInterval(state.countdown);
    state.prompt = null;
    els.prompt.hidden = true;
  }

  function showExpired() {
    hidePrompt();
    video.pause();
    els.expired.hidden = false;
  }

  document.getElementById("prompt-confirm").addEventListener("click", function () {
    if (!state.prompt) return;
    const body = { prompt_id: state.prompt.id };
    if (state.prompt.question) {
      const picked = els.choices.querySelector("input:checked");
      if (!picked) { notice(cfg.msgPick); return; }
      body.choice = parseInt(picked.value, 10);
    }
    post(apiUrl("confirm"), body).then(function (res) {
      if (res.status === 200 && res.data.passed === false) { hidePrompt(); showProgress(res.data); showExpired(); }
      else if (res.status === 200) { hidePrompt(); showProgress(res.data); notice(""); play(); }
      else if (res.data.error === "prompt_expired") { showExpired(); }
      else { hidePrompt(); }
    });
  });

  document.getElementById("expired-resume").addEventListener("click", function () {
    post(apiUrl("resume"), {}).then(function (res) {
      els.expired.hidden = true;
      if (res.status === 200 && res.data.rechecking) { setHold("question"); return; }
      if (res.status === 200) showProgress(res.data);
      notice(res.status === 200 ? "" : (res.data.message || cfg.msgError));
      play();
    });
  });

  document.getElementById("finish").addEventListener("click", function () {
    video.pause();
    post(apiUrl("finish"), { confirmed: true }).then(function (res) {
      showProgress(res.data);
      state.closed = true;
      if (!res.data || !res.data.verifying) { window.location.href = "/learn/"; return; }
      // Under the camera the tail is credited only after a final identity check: stay on the
      // page (the camera keeps streaming) until its verdict, or give up after a while.
      notice(cfg.msgFinishing);
      root.dataset.finishing = "1";
      state.finishedTimer = setTimeout(function () { window.location.href = "/learn/"; }, 30000);
    });
  });

  window.addEventListener("pagehide", function () {
    video.pause();
    if (!state.session || state.closed) return;
    const form = new FormData();
    form.append("csrf_token", csrf);
    navigator.sendBeacon(apiUrl("finish"), form);
  });

  ["play", "pause", "seeked", "ratechange", "ended"].forEach(function (ev) { video.addEventListener(ev, beat); });

  // --- camera proctoring: the server holds playback until it has verified the learner ------
  // Playback starts only from the learner's tap or after one (no autoplay with sound): a browser
  // that refuses a start without a fresh tap (iOS Safari, WeChat, autoplay rules) gets a button.
  function play() {
    if (state.hold || state.prompt || state.away || state.closed || !els.resume.hidden) return;
    video.play().catch(function (err) {
      if (err && err.name === "NotAllowedError") askTap(cfg.msgTapPlay);
    });
  }

  function askTap(text) {
    els.resumeText.textContent = text;
    els.resumeAt.textContent = video.currentTime > 0 ? "(" + fmt(video.currentTime) + ")" : "";
    els.resume.hidden = false;
    root.dataset.resume = "1";
  }

  document.getElementById("resume-play").addEventListener("click", function () {
    els.resume.hidden = true;
    root.dataset.resume = "";
    play();
  });

  // --- a phone's screen turning off, another app or tab in front (issue 14) --------------------
  // Hidden (or frozen by the browser): pause, report it (the pause beat says playing: false) and
  // stop the heartbeats. The server credits only media time advanced between two playing beats,
  // so a hidden span earns nothing. Back in front: beats again, and playback continues from
  // where it stopped after a tap (断点续播).
  function away(why) {
    if (!state.session || state.closed || state.away) return;
    state.away = true;
    root.dataset.away = why;
    clearInterval(state.timer);
    state.timer = null;
    video.pause();
    beat();
  }

  function back() {
    if (!state.away) return;
    state.away = false;
    root.dataset.away = "";
    if (state.closed) return;
    state.timer = setInterval(beat, state.beatMs);
    beat();
    // A camera the browser stopped in the background (iOS ends the track) connects again.
    const cam = state.camera;
    if (cam && cam.stream.getVideoTracks().some(function (t) { return t.readyState === "ended"; })) {
      state.camera = null;
      cam.stop();
      cameraLost();
    }
    if (!state.hold && !state.prompt && els.expired.hidden) askTap(cfg.msgAway);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") away("hidden"); else back();
  });
  document.addEventListener("freeze", function () { away("frozen"); });
  document.addEventListener("resume", function () { if (document.visibilityState !== "hidden") back(); });
  // Back from the browser's page cache after "pagehide" closed the sitting: start a fresh one.
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) window.location.reload(); });

  function setHold(reason) {
    state.hold = reason;
    root.dataset.hold = reason || "";
    if (!reason) { els.hold.hidden = true; play(); return; }
    video.pause();
    els.holdText.textContent = cfg["msgHold" + reason.charAt(0).toUpperCase() + reason.slice(1)] || cfg.msgHoldIdentity;
    els.recheck.hidden = reason === "absent" || reason === "unverified" || reason === "no_face" || reason === "review" ||
                         reason === "camera";
    // Held for an officer's review: no re-check, but the learner can ask for the review.
    els.review.hidden = reason !== "review";
    els.hold.hidden = false;
  }

  els.reviewAsk.addEventListener("click", function () {
    const message = els.reviewMessage.value.trim();
    if (message.length > 500) { els.reviewStatus.textContent = cfg.msgReviewLong; els.reviewStatus.hidden = false; return; }
    els.reviewAsk.disabled = true;
    post(cfg.reviewUrl, { message: message }).then(function (res) {
      els.reviewStatus.textContent = res.data.message || cfg.msgError;
      els.reviewStatus.hidden = false;
      root.dataset.reviewRequested = res.status === 200 ? "1" : "error";
      els.reviewAsk.disabled = res.status === 200;
    }).catch(function () {
      els.reviewStatus.textContent = cfg.msgError;
      els.reviewStatus.hidden = false;
      els.reviewAsk.disabled = false;
    });
  });

  // Held, or in the background (a lock screen's media controls): no playback.
  video.addEventListener("play", function () { if (state.hold || state.away) video.pause(); });

  function showChallenge(ev) {
    const at = Date.now();
    els.challengeText.textContent = cfg.msgChallengeReady;
    els.challenge.hidden = false;
    root.dataset.challenge = ev.actions.join(",");
    // Each step has its own start (the server draws random pauses between them).
    const steps = ev.steps_in_s || ev.actions.map(function (_a, i) { return ev.starts_in_s + i * ev.window_s; });
    ev.actions.forEach(function (action, i) {
      setTimeout(function () {
        els.challengeText.textContent = cfg["msgDo" + action.replace(/(^|_)(\w)/g, function (_m, _u, c) { return c.toUpperCase(); })];
      }, Math.max(0, steps[i] * 1000 - (Date.now() - at)));
    });
    setTimeout(function () { els.challenge.hidden = true; },
               steps[steps.length - 1] * 1000 + ev.window_s * 1000);
  }

  if (socket) {
    socket.on("proctor", function (ev) {
      // An officer cleared the learner's hold (or re-enrolled the face): start a fresh sitting.
      if (ev && ev.state === "cleared") { window.location.reload(); return; }
      if (!ev || ev.session_id !== state.session) return;
      if (ev.state === "hold") setHold(ev.reason);
      else if (ev.state === "ok") setHold(null);
      else if (ev.state === "challenge") showChallenge(ev);
      else if (ev.state === "camera") cameraRate(ev);
      else if (ev.state === "verdict") root.dataset.lastVerdict = ev.kind + ":" + (ev.passed ? "pass" : "fail");
      else if (ev.state === "finished") {
        root.dataset.finished = ev.passed ? "pass" : "fail";
        clearTimeout(state.finishedTimer);
        window.location.href = "/learn/";
      }
    });
  }

  // The server's frame rate for the camera (the baseline, raised for a liveness challenge), applied
  // to the sender; data-camera-rate shows what applied ("fps@height").
  function cameraRate(rate) {
    if (!window.StudyCamera.validRate(rate)) { root.dataset.cameraRate = "invalid"; return; }
    if (!state.camera) return;
    state.camera.rate(rate).then(function (applied) {
      root.dataset.cameraRate = applied.fps + "@" + applied.height;
    }).catch(function () { root.dataset.cameraRate = "failed"; });
  }

  els.recheck.addEventListener("click", function () {
    if (!socket || !state.session) return;
    window.StudyCamera.ask("proctor_recheck", { session_id: state.session }).then(function () {
      els.holdText.textContent = cfg.msgHoldUnverified;
    }).catch(function (err) {
      if (err.error === "review") { setHold("review"); return; }
      notice(err.message || cfg.msgError);
    });
  });

  // The camera's connection comes back by itself: a lost connection (network change, the media
  // server restarting) holds playback ("camera") and retries with a growing pause; the server's
  // first check on the new connection decides what was pending before the gap.
  const CAMERA_RETRY = ["media_unavailable", "media", "internal", "timeout"];
  let cameraRetries = 0;

  function cameraLost() {
    if (state.closed || !state.session) return;
    root.dataset.camera = "reconnecting";
    setHold("camera");
    const wait = Math.min(15000, 1000 * Math.pow(2, cameraRetries++));
    setTimeout(startCamera, wait);
  }

  function watchCamera(cam) {
    let grace = null;
    const lost = function () {
      if (state.camera !== cam) return;
      state.camera = null;
      cam.stop();
      cameraLost();
    };
    cam.pc.addEventListener("connectionstatechange", function () {
      const s = cam.pc.connectionState;
      clearTimeout(grace);
      if (s === "failed") lost();
      else if (s === "disconnected") grace = setTimeout(lost, 4000);   // brief drops recover by themselves
    });
  }

  function startCamera() {
    const go = function () {
      if (state.closed) return;
      window.StudyCamera.start(state.session, JSON.parse(cfg.iceServers || "[]"), els.preview)
        .then(function (cam) {
          state.camera = cam;
          cameraRetries = 0;
          // A new connection starts at the rate its answer names (the server's checks of a new
          // stream start from the baseline; it asks for more when a challenge starts).
          if (cam.initialRate) cameraRate(cam.initialRate);
          root.dataset.camera = "connected";
          watchCamera(cam);
          if (state.hold === "camera") setHold("unverified");   // the new connection's check decides
          // A sitting opened while the learner is held for review starts held: show it.
          return window.StudyCamera.ask("proctor_state", { session_id: state.session }).then(function (res) {
            if (res.hold === "review") setHold("review");
          }).catch(function () {});
        })
        .catch(function (err) {
          const code = (err && (err.error || err.message)) || "";
          if (CAMERA_RETRY.indexOf(code) >= 0 && state.session) { cameraLost(); return; }
          root.dataset.camera = code === "insecure" ? "insecure" : "failed";
          notice(code === "insecure" ? cfg.msgInsecure : ((err && err.message) || cfg.msgCamera));
        });
    };
    if (!socket) { root.dataset.camera = "failed"; notice(cfg.msgCamera); return; }
    if (socket.connected) go(); else socket.once("connect", go);
  }

  function attachMedia() {
    if (window.Hls && window.Hls.isSupported()) {
      const hls = new window.Hls({ startPosition: state.resumeAt, capLevelToPlayerSize: true });
      hls.loadSource(cfg.hlsUrl);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.ERROR, function (_e, data) {
        if (data.fatal) { hls.destroy(); video.src = cfg.mp4Url; }
      });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = cfg.hlsUrl;
    } else {
      video.src = cfg.mp4Url;
    }
    video.addEventListener("loadedmetadata", function () {
      if (Math.abs(video.currentTime - state.resumeAt) > 1) video.currentTime = state.resumeAt;
      root.dataset.ready = "1";
    }, { once: true });
  }

  function begin(body) {
    post(cfg.startUrl, body).then(function (res) {
      if (res.status !== 200) { notice(res.data.message || cfg.msgError); return; }
      const d = res.data;
      state.session = d.session_id;
      state.resumeAt = d.position || 0;
      root.dataset.session = d.session_id;
      root.dataset.resumeAt = state.resumeAt;
      showProgress(d);
      attachMedia();
      if (d.proctored) { setHold("unverified"); startCamera(); }
      state.beatMs = Math.max(1, d.heartbeat_interval) * 1000;
      if (!state.away) state.timer = setInterval(beat, state.beatMs);
    });
  }

  if (proctored) {
    const consent = document.getElementById("consent");
    // No camera outside a secure context (plain http:// from another machine): say so at once.
    const insecure = !window.StudyCamera.available();
    if (insecure && els.insecure) { els.insecure.hidden = false; root.dataset.camera = "insecure"; }
    document.getElementById("consent-start").addEventListener("click", function () {
      if (insecure) { notice(cfg.msgInsecure); return; }
      if (!document.getElementById("consent-box").checked) { notice(cfg.msgConsent); return; }
      consent.hidden = true;
      notice("");
      begin({ course_id: courseId, camera_consent: true });
    });
  } else {
    begin({ course_id: courseId });
  }
})();
