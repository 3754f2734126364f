/* The last page: this participant's drafts are removed from localStorage, and where the recruiter
 * gave a completion URL the participant is sent there once the server has confirmed that every
 * answer is stored (this page is only shown then); the link stays as the fallback. */
(function () {
  "use strict";
  var root = document.querySelector("[data-done]");
  if (!root) return;
  var prefix = root.getAttribute("data-storage-prefix");
  if (prefix) {
    try {
      var stale = [];
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k && k.indexOf(prefix) === 0) stale.push(k);
      }
      stale.forEach(function (k) { localStorage.removeItem(k); });
    } catch (e) { /* storage unavailable: nothing was kept */ }
  }
  var link = document.querySelector("[data-redirect][data-auto]");
  if (!link) return;
  var note = document.querySelector("[data-redirect-note]");
  if (note) note.hidden = false;
  setTimeout(function () { window.location.replace(link.href); }, Number(link.getAttribute("data-auto")) || 0);
})();
