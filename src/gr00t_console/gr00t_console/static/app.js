// gr00t-ros console page: one WebSocket to the console node (state pushes, camera frames, commands).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"];
  let ws = null;
  let authed = false;
  let nextId = 1;
  const pending = new Map();  // request id -> callback
  let groups = {};
  let group = null;
  let plot = null;
  let plotData = null;  // {t: [], cmd: [[]...], meas: [[]...]}
  let chunkTimes = [];
  let windowS = 10;
  let cameraUrl = null;
  let cameraNames = [];
  window.gr00tConsole = { estopClickedAt: null, estoppedSeenAt: null, lastState: null, frames: 0 };

  // The token: from the URL fragment (never sent to the server in a request line), else the session.
  const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
  if (hashToken) {
    sessionStorage.setItem("gr00t-token", hashToken);
    history.replaceState(null, "", location.pathname);
  }
  let token = sessionStorage.getItem("gr00t-token") || "";

  function message(text, bad) {
    const el = $("message");
    el.textContent = text;
    el.className = bad ? "bad" : "dim";
  }

  function send(op, args, onReply) {
    const id = nextId++;
    if (onReply) pending.set(id, onReply);
    const payload = JSON.stringify(Object.assign({ op: op, id: id }, args || {}));
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(payload);
    } else if (op === "estop") {  // no WebSocket: the HTTP e-stop needs no token either
      fetch("/api/estop", { method: "POST" }).then((r) => r.json()).then(onReply || (() => {}));
    } else {
      message("not connected", true);
    }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws");
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      setPill("connection", "connected", "good");
      if (token) send("auth", { token: token }, onAuth);
      else showTokenRow();
    };
    ws.onclose = () => {
      authed = false;
      setPill("connection", "disconnected", "bad");
      setTimeout(connect, 1000);
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") return onFrame(event.data);
      const msg = JSON.parse(event.data);
      if (msg.type === "state") onState(msg);
      else if (msg.type === "hello") onHello(msg);
      else if (msg.type === "reply") onReply(msg);
      else if (msg.type === "error") message(msg.message, true);
    };
  }

  function onAuth(reply) {
    authed = reply.ok;
    setPill("auth", reply.ok ? "token ok" : "wrong token", reply.ok ? "good" : "bad");
    if (!reply.ok) showTokenRow();
    else $("token-row").classList.add("hidden");
  }

  function showTokenRow() {
    $("token-row").classList.remove("hidden");
    setPill("auth", "no token: e-stop only", "bad");
  }

  function onReply(msg) {
    const cb = pending.get(msg.id);
    pending.delete(msg.id);
    if (cb) cb(msg);
    if (msg.op !== "auth" && msg.op !== "select_group") message(msg.op + ": " + (msg.message || (msg.ok ? "ok" : "refused")), !msg.ok);
  }

  function onHello(msg) {
    groups = msg.joints;
    const select = $("group");
    select.textContent = "";
    for (const name of msg.groups) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      select.appendChild(option);
    }
    select.value = msg.group;
    setGroup(msg.group);
  }

  function setPill(id, text, kind) {
    const el = $(id);
    el.textContent = text;
    el.className = "pill " + (kind || "");
  }

  function fmt(v, digits) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(digits === undefined ? 1 : digits);
  }

  function onState(s) {
    const c = s.controller;
    const stateEl = $("controller-state");
    if (c) {
      stateEl.textContent = c.state;
      stateEl.className = "state state-" + c.state.toLowerCase();
      if (c.state === "ESTOPPED" && window.gr00tConsole.estoppedSeenAt === null && window.gr00tConsole.estopClickedAt !== null) {
        window.gr00tConsole.estoppedSeenAt = performance.now();
        window.gr00tConsole.estoppedSince = c.since;  // console clock: when the console got the status
      }
      $("controller-reason").textContent = c.reason || "";
      $("controller-source").textContent = c.source || "";
      $("dry-run").classList.toggle("hidden", !c.dry_run);
      const faults = $("faults");
      faults.textContent = "";
      for (const f of c.faults) {
        const li = document.createElement("li");
        li.textContent = f;
        faults.appendChild(li);
      }
      $("chunks-executed").textContent = c.chunks_executed;
    } else {
      stateEl.textContent = "NO STATUS";
      stateEl.className = "state";
    }
    window.gr00tConsole.lastState = c ? c.state : null;
    $("rate-commands").textContent = fmt(s.rates.commands);
    $("rate-chunks").textContent = fmt(s.rates.chunks);
    $("rate-camera").textContent = fmt(s.rates.camera);
    $("rate-joint-states").textContent = fmt(s.rates.joint_states, 0);
    $("current-instruction").textContent = s.instruction || "–";
    const a = s.action;
    $("action").textContent = a ? actionText(a) : "no action sent from this console";
    const r = s.recorder;
    $("recorder-state").textContent = r ? recorderText(r) : "recorder not running";
    $("last-episode").textContent = r && r.last_episode ? "last: " + r.last_episode : "";
    const e = s.episodes;
    $("episodes").textContent = e.total ? `(${e.total} episodes: ${e.success} ok, ${e.failure} failed, ${e.discarded} discarded, ${e.interrupted} interrupted)` : "(0 episodes)";
    cameraNames = s.cameras || [];
    $("camera-name").textContent = cameraNames.join(", ");
    updatePlot(s.plot, s.t);
  }

  function actionText(a) {
    let text = `“${a.instruction}”: ${a.status}`;
    if (a.outcome) text += ` → ${a.outcome}` + (a.reason ? ` (${a.reason})` : "");
    if (a.elapsed_s !== undefined) text += ` · ${fmt(a.elapsed_s)} s`;
    if (a.chunks_executed !== undefined) text += ` · ${a.chunks_executed} chunks`;
    if (a.state_text) text += ` · ${a.state_text}`;
    return text;
  }

  function recorderText(r) {
    if (r.state === "recording") return `recording ${r.episode}: “${r.task}” · ${fmt(r.elapsed_s)} s · ${r.messages || 0} messages` + (r.dropped ? ` · ${r.dropped} dropped` : "");
    return r.state + (r.writer_failure ? " · writer failure: " + r.writer_failure : "") + (r.output_dir ? " · " + r.output_dir : "");
  }

  function onFrame(buffer) {
    const bytes = new Uint8Array(buffer);
    if (bytes.length < 2 || bytes[0] !== 0) return;  // the first camera is shown
    const blob = new Blob([bytes.subarray(1)], { type: "image/jpeg" });
    const url = URL.createObjectURL(blob);
    const img = $("camera");
    img.onload = () => { if (cameraUrl) URL.revokeObjectURL(cameraUrl); cameraUrl = url; window.gr00tConsole.frames++; };
    img.src = url;
  }

  // ------------------------------------------------------------------ plot
  function setGroup(name) {
    group = name;
    const joints = groups[name] || [];
    plotData = { t: [], cmd: joints.map(() => []), meas: joints.map(() => []) };
    chunkTimes = [];
    const series = [{}];
    joints.forEach((j, i) => {
      series.push({ label: j + " cmd", stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true });
    });
    joints.forEach((j, i) => {
      series.push({ label: j + " meas", stroke: COLORS[i % COLORS.length], width: 1, dash: [4, 4], spanGaps: true });
    });
    const el = $("plot");
    el.textContent = "";
    plot = new uPlot({
      width: Math.max(400, el.clientWidth || 900), height: 280,
      scales: { x: { time: false } },
      axes: [{ label: "s" }, { label: "rad" }],
      legend: { show: true, live: false },
      series: series,
      hooks: { draw: [drawChunks] },
    }, [[], ...series.slice(1).map(() => [])], el);
  }

  function drawChunks(u) {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "rgba(90,90,90,0.45)";
    ctx.setLineDash([]);
    ctx.lineWidth = 1;
    for (const t of chunkTimes) {
      const x = u.valToPos(t, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  }

  function updatePlot(p, now) {
    if (!plot || !p || p.group !== group) return;
    windowS = p.window_s;
    for (let k = 0; k < p.t.length; k++) {
      plotData.t.push(p.t[k]);
      for (let i = 0; i < plotData.cmd.length; i++) {
        plotData.cmd[i].push(p.commanded[i] ? p.commanded[i][k] : null);
        plotData.meas[i].push(p.measured[i] ? p.measured[i][k] : null);
      }
    }
    chunkTimes.push(...p.chunks);
    const cutoff = now - windowS;
    let drop = 0;
    while (drop < plotData.t.length && plotData.t[drop] < cutoff) drop++;
    if (drop) {
      plotData.t.splice(0, drop);
      plotData.cmd.forEach((a) => a.splice(0, drop));
      plotData.meas.forEach((a) => a.splice(0, drop));
    }
    chunkTimes = chunkTimes.filter((t) => t >= cutoff);
    if (p.t.length || p.chunks.length) plot.setData([plotData.t, ...plotData.cmd, ...plotData.meas]);
  }

  // ------------------------------------------------------------------ controls
  $("estop").addEventListener("click", () => {
    window.gr00tConsole.estopClickedAt = performance.now();
    window.gr00tConsole.estoppedSeenAt = null;
    window.gr00tConsole.estopReply = null;
    send("estop", {}, (reply) => { window.gr00tConsole.estopReply = Object.assign({ at: performance.now() }, reply); });
  });
  $("enable").addEventListener("click", () => send("enable", {}));
  $("disable").addEventListener("click", () => send("disable", {}));
  $("reset-estop").addEventListener("click", () => send("reset_estop", {}));
  $("instruct-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const timeout = Number($("timeout").value) || 0;
    send("instruct", { text: $("instruction").value, timeout_s: timeout });
  });
  $("stop").addEventListener("click", () => send("stop", {}));
  $("record-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send("record_start", { text: $("record-task").value });
  });
  $("record-success").addEventListener("click", () => send("record_stop", { outcome: "success" }));
  $("record-failure").addEventListener("click", () => send("record_stop", { outcome: "failure" }));
  $("record-discard").addEventListener("click", () => send("record_stop", { outcome: "discard" }));
  $("group").addEventListener("change", (event) => {
    setGroup(event.target.value);
    send("select_group", { group: event.target.value });
  });
  $("token-apply").addEventListener("click", () => {
    token = $("token").value.trim();
    sessionStorage.setItem("gr00t-token", token);
    if (ws && ws.readyState === WebSocket.OPEN) send("auth", { token: token }, onAuth);
  });
  connect();
})();
