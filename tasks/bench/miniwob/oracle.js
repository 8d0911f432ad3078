// The MiniWoB reference policy's brain: reads the live DOM and returns the next action.
//
// Evaluated by MiniWobOracle once per step on the loop's thread, with the task name. Returns
// {action: "click", x, y} in CSS px of the viewport, {action: "type", text} for the focused
// field, or {unsupported: reason}. It keeps no state of its own beyond what the page shows
// (values, focus, checked boxes, visible panels), except for sequences the page cannot tell
// apart (click-button-sequence), which live in window.__ppOracleMemory for the episode.
([task, area]) => {
  const query = (document.getElementById("query") || {}).textContent || "";
  const q = query.replace(/\s+/g, " ").trim();
  const memory = (window.__ppOracleMemory =
    window.__ppOracleMemory && window.__ppOracleMemory.episode === WOB_EPISODE_ID
      ? window.__ppOracleMemory
      : { episode: WOB_EPISODE_ID, done: [] });

  const visible = (el) => {
    if (!el) return false;
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const click = (el, why) => {
    if (!el) return { unsupported: `no target for ${why || task}` };
    const r = el.getBoundingClientRect();
    // the centre of the part of the element inside the captured task area
    const x0 = Math.max(r.left, 0), x1 = Math.min(r.right, area.width);
    const y0 = Math.max(r.top, 0), y1 = Math.min(r.bottom, area.height);
    if (x1 <= x0 || y1 <= y0) return { unsupported: `target outside the viewport (${why || task})` };
    // the centre, unless something covers it (overlapping buttons): then the nearest uncovered point
    const hits = (x, y) => {
      const top = document.elementFromPoint(x, y);
      return top === el || el.contains(top) || (el.labels && [...el.labels].some((l) => l.contains(top)));
    };
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const candidates = [];
    for (let i = 0; i <= 8; i++)
      for (let j = 0; j <= 8; j++) candidates.push([x0 + ((x1 - x0) * (i + 0.5)) / 9, y0 + ((y1 - y0) * (j + 0.5)) / 9]);
    candidates.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy));
    const spot = hits(cx, cy) ? [cx, cy] : candidates.find(([x, y]) => hits(x, y));
    if (!spot) return { unsupported: `target covered by another element (${why || task})` };
    return { action: "click", x: spot[0], y: spot[1] };
  };
  const quoted = () => {
    const m = q.match(/"([^"]*)"/g) || [];
    return m.map((s) => s.slice(1, -1));
  };
  const byText = (selector, text, root) =>
    Array.from((root || document).querySelectorAll(selector)).find(
      (el) => el.textContent.replace(/\s+/g, " ").trim() === text && visible(el)
    );
  // fill one field: focus it, then type; returns null when the field already holds the text
  const fill = (input, text) => {
    if (!input) return { unsupported: "no input field" };
    if (input.value === text) return null;
    if (document.activeElement !== input) return click(input, "field");
    return { action: "type", text: text, clear: input.value !== "" };
  };
  const submit = () => click(document.getElementById("subbtn"), "submit");
  const checkboxes = (names, type) => {
    const wanted = new Set(names);
    for (const label of document.querySelectorAll("#boxes label, #area label")) {
      const input = label.querySelector(`input[type=${type}]`);
      if (!input) continue;
      const name = label.textContent.trim();
      if (wanted.has(name) !== input.checked) return click(input, name);
    }
    return submit();
  };

  switch (task) {
    case "click-test":
    case "click-test-transfer":
      return click(document.getElementById("subbtn"));
    case "click-test-2":
      return click(byText("#area button", q.includes("TWO") ? "TWO" : "ONE"));
    case "click-button-sequence": {
      const next = memory.done.length === 0 ? "subbtn" : "subbtn2";
      memory.done.push(next);
      return click(document.getElementById(next));
    }
    case "click-button":
      return click(byText("#area button", quoted()[0]), "button");
    case "click-link":
      return click(byText("#area span.alink", quoted()[0]), "link");
    case "click-dialog":
      return click(document.querySelector(".ui-dialog-titlebar button"), "close button");
    case "click-dialog-2": {
      const label = quoted()[0];
      if (label === "x") return click(document.querySelector(".ui-dialog-titlebar button"), "close button");
      return click(byText(".ui-dialog-buttonpane button", label), "dialog button");
    }
    case "click-tab": {
      const n = (q.match(/Tab #(\d)/) || [])[1];
      return click(document.querySelector(`#area ul a[href="#tabs-${n}"]`), "tab");
    }
    case "click-tab-2":
    case "click-tab-2-easy":
    case "click-tab-2-medium":
    case "click-tab-2-hard": {
      const text = quoted()[0];
      const links = Array.from(document.querySelectorAll("#area span.alink")).filter(
        (el) => el.textContent.trim() === text
      );
      const shown = links.find(visible);
      if (shown) return click(shown, "link");
      if (!links.length) {
        // click-tab-2-medium empties the second tab; then that tab itself is the right answer
        if (task === "click-tab-2-medium") return click(document.querySelectorAll("#area .ui-tab")[1], "tab 2");
        return { unsupported: "link not found" };
      }
      const panel = links[0].closest("[id^=tabs-]");
      return click(document.querySelector(`#area ul a[href="#${panel.id}"]`), "tab");
    }
    case "click-checkboxes":
    case "click-checkboxes-large":
    case "click-checkboxes-transfer": {
      const m = q.match(/^Select (.*) and click Submit\.?$/);
      if (!m) return { unsupported: "unexpected query" };
      const names = m[1] === "nothing" ? [] : m[1].split(/,\s*/);
      return checkboxes(names, "checkbox");
    }
    case "click-option": {
      const m = q.match(/^Select (.*) and click Submit\.?$/);
      if (!m) return { unsupported: "unexpected query" };
      return checkboxes([m[1]], "radio");
    }
    case "click-collapsible":
    case "click-collapsible-nodelay": {
      const open = Array.from(document.querySelectorAll(".ui-accordion-content")).some(visible);
      if (!open) return click(document.querySelector("#area h3"), "section header");
      return submit();
    }
    case "click-widget": {
      const kind = quoted()[0];
      const target = Array.from(document.querySelectorAll("#area .widget")).find((w) => {
        const inner = w.querySelector("input, textarea, button");
        return inner && inner.getAttribute("data-type") === kind;
      });
      return click(target, "widget");
    }
    case "focus-text":
      return click(document.getElementById("tt"));
    case "focus-text-2": {
      const n = { "1st": 1, "2nd": 2, "3rd": 3 }[(q.match(/(1st|2nd|3rd)/) || [])[1]];
      return click(document.getElementById(`tt${n}`));
    }
    case "enter-text":
    case "enter-text-dynamic":
      return fill(document.getElementById("tt"), quoted()[0]) || submit();
    case "enter-text-2": {
      let text = quoted()[0];
      if (/lower ?case/i.test(q)) text = text.toLowerCase();
      else if (/all caps|upper ?case|capital/i.test(q)) text = text.toUpperCase();
      return fill(document.getElementById("tt"), text) || submit();
    }
    case "enter-password": {
      const pw = quoted()[0];
      return (
        fill(document.getElementById("password"), pw) || fill(document.getElementById("verify"), pw) || submit()
      );
    }
    case "login-user": {
      const [user, pw] = quoted();
      return (
        fill(document.getElementById("username"), user) || fill(document.getElementById("password"), pw) || submit()
      );
    }
    default:
      return { unsupported: `the oracle does not know ${task}` };
  }
};
