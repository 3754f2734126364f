/* One clock for a muted video and its candidate tracks.
 *
 * The <video> is the master clock. Each track is fetched and decoded once into an AudioBuffer;
 * switching stops the playing AudioBufferSourceNode and starts the chosen one at
 * video.currentTime with a short crossfade. Pause, seek and loop follow the video's events.
 * Audio starts only from a user gesture (the AudioContext is resumed in the click handler).
 */
(function (global) {
  "use strict";
  var FADE = 0.015;

  function MusiScenePlayer(root, options) {
    this.root = root;
    this.options = options || {};
    this.video = root.querySelector("video");
    this.video.muted = true;
    this.buttons = Array.prototype.slice.call(root.querySelectorAll("button[data-audio]"));
    this.ctx = null;
    this.buffers = {};
    this.current = null;     // index of the selected track
    this.source = null;      // the playing AudioBufferSourceNode
    this.gain = null;
    this.startedAt = 0;      // ctx.currentTime when the source started
    this.offset = 0;         // video time at that moment
    this.listened = {};      // seconds heard per track index
    this.events = [];
    var self = this;
    this.buttons.forEach(function (b, i) {
      b.addEventListener("click", function () { self.select(i); });
    });
    var play = root.querySelector("[data-action=play]");
    if (play) play.addEventListener("click", function () { self.toggle(); });
    this.video.addEventListener("pause", function () { self._stopSource(); self._log("pause"); });
    this.video.addEventListener("play", function () { self._log("play"); });
    this.video.addEventListener("playing", function () { self._startSource(); });
    this.video.addEventListener("seeked", function () { self._log("seek"); if (!self.video.paused) self._startSource(); });
    this.video.addEventListener("ended", function () { self._stopSource(); self._log("ended"); });
    if (this.options.loop !== false) this.video.loop = true;
  }

  MusiScenePlayer.prototype._log = function (type, extra) {
    var e = { type: type, t: Date.now(), video_time: this.video.currentTime, track: this.current };
    if (extra) for (var k in extra) e[k] = extra[k];
    this.events.push(e);
    if (this.options.onEvent) this.options.onEvent(e);
  };

  MusiScenePlayer.prototype._context = function () {
    if (!this.ctx) {
      var AC = global.AudioContext || global.webkitAudioContext;
      this.ctx = new AC();
    }
    if (this.ctx.state === "suspended") this.ctx.resume();
    return this.ctx;
  };

  MusiScenePlayer.prototype._load = function (i) {
    var self = this;
    if (this.buffers[i]) return Promise.resolve(this.buffers[i]);
    var url = this.buttons[i].getAttribute("data-audio");
    var ctx = this._context();
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.arrayBuffer(); })
      .then(function (data) {
        return new Promise(function (resolve, reject) { ctx.decodeAudioData(data, resolve, reject); });
      })
      .then(function (buf) { self.buffers[i] = buf; return buf; });
  };

  MusiScenePlayer.prototype.loadAll = function () {
    var self = this;
    return Promise.all(this.buttons.map(function (_, i) { return self._load(i); }));
  };

  MusiScenePlayer.prototype._account = function () {
    if (this.source && this.current !== null) {
      var heard = this.ctx.currentTime - this.startedAt;
      this.listened[this.current] = (this.listened[this.current] || 0) + Math.max(0, heard);
    }
  };

  MusiScenePlayer.prototype._stopSource = function () {
    if (!this.source) return;
    this._account();
    var src = this.source, g = this.gain, now = this.ctx.currentTime;
    g.gain.setValueAtTime(g.gain.value, now);
    g.gain.linearRampToValueAtTime(0, now + FADE);
    src.stop(now + FADE + 0.005);
    this.source = null;
    this.gain = null;
  };

  MusiScenePlayer.prototype._startSource = function () {
    var buf = this.current !== null ? this.buffers[this.current] : null;
    this._stopSource();
    if (!buf || this.video.paused) return;
    var ctx = this.ctx, now = ctx.currentTime;
    var offset = this.video.currentTime % buf.duration;
    var src = ctx.createBufferSource(), g = ctx.createGain();
    src.buffer = buf;
    src.loop = this.video.loop;
    g.gain.setValueAtTime(0, now);
    g.gain.linearRampToValueAtTime(1, now + FADE);
    src.connect(g).connect(ctx.destination);
    src.start(now, offset);
    this.source = src;
    this.gain = g;
    this.startedAt = now;
    this.offset = offset;
  };

  /** Drift in seconds between the audio clock and the video clock (positive: audio ahead). */
  MusiScenePlayer.prototype.drift = function () {
    if (!this.source) return null;
    var buf = this.buffers[this.current];
    var audioPos = (this.offset + (this.ctx.currentTime - this.startedAt)) % buf.duration;
    var videoPos = this.video.currentTime % buf.duration;
    var d = audioPos - videoPos;
    if (d > buf.duration / 2) d -= buf.duration;
    if (d < -buf.duration / 2) d += buf.duration;
    return d;
  };

  MusiScenePlayer.prototype.select = function (i) {
    var self = this;
    this._context();
    return this._load(i).then(function () {
      self._account();
      self.current = i;
      self.buttons.forEach(function (b, j) { b.setAttribute("aria-pressed", j === i ? "true" : "false"); });
      self._log("switch");
      if (self.video.paused) return self.video.play();
      self._startSource();
    }).catch(function (err) {
      self._log("error", { message: String(err) });
      if (self.options.onError) self.options.onError(err);
    });
  };

  MusiScenePlayer.prototype.toggle = function () {
    this._context();
    if (this.current === null && this.buttons.length) return this.select(0);
    if (this.video.paused) return this.video.play();
    this.video.pause();
  };

  MusiScenePlayer.prototype.listenedSeconds = function () {
    var out = {}, now = this.source ? this.ctx.currentTime - this.startedAt : 0;
    for (var i = 0; i < this.buttons.length; i++) {
      out[i] = (this.listened[i] || 0) + (this.current === i ? Math.max(0, now) : 0);
    }
    return out;
  };

  global.MusiScenePlayer = MusiScenePlayer;
})(window);
