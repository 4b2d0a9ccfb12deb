// One toast for the portal's real-time notices (officer alerts, conference reminders): text,
// an optional same-site link, and a close button. Used by officer_alerts.js and notices.js.
(function () {
  "use strict";
  window.portalToast = function (root, text, url, openLabel, closeLabel) {
    const box = document.createElement("div");
    box.className = "toast";
    box.setAttribute("role", "alert");
    const span = document.createElement("span");
    span.textContent = text;
    box.appendChild(span);
    if (typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/") {
      const link = document.createElement("a");
      link.href = url;
      link.textContent = openLabel;
      box.appendChild(link);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = "×";
    close.setAttribute("aria-label", closeLabel);
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    root.appendChild(box);
  };
})();
