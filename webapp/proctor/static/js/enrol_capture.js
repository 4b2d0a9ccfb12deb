// Face enrolment at the office: camera preview, capture one frame to a canvas, send it as a
// JPEG to the portal, which runs the quality gates and keeps only an encrypted face template.
(function () {
  "use strict";
  const root = document.getElementById("capture");
  if (!root) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const cfg = root.dataset;
  const video = document.getElementById("capture-preview");
  const canvas = document.getElementById("capture-canvas");
  const startBtn = document.getElementById("capture-start");
  const shotBtn = document.getElementById("capture-shot");
  const replace = document.getElementById("capture-replace");
  const result = document.getElementById("capture-result");
  const activeCount = document.getElementById("active-count");
  let replaceSent = false;

  function show(text, ok) {
    result.textContent = text;
    result.hidden = !text;
    result.classList.toggle("ok", !!ok);
  }

  startBtn.addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      show(cfg.msgNoCamera, false);
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false })
      .then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        shotBtn.disabled = false;
        startBtn.disabled = true;
        show("", false);
      })
      .catch(function () { show(cfg.msgNoCamera, false); });
  });

  shotBtn.addEventListener("click", function () {
    if (!video.videoWidth) return;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    shotBtn.disabled = true;
    show(cfg.msgSending, false);
    canvas.toBlob(function (blob) {
      const form = new FormData();
      form.append("image", blob, "capture.jpg");
      // "Replace" deactivates only the references that existed when the page was loaded,
      // so several captures in a row all stay.
      if (replace.checked && !replaceSent) {
        form.append("replace", "1");
        form.append("replace_up_to", cfg.watermark);
      }
      fetch(cfg.url, {
        method: "POST", credentials: "same-origin", body: form,
        headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
      }).then(function (res) {
        if (res.status === 200 && res.data.ok) {
          if (form.has("replace")) replaceSent = true;
          show(res.data.message, true);
          if (activeCount && typeof res.data.active === "number") {
            activeCount.textContent = activeCount.textContent.replace(/\d+/, String(res.data.active));
          }
        } else {
          show(res.data.message || cfg.msgFailed, false);
        }
      }).catch(function () {
        show(cfg.msgFailed, false);
      }).then(function () { shotBtn.disabled = false; });
    }, "image/jpeg", 0.92);
  });
})();
