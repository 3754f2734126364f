/* Shared by the trial and annotation pages: a draft kept in localStorage and a submit that is
 * resent, with the same id, until the server has stored it. */
(function (global) {
  "use strict";

  function newId() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    (global.crypto || global.msCrypto).getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function post(url, body, type, redirect) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", redirect: redirect || "follow",
      headers: { "Content-Type": type, "X-CSRFToken": csrf() }, body: body
    });
  }

  /** A draft of this page's answers, kept across reloads: {sid, openedAt, ...}. */
  function Draft(key) {
    this.key = key;
    var saved = {};
    try { saved = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) { saved = {}; }
    this.data = saved;
    if (!saved.sid) saved.sid = newId();
    if (!saved.openedAt) saved.openedAt = Date.now();
  }
  Draft.prototype.save = function () {
    try { localStorage.setItem(this.key, JSON.stringify(this.data)); } catch (e) { /* private mode */ }
  };
  Draft.prototype.clear = function () {
    try { localStorage.removeItem(this.key); } catch (e) { /* ignore */ }
  };

  /** POST ``payload`` until the server says it is stored. Only a 200 whose body says "stored" or
   * "duplicate" (a resend of what was stored) counts: ui.done(next_url, answer). A 409/410/403 (stale, ended,
   * bad_stage, out_of_order, closed, no_session) stored nothing of this copy: ui.notStored(code),
   * which shows the participant why and a way on. Other 4xx: ui.failed(message). 5xx, 429,
   * network errors and answers that are not ours (a captive portal's 200) are retried with
   * back-off. */
  function sendUntilStored(url, payload, ui) {
    var delay = 1000;
    function retry() {
      ui.status(ui.texts.offline);
      setTimeout(attempt, delay);
      delay = Math.min(delay * 2, 30000);
    }
    function attempt() {
      ui.status(ui.texts.saving);
      post(url, JSON.stringify(payload), "application/json").then(function (resp) {
        return resp.json().catch(function () { return null; }).then(function (data) {
          var stored = resp.ok && data && data.ok === true &&
            (data.status === "stored" || data.status === "duplicate" || data.status === "screened_out");
          if (stored) return ui.done(data.next_url, data);
          if (resp.status >= 500 || resp.status === 429 || !data || resp.ok) return retry();
          if (resp.status === 409 || resp.status === 410 || resp.status === 403) {
            return ui.notStored(data.code || String(resp.status), data.error);
          }
          ui.failed(data.error || ((ui.texts.error || "Error") + " " + resp.status));
        });
      }).catch(retry);
    }
    attempt();
  }

  /** Leave an informational stage (the practice): POSTed until the server answers; the move is
   * idempotent on the server, so a resend after a lost answer is harmless. */
  function advanceUntilDone(url, stage, ui) {
    var delay = 1000;
    function retry() {
      ui.status(ui.texts.offline);
      setTimeout(attempt, delay);
      delay = Math.min(delay * 2, 30000);
    }
    function attempt() {
      var body = "stage=" + encodeURIComponent(stage);
      post(url, body, "application/x-www-form-urlencoded", "manual").then(function (resp) {
        // The answer is a redirect to the participant's current page, which ui.done() loads:
        // not followed here ("manual"), so that the page is not fetched twice.
        if (resp.ok || resp.type === "opaqueredirect") return ui.done();
        if (resp.status >= 500 || resp.status === 429) return retry();
        return resp.json().catch(function () { return {}; }).then(function (data) {
          if (data.code === "bad_stage") return ui.done(); // moved on already (an earlier copy)
          ui.notStored(data.code || String(resp.status), data.error);
        });
      }).catch(retry);
    }
    attempt();
  }

  global.MusiSceneSubmit = { newId: newId, csrf: csrf, post: post, Draft: Draft, sendUntilStored: sendUntilStored, advanceUntilDone: advanceUntilDone };
})(window);
