// The page's one Socket.IO connection (issue 10), created once here by base.html for a signed-in
// user and shared by every script of the page as window.portalSocket: notices.js,
// officer_alerts.js, the player (heartbeats, proctoring events) and its study camera
// (signalling), the conference room's modules. No script opens a connection of its own.
(function () {
  "use strict";
  if (window.portalSocket || !window.io) return;
  window.portalSocket = window.io({ transports: ["websocket"], reconnectionDelayMax: 10000 });
})();
