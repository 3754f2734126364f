/* An annotation page: hear the clip's music (with its muted video, or audio only), write the
 * scene it would suit, pick optional tags; a draft in localStorage; resent until stored. */
(function () {
  "use strict";
  var S = window.MusiSceneSubmit;
  var cfg = JSON.parse(document.getElementById("trial-config").textContent);
  var texts = JSON.parse(document.getElementById("trial-texts").textContent);
  var root = document.getElementById("trial");
  var statusEl = root.querySelector(".status");
  var nextBtn = root.querySelector("[data-action=next]");
  var onward = root.querySelector("[data-action=onward]");
  var area = root.querySelector("#description");
  var counter = root.querySelector("[data-count]");
  var lock = root.querySelector("[data-lock]");
  var boxes = Array.prototype.slice.call(root.querySelectorAll("input[type=checkbox][data-category]"));
  var draft = new S.Draft("ms:" + cfg.storage_key + ":annotation:" + cfg.index);
  var saved = draft.data;
  saved.text = saved.text || "";
  saved.tags = saved.tags || {};
  var baseHeard = saved.heard || 0;
  var sending = false;
  var finished = false;  // once stored, this page writes no draft again

  var events = [];
  var player = new MusiScenePlayer(root, {
    onEvent: function (e) { if (events.length < 2000) events.push(e); }, /* MAX_EVENTS of survey/submit_schema.py */
    onError: function () { statusEl.textContent = texts.audioError; }
  });
  window.__musiscenePlayer = player;

  area.value = saved.text;
  boxes.forEach(function (box) {
    var cat = box.getAttribute("data-category");
    box.checked = (saved.tags[cat] || []).indexOf(box.value) >= 0;
    box.addEventListener("change", function () {
      var chosen = boxes.filter(function (b) { return b.checked && b.getAttribute("data-category") === cat; })
        .map(function (b) { return b.value; });
      saved.tags[cat] = chosen;
      saveDraft();
    });
  });
  area.addEventListener("input", function () { saved.text = area.value; saveDraft(); update(); });
  function saveDraft() { if (!finished) { saved.heard = heard(); draft.save(); } }

  function heard() { return baseHeard + (player.listenedSeconds()[0] || 0); }
  function length() { return area.value.replace(/\s+/g, " ").trim().length; }

  function update() {
    var open = heard() + 0.25 >= cfg.tracks[0].required_s;
    area.disabled = !open;
    lock.hidden = open;
    counter.textContent = String(length());
    nextBtn.disabled = !open || length() < cfg.min_chars || sending || finished;
  }
  setInterval(update, 250);
  update();
  // A renderer crash fires no pagehide: the listening time is written every two seconds too.
  setInterval(saveDraft, 2000);
  window.addEventListener("pagehide", saveDraft);

  var ui = {
    texts: texts,
    status: function (text) { statusEl.textContent = text; },
    done: function (url) { finished = true; draft.clear(); window.location.assign(url || cfg.next_url); },
    failed: function (text) { sending = false; statusEl.textContent = text; update(); },
    notStored: function (code, message) {
      sending = false;
      var key = { stale: "stale", ended: "ended", bad_stage: "moved", out_of_order: "moved", closed: "closed", no_session: "noSession" }[code];
      statusEl.textContent = key ? texts[key] : texts.notStored + " " + (message || code);
      if (code === "stale") { finished = true; draft.clear(); }
      if (code !== "closed" && code !== "no_session") { onward.hidden = false; onward.focus(); }
      update();
    }
  };

  nextBtn.addEventListener("click", function () {
    if (length() < cfg.min_chars) { ui.status(texts.short); return; }
    if (cfg.min_trial_s && (Date.now() - saved.openedAt) / 1000 < cfg.min_trial_s) { ui.status(texts.wait); return; }
    sending = true;
    nextBtn.disabled = true;
    saveDraft();
    var tags = {};
    Object.keys(saved.tags).forEach(function (k) { if (saved.tags[k].length) tags[k] = saved.tags[k]; });
    S.sendUntilStored(cfg.submit_url, {
      index: cfg.index, submission_id: saved.sid, text: area.value, tags: tags, listening_s: saved.heard, events: events
    }, ui);
  });
})();
