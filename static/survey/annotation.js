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
      draft.save();
    });
  });
  area.addEventListener("input", function () { saved.text = area.value; draft.save(); update(); });

  function heard() { return baseHeard + (player.listenedSeconds()[0] || 0); }
  function length() { return area.value.replace(/\s+/g, " ").trim().length; }

  function update() {
    var open = heard() + 0.25 >= cfg.tracks[0].required_s;
    area.disabled = !open;
    lock.hidden = open;
    counter.textContent = String(length());
    nextBtn.disabled = !open || length() < cfg.min_chars || sending;
  }
  setInterval(update, 250);
  update();
  window.addEventListener("pagehide", function () { saved.heard = heard(); draft.save(); });

  var ui = {
    texts: texts,
    status: function (text) { statusEl.textContent = text; },
    done: function (url) { draft.clear(); window.location.assign(url || cfg.next_url); },
    failed: function (text) { sending = false; statusEl.textContent = text; update(); }
  };

  nextBtn.addEventListener("click", function () {
    if (length() < cfg.min_chars) { ui.status(texts.short); return; }
    if (cfg.min_trial_s && (Date.now() - saved.openedAt) / 1000 < cfg.min_trial_s) { ui.status(texts.wait); return; }
    sending = true;
    nextBtn.disabled = true;
    saved.heard = heard();
    draft.save();
    var tags = {};
    Object.keys(saved.tags).forEach(function (k) { if (saved.tags[k].length) tags[k] = saved.tags[k]; });
    S.sendUntilStored(cfg.submit_url, {
      index: cfg.index, submission_id: saved.sid, text: area.value, tags: tags, listening_s: saved.heard, events: events
    }, ui);
  });
})();
