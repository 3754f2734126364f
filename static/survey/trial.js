/* A trial page: blind tracks on one clock, sliders that unlock once heard, autosave in
 * localStorage, and a submit that is resent until the server has stored it (same id each time). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("trial-config").textContent);
  var texts = JSON.parse(document.getElementById("trial-texts").textContent);
  var root = document.getElementById("trial");
  var statusEl = root.querySelector(".status");
  var nextBtn = root.querySelector("[data-action=next]");
  var key = "ms:" + cfg.storage_key + ":" + cfg.mode + ":" + cfg.index;
  var openedAt = Date.now();
  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) { saved = {}; }
  saved.values = saved.values || {};
  saved.moved = saved.moved || {};
  saved.heard = saved.heard || {};
  if (!saved.sid) saved.sid = newId();
  if (!saved.openedAt) saved.openedAt = openedAt;
  var baseHeard = saved.heard;  // seconds heard before this page load (restored after a reload)

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function persist() { try { localStorage.setItem(key, JSON.stringify(saved)); } catch (e) { /* private mode */ } }

  var events = [];
  var player = new MusiScenePlayer(root, {
    onEvent: function (e) { if (events.length < 5000) events.push(e); },
    onError: function () { statusEl.textContent = texts.audioError; }
  });
  window.__musiscenePlayer = player;

  var rows = Array.prototype.slice.call(root.querySelectorAll(".rating"));
  rows.forEach(function (row, i) {
    var label = row.getAttribute("data-label");
    var input = row.querySelector("input");
    var out = row.querySelector("output");
    if (saved.values[label] !== undefined) { input.value = saved.values[label]; }
    if (saved.moved[label]) out.textContent = input.value;
    input.addEventListener("input", function () {
      saved.values[label] = Number(input.value);
      saved.moved[label] = true;
      out.textContent = input.value;
      persist();
      update();
    });
  });

  function heardSeconds() {
    var live = player.listenedSeconds();
    var out = {};
    cfg.tracks.forEach(function (t, i) { out[t.label] = (baseHeard[t.label] || 0) + (live[i] || 0); });
    return out;
  }

  function update() {
    var heard = heardSeconds();
    var allMoved = true;
    cfg.tracks.forEach(function (t, i) {
      var row = rows[i], input = row.querySelector("input"), lock = row.querySelector("[data-lock]");
      var open = heard[t.label] + 0.25 >= t.required_s;
      input.disabled = !open;
      if (lock) lock.hidden = open;
      if (!saved.moved[t.label]) allMoved = false;
    });
    nextBtn.disabled = !allMoved || sending;
  }
  setInterval(update, 250);
  update();

  window.addEventListener("pagehide", function () { saved.heard = heardSeconds(); persist(); });

  var sending = false, delay = 1000;
  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function finish(url) {
    try { localStorage.removeItem(key); } catch (e) { /* ignore */ }
    window.location.assign(url || cfg.next_url);
  }

  function post(url, body, type) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": type, "X-CSRFToken": csrf() }, body: body
    });
  }

  function submit() {
    var elapsed = (Date.now() - saved.openedAt) / 1000;
    if (cfg.min_trial_s && elapsed < cfg.min_trial_s) { statusEl.textContent = texts.wait; return; }
    if (cfg.mode === "practice") {
      sending = true;
      post(cfg.advance_url, "stage=practice", "application/x-www-form-urlencoded")
        .then(function () { finish(); }, function () { sending = false; statusEl.textContent = texts.offline; });
      return;
    }
    var heard = heardSeconds();
    var payload = {
      index: cfg.index, submission_id: saved.sid, events: events,
      ratings: cfg.tracks.map(function (t) {
        return { label: t.label, value: saved.values[t.label], moved: !!saved.moved[t.label], listening_s: heard[t.label] };
      })
    };
    saved.heard = heard;
    persist();
    sending = true;
    nextBtn.disabled = true;
    statusEl.textContent = texts.saving;
    post(cfg.submit_url, JSON.stringify(payload), "application/json").then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (resp.ok || resp.status === 409) return finish(data.next_url);
        if (resp.status >= 500 || resp.status === 429) throw new Error("server " + resp.status);
        sending = false;
        statusEl.textContent = data.error || ("Error " + resp.status);
        update();
      });
    }).catch(function () {
      statusEl.textContent = texts.offline;
      setTimeout(submit, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  nextBtn.addEventListener("click", function () {
    var missing = cfg.tracks.some(function (t) { return !saved.moved[t.label]; });
    if (missing) { statusEl.textContent = texts.moveAll; return; }
    submit();
  });
})();
