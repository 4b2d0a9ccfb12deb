// Conference room, group education sessions (issue 16): the attendance checks as a page sees them.
// The server decides every check (webapp/conferences/education_checks.py); this module only shows.
//
//   a checked person   edu_check_call / edu_check_challenge / edu_check_result are shown with the
//                      roll call's overlay (conference_rollcall.js): the same prompt, liveness
//                      actions and countdown as in a roll call; the result in the session's words.
//   an on-site officer edu_room: the "在场确认" panel of a shared township room, the unit's
//                      supervisees of the session with a checkbox each (ticked: in the room now;
//                      on their own camera: not selectable), a due request with its countdown;
//                      the button sends conf_edu_confirm {present: [user ids]}.
//   the host           edu_checks: the checks in progress and each person's last result.
//
// Texts: the data attributes of #edu-checks (templates/conferences/_education_checks.html, included
// by room.html with this script). The panels are made here, in the room's side column. Names are
// only ever set with textContent.

import { fmt, toast, toastError } from "./conference_context.js";
import * as signalling from "./conference_signalling.js";
import { onCall, onChallenge, onResult } from "./conference_rollcall.js";

const carrier = document.getElementById("edu-checks");
const msg = carrier ? carrier.dataset : {};
const side = document.querySelector("#room .room-side");

const edu = { room: null, roomAt: 0, picked: null, panel: null, hostPanel: null, ticker: null };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function card(id, title) {
  const box = el("div", "card");
  box.id = id;
  box.appendChild(el("h2", "", title));
  if (side) side.insertBefore(box, side.firstChild); else document.body.appendChild(box);
  return box;
}

// --- a checked person ----------------------------------------------------------------------------

function onCheckResult(ev) {
  onResult({ outcome: ev.outcome });
  const text = document.getElementById("call-outcome");
  if (text) text.textContent = ev.passed ? msg.msgPassed : msg.msgFailed;
}

// --- the on-site officer's "在场确认" panel ---------------------------------------------------------

function roomPanel() {
  if (edu.panel) return edu.panel;
  const box = card("edu-room-panel", msg.msgRoomTitle);
  box.appendChild(el("p", "hint", msg.msgRoomHint));
  const due = el("p", "edu-due");
  due.setAttribute("role", "status");
  const list = el("ul", "plain edu-people");
  const button = el("button", "", msg.msgConfirm);
  button.type = "button";
  button.addEventListener("click", confirmRoom);
  box.appendChild(due);
  box.appendChild(list);
  box.appendChild(el("p")).appendChild(button);
  edu.panel = { box: box, due: due, list: list, button: button };
  return edu.panel;
}

function onRoom(ev) {
  const people = Array.isArray(ev.people) ? ev.people : [];
  if (!people.length) return;
  edu.room = ev;
  edu.roomAt = Date.now();
  // what the officer ticked and has not sent yet survives a refresh of the list
  if (edu.picked === null || ev.due_in_s === null || ev.due_in_s === undefined) {
    edu.picked = new Set(people.filter(function (p) { return p.in_room; }).map(function (p) { return Number(p.user_id); }));
  }
  const panel = roomPanel();
  panel.list.textContent = "";
  people.forEach(function (p) {
    const id = Number(p.user_id);
    const li = el("li");
    li.dataset.userId = String(id);
    const label = el("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = String(id);
    box.checked = edu.picked.has(id) && !p.own_camera;
    box.disabled = !!p.own_camera;
    box.addEventListener("change", function () {
      if (box.checked) edu.picked.add(id); else edu.picked.delete(id);
    });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + String(p.name || "")));
    if (p.own_camera) label.appendChild(el("span", "hint", " " + msg.msgOwnCamera));
    li.appendChild(label);
    panel.list.appendChild(li);
  });
  renderDue();
}

function renderDue() {
  if (!edu.panel || !edu.room) return;
  const due = edu.room.due_in_s;
  if (due === null || due === undefined) {
    edu.panel.due.textContent = "";
    edu.panel.box.dataset.due = "0";
    return;
  }
  const left = Math.max(0, Math.ceil(Number(due) - (Date.now() - edu.roomAt) / 1000));
  edu.panel.box.dataset.due = "1";
  edu.panel.due.textContent = fmt(msg.msgDue, { s: left });
}

function confirmRoom() {
  const present = Array.from(edu.picked || []);
  edu.panel.button.disabled = true;
  signalling.ask("conf_edu_confirm", { present: present }).then(function () {
    toast(msg.msgConfirmed);
    if (edu.room) edu.room.due_in_s = null;
    renderDue();
  }, toastError).then(function () { edu.panel.button.disabled = false; });
}

// --- the host's view -------------------------------------------------------------------------------

function onChecks(ev) {
  if (!edu.hostPanel) {
    const box = card("edu-checks-panel", msg.msgChecksTitle);
    const now = el("p", "edu-now");
    const last = el("ul", "plain edu-last");
    box.appendChild(now);
    box.appendChild(last);
    edu.hostPanel = { now: now, last: last };
  }
  const running = (Array.isArray(ev.checks) ? ev.checks : []).filter(function (c) { return c.kind === "face"; });
  edu.hostPanel.now.textContent = running.length
    ? msg.msgChecking + " " + running.map(function (c) { return String(c.name || ""); }).join("、") : "";
  edu.hostPanel.last.textContent = "";
  (Array.isArray(ev.last) ? ev.last : []).forEach(function (r) {
    const li = el("li");
    li.dataset.userId = String(r.user_id);
    li.dataset.passed = r.passed ? "1" : "0";
    li.appendChild(el("span", "r-name", String(r.name || "")));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", "r-outcome", (r.passed ? msg.msgPassed : msg.msgFailed) +
      (r.kind === "officer" ? " (" + msg.msgByOfficer + ")" : "")));
    edu.hostPanel.last.appendChild(li);
  });
}

if (signalling.socket && document.getElementById("room")) {
  signalling.onEvent("edu_check_call", onCall);
  signalling.onEvent("edu_check_challenge", onChallenge);
  signalling.onEvent("edu_check_result", onCheckResult);
  signalling.onEvent("edu_room", onRoom);
  signalling.onEvent("edu_checks", onChecks);
  edu.ticker = setInterval(renderDue, 1000);
}
