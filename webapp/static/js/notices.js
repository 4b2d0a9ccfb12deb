// Every page of a signed-in user: a toast for each conference reminder ("conference_reminder" on
// the user's private Socket.IO room). Texts come from the data attributes of #notices.
(function () {
  "use strict";
  const root = document.getElementById("notices");
  const socket = window.portalSocket;   // the page's one connection (portal_socket.js)
  if (!root || !socket) return;
  const cfg = root.dataset;

  function localTime(iso) {
    const when = new Date(String(iso || ""));
    if (isNaN(when.getTime())) return "";
    return when.toLocaleString(document.documentElement.lang || undefined,
      { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function toast(notice) {
    window.portalToast(root, cfg.reminder + String(notice.title || "") + " " + cfg.starts + " " +
                       localTime(notice.starts_at), notice.url, cfg.open, cfg.close);
  }

  socket.on("conference_reminder", toast);
})();
