/* A trial page: blind tracks on one clock, sliders that unlock once heard, a draft in
 * localStorage, and a submit that is resent until the server has stored it (same id each time). */
(function () {
  "use strict";
  var S = window.MusiSceneSubmit;
  var cfg = JSON.parse(document.getElementById("trial-config").textContent);
  var texts = JSON.parse(document.getElementById("trial-texts").textContent);
  var root = document.getElementById("trial");
  var statusEl = root.querySelector(".status");
  var nextBtn = root.querySelector("[data-action=next]");
  var draft = new S.Draft("ms:" + cfg.storage_key + ":" + cfg.mode + ":" + cfg.index);
  var saved = draft.data;
  saved.values = saved.values || {};
  saved.moved = saved.moved || {};
  saved.heard = saved.heard || {};
  var baseHeard = saved.heard;  // seconds heard before this page load (restored after a reload)
  var sending = false;

  var events = [];
  var player = new MusiScenePlayer(root, {
    onEvent: function (e) { if (events.length < 2000) events.push(e); }, /* MAX_EVENTS of survey/submit_schema.py */
    onError: function () { statusEl.textContent = texts.audioError; }
  });
  window.__musiscenePlayer = player;

  var rows = Array.prototype.slice.call(root.querySelectorAll(".rating"));
  rows.forEach(function (row) {
    var label = row.getAttribute("data-label");
    var input = row.querySelector("input");
    var out = row.querySelector("output");
    if (saved.values[label] !== undefined) { input.value = saved.values[label]; }
    if (saved.moved[label]) out.textContent = input.value;
    input.addEventListener("input", function () {
      saved.values[label] = Number(input.value);
      saved.moved[label] = true;
      out.textContent = input.value;
      draft.save();
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
  window.addEventListener("pagehide", function () { saved.heard = heardSeconds(); draft.save(); });

  var ui = {
    texts: texts,
    status: function (text) { statusEl.textContent = text; },
    done: function (url) { draft.clear(); window.location.assign(url || cfg.next_url); },
    failed: function (text) { sending = false; statusEl.textContent = text; update(); }
  };

  function submit() {
    if (cfg.min_trial_s && (Date.now() - saved.openedAt) / 1000 < cfg.min_trial_s) { ui.status(texts.wait); return; }
    sending = true;
    nextBtn.disabled = true;
    if (cfg.mode === "practice") {
      S.post(cfg.advance_url, "stage=practice", "application/x-www-form-urlencoded")
        .then(function () { ui.done(); }, function () { sending = false; ui.status(texts.offline); });
      return;
    }
    var heard = heardSeconds();
    saved.heard = heard;
    draft.save();
    S.sendUntilStored(cfg.submit_url, {
      index: cfg.index, submission_id: saved.sid, events: events,
      ratings: cfg.tracks.map(function (t) {
        return { label: t.label, value: saved.values[t.label], moved: !!saved.moved[t.label], listening_s: heard[t.label] };
      })
    }, ui);
  }
  nextBtn.addEventListener("click", function () {
    if (cfg.tracks.some(function (t) { return !saved.moved[t.label]; })) { ui.status(texts.moveAll); return; }
    submit();
  });
})();
