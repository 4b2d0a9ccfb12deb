// Study camera: publishes the learner's camera to the server over WebRTC, signalled through
// the portal's authenticated Socket.IO connection: the page's one (window.portalSocket, from
// base.html's portal_socket.js), shared with the player. The server samples frames for its
// checks; nothing is analysed or decided here.
(function () {
  "use strict";

  function ask(event, payload) {
    const socket = window.portalSocket;
    return new Promise(function (resolve, reject) {
      if (!socket) { reject(new Error("no connection")); return; }
      socket.timeout(20000).emit(event, payload, function (err, res) {
        if (err) { reject(new Error("timeout")); return; }
        if (!res || res.error) { reject(Object.assign(new Error((res && res.message) || "error"), res || {})); return; }
        resolve(res);
      });
    });
  }

  function gathered(pc, limitMs) {
    // aiortc takes the whole offer at once: wait for our candidates (bounded).
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      const done = function () { if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); } };
      const t = setTimeout(resolve, limitMs);
      pc.addEventListener("icegatheringstatechange", done);
    });
  }

  // Modest capture: enough for face checks. What is *sent* is the server's to decide: it asks for
  // a low frame rate (a frame a second by default) and raises it for a liveness challenge (the
  // "camera" proctor event, proctoring/camera_rate.py), because it decodes every frame it gets.
  // The capture runs at the challenge rate (CAMERA_CHALLENGE_FPS, 6 by default: a higher one
  // needs a higher capture rate here); the encoder drops what the server does not ask for, and a
  // page that could not apply the request sends what it did before, about 6 a second.
  // Phones (issue 14): the front camera (`ideal`, so a laptop's only camera still answers), and
  // only `ideal` sizes, never exact ones: a phone held upright delivers the same picture turned
  // (240 x 320, portrait), which these constraints accept as they are.
  const CONSTRAINTS = { audio: false, video: { facingMode: { ideal: "user" }, width: { ideal: 320 },
                                               height: { ideal: 240 }, frameRate: { ideal: 6, max: 10 } } };

  // The camera needs a secure context (HTTPS, or the machine itself): elsewhere browsers have no
  // navigator.mediaDevices at all, or refuse it (iOS Safari, WeChat's browser). The page says so.
  function available() {
    return window.isSecureContext !== false && !!navigator.mediaDevices && !!navigator.mediaDevices.getUserMedia;
  }

  // The same bounds as proctoring/camera_rate.py: anything else from the wire is ignored.
  function validRate(rate) {
    return !!rate && typeof rate === "object" && typeof rate.fps === "number" && isFinite(rate.fps) &&
      rate.fps >= 0.5 && rate.fps <= 30 && Number.isInteger(rate.height) && rate.height >= 60 &&
      rate.height <= 1080;
  }

  // Applies the server's frame rate and height to the video sender (RTCRtpSender.setParameters),
  // one change at a time; the latest request wins. Resolves with what was applied.
  function rateControl(pc, track) {
    const sender = pc.getSenders().find(function (s) { return s.track === track; });
    let chain = Promise.resolve(null);
    let wanted = null;
    return function apply(rate) {
      if (!validRate(rate)) return Promise.reject(new Error("invalid camera rate"));
      if (!sender) return Promise.reject(new Error("no video sender"));
      wanted = { fps: rate.fps, height: rate.height };
      chain = chain.catch(function () { return null; }).then(function () {
        const want = wanted;
        const params = sender.getParameters();
        if (!params.encodings || !params.encodings.length) throw new Error("no encodings to set");
        // The server's "height" is the picture's short side: a portrait capture (240 x 320) is
        // scaled by its width, as a landscape one by its height.
        const settings = (track.getSettings && track.getSettings()) || {};
        const short = Math.min(settings.width || Infinity, settings.height || Infinity);
        const capture = isFinite(short) ? short : want.height;
        params.encodings[0].maxFramerate = want.fps;
        params.encodings[0].scaleResolutionDownBy = Math.max(1, capture / want.height);
        return sender.setParameters(params).then(function () {
          return { fps: want.fps, height: want.height, scale: params.encodings[0].scaleResolutionDownBy };
        });
      });
      return chain;
    };
  }

  function start(sessionId, iceServers, preview) {
    let pc = null;
    let stream = null;
    if (!available()) return Promise.reject(Object.assign(new Error("insecure"), { error: "insecure" }));
    return navigator.mediaDevices.getUserMedia(CONSTRAINTS).then(function (s) {
      stream = s;
      if (preview) {
        // Muted and inline, so every browser plays it without a tap (iOS Safari, WeChat).
        preview.muted = true;
        preview.setAttribute("playsinline", "");
        preview.srcObject = s;
        preview.play().catch(function () {});
      }
      pc = new RTCPeerConnection({ iceServers: iceServers || [] });
      s.getVideoTracks().forEach(function (track) { pc.addTrack(track, s); });
      return pc.createOffer();
    }).then(function (offer) {
      return pc.setLocalDescription(offer);
    }).then(function () {
      return gathered(pc, 3000);
    }).then(function () {
      return ask("rtc_offer", { session_id: sessionId, sdp: pc.localDescription.sdp, type: "offer" });
    }).then(function (answer) {
      return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp }).then(function () { return answer; });
    }).then(function (answer) {
      const track = stream.getVideoTracks()[0];
      return { pc: pc, stream: stream, rate: rateControl(pc, track), initialRate: answer.camera || null,
               stop: function () {
                 stream.getTracks().forEach(function (t) { t.stop(); });
                 pc.close();
               } };
    });
  }

  window.StudyCamera = { start: start, ask: ask, validRate: validRate, available: available,
                         constraints: CONSTRAINTS };
})();
