/* metazoo session page: one implementation of the trial procedure for `--serve` and `--export`.
 *
 * The plan (trials, durations, answers) is computed by metazoo (metazoo_core/humans/design.py); this page only
 * presents it and records what the participant did. Images: fixation → image → pink-noise mask → 4 × 4 icon grid,
 * the cursor hidden from fixation to the grid. Sounds: clip → typed word with suggestions from the vocabulary;
 * headphone-check trials ask which of three tones was quietest. On-screen durations are measured from the
 * requestAnimationFrame timestamps of the frames in which each screen was first drawn.
 * Each answered trial is posted (and, in serve mode, confirmed stored) before the next trial starts.
 */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("metazoo-config").textContent);
  const params = new URLSearchParams(window.location.search);
  const HALF_FRAME_MS = 8;
  const answered = [];  // every trial record, for the download at the end

  function phase(name) { document.body.dataset.phase = name; }

  /* The URL of a file of the experiment: each path segment percent-encoded, so file names with '#', '?', '%'
     or spaces load (plans hold plain file paths). */
  function media(path) { return cfg.media + path.split("/").map(encodeURIComponent).join("/"); }

  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  async function post(record) {
    if (!cfg.post_url) return;
    for (let attempt = 0; ; attempt++) {
      document.body.dataset.posts = String(attempt + 1);  // tries of this trial's POST so far (tests read it)
      try {
        const res = await fetch(cfg.post_url, {method: "POST", headers: {"Content-Type": "application/json"},
                                               body: JSON.stringify(record)});
        if (res.ok || (res.status >= 400 && res.status < 500 && cfg.mode === "serve")) {
          if (!res.ok) console.error("metazoo: trial rejected", res.status, await res.text());
          return;
        }
      } catch (e) { /* network error: retry */ }
      if (cfg.mode !== "serve" && attempt >= 2) return;  // export: the download at the end keeps the data
      await sleep(Math.min(5000, 250 * 2 ** attempt));
    }
  }

  /* Show each screen for its duration, switching in requestAnimationFrame callbacks; returns the frame
     timestamps at which each screen (and finally the next screen) was first drawn, and the longest interval
     between two consecutive frames meanwhile (a screen lasts at least its ms − HALF_FRAME_MS and less than that
     plus this interval: 16.7 ms at 60 Hz, more when the machine drops frames). */
  function frames(screens) {
    return new Promise((resolve) => {
      const stamps = [];
      let i = -1, start = 0, previous = null, longest = 0;
      function step(ts) {
        if (previous !== null) longest = Math.max(longest, ts - previous);
        previous = ts;
        if (i < 0 || ts - start >= screens[i].ms - HALF_FRAME_MS) {
          i += 1;
          stamps.push(ts);
          if (i >= screens.length) { resolve({stamps, longest}); return; }
          screens[i].show();
          start = ts;
        }
        requestAnimationFrame(step);
      }
      requestAnimationFrame(step);
    });
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children || []) node.appendChild(c);
    return node;
  }

  function boxed(display, child) {
    const size = cfg.stimulus_px + "px";
    display.replaceChildren(el("div", {class: "mz-box", style: `width:${size};height:${size}`}, [child]));
  }

  function image(src, cls) {
    return el("img", {src: src, class: cls, width: cfg.stimulus_px, height: cfg.stimulus_px,
                      style: `width:${cfg.stimulus_px}px;height:${cfg.stimulus_px}px`, alt: ""});
  }

  function grid(display, trial) {
    return new Promise((resolve) => {
      const t0 = performance.now();
      const buttons = cfg.responses.map((c) => {
        const b = el("button", {class: "mz-choice", "data-choice": c, type: "button"},
                     [el("img", {src: media("icons/" + c + ".svg"), alt: c, width: cfg.icon_px,
                                 height: Math.round(cfg.icon_px * 112 / 96)})]);
        b.addEventListener("click", () => resolve({response: c, rt_ms: performance.now() - t0}));
        return b;
      });
      display.replaceChildren(el("p", {class: "mz-prompt", text: "Which category did you see?"}),
                              el("div", {class: "mz-grid"}, buttons));
      phase("response");
    });
  }

  async function imageTrial(display, trial) {
    const stim = image(media(trial.stimulus), "mz-stimulus");
    const mask = image(media(trial.mask), "mz-stimulus");
    await Promise.all([stim.decode(), mask.decode()]);
    document.body.classList.add("no-cursor");
    const d = trial.durations;
    const {stamps, longest} = await frames([
      {ms: d.fixation, show: () => { boxed(display, el("div", {class: "mz-fixation", text: "+"})); phase("fixation"); }},
      {ms: d.stimulus, show: () => { boxed(display, stim); phase("stimulus"); }},
      {ms: d.mask, show: () => { boxed(display, mask); phase("mask"); }},
      {ms: 0, show: () => { display.replaceChildren(); phase("blank"); }},
    ]);
    document.body.classList.remove("no-cursor");
    const answer = await grid(display, trial);
    return {...answer, timing: {method: "requestAnimationFrame timestamps of the first frame of each screen",
                                fixation_ms: stamps[1] - stamps[0], stimulus_ms: stamps[2] - stamps[1],
                                mask_ms: stamps[3] - stamps[2], longest_frame_ms: longest}};
  }

  function play(src) {
    return new Promise((resolve) => {
      const audio = new Audio(src);
      let started = null, done = false;
      const finish = (how) => {
        if (done) return;
        done = true;
        resolve({played: how, stimulus_ms: started === null ? null : performance.now() - started});
      };
      // "playing" fires again after every stall (waiting → playing): the clip started at the first one
      audio.addEventListener("playing", () => { if (started === null) started = performance.now(); });
      audio.addEventListener("ended", () => finish("ended"));
      audio.addEventListener("error", () => finish("error"));
      audio.addEventListener("loadedmetadata", () => {
        setTimeout(() => finish("timeout"), (audio.duration || 2) * 1000 + 1500);
      });
      audio.play().catch(() => setTimeout(() => finish("blocked"), 2500));
    });
  }

  async function soundTrial(display, trial) {
    phase("stimulus");
    display.replaceChildren(el("div", {class: "mz-fixation", text: "\u266a"}));
    const playback = await play(media(trial.stimulus));
    phase("response");
    const t0 = performance.now();
    if (trial.kind === "headphone") {
      return await new Promise((resolve) => {
        const buttons = ["1", "2", "3"].map((n) => {
          const b = el("button", {class: "mz-choice", "data-choice": n, type: "button", text: "Tone " + n});
          b.addEventListener("click", () => resolve({response: n, rt_ms: performance.now() - t0,
                                                     timing: {method: "audio element events", ...playback}}));
          return b;
        });
        display.replaceChildren(el("p", {class: "mz-prompt", text: "Which tone was the quietest?"}),
                                el("div", {class: "mz-grid"}, buttons));
      });
    }
    const listId = "mz-words";
    if (!document.getElementById(listId)) {
      document.body.appendChild(el("datalist", {id: listId}, cfg.responses.map((w) => el("option", {value: w}))));
    }
    return await new Promise((resolve) => {
      const input = el("input", {class: "mz-word", list: listId, autocomplete: "off", name: "word"});
      const error = el("div", {class: "mz-error"});
      const submit = el("button", {type: "submit", class: "mz-choice", text: "Submit"});
      const form = el("form", {}, [el("p", {class: "mz-prompt", text: "Type the word you heard"}), input, submit,
                                   error]);
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const word = input.value.trim().toLowerCase();
        if (!cfg.responses.includes(word)) { error.textContent = "Please choose a word from the list."; return; }
        resolve({response: word, rt_ms: performance.now() - t0, timing: {method: "audio element events",
                                                                            ...playback}});
      });
      display.replaceChildren(form);
      input.focus();
    });
  }

  class MetazooTrialPlugin {
    constructor(jsPsych) { this.jsPsych = jsPsych; }
    trial(display, params) {
      const t = params.plan;
      document.body.dataset.trial = String(t.index);
      const run = cfg.modality === "vision" ? imageTrial(display, t) : soundTrial(display, t);
      run.then(async (result) => {
        const record = {trial: t.index, participant: session.participant, kind: t.kind, condition: t.condition,
                        stimulus: t.stimulus, mask: t.mask || null, practice: t.kind === "practice",
                        catch: t.kind === "catch", requested: t.durations, ...result};
        answered.push(record);
        phase("saving");
        await post(record);
        if (t.kind === "headphone" && t.last_check && headphoneFailed()) {
          session.failed = true;
          this.jsPsych.abortExperiment();
        } else {
          this.jsPsych.finishTrial(record);
        }
      });
    }
  }
  MetazooTrialPlugin.info = {name: "metazoo-trial", version: "1.0.0",
                             parameters: {plan: {type: jsPsychModule.ParameterType.OBJECT, default: undefined}},
                             data: {}};

  function message(html, button) {
    return {type: jsPsychHtmlButtonResponse, stimulus: html, choices: [button],
            on_load: () => phase("instructions")};
  }

  function instructions() {
    if (cfg.modality === "vision") {
      return `<p>You will see a short image followed by a noise pattern, then a grid of ${cfg.responses.length}
        categories.</p><p>Click the category the image belonged to. Guess if you are unsure.</p>
        <p>The first trials are practice.</p>`;
    }
    return `<p>Wear headphones. First, a short check: you will hear three tones; choose the quietest.</p>
      <p>Then you will hear short clips; type the word you heard (suggestions appear as you type).</p>`;
  }

  function headphoneFailed() {
    const checks = answered.filter((r) => r.kind === "headphone");
    return checks.filter((r) => r.response === checkAnswers[r.trial]).length < cfg.headphone_pass;
  }

  function download() {
    const blob = new Blob([JSON.stringify({participant: session.participant, completion_code: session.code,
                                           trials: answered}, null, 1)], {type: "application/json"});
    const a = el("a", {href: URL.createObjectURL(blob), download: `responses_${session.participant}.json`,
                       id: "mz-download", text: "Download your responses"});
    return a;
  }

  const session = {participant: null, code: "", failed: false};
  const checkAnswers = {};  // headphone-check answers only; other answers are not sent to the page

  async function start() {
    let plan, next = 0;
    if (cfg.mode === "serve") {
      const res = await fetch(cfg.session_url);
      const data = await res.json();
      session.participant = data.participant;
      plan = data.trials;
      next = data.next;
    } else {
      session.participant = params.get(cfg.participant_param) || params.get("participant") || "anonymous";
      session.code = params.get(cfg.code_param) || cfg.completion_code || "";
      const plans = await (await fetch(media("plans.json"))).json();
      let h = 0;
      for (const ch of session.participant) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
      plan = plans[h % plans.length];
    }
    plan.filter((t) => t.kind === "headphone").forEach((t) => { checkAnswers[t.index] = t.answer; });
    const remaining = plan.slice(next);
    const jsPsych = initJsPsych({});
    const timeline = [];
    if (cfg.modality === "vision") {
      const images = new Set();
      remaining.forEach((t) => { images.add(media(t.stimulus)); images.add(media(t.mask)); });
      cfg.responses.forEach((c) => images.add(media("icons/" + c + ".svg")));
      timeline.push({type: jsPsychPreload, images: [...images], on_load: () => phase("loading"),
                     message: `<p>loading… ${images.size} images; the experiment starts when the bar is full.</p>`});
    }
    timeline.push(message(next > 0 ? "<p>Welcome back. The experiment continues where you stopped.</p>"
                                     : instructions(), next > 0 ? "Continue" : "Start"));
    for (const t of remaining) {
      timeline.push({type: MetazooTrialPlugin, plan: t});
    }
    await jsPsych.run(timeline);
    const display = jsPsych.getDisplayElement();
    const text = session.failed ? "The headphone check was not passed, so the experiment ends here. Thank you."
                        : "You have finished. Thank you!";
    const children = [el("p", {class: "mz-prompt", text: text})];
    if (session.code) children.push(el("p", {class: "mz-prompt", id: "mz-code", text: "Completion code: " + session.code}));
    if (cfg.mode !== "serve") children.push(download());
    display.replaceChildren(...children);
    phase("done");
  }

  window.addEventListener("load", () => { start().catch((e) => {
    document.body.replaceChildren(el("p", {class: "mz-error", text: "The experiment could not start: " + e}));
    phase("error");
  }); });
})();
