// The review page's keys and live updates. Hand-written, no build step, no libraries.
// Comment text only ever goes into the page through textContent, never as HTML.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const initial = JSON.parse($("initial").textContent);
  const labels = initial.labels;
  const tbody = document.querySelector("#items tbody");
  const cache = new Map(); // id -> item detail, prefetched
  let items = initial.items; // summaries in list order
  let index = initial.selected ? items.findIndex((i) => i.id === initial.selected.id) : -1;
  let current = initial.selected;
  let busy = false;
  window.reviewTimings = []; // ms from a decision's key press to the next item shown

  function message(text) {
    $("message").textContent = text || "";
  }

  async function call(method, url, body) {
    const options = { method, headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && data.detail;
      const error = (detail && detail.error) || `the server answered ${response.status}`;
      throw Object.assign(new Error(error), { status: response.status });
    }
    return data;
  }

  // Which score decided a label when the second opinion was asked: "(second opinion;
  // n-grams 0.41)" for a label it re-scored, "(n-grams)" for one it left to them.
  function opinion(s) {
    if (!s || !s.decided_by) return "";
    if (s.decided_by !== "second_opinion") return "(n-grams)";
    return `(second opinion; n-grams ${s.first_score.toFixed(2)})`;
  }

  function rows() {
    return Array.from(tbody.querySelectorAll("tr.row"));
  }

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function makeRow(item) {
    const tr = document.createElement("tr");
    tr.className = "row";
    tr.dataset.id = item.id;
    const band = document.createElement("span");
    band.className = "band " + item.band;
    band.textContent = item.band;
    const first = document.createElement("td");
    first.appendChild(band);
    tr.appendChild(first);
    for (const label of labels) {
      const s = item.scores[label];
      const td = cell(s ? s.score.toFixed(2) + " " : "", "num " + (s ? s.decision : ""));
      if (s) {
        const small = document.createElement("small");
        small.textContent = s.decision;
        td.appendChild(small);
      }
      if (s && s.decided_by === "second_opinion") {
        const second = document.createElement("small");
        second.className = "opinion";
        second.title = opinion(s);
        second.textContent = "2nd";
        td.append(" ", second);
      }
      tr.appendChild(td);
    }
    tr.appendChild(cell(item.excerpt === null ? "text not stored" : item.excerpt, "excerpt"));
    tr.appendChild(cell(stateText(item), "state"));
    markLease(tr, item);
    return tr;
  }

  function stateText(item) {
    const other = item.leased_by && item.leased_by !== initial.moderator;
    return item.state + (other ? " · open by " + item.leased_by : "");
  }

  function markLease(tr, item) {
    tr.classList.toggle("leased", !!item.leased_by && item.leased_by !== initial.moderator);
  }

  function renderDetail(item) {
    const detail = $("detail");
    if (!$("text")) {
      window.location.reload(); // the page opened empty: let the server draw the layout
      return;
    }
    detail.dataset.id = item.id;
    $("title").textContent = item.title || "";
    $("previous").textContent = item.previous || "(first in its thread)";
    const text = $("text");
    text.replaceChildren();
    for (const piece of item.segments) {
      const span = document.createElement("span");
      const marked = Object.keys(piece.marks);
      if (marked.length) {
        span.className = marked.map((l) => "mark-" + l).join(" ");
        span.title = marked.map((l) => `${l} +${piece.marks[l].toFixed(2)}`).join(" ");
      }
      span.textContent = piece.text;
      text.appendChild(span);
    }
    if (item.text === null) {
      const note = document.createElement("i");
      note.textContent = "text not stored";
      text.appendChild(note);
    }
    $("spans-note").textContent = item.spans_note || "";
    const cells = document.querySelectorAll("#scores tbody tr");
    labels.forEach((label, i) => {
      const s = item.scores[label];
      const tds = cells[i].querySelectorAll("td");
      const second = document.createElement("small");
      second.className = "opinion";
      second.textContent = opinion(s);
      tds[0].replaceChildren(s ? s.score.toFixed(2) : "", " ", second);
      tds[1].textContent = s ? s.decision : "";
    });
    renderLabels(item);
    const meta = document.querySelector(".meta");
    meta.replaceChildren();
    meta.append("state ");
    const state = document.createElement("b");
    state.id = "state";
    state.textContent = item.state;
    meta.appendChild(state);
    const by = item.decided_by ? ` by ${item.decided_by}` : "";
    meta.append(`${by} · ${item.thread} #${item.position} · source id ${item.source_id || "-"}`
      + ` · model ${item.model_version}`);
    const history = $("history");
    history.replaceChildren();
    for (const h of item.history || []) {
      const li = document.createElement("li");
      li.textContent = `${h.at.slice(0, 19).replace("T", " ")} · ${h.who} · ${h.action}`
        + (h.state ? ` → ${h.state}` : "");
      history.appendChild(li);
    }
  }

  function renderLabels(item) {
    for (const label of labels) {
      const button = $("label-" + label);
      const on = item.labels[label] === 1;
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? label : "not " + label;
    }
  }

  function highlight() {
    rows().forEach((tr, i) => tr.classList.toggle("selected", i === index));
    const row = rows()[index];
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  function rememberSummary(item) {
    const i = items.findIndex((x) => x.id === item.id);
    if (i >= 0) items[i] = Object.assign({}, items[i], item);
  }

  async function prefetch(i) {
    const item = items[i];
    if (!item || cache.has(item.id)) return;
    try {
      cache.set(item.id, await call("GET", `/items/${encodeURIComponent(item.id)}.json`));
    } catch (e) {
      // the item is fetched again when it is shown
    }
  }

  // Show item i: from the prefetch cache at once when there, then lease it (409: open by
  // someone else, which the message says). Resolves once the item is on screen.
  async function show(i, started) {
    if (i < 0 || i >= items.length) return;
    index = i;
    highlight();
    const id = items[i].id;
    const cached = cache.get(id);
    current = cached || null; // no keys act on an item that is not on screen yet
    if (cached) {
      renderDetail(cached);
      if (started !== undefined) window.reviewTimings.push(performance.now() - started);
    }
    message("");
    try {
      const fresh = await call("POST", `/items/${encodeURIComponent(id)}/lease`);
      const newer = !current || current.id !== id || fresh.rev >= current.rev;
      if (newer) cache.set(id, fresh);
      if (items[index] && items[index].id === id && newer) {
        current = fresh;
        renderDetail(fresh);
        if (!cached && started !== undefined) window.reviewTimings.push(performance.now() - started);
      }
    } catch (error) {
      if (error.status === 409) {
        const row = rows()[i];
        if (row) row.classList.add("leased");
        if (!cached) {
          try {
            current = await call("GET", `/items/${encodeURIComponent(id)}.json`);
            renderDetail(current);
          } catch (e) {
            // keep what is shown
          }
        }
      }
      message(error.message);
    }
    prefetch(i + 1);
  }

  // The first row from i on that nobody else has open (i itself when all are taken).
  function freeFrom(i) {
    const all = rows();
    for (let j = i; j < all.length; j++) {
      if (!all[j].classList.contains("leased")) return j;
    }
    return i;
  }

  function move(step) {
    const next = Math.max(0, Math.min(items.length - 1, index + step));
    if (next !== index || !current) show(next);
  }

  function updateStats(stats) {
    if (!stats) return;
    $("left").textContent = stats.left;
    $("per-hour").textContent = stats.per_hour;
    $("mine-per-hour").textContent = stats.mine_per_hour;
  }

  async function decide(decision) {
    if (!current || busy) return;
    const started = performance.now();
    busy = true;
    const id = current.id;
    try {
      const answer = await call("POST", `/items/${encodeURIComponent(id)}/decision`, {
        decision, labels: current.labels, rev: current.rev,
      });
      cache.delete(id);
      updateStats(answer.stats);
      const i = items.findIndex((x) => x.id === id);
      if (initial.filters.state === "pending" && i >= 0) {
        items.splice(i, 1);
        rows()[i].remove();
        $("matching").textContent = Math.max(0, Number($("matching").textContent) - 1);
      } else if (i >= 0) {
        rememberSummary(answer.item);
        rows()[i].querySelector(".state").textContent = stateText(answer.item);
      }
      if (!items.length) {
        window.location.reload();
        return;
      }
      const next = freeFrom(initial.filters.state === "pending" ? Math.min(i, items.length - 1)
        : Math.min(i + 1, items.length - 1));
      busy = false; // the next item takes keys as soon as it is shown
      show(next, started).then(refill);
    } catch (error) {
      message(error.message);
      if (error.status === 409) refresh(id);
    } finally {
      busy = false;
    }
  }

  async function refresh(id) {
    try {
      const fresh = await call("GET", `/items/${encodeURIComponent(id)}.json`);
      cache.set(id, fresh);
      rememberSummary(fresh);
      const i = items.findIndex((x) => x.id === id);
      if (i >= 0) {
        rows()[i].querySelector(".state").textContent = stateText(fresh);
        markLease(rows()[i], fresh);
      }
      if (current && current.id === id) {
        current = fresh;
        renderDetail(fresh);
      }
    } catch (e) {
      // the message already says what went wrong
    }
  }

  async function toggle(label) {
    if (!current || busy) return;
    busy = true;
    const labelsNow = Object.assign({}, current.labels);
    labelsNow[label] = labelsNow[label] === 1 ? 0 : 1;
    try {
      const answer = await call("POST", `/items/${encodeURIComponent(current.id)}/labels`, {
        labels: labelsNow, rev: current.rev,
      });
      current = Object.assign({}, current, answer.item);
      cache.set(current.id, current);
      renderLabels(current);
      message("");
    } catch (error) {
      message(error.message);
      if (error.status === 409) refresh(current.id);
    } finally {
      busy = false;
    }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const answer = await call("POST", "/undo");
      const params = new URLSearchParams(initial.query);
      params.set("item", answer.undone[0]);
      window.location.assign("/?" + params.toString());
    } catch (error) {
      message(error.message);
      busy = false;
    }
  }

  // Top up the list from the JSON twin when few items are left below the selection.
  async function refill() {
    if (items.length - index > 10) return;
    const params = new URLSearchParams(initial.query);
    params.set("offset", "0");
    try {
      const data = await call("GET", "/queue.json?" + params.toString());
      const known = new Set(items.map((i) => i.id));
      for (const item of data.items) {
        if (!known.has(item.id)) {
          items.push(item);
          tbody.appendChild(makeRow(item));
        }
      }
      $("matching").textContent = data.matching;
    } catch (e) {
      // keep the list as it is
    }
  }

  // --- bulk: a score range of one label, counted, then confirmed ---------------------
  let bulkCount = null;
  let bulkDecision = null;

  function bulkRange() {
    const low = Number($("bulk-low").value);
    const high = Number($("bulk-high").value);
    return { label: $("bulk-label").value, low: Math.min(low, high), high: Math.max(low, high) };
  }

  async function bulkCountNow() {
    const range = bulkRange();
    const params = new URLSearchParams(initial.query);
    params.delete("offset");
    params.set("state", "pending");
    params.set("label", range.label);
    params.set("low", range.low);
    params.set("high", range.high);
    params.set("limit", "0");
    try {
      const data = await call("GET", "/queue.json?" + params.toString());
      bulkCount = data.matching;
      $("bulk-found").textContent = `${bulkCount} pending items with ${range.label} `
        + `${range.low.toFixed(2)}–${range.high.toFixed(2)}`;
      $("bulk-approve").disabled = $("bulk-reject").disabled = bulkCount === 0;
    } catch (error) {
      message(error.message);
    }
  }

  function bulkAsk(decision) {
    if (bulkCount === null) return;
    bulkDecision = decision;
    const range = bulkRange();
    $("bulk-question").textContent = `${decision === "approve" ? "Approve" : "Reject"} all `
      + `${bulkCount} items with ${range.label} ${range.low.toFixed(2)}–${range.high.toFixed(2)}?`;
    $("bulk-confirm").hidden = false;
  }

  async function bulkConfirm() {
    const range = bulkRange();
    const body = Object.assign(range, { decision: bulkDecision, count: bulkCount });
    if (initial.filters.band) body.band = initial.filters.band;
    if (initial.filters.thread) body.thread = initial.filters.thread;
    try {
      await call("POST", "/bulk", body);
      window.location.reload();
    } catch (error) {
      message(error.message);
      $("bulk-confirm").hidden = true;
      bulkCountNow();
    }
  }

  function toggleHelp(show) {
    $("help").hidden = show === undefined ? !$("help").hidden : !show;
  }

  // --- wiring: keys and the mouse do the same things ----------------------------------
  const keys = {
    j: () => move(1), k: () => move(-1), a: () => decide("approve"), r: () => decide("reject"),
    t: () => toggle("toxic"), c: () => toggle("conspiracy"), z: () => undo(), "?": () => toggleHelp(),
    Escape: () => toggleHelp(false),
  };
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.closest && target.closest("input, select, textarea")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
  tbody.addEventListener("click", (event) => {
    const tr = event.target.closest("tr.row");
    if (tr) show(rows().indexOf(tr));
  });
  const on = (id, fn) => { const el = $(id); if (el) el.addEventListener("click", fn); };
  on("next", () => move(1));
  on("prev", () => move(-1));
  on("approve", () => decide("approve"));
  on("reject", () => decide("reject"));
  on("undo", () => undo());
  on("help-button", () => toggleHelp());
  on("help-close", () => toggleHelp(false));
  for (const label of labels) on("label-" + label, () => toggle(label));
  on("bulk-count", bulkCountNow);
  on("bulk-approve", () => bulkAsk("approve"));
  on("bulk-reject", () => bulkAsk("reject"));
  on("bulk-yes", bulkConfirm);
  on("bulk-no", () => { $("bulk-confirm").hidden = true; });
  on("signout", async () => {
    await call("POST", "/signout");
    window.location.assign("/signin");
  });
  document.body.dataset.ready = "true";
  if (index >= 0) show(index);
})();
