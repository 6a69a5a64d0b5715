// The interactive topology page (page.py draws the picture; this only highlights, filters, pans and zooms).
// Plain browser JavaScript, no library: the page must open with no network and read the same in ten years.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("cloudports-data").textContent);
  const svg = document.getElementById("picture");
  const viewport = document.getElementById("viewport");
  const canvas = document.getElementById("canvas");
  const panel = document.getElementById("panel");
  const controls = {
    search: document.getElementById("search"),
    service: document.getElementById("service"),
    phase: document.getElementById("phase"),
    target: document.getElementById("target"),
    exposure: document.getElementById("exposure"),
  };
  const LABEL_PX = 12; // the smallest label drawn (page.css)
  const READABLE_PX = 11; // the default zoom never shows a label smaller than this
  const view = { scale: 1, x: 0, y: 0 };
  let selected = null; // {kind: "node", name} or {kind: "bundle", id}

  // target -> flow id -> [[rule name, summary, its sources, its destinations]]: the rules each target's build
  // makes of a flow, with which of the flow's roles and networks each lets traffic come from and go to
  const rulesOf = {};
  for (const [target, found] of Object.entries(data.targets)) {
    rulesOf[target] = {};
    for (const [name, summary, flows, from, to] of found.rules) {
      for (const flow of flows) (rulesOf[target][flow] ||= []).push([name, summary, from, to]);
    }
  }

  // ---- filters ----

  function flowShown(id) {
    const flow = data.flows[id];
    const word = controls.service.value.trim().toLowerCase();
    if (word) {
      const words = [...flow.services, ...flow.ports].map((w) => w.toLowerCase());
      const port = (p) => p === word || p.endsWith("/" + word) || p.includes(word);
      if (!words.some(port)) return false;
    }
    const phase = controls.phase.value;
    if (phase === "-" && flow.phase) return false;
    if (phase && phase !== "-" && flow.phase !== phase) return false;
    const target = controls.target.value;
    if (target && !(rulesOf[target] || {})[id]) return false;
    if (controls.exposure.checked && !flow.exposure.length && !flow.allowed) return false;
    return true;
  }

  function bundleShown(id) {
    return data.bundles[id].flows.some(flowShown);
  }

  function filtering() {
    return Boolean(controls.service.value.trim() || controls.phase.value || controls.target.value ||
      controls.exposure.checked);
  }

  function applyFilters() {
    const reached = new Set();
    for (const [id, bundle] of Object.entries(data.bundles)) {
      const shown = bundleShown(id);
      if (shown) bundle.members.forEach((m) => reached.add(m));
      const elements = bundle.kind === "edge" ? [document.getElementById(id)]
        : document.querySelectorAll(`[data-bundle="${id}"]`);
      elements.forEach((el) => el.classList.toggle("hidden", !shown));
    }
    const active = filtering();
    for (const node of document.querySelectorAll(".node")) {
      node.classList.toggle("dim", active && !reached.has(node.dataset.name));
    }
    highlight();
    describe();
  }

  function applySearch() {
    const word = controls.search.value.trim().toLowerCase();
    for (const node of document.querySelectorAll(".node")) {
      node.classList.toggle("match", Boolean(word) && node.dataset.name.toLowerCase().includes(word));
    }
  }

  // ---- selection ----

  function select(what) {
    selected = what;
    highlight();
    describe();
  }

  function highlight() {
    const name = selected && selected.kind === "node" ? selected.name : null;
    const bundle = selected && selected.kind === "bundle" ? data.bundles[selected.id] : null;
    svg.classList.toggle("focused", Boolean(selected));
    const near = new Set(name ? [name] : bundle ? bundle.members : []);
    for (const edge of document.querySelectorAll(".edge")) {
      const shown = !edge.classList.contains("hidden");
      const isIn = shown && (edge.dataset.to === name || (bundle && edge.id === selected.id));
      const isOut = shown && edge.dataset.from === name;
      edge.classList.toggle("in", Boolean(isIn));
      edge.classList.toggle("out", Boolean(isOut));
      if (isIn || isOut) [edge.dataset.from, edge.dataset.to].forEach((n) => near.add(n));
    }
    for (const node of document.querySelectorAll(".node")) {
      node.classList.toggle("selected", node.dataset.name === name);
      node.classList.toggle("member", Boolean(bundle && bundle.kind !== "edge" && bundle.members.includes(node.dataset.name)));
      node.classList.toggle("faded", Boolean(selected) && !near.has(node.dataset.name));
    }
  }

  // ---- the side panel ----

  function el(tag, text, className) {
    const made = document.createElement(tag);
    if (text !== undefined) made.textContent = text;
    if (className) made.className = className;
    return made;
  }

  // concerned(rule's sources, rule's destinations) -> whether the rule belongs to the panel's subject
  function flowItem(id, way, concerned) {
    const flow = data.flows[id];
    const item = el("li", undefined, "flow");
    item.dataset.flow = id;
    const ends = way === "in" ? "from " + flow.from.join(", ") : way === "out" ? "to " + flow.to.join(", ")
      : flow.from.join(", ") + " → " + flow.to.join(", ");
    item.append(el("strong", ends));
    const what = [flow.services.join(", "), flow.ports.join(", ")].filter(Boolean).join(": ");
    item.append(el("div", what));
    if (flow.phase) item.append(el("div", "only in phase " + flow.phase, "muted"));
    if (flow.description) item.append(el("div", flow.description));
    item.append(el("div", `${data.place} ${flow.at}`, "muted"));
    for (const reason of flow.exposure) item.append(el("div", "⚠ exposure: " + reason, "exposure"));
    if (flow.allowed) item.append(el("div", "⚠ exposure allowed: " + flow.allowed, "exposure"));
    const targets = controls.target.value ? [controls.target.value] : Object.keys(data.targets);
    for (const target of targets) {
      const rules = ((rulesOf[target] || {})[id] || []).filter(([, , from, to]) => concerned(from, to));
      const error = data.targets[target].error;
      const note = error ? "cannot build: " + error : flow.phase && !rules.length ? "no rules unless --phase " + flow.phase
        : "";
      item.append(el("div", `${target}: ${rules.length} rule${rules.length === 1 ? "" : "s"} ${note}`, "muted"));
      const list = el("ul", undefined, "rules");
      list.dataset.target = target;
      for (const [name, summary] of rules) {
        const rule = el("li", name);
        rule.title = summary;
        list.append(rule);
      }
      item.append(list);
    }
    return item;
  }

  function flowList(title, ids, way, concerned) {
    const shown = ids.filter(flowShown);
    const section = el("section");
    section.dataset.way = way;
    const hidden = ids.length - shown.length;
    section.append(el("h3", `${title} (${shown.length}${hidden ? `, ${hidden} hidden by the filters` : ""})`));
    const list = el("ul");
    shown.forEach((id) => list.append(flowItem(id, way, concerned)));
    section.append(list);
    return section;
  }

  function describeNode(name) {
    const node = data.nodes[name];
    panel.append(el("h2", name), el("div", node.kind, "muted"));
    if (node.description) panel.append(el("p", node.description));
    if (node.detail) panel.append(el("p", node.detail, "muted"));
    const ids = Object.keys(data.flows);
    const into = (from, to) => to.includes(name), outOf = (from) => from.includes(name);
    panel.append(flowList("Inbound", ids.filter((id) => data.flows[id].to.includes(name)), "in", into));
    panel.append(flowList("Outbound", ids.filter((id) => data.flows[id].from.includes(name)), "out", outOf));
  }

  function describeBundle(id) {
    const bundle = data.bundles[id];
    const title = bundle.kind === "edge" ? bundle.members.join(" → ")
      : bundle.kind === "mesh" ? "mesh: every one of " + bundle.members.join(", ") + " to every other"
      : bundle.members[0] + " to itself";
    panel.append(el("h2", title));
    // an edge's rules let its source reach its target; a mesh's or a loop's, its members each other
    const [source, target] = bundle.members;
    const concerned = bundle.kind === "edge" ? (from, to) => from.includes(source) && to.includes(target)
      : (from, to) => bundle.members.some((m) => from.includes(m)) && bundle.members.some((m) => to.includes(m));
    panel.append(flowList("Flows", bundle.flows, "both", concerned));
  }

  function describeAll() {
    panel.append(el("h2", data.title));
    const legend = el("p", undefined, "legend");
    legend.append(el("span", "click a role or network for its flows and rules;"),
      el("span", "blue: inbound, orange: outbound;"), el("span", "dashed: only in a phase;"),
      el("span", "red: exposure", "exposure"), el("span", "◆ mesh, ↻ to itself (click the badge);"),
      el("span", "wheel: zoom, drag: pan"));
    if (Object.values(data.nodes).some((node) => node.kind === "foreign")) {
      legend.append(el("span", "dashed red box: a group or address block the spec does not know"));
    }
    panel.append(legend);
    const ids = Object.keys(data.flows);
    panel.append(el("p", `${Object.keys(data.nodes).length} roles and networks, ${ids.length} flows`, "muted"));
    const exposed = ids.filter((id) => data.flows[id].exposure.length || data.flows[id].allowed);
    if (exposed.length) panel.append(flowList("Exposure", exposed, "both", () => true));
  }

  function describe() {
    panel.replaceChildren();
    if (selected && selected.kind === "node") describeNode(selected.name);
    else if (selected) describeBundle(selected.id);
    else describeAll();
  }

  // ---- pan and zoom ----

  function show() {
    viewport.setAttribute("transform", `translate(${view.x.toFixed(1)},${view.y.toFixed(1)}) scale(${view.scale.toFixed(4)})`);
    svg.dataset.scale = view.scale.toFixed(4);
  }

  function fit() {
    const width = Number(svg.dataset.width), height = Number(svg.dataset.height);
    const box = canvas.getBoundingClientRect();
    const whole = Math.min(box.width / width, box.height / height);
    view.scale = Math.min(Math.max(whole, READABLE_PX / LABEL_PX), 1.4);
    // a drawing too large to fit at a readable size starts at its top left, where the networks are
    view.x = Math.max((box.width - width * view.scale) / 2, 0);
    view.y = Math.max((box.height - height * view.scale) / 2, 0);
    show();
  }

  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = canvas.getBoundingClientRect();
    const px = event.clientX - box.left, py = event.clientY - box.top;
    const factor = Math.exp(-event.deltaY * 0.0015);
    const scale = Math.min(Math.max(view.scale * factor, 0.15), 5);
    view.x = px - (px - view.x) * (scale / view.scale);
    view.y = py - (py - view.y) * (scale / view.scale);
    view.scale = scale;
    show();
  }, { passive: false });

  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, viewX: view.x, viewY: view.y, moved: false };
  });
  window.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) {
      drag.moved = true;
      canvas.classList.add("dragging");
    }
    if (drag.moved) {
      view.x = drag.viewX + dx;
      view.y = drag.viewY + dy;
      show();
    }
  });
  window.addEventListener("pointerup", () => canvas.classList.remove("dragging"));

  canvas.addEventListener("click", (event) => {
    const moved = drag && drag.moved;
    drag = null;
    if (moved) return; // the end of a pan, not a click
    const badge = event.target.closest("[data-bundle]");
    const node = event.target.closest(".node");
    const edge = event.target.closest(".edge");
    if (badge) select({ kind: "bundle", id: badge.dataset.bundle });
    else if (node) select({ kind: "node", name: node.dataset.name });
    else if (edge) select({ kind: "bundle", id: edge.id });
    else select(null);
  });

  // ---- wiring ----

  for (const name of ["service", "phase", "target", "exposure"]) {
    controls[name].addEventListener("input", applyFilters);
    controls[name].addEventListener("change", applyFilters);
  }
  controls.search.addEventListener("input", applySearch);
  controls.search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    const found = [...document.querySelectorAll(".node.match")].map((n) => n.dataset.name).sort();
    if (found.length) select({ kind: "node", name: found[0] });
  });
  document.getElementById("fit").addEventListener("click", fit);
  window.addEventListener("keydown", (event) => {
    if (event.key === "Escape") select(null);
  });
  fit();
  applyFilters();
})();
