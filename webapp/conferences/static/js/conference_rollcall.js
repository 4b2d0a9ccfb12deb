// Conference room: roll calls. The host's panel (start for everyone or the ticked people, end,
// live counts and records) and, for the person being called, the overlay with the call, the
// liveness challenge's actions and the outcome. The server decides every outcome.

import { cfg, els, fmt, isHost, label, root, sameSite, state, toast, toastError } from "./conference_context.js";
import { ask } from "./conference_signalling.js";

// --- the host's panel ------------------------------------------------------------------------

export function onRollcall(rollcall) {
  state.rollcall = rollcall || null;
  state.rollcallAt = Date.now();
  renderRollcall();
}

function renderRollcall() {
  const rc = state.rollcall;
  const running = !!rc && rc.state === "running";
  root.dataset.rollcall = rc ? String(rc.state) : "";
  if (els.rcState) els.rcState.textContent = rc ? (running ? cfg.msgRcRunning : cfg.msgRcDone) : "";
  if (!isHost) return;
  els.rcAll.disabled = running;
  els.rcChecked.disabled = running;
  els.rcEnd.disabled = !running;
  renderCalling();
  const counts = (rc && rc.counts) || {};
  els.rcCounts.querySelectorAll("[data-count]").forEach(function (cell) {
    cell.textContent = String(counts[cell.dataset.count] || 0);
  });
  els.rcRecords.textContent = "";
  ((rc && rc.records) || []).forEach(function (r) {
    const li = document.createElement("li");
    li.dataset.userId = String(r.user_id);
    li.dataset.outcome = String(r.outcome);
    const name = document.createElement("span");
    name.className = "r-name";
    name.textContent = String(r.name || "");
    const outcome = document.createElement("span");
    outcome.className = "r-outcome";
    outcome.textContent = label("msgOutcome", r.outcome);
    li.appendChild(name);
    li.appendChild(outcome);
    els.rcRecords.appendChild(li);
  });
  if (rc && sameSite(rc.table_url)) { els.rcTable.href = rc.table_url; els.rcTable.hidden = false; }
  else els.rcTable.hidden = true;
}

function renderCalling() {
  const rc = state.rollcall;
  if (!isHost || !els.rcCalling) return;
  const calling = (rc && rc.state === "running" && rc.calling) || [];
  const elapsed = (Date.now() - state.rollcallAt) / 1000;
  els.rcCalling.textContent = calling.length ? cfg.msgRcCalling + " " + calling.map(function (c) {
    const left = Math.max(0, Math.ceil(Number(c.deadline_in_s || 0) - elapsed));
    return String(c.name || "") + " (" + fmt(cfg.msgSeconds, { s: left }) + ")";
  }).join("、") : "";
}

function startRollcall(userIds) {
  const payload = userIds ? { user_ids: userIds } : {};
  ask("rollcall_start", payload).then(function (res) {
    root.dataset.rollcallId = String(res.rollcall_id || "");
  }, toastError);
}

// --- being called ------------------------------------------------------------------------------

export function stopCall() {
  if (state.call) { clearInterval(state.call.timer); clearTimeout(state.call.hide); state.call = null; }
}

function runCall(tick) {
  // One ticking countdown at a time; `tick(elapsedSeconds)` renders it.
  const hide = state.call ? state.call.hide : null;
  if (state.call) clearInterval(state.call.timer);
  if (hide) clearTimeout(hide);
  const started = Date.now();
  const step = function () { tick((Date.now() - started) / 1000); };
  state.call = { timer: setInterval(step, 250), hide: null };
  step();
}

export function onCall(ev) {
  els.overlay.hidden = false;
  els.overlay.dataset.phase = "call";
  els.callText.textContent = fmt(cfg.msgCall, { name: ev.name || "" });
  els.callAction.textContent = "";
  els.callOutcome.textContent = "";
  const within = Number(ev.answer_within_s || 0);
  runCall(function (t) {
    els.callCountdown.textContent = fmt(cfg.msgSeconds, { s: Math.max(0, Math.ceil(within - t)) });
  });
}

export function onChallenge(ev) {
  els.overlay.hidden = false;
  els.overlay.dataset.phase = "challenge";
  els.callOutcome.textContent = "";
  const actions = Array.isArray(ev.actions) ? ev.actions : [];
  const startsIn = Number(ev.starts_in_s || 0);
  const windowS = Number(ev.window_s || 0);
  runCall(function (t) {
    if (t < startsIn) {
      els.callAction.textContent = fmt(cfg.msgChallengeReady, { s: Math.ceil(startsIn - t) });
      els.callCountdown.textContent = "";
      return;
    }
    const i = windowS > 0 ? Math.floor((t - startsIn) / windowS) : 0;
    if (i >= actions.length) { els.callAction.textContent = ""; els.callCountdown.textContent = ""; return; }
    els.overlay.dataset.action = String(actions[i]);
    els.callAction.textContent = label("msgAction", actions[i]);
    const left = windowS > 0 ? Math.ceil(startsIn + (i + 1) * windowS - t) : 0;
    els.callCountdown.textContent = fmt(cfg.msgSeconds, { s: Math.max(0, left) });
  });
}

export function onResult(ev) {
  stopCall();
  els.overlay.hidden = false;
  els.overlay.dataset.phase = "result";
  root.dataset.myOutcome = String(ev.outcome || "");
  els.callAction.textContent = "";
  els.callCountdown.textContent = "";
  els.callOutcome.textContent = fmt(cfg.msgResult, { outcome: label("msgOutcome", ev.outcome) });
  state.call = { timer: null, hide: setTimeout(function () { els.overlay.hidden = true; state.call = null; }, 6000) };
}

export function install() {
  setInterval(function () { if (state.rollcall) renderCalling(); }, 1000);
  if (isHost) {
    els.rcAll.addEventListener("click", function () { startRollcall(null); });
    els.rcChecked.addEventListener("click", function () {
      const ids = Array.from(state.picked);
      if (!ids.length) { toast(cfg.msgPickSomeone); return; }
      startRollcall(ids);
    });
    els.rcEnd.addEventListener("click", function () { ask("rollcall_end", {}).catch(toastError); });
  }
}
