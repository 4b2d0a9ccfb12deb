// Conference room: the chat. Messages come with the room's state on entering and as "chat"
// events; mine go out as "conf_chat". Names and texts are only ever set with textContent.

import { els, toastError } from "./conference_context.js";
import { ask } from "./conference_signalling.js";

function clock(at) {
  // The server sends epoch seconds; an ISO string is accepted too.
  const when = typeof at === "number" ? new Date(at < 1e12 ? at * 1000 : at) : new Date(String(at || ""));
  if (isNaN(when.getTime())) return "";
  return when.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
}

export function addChat(message) {
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

export function renderChat(messages) {
  els.chatLog.textContent = "";
  (messages || []).forEach(addChat);
}

export function install() {
  els.chatForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const text = els.chatText.value.trim();
    if (!text) return;
    els.chatText.disabled = true;
    ask("conf_chat", { text: text }).then(function () {
      els.chatText.value = "";
    }, toastError).then(function () { els.chatText.disabled = false; els.chatText.focus(); });
  });
}
