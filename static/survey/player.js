/* One clock for a muted video and its candidate tracks.
 *
 * The <video> is the master clock. Each track is fetched and decoded once into an AudioBuffer;
 * switching stops the playing AudioBufferSourceNode and starts the chosen one at the video's
 * position with a short crossfade. Pause, stall, seek and loop follow the video's events.
 * While a track plays, the page measures the drift between what is heard and the frame that is
 * shown (at every presented frame where the browser reports them, else ten times a second) and
 * re-aligns the audio past DRIFT_LIMIT. Both sides are taken when the participant meets them: the
 * audio when it leaves the speaker (AudioContext.getOutputTimestamp, else the output latency the
 * browser reports), the video when its frame reaches the screen (the presented frame's display
 * time). A sound is started at the position the shown video will have when the sound is heard.
 * Firefox on Linux is not asked for its output latency (see ``latencyReadable``): there the
 * audio clock's scheduled time stands for the time heard.
 * Audio starts only from a user gesture (the AudioContext is created and resumed in the click).
 *
 * Listening time is kept by a ListenLedger: a small pure state machine fed with the times (on the
 * audio clock) at which a track's sound starts and stops, so every stretch of sound is credited
 * exactly once, to the track that made it, whatever the sequence of clicks and video events.
 *
 * One file because the pages load it as one plain script (no bundler), and the clock, its
 * checks and the ledger's feed all work on the one player's state.
 */
