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

  // Modest capture: enough for face checks (the server samples 1/s, 6/s during a liveness
  // challenge), cheap for home uplinks and for the server, which decodes every frame it gets.
  const CONSTRAINTS = { audio: false, video: { width: { ideal: 320 }, height: { ideal: 240 },
                                               frameRate: { ideal: 6, max: 10 } } };

  function start(sessionId, iceServers, preview) {
    let pc = null;
    let stream = null;
    return navigator.mediaDevices.getUserMedia(CONSTRAINTS).then(function (s) {
      stream = s;
      if (preview) { preview.srcObject = s; preview.play().catch(function () {}); }
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
      return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    }).then(function () {
      return { pc: pc, stream: stream, stop: function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        pc.close();
      } };
    });
  }

  window.StudyCamera = { start: start, ask: ask };
})();
