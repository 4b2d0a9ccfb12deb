// Every page of a signed-in user: a toast for each conference reminder ("conference_reminder" on
// the user's private Socket.IO room). Texts come from the data attributes of #notices.
(function () {
  "use strict";
  const root = document.getElementById("notices");
  if (!root || !window.io) return;
  const cfg = root.dataset;
  const socket = window.portalSocket ||
    (window.portalSocket = window.io({ transports: ["websocket"], reconnectionDelayMax: 10000 }));

  function localTime(iso) {
    const when = new Date(String(iso || ""));
    if (isNaN(when.getTime())) return "";
    return when.toLocaleString(document.documentElement.lang || undefined,
      { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function toast(notice) {
    const box = document.createElement("div");
    box.className = "toast";
    box.setAttribute("role", "alert");
    const text = document.createElement("span");
    text.textContent = cfg.reminder + String(notice.title || "") + " " + cfg.starts + " " + localTime(notice.starts_at);
    box.appendChild(text);
    if (typeof notice.url === "string" && notice.url.charAt(0) === "/" && notice.url.charAt(1) !== "/") {
      const link = document.createElement("a");
      link.href = notice.url;
      link.textContent = cfg.open;
      box.appendChild(link);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = "×";
    close.setAttribute("aria-label", cfg.close);
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    root.appendChild(box);
  }

  socket.on("conference_reminder", toast);
})();