(function (global) {
  "use strict";
  var FADE = 0.012; // seconds of crossfade on every start and stop
  // Sounds are scheduled this far ahead, so they start exactly when asked even when the page's
  // thread is late by a few tens of ms (a start asked for in the past begins late, by how much
  // nobody says).
  var LEAD = 0.04;
  var SOON = 0.005; // a stop on its own: the next render quantum or so
  var DRIFT_LIMIT = 0.003; // re-align when what is heard is this far from the frame shown twice
  var DRIFT_HARD = 0.006; // ... or this far once
  var SETTLE_MS = 150; // no measuring this long after a seek (the frame shown may be stale)
  var FRAME_FRESH_MS = 400; // a presented frame this recent tells where the video is shown
  var FRAME_AGREE = 0.08; // a frame further than this from the element's position is not believed
  var DRIFT_COARSE = 0.02; // without frames (the element's position is coarser): re-align past this
  // Frames given up on (they disagreed with the element's position, or none came) are believed
  // again after this long of frames that all agree; doubled each time they are given up on again
  // on this page, up to TRUST_MAX_MS, so an engine whose frames come and go does not flap.
  var TRUST_AGAIN_MS = 1000;
  var TRUST_MAX_MS = 8000;
  var TRUST_FRAMES = 5; // ... and at least this many of them
  var NOISY_FRAMES = 3; // where frames jitter: re-align once the cadence rests on this many ...
  var CADENCE_FRAMES = 24; // ... of the last this many frames of the pass (2.4 s at 10 fps) ...
  var CADENCE_SE = 1.5; // ... where it is off by more than this many standard errors of the cadence
  var CADENCE_BREAK = 0.05; // a frame this far off the cadence begins another pass
  var JITTER_CAP = 0.02; // a change of drift between frames counts at most this much as jitter
  var CLOCK_WINDOW_MS = 2000; // readings of the audio clock kept to place it (``_ctxAt``) ...
  var CLOCK_STEP_MAX = 0.05; // ... unless it has since stood still or jumped by more than this
  var CLOCK_READ_MS = 7; // ... read this often
  var JUMP_POLL_MS = 20; // the element's position is checked this often for a jump ...
  var JUMP_BACK = 0.05; // ... back by this much
  var JUMP_ON = 0.1; // ... or on by this much more than the time passed
  var FRAME_GAP_MS = 300; // frames further apart than this are not coming (the coarser check runs)

  /** Seconds of sound per track. start(track, t) and stop(t) take times on one clock; a start
   * while another track runs ends that one at the same time. Pure: no clock of its own. */
  function ListenLedger(base) {
    this.totals = {};
    if (base) for (var k in base) this.totals[k] = Number(base[k]) || 0;
    this.track = null;
    this.since = 0;
  }
  ListenLedger.prototype.start = function (track, t) {
    this.stop(t);
    this.track = track;
    this.since = t;
  };
  ListenLedger.prototype.stop = function (t) {
    if (this.track === null) return;
    this.totals[this.track] = (this.totals[this.track] || 0) + Math.max(0, t - this.since);
    this.track = null;
  };
  ListenLedger.prototype.read = function (t) {
    var out = {};
    for (var k in this.totals) out[k] = this.totals[k];
    if (this.track !== null) out[this.track] = (out[this.track] || 0) + Math.max(0, t - this.since);
    return out;
  };

  function mod(x, m) { return ((x % m) + m) % m; }

  /** Whether the output latency may be asked for. Not in Gecko on Linux (Firefox, and its
   * forks, with PulseAudio or PipeWire's PulseAudio server): there a read of
   * AudioContext.outputLatency, or of getOutputTimestamp() (made from it), before the audio
   * graph has kept a value asks the audio server synchronously while holding the graph's lock;
   * if PulseAudio is then waiting, under its own lock, for the graph's next block, neither lets
   * go and the page's main thread hangs (over 60 s each time seen). In Firefox ESR 153, one read
   * per new audio graph froze the tab by the third graph on a busy machine. Without it the sound is
   * heard later than scheduled by the output latency (25-40 ms there), the same for every track
   * and frame: sound after picture, well inside the ~125 ms of such lag viewers are found to
   * notice (ITU-R BT.1359). */
  function latencyReadable(nav) {
    var ua = (nav && nav.userAgent) || "";
    var gecko = /\brv:[0-9.]+\) Gecko\//.test(ua);
    return !(gecko && /Linux/.test(ua) && !/Android/.test(ua));
  }

  function MusiScenePlayer(root, options) {
    this.root = root;
    this.options = options || {};
    this.video = root.querySelector("video");
    this.video.muted = true;
    this.buttons = Array.prototype.slice.call(root.querySelectorAll("button[data-audio]"));
    this.ctx = null;
    this.buffers = {};
    this.loading = {};
    this.wanted = null;      // the most recent choice (clicks win in the order they were made)
    this.current = null;     // index of the track whose sound plays (or would, were the video playing)
    this.source = null;      // the playing AudioBufferSourceNode
    this.gain = null;
    this.startedAt = 0;      // ctx time at which the source's first sample is scheduled
    this.endAt = 0;          // ctx time at which it ends (with the video's last frame)
    this.offset = 0;         // buffer position of that sample
    this.stalled = false;
    this.ledger = new ListenLedger();
    this.driftSamples = [];  // the last drift measurements in seconds (positive: audio ahead)
    this.realigned = 0;
    this._settle = 0;
    this._over = 0;
    this._cadence = [];      // the frames of this pass of the video: {media, perf}
    this._ctxReads = [];     // readings of the audio clock: {off: context less performance time, at}
    this._prevD = null;      // the drift at the frame before (null: none of this sound)
    this._jitter = 0;        // running mean of the change in drift from one frame to the next
    this._frame = null;      // the last presented frame: {media, perf} (perf: display time, ms)
    this._fresh = 0;         // frames presented since the video last paused, sought or waited
    this._pending = 0;       // when a start began to wait for the video's frames (0: none waits)
    this._framesWork = !!this.video.requestVideoFrameCallback;
    this._trustAfter = TRUST_AGAIN_MS; // how long frames must agree before believed again
    this._agreeing = null;   // while frames are not believed: {since, last, n} of agreeing ones
    this.trustChanges = [];  // {trusted, perf}: frames given up on (false) or believed again (true)
    this.latencyReadable = latencyReadable(global.navigator);
    this.events = [];
    this.generation = 0;     // counts the items shown on this page (reset)
    var self = this, v = this.video;
    // The page renders these buttons disabled: a tap before this script has arrived (a slow
    // network) would otherwise be lost without a word. They work from here on.
    this.buttons.forEach(function (b, i) {
      b.addEventListener("click", function () { self.select(i); });
      b.disabled = false;
    });
    var play = root.querySelector("[data-action=play]");
    if (play) {
      play.addEventListener("click", function () { self.toggle(); });
      play.disabled = false;
    }
    v.addEventListener("pause", function () { self._unsettle(); self._stopSource(); self._log("pause"); });
    v.addEventListener("play", function () { self._unsettle(); self._log("play"); });
    v.addEventListener("playing", function () { self.stalled = false; self._startSource(); });
    v.addEventListener("waiting", function () {
      self.stalled = true; self._stalledAt = v.currentTime; self._unsettle(); self._stopSource();
    });
    // Not every engine fires "playing" after a wait (WebKit after a loop's seek does not): the
    // video having data again, or moving on (WebKitGTK plays on at readyState 2), ends the stall.
    var resume = function () {
      if (!self.stalled || v.seeking) return;
      var moving = !v.paused && Math.abs(v.currentTime - self._stalledAt) > 0.05;
      if (v.readyState < 3 && !moving) return;
      self.stalled = false;
      if (!v.paused && !self.source) self._startSource();
    };
    ["canplay", "canplaythrough", "timeupdate"].forEach(function (type) { v.addEventListener(type, resume); });
    // A seek restarts the sound at the new position, unless the sound is there already (a loop
    // of a video whose track loops with it): then nothing is cut.
    v.addEventListener("seeking", function () {
      self._stalledAt = v.currentTime;
      self._settle = global.performance.now();
      self._unsettle();
      if (!self._inStep()) self._stopSource();
    });
    v.addEventListener("seeked", function () {
      self._log("seek");
      if (v.readyState >= 3) self.stalled = false;
      if (!v.paused && !self.stalled && !(self.source && self._inStep())) self._startSource();
    });
    v.addEventListener("ended", function () { self._stopSource(); self._log("ended"); });
    if (this.options.loop !== false) v.loop = true;
    this._watch();
  }

  /** The video's timing is not known again until it has presented frames anew: the first frame
   * after a play, seek, loop or wait is often shown late (Chromium's loop: 10-20 ms), the ones
   * after it keep to the timeline. */
  MusiScenePlayer.prototype._unsettle = function () {
    this._frame = null;
    this._cadence = [];
    this._fresh = 0;
    this._moved = false;
    this._lastPos = null; // the element's position is not compared across this (``_checkJump``)
  };

  /** Without credible frames: start the waiting sound once the element's position is seen to
   * move (WebKitGTK's stands still for ~50 ms after a loop's seek while its picture does too; a
   * sound started from it at once was 50-60 ms ahead for a third of a second). */
  MusiScenePlayer.prototype._awaitMotion = function () {
    var self = this, v = this.video, from = v.currentTime, since = global.performance.now();
    var turn = (this._motionTurn = (this._motionTurn || 0) + 1);
    var tick = function () {
      if (turn !== self._motionTurn || !self._pending || v.paused || self.stalled) return;
      var late = global.performance.now() - since > 400;
      if ((!v.seeking && v.currentTime > from + 0.015) || late) {
        self._moved = true;
        self._startSource();
        return;
      }
      global.setTimeout(tick, 15);
    };
    global.setTimeout(tick, 15);
  };

  /** Start the waiting sound once the audio clock runs (``_pending`` starts afresh then). */
  MusiScenePlayer.prototype._awaitAudio = function () {
    var self = this;
    if (this._audioWait) return;
    this._audioWait = true;
    var tick = function () {
      if (!self._pending || self.video.paused || self.stalled) { self._audioWait = false; return; }
      if (!(self.ctx.currentTime > 0)) { global.setTimeout(tick, 20); return; }
      self._audioWait = false;
      self._pending = 0;
      self._startSource();
    };
    global.setTimeout(tick, 20);
  };

  MusiScenePlayer.prototype._log = function (type, extra) {
    var e = { type: type, t: Date.now(), video_time: this.video.currentTime, track: this.current };
    if (extra) for (var k in extra) e[k] = extra[k];
    this.events.push(e);
    if (this.options.onEvent) this.options.onEvent(e);
  };

  MusiScenePlayer.prototype._context = function () {
    if (!this.ctx) {
      var AC = global.AudioContext || global.webkitAudioContext;
      this.ctx = new AC({ latencyHint: "interactive" });
      // iOS/Safari unlock audio for the page only once a sound starts inside a gesture.
      var silent = this.ctx.createBufferSource();
      silent.buffer = this.ctx.createBuffer(1, 1, this.ctx.sampleRate);
      silent.connect(this.ctx.destination);
      silent.start(0);
      // A context the browser suspends on its own (an audio device that glitched, a call on a
      // phone) would leave the video playing in silence and the listening time standing still
      // until the next click: it is resumed while a track should be heard.
      var self = this;
      if (this.ctx.addEventListener) {
        this.ctx.addEventListener("statechange", function () {
          var ctx = self.ctx;
          if (ctx.state === "running" || ctx.state === "closed" || !ctx.resume) return;
          if (self.current === null || self.video.paused) return;
          var resumed = ctx.resume();
          if (resumed && resumed.catch) resumed.catch(function () {});
        });
      }
    }
    if (this.ctx.state === "suspended" && this.ctx.resume) this.ctx.resume();
    return this.ctx;
  };

  /** Seconds from scheduling a sample to hearing it, as far as the browser says (0 where it
   * may not be asked: ``latencyReadable``). */
  MusiScenePlayer.prototype.latency = function () {
    if (!this.ctx || !this.latencyReadable) return 0;
    return (this.ctx.outputLatency || 0) + (this.ctx.baseLatency || 0);
  };

  /** The browser's (context time, performance time) of the sample leaving the speaker, where it
   * says so credibly: not in the future (WebKitGTK's performance time runs at twice the page's
   * rate, 2.0 ms per ms measured, ahead of the page's clock; believed while within 500 ms, in the
   * context's first half second, a start placed by it was 500 ms off), nor seconds off. */
  MusiScenePlayer.prototype._outputStamp = function () {
    var ctx = this.ctx;
    if (!ctx.getOutputTimestamp || !this.latencyReadable) return null;
    var ts = ctx.getOutputTimestamp(), now = global.performance.now();
    if (!ts || !(ts.performanceTime > 0) || !(ts.contextTime > 0)) return null;
    if (ts.performanceTime > now + 20 || now - ts.performanceTime > 500 ||
        ts.contextTime > ctx.currentTime + 0.001 ||
        ts.contextTime < ctx.currentTime - 0.5) return null;
    return ts;
  };

  /** The context's time at performance time ``perf`` (ms), where the browser gives no output
   * timestamp. ``currentTime`` moves in steps (Firefox on Linux: 17-20 ms, a block of the sound
   * server's each time) and stands still between them, so one reading is up to a step behind.
   * Each reading is kept for CLOCK_WINDOW_MS with the performance time it was made at; the one
   * least behind (the greatest context time less performance time) places the clock, a steady
   * line through the steps' fronts. A clock that has stood still (suspended) or jumped drops
   * the older readings. */
  MusiScenePlayer.prototype._ctxAt = function (perf) {
    var ctx = this.ctx, now = global.performance.now(), reads = this._ctxReads;
    var off = ctx.currentTime - now / 1000;
    if (ctx.state !== "running") reads.length = 0;
    while (reads.length && (now - reads[0].at > CLOCK_WINDOW_MS ||
           Math.abs(reads[0].off - off) > CLOCK_STEP_MAX)) reads.shift();
    reads.push({ off: off, at: now });
    var best = off;
    reads.forEach(function (r) { if (r.off > best) best = r.off; });
    return best + perf / 1000;
  };

  /** The context time being heard at performance time ``perf`` (ms), or now. */
  MusiScenePlayer.prototype._heardCtxTime = function (perf) {
    var ts = this._outputStamp();
    if (perf === undefined) perf = global.performance.now();
    if (ts) return ts.contextTime + (perf - ts.performanceTime) / 1000;
    this._readClock();
    return this._ctxAt(perf) - this.latency();
  };

  /** Where the clock is read through its steps, readings made only when a frame comes (at the
   * video's cadence, which can keep the same phase to the clock's steps: a sound measured 5-7 ms
   * off while it was in step) place it late: from the first such read on, the clock is also read
   * every CLOCK_READ_MS, an interval no audio block divides. */
  MusiScenePlayer.prototype._readClock = function () {
    if (this._clockTimer) return;
    var self = this;
    this._clockTimer = global.setInterval(function () {
      if (self.ctx && self.ctx.state === "running") self._ctxAt(global.performance.now());
    }, CLOCK_READ_MS);
  };

  /** The performance time (ms) at which the sample scheduled at context time ``t`` is heard. */
  MusiScenePlayer.prototype._perfHeard = function (t) {
    var ts = this._outputStamp(), now = global.performance.now();
    if (ts) return ts.performanceTime + (t - ts.contextTime) * 1000;
    this._readClock();
    return now + (t - this._ctxAt(now) + this.latency()) * 1000;
  };

  /** The video position shown on the screen at performance time ``perf`` (ms): from the last
   * presented frame where one is recent, else from the element's current time. */
  MusiScenePlayer.prototype._shownAt = function (perf) {
    var v = this.video, f = this._frame, now = global.performance.now();
    var rate = v.playbackRate || 1;
    if (f && this._fresh >= 2 && now - f.perf < FRAME_FRESH_MS && !v.seeking) {
      if (this._jitter > DRIFT_LIMIT && this._cadence.length >= 2) return this._cadenceAt(perf).media;
      return f.media + (perf - f.perf) / 1000 * rate;
    }
    return v.currentTime + (perf - now) / 1000 * rate;
  };

  /** Where frames reach the screen early or late by more than DRIFT_LIMIT (headless Firefox:
   * up to 30 ms at 10 fps), one frame says little of where the picture is: the video's cadence
   * is the mean over the frames of this pass (its timeline at the playback rate through each),
   * the position it gives at ``perf`` and that mean's standard error (s). */
  MusiScenePlayer.prototype._cadenceAt = function (perf) {
    var frames = this._cadence, n = frames.length, rate = this.video.playbackRate || 1;
    var sum = 0, sq = 0;
    frames.forEach(function (f) {
      var o = f.media - f.perf / 1000 * rate; // the timeline's position at performance time 0
      sum += o;
      sq += o * o;
    });
    var mean = sum / n, sd = n > 1 ? Math.sqrt(Math.max(0, (sq - n * mean * mean) / (n - 1))) : 0;
    return { media: mean + perf / 1000 * rate, se: sd / Math.sqrt(n), n: n };
  };

  MusiScenePlayer.prototype._load = function (i) {
    var self = this;
    if (this.buffers[i]) return Promise.resolve(this.buffers[i]);
    if (this.loading[i]) return this.loading[i];
    var url = this.buttons[i].getAttribute("data-audio");
    var ctx = this._context(), generation = this.generation, loading = this.loading;
    loading[i] = fetch(url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.arrayBuffer(); })
      .then(function (data) {
        return new Promise(function (resolve, reject) { ctx.decodeAudioData(data, resolve, reject); });
      })
      .then(function (buf) {
        delete loading[i];
        if (self.generation !== generation) throw new Error("another item is shown");
        self.buffers[i] = buf;
        return buf;
      }, function (err) { delete loading[i]; throw err; });
    return loading[i];
  };

  /** Another item on the same page: new media, nothing heard or chosen yet. The audio context
   * (unlocked by an earlier gesture) is kept; a track still loading for the last item is
   * dropped when it arrives. */
  MusiScenePlayer.prototype.reset = function (videoUrl, audioUrls) {
    this._stopSource();
    this.video.pause();
    this.generation += 1;
    this.buffers = {};
    this.loading = {};
    this.wanted = null;
    this.current = null;
    this.stalled = false;
    this._pending = 0;
    this._unsettle();
    this.ledger = new ListenLedger();
    this.driftSamples = [];
    this.realigned = 0;
    this.events = [];
    this.buttons.forEach(function (b, i) {
      b.setAttribute("aria-pressed", "false");
      b.removeAttribute("aria-busy");
      if (audioUrls[i] !== undefined) b.setAttribute("data-audio", audioUrls[i]);
    });
    this.video.src = videoUrl;
  };

  MusiScenePlayer.prototype.loadAll = function () {
    var self = this;
    return Promise.all(this.buttons.map(function (_, i) { return self._load(i); }));
  };

  /** Fade the sound out from ``lead`` seconds ahead: LEAD where a start follows (a crossfade),
   * else at once (the video paused, sought or waits: its picture has stopped). */
  MusiScenePlayer.prototype._stopSource = function (lead) {
    this._over = 0;
    if (!this.source) return;
    var src = this.source, g = this.gain, ctx = this.ctx;
    if (lead === undefined) lead = SOON;
    // The fade-out begins ``lead`` ahead, or at once if the sound has not begun yet.
    var from = Math.max(ctx.currentTime + lead, this.startedAt), end = from + FADE;
    if (end >= this.endAt) {
      // it ends (faded out) with the video's last frame before a stop here would: leave it so
      this.ledger.stop(this.endAt);
      src.onended = null;
      this.source = null;
      this.gain = null;
      return;
    }
    if (ctx.currentTime + lead >= this.startedAt) {
      g.gain.cancelScheduledValues(from);
      g.gain.setValueAtTime(1, from);
    } else {
      from = end = this.startedAt; // never sounded
      g.gain.cancelScheduledValues(0);
    }
    g.gain.linearRampToValueAtTime(0, end);
    src.onended = null;
    src.stop(end);
    this.ledger.stop(end); // its sound lasts until the fade has run out
    this.source = null;
    this.gain = null;
  };

  /** Start the current track's sound so that what is heard matches the frame shown. ``offset``
   * (optional) is the buffer position to start from; by default the video's position. */
  MusiScenePlayer.prototype._startSource = function (offset, now) {
    var buf = this.current !== null ? this.buffers[this.current] : null;
    var waitingSince = this._pending;
    this._stopSource(LEAD);
    this._prevD = null; // the jitter estimate and the cadence are the video's: both are kept
    this._pending = 0;
    if (!buf || this.video.paused || this.stalled) return;
    if (!(this.ctx.currentTime > 0)) {
      // The audio clock has not begun (Firefox's took 2 s to start once, the video playing
      // on): a sound placed now would be placed by a clock that stands still (300 ms off).
      this._pending = waitingSince || global.performance.now();
      this._awaitAudio();
      return;
    }
    if (offset === undefined && !now && this._framesWork && this._fresh < 2) {
      // Where the video reports its frames, the sound waits for the second one presented (at 25
      // fps 80 ms) and starts in step with it, rather than from a guess that is then corrected.
      this._pending = waitingSince || global.performance.now();
      return;
    }
    if (offset === undefined && !now && !this._framesWork && !this._moved) {
      this._pending = waitingSince || global.performance.now();
      this._awaitMotion();
      return;
    }
    var ctx = this.ctx, self = this, track = this.current;
    // A start asked for in the past (the audio clock moves during this task) would begin late by
    // an unknown amount; one a little ahead begins exactly at ``when``, at the position for then.
    var when = ctx.currentTime + LEAD;
    if (offset === undefined) offset = this._shownAt(this._perfHeard(when));
    offset = mod(offset, buf.duration);
    // The sound ends with the video's last frame, faded out, and does not loop by itself: a
    // video's loop (a seek) shows its first frames late, and the sound starts again in step with
    // the frames after it (a short gap rather than a stretch out of step).
    var last = Math.min(buf.duration, this.video.duration || buf.duration);
    if (offset > last - 2 * FADE) return; // the video is at its end: the sound starts after
    var endAt = when + (last - offset);
    var src = ctx.createBufferSource(), g = ctx.createGain();
    src.buffer = buf;
    g.gain.setValueAtTime(0, when);
    g.gain.linearRampToValueAtTime(1, when + FADE);
    g.gain.setValueAtTime(1, endAt - FADE);
    g.gain.linearRampToValueAtTime(0, endAt);
    src.connect(g);
    g.connect(ctx.destination);
    src.start(when, offset);
    src.stop(endAt);
    src.onended = function () {
      if (self.source === src) { self.ledger.stop(endAt); self.source = null; self.gain = null; }
    };
    this.endAt = endAt;
    this.ledger.start(track, when);
    this.source = src;
    this.gain = g;
    this.startedAt = when;
    this.offset = offset;
  };

  /** The buffer position scheduled at context time ``t`` by the playing source. */
  MusiScenePlayer.prototype._scheduledPos = function (t) {
    var buf = this.buffers[this.current];
    return mod(this.offset + (t - this.startedAt), buf.duration);
  };

  function wrap(d, period) {
    if (d > period / 2) d -= period;
    if (d < -period / 2) d += period;
    return d;
  }

  /** Drift in seconds between what is heard and the video (positive: audio ahead); null when
   * no track sounds. ``mediaTime``/``perf``: a presented frame and when it was shown. */
  MusiScenePlayer.prototype.drift = function (mediaTime, perf) {
    if (!this.source || this.ctx.currentTime < this.startedAt + FADE + this.latency()) return null;
    var buf = this.buffers[this.current];
    if (mediaTime === undefined) { mediaTime = this.video.currentTime; perf = global.performance.now(); }
    var heard = this._heardCtxTime(perf);
    if (heard < this.startedAt) return null;
    return wrap(this._scheduledPos(heard) - mod(mediaTime, buf.duration), buf.duration);
  };

  /** Whether the playing sound is within DRIFT_LIMIT of the video's position. */
  MusiScenePlayer.prototype._inStep = function () {
    if (!this.source) return false;
    var buf = this.buffers[this.current], now = this.ctx.currentTime;
    var heardPos = this._scheduledPos(now - this.latency());
    var d = wrap(heardPos - mod(this.video.currentTime, buf.duration), buf.duration);
    return Math.abs(d) <= DRIFT_LIMIT;
  };

  MusiScenePlayer.prototype._sample = function (mediaTime, perf) {
    if (this.video.paused || this.stalled || this.video.seeking ||
        global.performance.now() - this._settle < SETTLE_MS) { this._over = 0; return; }
    if (mediaTime === undefined && this._frozen()) return;

    var d = this.drift(mediaTime, perf);
    if (d === null) return;
    this.driftSamples.push(d);
    if (this.driftSamples.length > 600) this.driftSamples.shift();
    if (mediaTime !== undefined) {
      // How much the drift measured moves from one frame to the next while the sound runs on:
      // ~0.1 ms in Chromium; 15-30 ms in headless Firefox, whose frames reach the screen up to
      // 30 ms early or late. Where it is above DRIFT_LIMIT a frame says little on its own: the
      // sound is measured against the video's cadence over the frames of this pass
      // (``_cadenceAt``), and re-aligned only where it is off by more than CADENCE_SE standard
      // errors of that cadence (and DRIFT_LIMIT), not chased frame by frame (with the mean of
      // the last four frames: 4 re-alignments in 2.4 s, the sound 10-22 ms off the cadence).
      // A change past JITTER_CAP is a step, the video's clock having stood still, not jitter:
      // counted whole, one such step kept Chromium on the noisy branch for a dozen frames.
      if (this._prevD !== null) {
        this._jitter += (Math.min(Math.abs(d - this._prevD), JITTER_CAP) - this._jitter) / 8;
      }
      this._prevD = d;
      if (this._jitter > DRIFT_LIMIT) {
        this._over = 0;
        var c = this._cadenceAt(perf), off = this.drift(c.media, perf);
        if (c.n >= NOISY_FRAMES && off !== null && Math.abs(off) > Math.max(DRIFT_LIMIT, CADENCE_SE * c.se)) {
          this.realigned += 1;
          this._startSource(this._scheduledPos(this.ctx.currentTime + LEAD) - off);
          this._prevD = d - off; // this frame as it would have been measured after
        }
        return;
      }
    }
    var limit = mediaTime === undefined ? DRIFT_COARSE : DRIFT_LIMIT;
    this._over = Math.abs(d) > limit ? this._over + 1 : 0;
    if (this._over >= 2 || (mediaTime !== undefined && Math.abs(d) > DRIFT_HARD)) {
      // Start again from where the sound should be: the scheduled position less the drift.
      this.realigned += 1;
      this._startSource(this._scheduledPos(this.ctx.currentTime + LEAD) - d);
      if (mediaTime !== undefined) this._prevD = 0;
    }
  };

  /** Whether the element's position has stood still for 250 ms while it plays and a sound
   * sounds: then it is a stall, though no "waiting" came (WebKitGTK stops so on a clip's second
   * pass); the sound stops until the position moves again. */
  MusiScenePlayer.prototype._frozen = function () {
    var ct = this.video.currentTime, t = global.performance.now(), still = this._still;
    if (!still || still.ct !== ct || !this.source) {
      this._still = { ct: ct, at: t };
      return false;
    }
    if (t - still.at < 250) return false;
    this.stalled = true;
    this._stalledAt = ct;
    this._unsettle();
    this._stopSource();
    return true;
  };

  /** Frames are not believed from now on (they disagree with the element's position, or none
   * come): the element's current time is used until they agree again for ``_trustAfter``. */
  MusiScenePlayer.prototype._distrustFrames = function () {
    if (this._framesWork) {
      if (this._trusted) this._trustAfter = Math.min(TRUST_MAX_MS, this._trustAfter * 2);
      this.trustChanges.push({ trusted: false, perf: global.performance.now() });
    }
    this._framesWork = false;
    this._agreeing = null;
  };

  /** A frame that agrees with the element's position while frames are not believed: after
   * ``_trustAfter`` of such frames, none between them that disagrees nor any gap of FRAME_GAP_MS,
   * they are believed again (the drift then measured at each frame corrects the sound placed
   * meanwhile on the coarser clock). Whether this frame is believed. */
  MusiScenePlayer.prototype._agreeingFrame = function (at) {
    var run = this._agreeing;
    if (!run || at - run.last > FRAME_GAP_MS) run = this._agreeing = { since: at, last: at, n: 0 };
    run.n += 1;
    run.last = at;
    if (run.n < TRUST_FRAMES || at - run.since < this._trustAfter) return false;
    this._framesWork = true;
    this._trusted = true; // believed again once: a later loss of trust waits longer
    this._agreeing = null;
    this._unsettle();
    this.trustChanges.push({ trusted: true, perf: at });
    return true;
  };

  MusiScenePlayer.prototype._watch = function () {
    var self = this, v = this.video;
    var lastFrame = 0, badFrames = 0;
    if (v.requestVideoFrameCallback) {
      var onFrame = function (now, meta) {
        // expectedDisplayTime: when this frame reaches the screen (performance clock, ms)
        var perf = meta.expectedDisplayTime || now, at = global.performance.now();
        v.requestVideoFrameCallback(onFrame);
        // A frame is believed only where it agrees with the element's position (WebKitGTK under
        // Xvfb reports few frames, on another clock origin, 150 ms off): else the element's
        // current time is used, as where no frames are reported. Three that disagree give
        // frames up; a stretch of agreeing ones brings them back (``_agreeingFrame``): a stall's
        // or a busy moment's bad frames do not leave the rest of the trial on the coarser clock.
        var rate = v.playbackRate || 1;
        var moving = !v.paused && !v.seeking;
        if (moving &&
            Math.abs(meta.mediaTime + (at - perf) / 1000 * rate - v.currentTime) > FRAME_AGREE) {
          self._agreeing = null;
          if (++badFrames >= 3) self._distrustFrames();
          return;
        }
        if (!self._framesWork) {
          if (!moving || self.stalled) return; // a loop's seek: the run goes on (FRAME_GAP_MS)
          if (!self._agreeingFrame(at)) return;
          badFrames = 0;
        }
        lastFrame = at;
        if (!v.paused && !v.seeking && !self.stalled) {
          self._fresh += 1;
          self._frame = { media: meta.mediaTime, perf: perf };
          var pass = self._cadence, before = pass[pass.length - 1];
          // a loop (the position back), a gap, or a frame off the pass's cadence by more than
          // any jitter (the video's clock stood still: frames dropped) begins another pass
          if (before && (meta.mediaTime < before.media || perf - before.perf > FRAME_GAP_MS ||
              (pass.length >= 2 && Math.abs(self._cadenceAt(perf).media - meta.mediaTime) > CADENCE_BREAK))) {
            pass.length = 0;
          }
          pass.push(self._frame);
          if (pass.length > CADENCE_FRAMES) pass.shift();
          if (self._pending && self._fresh >= 2) self._startSource();
        }
        self._sample(meta.mediaTime, perf);
      };
      v.requestVideoFrameCallback(onFrame);
    }
    // A steady check too where no frames are reported (no requestVideoFrameCallback, a hidden
    // tab, WebKitGTK without a compositor): the element's current time, ten times a second.
    this._timer = global.setInterval(function () {
      var now = global.performance.now();
      if (self._pending && !self._audioWait && now - self._pending > 400) {
        // no frames came (a hidden tab; WebKitGTK without a compositor): start from the
        // element's current time, and from now on without waiting for frames
        self._distrustFrames();
        self._startSource(undefined, true);
      }
      if (now - lastFrame > FRAME_GAP_MS) self._sample();
    }, 100);
    this._jumpTimer = global.setInterval(function () { self._checkJump(); }, JUMP_POLL_MS);
  };

  /** Without credible frames: a position that moves back, or leaps on, while the video plays
   * with no seek is a seek all the same, and the sound restarts from it at once (WebKitGTK under
   * Xvfb restarted a clip's picture from its first frame 1.3 s in, without a seeking event, once
   * in about six walks, a few tenths of a second after a switch; its real loop followed when the
   * clip's time ran out; the sound, re-aligned only after two samples past DRIFT_COARSE, was
   * 0.58-0.68 s off for 150-250 ms). A position that stands still is ``_frozen``'s. */
  MusiScenePlayer.prototype._checkJump = function () {
    var v = this.video, now = global.performance.now(), ct = v.currentTime, last = this._lastPos;
    this._lastPos = { ct: ct, at: now };
    if (!last || this._framesWork || !this.source || v.paused || v.seeking || this.stalled) return;
    var expected = last.ct + (now - last.at) / 1000 * (v.playbackRate || 1);
    if (ct > last.ct - JUMP_BACK && ct < expected + JUMP_ON) return;
    this._settle = now;
    this._unsettle();
    this._stopSource();
    this._startSource(undefined, true);
  };

  MusiScenePlayer.prototype.select = function (i) {
    var self = this, generation = this.generation;
    this._context();
    this.wanted = i;
    this.buttons.forEach(function (b, j) {
      b.setAttribute("aria-pressed", j === i ? "true" : "false");
      if (j === i && !self.buffers[i]) b.setAttribute("aria-busy", "true");
      else b.removeAttribute("aria-busy");
    });
    return this._load(i).then(function () {
      if (self.wanted !== i || self.generation !== generation) return; // a later click or item
      self.buttons[i].removeAttribute("aria-busy");
      if (self.current === i && self.source) return; // already sounding: nothing changes
      self.current = i;
      self._log("switch");
      if (self.video.paused) return self.video.play();
      self._startSource();
    }).catch(function (err) {
      if (self.generation !== generation) return; // the track of an item no longer shown
      if (self.wanted === i) self.buttons[i].removeAttribute("aria-busy");
      self._log("error", { message: String(err) });
      if (self.options.onError) self.options.onError(err);
    });
  };

  MusiScenePlayer.prototype.toggle = function () {
    this._context();
    if (this.wanted === null && this.buttons.length) return this.select(0);
    if (this.video.paused) return this.video.play();
    this.video.pause();
  };

  /** Seconds heard per track index, on the audio clock, this page load. */
  MusiScenePlayer.prototype.listenedSeconds = function () {
    var read = this.ctx ? this.ledger.read(this.ctx.currentTime) : {};
    var out = {};
    for (var i = 0; i < this.buttons.length; i++) out[i] = read[i] || 0;
    return out;
  };

  global.ListenLedger = ListenLedger;
  global.MusiScenePlayer = MusiScenePlayer;
})(window);
