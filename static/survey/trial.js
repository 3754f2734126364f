/* A trial page: blind tracks on one clock, sliders that unlock once heard, a draft in
 * localStorage (listening time saved every few seconds), and a submit that is resent until the
 * server says it is stored (same id each time). When the server's answer carries the next item
 * (``next``), the page shows it in place: no page load per trial. A reload shows the current
 * item as before. */
(function () {
  "use strict";
  var S = window.MusiSceneSubmit;
  var cfg = JSON.parse(document.getElementById("trial-config").textContent);
  var texts = JSON.parse(document.getElementById("trial-texts").textContent);
  var root = document.getElementById("trial");
  var statusEl = root.querySelector(".status");
  var nextBtn = root.querySelector("[data-action=next]");
  var onward = root.querySelector("[data-action=onward]");
  var draft, saved, baseHeard, sending, finished, events;
  /** The state of item ``cfg``: its draft (restored after a reload or a crash), nothing sent. */
  function begin() {
    draft = new S.Draft("ms:" + cfg.storage_key + ":" + cfg.mode + ":" + cfg.index);
    saved = draft.data;
    saved.values = saved.values || {};
    saved.moved = saved.moved || {};
    saved.heard = saved.heard || {};
    baseHeard = {};  // seconds heard before this page load
    Object.keys(saved.heard).forEach(function (k) { baseHeard[k] = Number(saved.heard[k]) || 0; });
    sending = false;
    finished = false;  // once stored, this item writes no draft again
    events = [];
  }
  begin();

  var player = new MusiScenePlayer(root, {
    onEvent: function (e) { if (events.length < 2000) events.push(e); }, /* MAX_EVENTS of survey/submit_schema.py */
    onError: function () { statusEl.textContent = texts.audioError; }
  });
  window.__musiscenePlayer = player;

  function showValue(input, out, label) {
    if (saved.moved[label]) {
      input.classList.remove("unset");
      input.removeAttribute("aria-valuetext");
      out.textContent = input.value;
    } else {
      input.classList.add("unset");
      input.setAttribute("aria-valuetext", texts.notRated);
      out.textContent = texts.notRated;
    }
  }

  var rows = Array.prototype.slice.call(root.querySelectorAll(".rating"));
  rows.forEach(function (row) {
    var label = row.getAttribute("data-label");
    var input = row.querySelector("input");
    var out = row.querySelector("output");
    if (saved.values[label] !== undefined) input.value = saved.values[label];
    showValue(input, out, label);
    input.addEventListener("input", function () {
      saved.values[label] = Number(input.value);
      saved.moved[label] = true;
      showValue(input, out, label);
      saveDraft();
      update();
    });
  });

  function heardSeconds() {
    var live = player.listenedSeconds();
    var out = {};
    cfg.tracks.forEach(function (t, i) { out[t.label] = (baseHeard[t.label] || 0) + (live[i] || 0); });
    return out;
  }

  function saveDraft() {
    if (finished) return;
    saved.heard = heardSeconds();
    draft.save();
  }

  function update() {
    var heard = heardSeconds();
    var allMoved = true;
    cfg.tracks.forEach(function (t, i) {
      var row = rows[i], input = row.querySelector("input");
      var bar = row.querySelector("progress"), left = row.querySelector("[data-left]");
      var open = heard[t.label] + 0.25 >= t.required_s;
      input.disabled = !open;
      if (bar) bar.value = Math.min(heard[t.label], Number(bar.max));
      if (left) {
        var n = Math.max(1, Math.ceil(t.required_s - heard[t.label] - 0.25));
        // secondsLeft[n]: the text for n seconds in the page's language (its plural form)
        var forms = texts.secondsLeft;
        var text = open ? texts.heard : forms[Math.min(n, forms.length - 1)].replace("%(n)s", String(n));
        if (left.textContent !== text) left.textContent = text;
        left.classList.toggle("lock", !open);
      }
      if (!saved.moved[t.label]) allMoved = false;
    });
    nextBtn.disabled = !allMoved || sending || finished;
  }
  setInterval(update, 250);
  update();
  // A renderer crash fires no pagehide: the listening time is written every two seconds too.
  setInterval(saveDraft, 2000);
  window.addEventListener("pagehide", saveDraft);

  /** Show item ``next`` (a config like the page's) in place of the one just stored; false when
   * this page cannot (more tracks than it has rows: then the next page is loaded). */
  function showNext(next) {
    if (!next || next.tracks.length > rows.length || cfg.mode === "practice") return false;
    cfg = next;
    player.reset(next.video_url, next.tracks.map(function (t) { return t.audio_url; }));
    begin();
    var label = root.querySelector("#study-progress-label");
    var bar = root.querySelector("progress.study-progress");
    var question = root.querySelector("#question");
    if (label) label.textContent = next.progress_text;
    if (bar) { bar.max = next.total; bar.value = next.index; }
    question.textContent = "";
    if (next.mode === "attention") {
      question.appendChild(document.createElement("strong")).textContent = next.prompt;
    } else {
      question.textContent = next.prompt;
    }
    rows.forEach(function (row, i) {
      var t = next.tracks[i];
      row.hidden = !t;
      if (!t) return;
      var input = row.querySelector("input"), out = row.querySelector("output");
      var bar = row.querySelector("progress");
      input.value = 50;
      input.disabled = true;
      showValue(input, out, t.label);
      if (bar) { bar.max = t.required_s || 1; bar.value = 0; }
    });
    statusEl.textContent = "";
    onward.hidden = true;
    onward.setAttribute("href", next.next_url);
    update();
    if (label) { label.setAttribute("tabindex", "-1"); label.focus(); }
    window.scrollTo(0, 0);
    return true;
  }

  var problems = { stale: "stale", ended: "ended", bad_stage: "moved", out_of_order: "moved", closed: "closed", no_session: "noSession" };
  var ui = {
    texts: texts,
    status: function (text) { statusEl.textContent = text; },
    done: function (url, data) {
      finished = true;
      draft.clear();
      if (data && showNext(data.next)) return;
      window.location.assign(url || cfg.next_url);
    },
    failed: function (text) { sending = false; statusEl.textContent = text; update(); },
    /** Not stored: say why and offer the way on (the draft is kept unless the item is done). */
    notStored: function (code, message) {
      sending = false;
      var key = problems[code];
      statusEl.textContent = key ? texts[key] : texts.notStored + " " + (message || code);
      if (code === "stale") { finished = true; draft.clear(); }
      if (code !== "closed" && code !== "no_session") { onward.hidden = false; onward.focus(); }
      update();
    }
  };

  function submit() {
    if (cfg.min_trial_s && (Date.now() - saved.openedAt) / 1000 < cfg.min_trial_s) { ui.status(texts.wait); return; }
    sending = true;
    nextBtn.disabled = true;
    saveDraft();
    if (cfg.mode === "practice") {
      S.advanceUntilDone(cfg.advance_url, "practice", ui);
      return;
    }
    var heard = saved.heard;
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
