// The status page: polls /status.json every second and writes text only (no HTML from data).
"use strict";
(function () {
  // Finished counts of the last polls (for a throughput over up to 10 s) and the first one.
  const history = [];
  let first = null;

  function text(id, value) {
    document.getElementById(id).textContent = String(value);
  }

  function rows(tableId, entries) {
    const body = document.querySelector("#" + tableId + " tbody");
    const fresh = document.createElement("tbody");
    for (const cells of entries) {
      const tr = document.createElement("tr");
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = String(c);
        if (typeof c === "number") td.className = "n";
        tr.appendChild(td);
      }
      fresh.appendChild(tr);
    }
    body.replaceWith(fresh);
    // Stable ids for each outcome/kind cell keep the page testable.
    fresh.querySelectorAll("tr").forEach(function (tr, i) {
      if (tableId !== "errors") tr.id = tableId + "-" + entries[i][0];
    });
  }

  function finished(s) {
    return (s.jobs.succeeded || 0) + (s.jobs.dead_lettered || 0);
  }

  function render(s, now) {
    text("version", s.version);
    const r = document.getElementById("readiness");
    r.textContent = s.ready ? "ready" : "not ready";
    r.className = "badge " + (s.ready ? "ok" : "bad");
    text("uptime", "up " + s.uptime_seconds + " s" + (s.broker_blocked ? ", broker blocked" : ""));
    text("updated", "updated " + new Date(now).toLocaleTimeString());
    const stopped = document.getElementById("stopped");
    stopped.hidden = !s.stopped_reason;
    stopped.textContent = s.stopped_reason ? "stopped: " + s.stopped_reason : "";
    const done = finished(s);
    text("finished", done);
    if (first === null) first = done;
    text("since-open", done - first);
    history.push({ at: now, done: done });
    while (history.length > 1 && now - history[0].at > 10000) history.shift();
    const dt = (now - history[0].at) / 1000;
    if (dt > 0) text("throughput", ((done - history[0].done) / dt).toFixed(2));
    rows("outcomes", Object.entries(s.jobs));
    text("jobs-in-flight", s.jobs_in_flight);
    text("ocr-in-flight", s.ocr_in_flight);
    text("ocr-limit", s.ocr_concurrency_limit);
    text("rate-share", s.ocr_rate_share_calls_per_second.toFixed(2));
    text("utilisation", (s.ocr_quota_utilisation_ratio * 100).toFixed(0));
    text("replicas", s.replicas);
    rows("throttled", Object.entries(s.ocr_throttled));
    rows("queues", Object.entries(s.queues).map(function (e) {
      return [e[0], e[1].role, e[1].messages_ready, e[1].consumers];
    }));
    rows("lanes", Object.entries(s.lanes || {}).map(function (e) {
      const l = e[1];
      return [e[0], l.jobs_finished, l.in_flight, l.waiting_for_limiter,
        Number(l.mean_wait_ms.toFixed(1)), Number(l.last_wait_ms.toFixed(1))];
    }));
    rows("dead-letters", Object.entries(s.dead_letters));
    rows("errors", s.recent_errors.slice().reverse().map(function (e) {
      return [new Date(e.at * 1000).toLocaleTimeString(), e.kind, e.job_id];
    }));
  }

  async function poll() {
    try {
      const res = await fetch("status.json", { cache: "no-store" });
      if (res.ok) render(await res.json(), Date.now());
    } catch (_) {
      document.getElementById("readiness").textContent = "unreachable";
    }
    setTimeout(poll, 1000);
  }

  poll();
})();
