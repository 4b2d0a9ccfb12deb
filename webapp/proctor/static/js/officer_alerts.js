// Officer pages: a toast for each new proctoring flag of the officer's own supervisees
// ("proctor_alert" on the officer's private Socket.IO room). Texts come from data attributes.
(function () {
  "use strict";
  const root = document.getElementById("officer-alerts");
  const socket = window.portalSocket;   // the page's one connection (portal_socket.js)
  if (!root || !socket) return;
  const cfg = root.dataset;
  let kinds = {};
  try { kinds = JSON.parse(cfg.kinds || "{}"); } catch (e) { kinds = {}; }

  function toast(alert) {
    window.portalToast(root, cfg.title + String(alert.learner || "") + " " +
                       (kinds[alert.kind] || String(alert.kind || "")), alert.url, cfg.open, cfg.close);
    const count = document.getElementById("open-flag-count");
    if (count) count.textContent = String((parseInt(count.textContent, 10) || 0) + 1);
  }

  socket.on("proctor_alert", toast);
})();
