// PixelSim: the bundled apps of the simulated phone, and the bridge the simulator drives them through.
//
// All app state lives here, in the one page the simulator keeps open for its whole run, so it survives
// app switches. The simulator calls window.pixelsim.* (start an app, back, home, settings, dump the
// view hierarchy); the user's touches arrive as mouse events and become taps, long presses and drags
// in the gesture layer below. Nothing here animates, so a screenshot right after an input is final.
"use strict";
(() => {
  const LAUNCHER = "com.pixelsim.launcher";
  const PHONE = "com.pixelsim.phone";
  const APPS = {
    [LAUNCHER]: { label: "Launcher", screens: { home: "LauncherActivity", recents: "RecentsActivity" } },
    "com.pixelsim.settings": { label: "Settings", glyph: "S", screens: { main: "SettingsActivity", about: "AboutPhoneActivity" } },
    "com.pixelsim.contacts": { label: "Contacts", glyph: "C", screens: { list: "ContactsActivity", edit: "EditContactActivity" } },
    "com.pixelsim.notes": { label: "Notes", glyph: "N", screens: { list: "NotesActivity", edit: "EditNoteActivity" } },
    [PHONE]: { label: "Phone", glyph: "P", color: "#188038", screens: { main: "DialerActivity", call: "InCallActivity" } },
  };
  // Apps with one screen: they are there to be found and opened (the launcher's grid is longer than three icons).
  const STUBS = [
    ["clock", "Clock", "#8e24aa"], ["calendar", "Calendar", "#d93025"], ["camera", "Camera", "#455a64"],
    ["gallery", "Gallery", "#e37400"], ["messages", "Messages", "#1967d2"], ["files", "Files", "#00897b"],
    ["music", "Music", "#c2185b"], ["weather", "Weather", "#0097a7"],
  ];
  for (const [id, label, color] of STUBS) {
    const pkg = `com.pixelsim.${id}`;
    APPS[pkg] = { label, glyph: label[0], color, stub: true, screens: { main: `${label}Activity` } };
  }
  const mainScreen = (pkg) => Object.keys(APPS[pkg].screens)[0];
  const activityOf = (pkg, screen) => `${pkg}.${APPS[pkg].screens[screen]}`;

  const seedContacts = () => [
    { id: 1, name: "Alice Johnson", phone: "555-0101" },
    { id: 2, name: "Bob Smith", phone: "555-0102" },
    { id: 3, name: "Carol White", phone: "555-0103" },
    { id: 4, name: "David Brown", phone: "555-0104" },
  ];
  const seedNotes = () =>
    [
      "Buy milk", "Call the dentist", "Pay electricity bill", "Book flights to Lisbon", "Water the plants",
      "Return library books", "Pick up dry cleaning", "Renew passport", "Team meeting at 10", "Gym: leg day",
      "Birthday gift for Sam", "Fix the bike tire", "Read chapter 4", "Back up photos",
    ].map((text, i) => ({ id: i + 1, text }));

  const S = {
    settings: { global: {}, secure: {}, system: {} },
    device: {},
    clock: "12:00",
    date: "Monday, January 1",
    app: LAUNCHER,
    tasks: {}, // package -> stack of {screen, params, draft, scroll}
    recents: [], // packages, most recent first
    overlay: null, // "recents"
    dialog: null, // {message, confirm, action, id}
    screenOn: true,
    contacts: seedContacts(),
    notes: seedNotes(),
    calls: [], // the call log, newest first: {id, name, number, type}
    launcherOrder: null, // packages in grid order (null: APPS order); a loaded state sets it
    settingsOrder: null, // switch rows in list order (null: the sectioned default layout)
    nextId: 100,
  };

  // The switches of Settings: row name -> [namespace, key, title, on value, off value]. The first four
  // are the default layout's sections; the rest follow About phone there, and every order is possible
  // once a state is loaded.
  const SETTING_ROWS = {
    wifi: ["global", "wifi_on", "Wi-Fi", "1", "0"],
    airplane: ["global", "airplane_mode_on", "Airplane mode", "1", "0"],
    bluetooth: ["global", "bluetooth_on", "Bluetooth", "1", "0"],
    dark_theme: ["secure", "ui_night_mode", "Dark theme", "2", "1"],
    mobile_data: ["global", "mobile_data", "Mobile data", "1", "0"],
    location: ["secure", "location_mode", "Location", "3", "0"],
    battery_saver: ["global", "low_power", "Battery saver", "1", "0"],
    do_not_disturb: ["global", "zen_mode", "Do not disturb", "1", "0"],
    nfc: ["global", "nfc_on", "NFC", "1", "0"],
    auto_brightness: ["system", "screen_brightness_mode", "Adaptive brightness", "1", "0"],
    vibrate_on_tap: ["system", "haptic_feedback_enabled", "Vibrate on tap", "1", "0"],
  };
  const DEFAULT_EXTRA_ROWS = Object.keys(SETTING_ROWS).slice(4);

  const $ = (sel) => document.querySelector(sel);
  const esc = (s) =>
    String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const on = (ns, key) => String(S.settings[ns][key] ?? "") === "1";
  const darkTheme = () => String(S.settings.secure.ui_night_mode ?? "1") === "2";
  const isField = (el) => !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA"); // an EditText

  // ------------------------------------------------------------------ navigation
  function task(pkg) {
    if (!S.tasks[pkg]) S.tasks[pkg] = [{ screen: mainScreen(pkg), params: {}, draft: null, scroll: 0 }];
    return S.tasks[pkg];
  }
  const top = () => {
    const stack = task(S.app);
    return stack[stack.length - 1];
  };
  function toFront(pkg) {
    S.app = pkg;
    S.overlay = null;
    S.dialog = null;
    if (pkg !== LAUNCHER) S.recents = [pkg, ...S.recents.filter((p) => p !== pkg)];
  }
  function launch(pkg) {
    task(pkg);
    toFront(pkg);
    render();
  }
  function push(screen, params = {}) {
    task(S.app).push({ screen, params, draft: null, scroll: 0 });
    render();
  }
  function back() {
    if (!S.screenOn) return;
    if (S.dialog) S.dialog = null;
    else if (S.overlay) S.overlay = null;
    else if (task(S.app).length > 1) task(S.app).pop();
    else if (S.app !== LAUNCHER) S.app = LAUNCHER;
    render();
  }
  function home() {
    if (!S.screenOn) return;
    S.overlay = null;
    S.dialog = null;
    S.app = LAUNCHER;
    task(LAUNCHER).length = 1;
    render();
  }
  function appSwitch() {
    if (!S.screenOn) return;
    S.dialog = null;
    S.overlay = S.overlay === "recents" ? null : "recents";
    render();
  }
  function forceStop(pkg) {
    if (!APPS[pkg]) return false;
    delete S.tasks[pkg];
    S.recents = S.recents.filter((p) => p !== pkg);
    if (S.app === pkg) {
      S.app = LAUNCHER;
      S.dialog = null;
    }
    render();
    return true;
  }

  // ------------------------------------------------------------------ rendering
  function statusBar() {
    const airplane = on("global", "airplane_mode_on");
    const icons = [];
    if (airplane) icons.push(`<span aria-label="Airplane mode on">&#9992;</span>`);
    if (on("global", "wifi_on") && !airplane) icons.push(`<span aria-label="Wi-Fi on">Wi-Fi</span>`);
    if (on("global", "bluetooth_on")) icons.push(`<span aria-label="Bluetooth on">BT</span>`);
    icons.push(`<span aria-label="Battery 100 percent">100%</span>`);
    return `<span data-rid="com.android.systemui:id/clock">${esc(S.clock)}</span>
      <div class="icons" data-rid="com.android.systemui:id/system_icons">${icons.join("")}</div>`;
  }

  function launcherApps() {
    const all = Object.keys(APPS).filter((pkg) => pkg !== LAUNCHER);
    if (!S.launcherOrder) return all;
    const first = S.launcherOrder.filter((pkg) => all.includes(pkg));
    return [...first, ...all.filter((pkg) => !first.includes(pkg))];
  }

  function topbar(title, up) {
    const arrow = up
      ? `<button class="up" data-action="up" data-class="android.widget.ImageButton" aria-label="Navigate up">&#8592;</button>`
      : "";
    return `<div class="topbar" data-rid="toolbar">${arrow}<span data-rid="title">${esc(title)}</span></div>`;
  }

  const screens = {
    [LAUNCHER]: {
      home: () => `<div class="launcher" data-rid="workspace">
          <div class="clock" data-rid="clock">${esc(S.clock)}</div>
          <div class="date" data-rid="date">${esc(S.date)}</div>
          <div class="grid" data-rid="apps_grid">${launcherApps()
            .map((pkg) => {
              const app = APPS[pkg];
              const color = app.color ? ` style="background:${app.color}"` : "";
              return `<div class="appicon" data-action="launch" data-pkg="${pkg}"
                data-class="android.widget.TextView" data-text="${esc(app.label)}" aria-label="${esc(app.label)}"
                data-rid="app_${app.label.toLowerCase()}">
                <div class="glyph${app.color ? "" : ` ${app.label.toLowerCase()}`}"${color}>${app.glyph}</div><div class="label">${esc(app.label)}</div></div>`;
            })
            .join("")}</div></div>`,
    },
    "com.pixelsim.settings": {
      main: () => {
        const row = (key, ns, name, title, onValue = "1", offValue = "0") => {
          const checked = String(S.settings[ns][key] ?? offValue) === onValue;
          return `<div class="row" data-action="toggle" data-ns="${ns}" data-key="${key}" data-on="${onValue}"
              data-off="${offValue}" data-rid="${name}_row">
            <div class="texts"><span class="title" data-rid="${name}_title">${esc(title)}</span>
              <span class="summary" data-rid="${name}_summary">${checked ? "On" : "Off"}</span></div>
            <div class="switch" role="switch" aria-checked="${checked}" data-rid="${name}_switch"></div></div>`;
        };
        const switchRow = (name) => {
          const [ns, key, title, onValue, offValue] = SETTING_ROWS[name];
          return row(key, ns, name, title, onValue, offValue);
        };
        const about = `<div class="row" data-action="open" data-screen="about" data-rid="about_phone">
            <div class="texts"><span class="title">About phone</span>
            <span class="summary">${esc(S.device.model || "")}</span></div></div>`;
        if (S.settingsOrder) {
          return `${topbar("Settings")}<div class="content" data-rid="settings_list">
            ${S.settingsOrder.map(switchRow).join("")}${about}</div>`;
        }
        return `${topbar("Settings")}<div class="content" data-rid="settings_list">
          <div class="section">Network &amp; internet</div>
          ${row("wifi_on", "global", "wifi", "Wi-Fi")}
          ${row("airplane_mode_on", "global", "airplane", "Airplane mode")}
          <div class="section">Connected devices</div>
          ${row("bluetooth_on", "global", "bluetooth", "Bluetooth")}
          <div class="section">Display</div>
          ${row("ui_night_mode", "secure", "dark_theme", "Dark theme", "2", "1")}
          <div class="section">System</div>
          ${about}
          <div class="section">More</div>
          ${DEFAULT_EXTRA_ROWS.map(switchRow).join("")}</div>`;
      },
      about: () => {
        const d = S.device;
        const item = (title, value, rid) => `<div class="row about" data-rid="${rid}">
            <div class="texts"><span class="title">${esc(title)}</span><span class="value" data-rid="${rid}_value">${esc(value)}</span></div></div>`;
        return `${topbar("About phone", true)}<div class="content" data-rid="about_list">
          ${item("Device name", d.model, "device_name")}${item("Model", d.model, "model")}
          ${item("Android version", d.release, "android_version")}${item("Build number", d.build, "build_number")}
          ${item("Serial number", d.serial, "serial_number")}</div>`;
      },
    },
    "com.pixelsim.contacts": {
      list: () => {
        const rows = [...S.contacts]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map(
            (c) => `<div class="row" data-action="contact-open" data-longpress="contact-delete" data-id="${c.id}"
                data-rid="contact_row" data-class="android.widget.LinearLayout">
              <div class="avatar" data-class="android.widget.ImageView" data-text="">${esc(c.name.slice(0, 1).toUpperCase())}</div>
              <div class="texts"><span class="title" data-rid="contact_name">${esc(c.name)}</span>
              <span class="summary" data-rid="contact_phone">${esc(c.phone)}</span></div>
              <button class="call" data-action="call" data-id="${c.id}" data-rid="call_button" aria-label="Call ${esc(c.name)}"
                data-class="android.widget.ImageButton" data-text="">&#9742;</button></div>`,
          );
        return `${topbar("Contacts")}<div class="content has-fab" data-rid="contact_list"
            data-class="androidx.recyclerview.widget.RecyclerView">${rows.join("") || `<div class="empty">No contacts</div>`}</div>
          <button class="fab" data-action="contact-add" data-rid="add_contact">Add contact</button>`;
      },
      edit: (entry) => {
        const d = entry.draft;
        return `${topbar(entry.params.id ? "Edit contact" : "New contact", true)}<div class="content"><div class="form">
          <input class="field" data-rid="name" data-bind="name" data-enter="next" placeholder="Name" value="${esc(d.name)}">
          <input class="field" data-rid="phone" data-bind="phone" data-enter="contact-save" type="tel" placeholder="Phone" value="${esc(d.phone)}">
          ${d.error ? `<span class="error" data-rid="error">${esc(d.error)}</span>` : ""}
          <button class="primary" data-action="contact-save" data-rid="save">Save</button></div></div>`;
      },
    },
    "com.pixelsim.notes": {
      list: () => {
        const rows = S.notes.map(
          (n) => `<div class="row" data-action="note-open" data-longpress="note-delete" data-id="${n.id}" data-rid="note_row">
              <span class="title" data-rid="note_title">${esc(n.text)}</span></div>`,
        );
        return `${topbar("Notes")}<div class="content has-fab" data-rid="note_list"
            data-class="androidx.recyclerview.widget.RecyclerView">${rows.join("") || `<div class="empty">No notes</div>`}</div>
          <button class="fab round" data-action="note-add" data-rid="add_note" aria-label="Add note"
            data-class="android.widget.ImageButton" data-text="">+</button>`;
      },
      // note_text is single-line (Enter saves, Tab moves to the body); note_body is multiline (Enter and Tab
      // type a newline and a tab). The newline after <textarea> keeps a body that starts with one.
      edit: (entry) => `${topbar(entry.params.id ? "Edit note" : "New note", true)}<div class="content"><div class="form">
          <input class="field" data-rid="note_text" data-bind="text" data-enter="note-save" placeholder="Note" value="${esc(entry.draft.text)}">
          <textarea class="field multiline" data-rid="note_body" data-bind="body" placeholder="Details">
${esc(entry.draft.body)}</textarea>
          <button class="primary" data-action="note-save" data-rid="save_note">Save</button></div></div>`,
    },
    [PHONE]: {
      main: () => {
        const rows = S.calls.map(
          (c) => `<div class="row" data-rid="call_row"><div class="texts">
              <span class="title" data-rid="call_name">${esc(c.name || c.number)}</span>
              <span class="summary" data-rid="call_number">${esc(c.number)}</span></div></div>`,
        );
        return `${topbar("Phone")}<div class="content" data-rid="call_log"
            data-class="androidx.recyclerview.widget.RecyclerView">${rows.join("") || `<div class="empty">No recent calls</div>`}</div>`;
      },
      call: (entry) => {
        const c = S.calls.find((x) => x.id === entry.params.id) || { name: "", number: "" };
        return `<div class="incall" data-rid="in_call">
            <span class="state" data-rid="call_state">Calling…</span>
            <span class="name" data-rid="caller_name">${esc(c.name || c.number)}</span>
            <span class="number" data-rid="caller_number">${esc(c.number)}</span>
            <button class="endcall" data-action="end-call" data-rid="end_call" aria-label="End call"
              data-class="android.widget.ImageButton" data-text="">&#9742;</button></div>`;
      },
    },
  };
  for (const [pkg, app] of Object.entries(APPS)) {
    if (app.stub) {
      screens[pkg] = {
        main: () => `${topbar(app.label)}<div class="content" data-rid="content_main"><div class="empty">${esc(app.label)}</div></div>`,
      };
    }
  }

  function draftFor(entry) {
    if (entry.draft) return entry.draft;
    if (S.app === "com.pixelsim.contacts" && entry.screen === "edit") {
      const c = S.contacts.find((x) => x.id === entry.params.id);
      entry.draft = { name: c ? c.name : "", phone: c ? c.phone : "", error: "" };
    } else if (S.app === "com.pixelsim.notes" && entry.screen === "edit") {
      const n = S.notes.find((x) => x.id === entry.params.id);
      entry.draft = { text: n ? n.text : "", body: n ? n.body || "" : "" };
    }
    return entry.draft;
  }

  function recentsScreen() {
    const cards = S.recents
      .map(
        (pkg) => `<div class="card" data-action="recents-open" data-pkg="${pkg}" data-rid="task_view"
            aria-label="${esc(APPS[pkg].label)}"><span data-rid="task_title">${esc(APPS[pkg].label)}</span></div>`,
      )
      .join("");
    return `<div class="recents" data-rid="${LAUNCHER}:id/overview_panel">${cards || `<div class="empty">No recent items</div>`}
      ${cards ? `<button class="clear" data-action="recents-clear" data-rid="${LAUNCHER}:id/clear_all">Clear all</button>` : ""}</div>`;
  }

  function dialogHtml() {
    const d = S.dialog;
    return `<div class="scrim" data-action="dialog-cancel" data-class="android.widget.FrameLayout">
      <div class="dialog" data-action="noop" data-rid="android:id/parentPanel">
        <span class="message" data-rid="android:id/message">${esc(d.message)}</span>
        <div class="buttons"><button data-action="dialog-cancel" data-rid="android:id/button2">Cancel</button>
        <button data-action="dialog-confirm" data-rid="android:id/button1">${esc(d.confirm)}</button></div></div></div>`;
  }

  function render() {
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.rid : null;
    document.body.classList.toggle("dark", darkTheme());
    $("#statusbar").innerHTML = statusBar();
    $("#screen-off").hidden = S.screenOn;
    const app = $("#app");
    if (S.overlay === "recents") {
      app.dataset.pkg = LAUNCHER;
      app.innerHTML = recentsScreen();
      return;
    }
    app.dataset.pkg = S.app;
    const entry = top();
    draftFor(entry);
    app.innerHTML = screens[S.app][entry.screen](entry) + (S.dialog ? dialogHtml() : "");
    const content = app.querySelector(".content");
    if (content) {
      content.scrollTop = entry.scroll;
      content.addEventListener("scroll", () => (entry.scroll = content.scrollTop));
    }
    if (focused) {
      const again = app.querySelector(`[data-rid="${focused}"]`);
      if (again && isField(again)) focusAtEnd(again);
    }
  }

  function focusAtEnd(input) {
    input.focus();
    const n = input.value.length;
    try {
      input.setSelectionRange(n, n);
    } catch (_) {
      /* inputs without selection support */
    }
  }

  // ------------------------------------------------------------------ actions
  const actions = {
    noop() {},
    "nav-back": back,
    "nav-home": home,
    "nav-recents": appSwitch,
    up: back,
    launch: (el) => launch(el.dataset.pkg),
    "recents-open": (el) => launch(el.dataset.pkg),
    "recents-clear": () => {
      for (const pkg of S.recents) delete S.tasks[pkg];
      S.recents = [];
      S.overlay = null;
      S.app = LAUNCHER;
      render();
    },
    open: (el) => push(el.dataset.screen),
    toggle: (el) => {
      const { ns, key } = el.dataset;
      const current = String(S.settings[ns][key] ?? el.dataset.off);
      S.settings[ns][key] = current === el.dataset.on ? el.dataset.off : el.dataset.on;
      render();
    },
    "contact-add": () => push("edit", { id: null }),
    "contact-open": (el) => push("edit", { id: Number(el.dataset.id) }),
    "contact-save": () => {
      const entry = top();
      const d = entry.draft;
      if (!d.name.trim()) {
        d.error = "Name is required";
        render();
        return;
      }
      const existing = S.contacts.find((c) => c.id === entry.params.id);
      if (existing) Object.assign(existing, { name: d.name.trim(), phone: d.phone.trim() });
      else S.contacts.push({ id: S.nextId++, name: d.name.trim(), phone: d.phone.trim() });
      back();
    },
    "contact-delete": (el) => {
      const c = S.contacts.find((x) => x.id === Number(el.dataset.id));
      if (c) S.dialog = { message: `Delete ${c.name}?`, confirm: "Delete", action: "contact", id: c.id };
      render();
    },
    call: (el) => {
      const c = S.contacts.find((x) => x.id === Number(el.dataset.id));
      if (!c) return;
      const id = S.nextId++;
      S.calls.unshift({ id, name: c.name, number: c.phone, type: 2 });
      const stack = task(PHONE);
      stack.length = 1;
      stack.push({ screen: "call", params: { id }, draft: null, scroll: 0 });
      toFront(PHONE);
      render();
    },
    "end-call": back,
    "note-add": () => push("edit", { id: null }),
    "note-open": (el) => push("edit", { id: Number(el.dataset.id) }),
    "note-save": () => {
      const entry = top();
      const { text, body } = entry.draft;
      const existing = S.notes.find((n) => n.id === entry.params.id);
      if (existing && text.trim()) Object.assign(existing, { text, body });
      else if (existing) S.notes = S.notes.filter((n) => n !== existing);
      else if (text.trim()) {
        S.notes.unshift({ id: S.nextId++, text, body });
        task(S.app)[0].scroll = 0; // show the new note at the top of the list
      }
      back();
    },
    "note-delete": (el) => {
      const n = S.notes.find((x) => x.id === Number(el.dataset.id));
      if (n) S.dialog = { message: "Delete this note?", confirm: "Delete", action: "note", id: n.id };
      render();
    },
    "dialog-cancel": () => {
      S.dialog = null;
      render();
    },
    "dialog-confirm": () => {
      const d = S.dialog;
      S.dialog = null;
      if (d && d.action === "contact") S.contacts = S.contacts.filter((c) => c.id !== d.id);
      if (d && d.action === "note") S.notes = S.notes.filter((n) => n.id !== d.id);
      render();
    },
  };

  function act(name, el) {
    if (!S.screenOn) return;
    const fn = actions[name];
    if (fn) fn(el);
  }

  // ------------------------------------------------------------------ gesture layer
  // Mouse events stand in for the touchscreen: a short press is a tap (click), a press held 500 ms
  // without moving is a long press, and a press that moves past the touch slop drags the scroll
  // container under it (1:1, no fling) and is not a tap.
  const SLOP = 8; // CSS px, Android's touch slop is 8 dp
  const LONG_PRESS_MS = 500;
  let gesture = null;
  let swallowClick = false;

  function scrollerOf(el) {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (/(auto|scroll)/.test(cs.overflowY) && e.scrollHeight > e.clientHeight) return e;
    }
    return null;
  }

  window.addEventListener(
    "mousedown",
    (e) => {
      e.preventDefault(); // no focus or text selection on press: Android focuses a field on tap
      swallowClick = false;
      if (!S.screenOn) return;
      const g = { x0: e.clientX, y0: e.clientY, x: e.clientX, y: e.clientY, target: e.target, moved: false, long: false };
      g.scroller = scrollerOf(e.target);
      g.timer = setTimeout(() => {
        if (gesture === g && !g.moved) {
          g.long = true;
          const el = g.target.closest("[data-longpress]");
          if (el) act(el.dataset.longpress, el);
        }
      }, LONG_PRESS_MS);
      gesture = g;
    },
    true,
  );
  window.addEventListener(
    "mousemove",
    (e) => {
      const g = gesture;
      if (!g) return;
      if (!g.moved && Math.hypot(e.clientX - g.x0, e.clientY - g.y0) > SLOP) {
        g.moved = true;
        clearTimeout(g.timer);
      }
      if (g.moved && g.scroller) g.scroller.scrollTop -= e.clientY - g.y;
      g.x = e.clientX;
      g.y = e.clientY;
    },
    true,
  );
  window.addEventListener(
    "mouseup",
    () => {
      const g = gesture;
      if (!g) return;
      clearTimeout(g.timer);
      swallowClick = g.moved || g.long;
      gesture = null;
    },
    true,
  );
  window.addEventListener(
    "click",
    (e) => {
      if (swallowClick || !S.screenOn) {
        swallowClick = false;
        e.preventDefault();
        e.stopPropagation();
        return;
      }
      const input = e.target.closest("input, textarea");
      if (input) {
        focusAtEnd(input);
        return;
      }
      const el = e.target.closest("[data-action]");
      if (el) act(el.dataset.action, el);
    },
    true,
  );
  document.addEventListener("input", (e) => {
    const el = e.target;
    const entry = top();
    if (el.dataset && el.dataset.bind && entry.draft) entry.draft[el.dataset.bind] = el.value;
    if (entry.draft && entry.draft.error && entry.draft.name && entry.draft.name.trim()) {
      entry.draft.error = "";
      const error = document.querySelector("#app .error");
      if (error) error.remove();
    }
  });
  // Enter and Tab as Android's TextView takes them: a multiline field types a newline and a tab; a
  // single-line field runs its action on Enter (data-enter; without one, the next field below takes the
  // focus) and moves the focus on Tab (Shift+Tab: back), off the text fields after the last one.
  function moveFocus(el, step, leave = true) {
    const fields = [...document.querySelectorAll("#app input, #app textarea")];
    const next = fields[fields.indexOf(el) + step];
    if (next) focusAtEnd(next);
    else if (leave) el.blur(); // Tab: the next focusable view is not a text field (a button, or none)
  }
  document.addEventListener("keydown", (e) => {
    const el = e.target;
    if (!isField(el) || (e.key !== "Enter" && e.key !== "Tab")) return;
    e.preventDefault();
    if (el.tagName === "TEXTAREA") document.execCommand("insertText", false, e.key === "Tab" ? "\t" : "\n");
    else if (e.key === "Tab") moveFocus(el, e.shiftKey ? -1 : 1);
    else if (el.dataset.enter && el.dataset.enter !== "next") act(el.dataset.enter, el);
    else moveFocus(el, 1, false);
  });

  // ------------------------------------------------------------------ view hierarchy
  // Walks the DOM like uiautomator walks accessibility nodes: visible nodes only, bounds clipped by
  // scrolling ancestors and the screen, in device px. Python turns the tree into uiautomator's XML.
  const LEAF_CLASSES = new Set([
    "android.widget.Button", "android.widget.ImageButton", "android.widget.EditText", "android.widget.Switch",
    "android.widget.CheckBox", "android.widget.RadioButton", "android.widget.TextView", "android.widget.ImageView",
  ]);

  function hasOwnText(el) {
    for (const n of el.childNodes) if (n.nodeType === 3 && n.textContent.trim()) return true;
    return false;
  }

  function classOf(el, cs) {
    if (el.dataset.class) return el.dataset.class;
    const role = el.getAttribute("role");
    if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") {
      const type = (el.type || "").toLowerCase();
      if (type === "checkbox") return role === "switch" ? "android.widget.Switch" : "android.widget.CheckBox";
      if (type === "radio") return "android.widget.RadioButton";
      return "android.widget.EditText";
    }
    if (role === "switch") return "android.widget.Switch";
    if (role === "checkbox") return "android.widget.CheckBox";
    if (el.tagName === "BUTTON") return "android.widget.Button";
    if (el.tagName === "IMG") return "android.widget.ImageView";
    if (hasOwnText(el)) return "android.widget.TextView";
    if (/(auto|scroll)/.test(cs.overflowY)) return "android.widget.ScrollView";
    if (cs.display === "flex") return "android.widget.LinearLayout";
    return "android.widget.FrameLayout";
  }

  function intersect(a, b) {
    const r = [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
    return r[2] > r[0] && r[3] > r[1] ? r : null;
  }

  function nodeOf(el, clip, pkg, scale) {
    if (el.hasAttribute("data-ignore") || ["SCRIPT", "STYLE", "BR", "LINK"].includes(el.tagName)) return null;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden" || Number(cs.opacity) === 0) return null;
    const rect = el.getBoundingClientRect();
    const box = intersect([rect.left, rect.top, rect.right, rect.bottom], clip);
    if (!box) return null;
    const cls = classOf(el, cs);
    const role = el.getAttribute("role");
    const type = (el.type || "").toLowerCase();
    const isInput = el.tagName === "INPUT" || el.tagName === "TEXTAREA";
    const checkable = type === "checkbox" || type === "radio" || role === "switch" || role === "checkbox";
    const checked = checkable && (isInput ? el.checked : el.getAttribute("aria-checked") === "true");
    let text = "";
    if (el.dataset.text !== undefined) text = el.dataset.text;
    else if (isInput && !checkable) text = el.value || el.placeholder || "";
    else if (LEAF_CLASSES.has(cls) && !checkable) text = (el.innerText || "").replace(/\s+/g, " ").trim();
    let rid = el.dataset.rid || "";
    if (rid && !rid.includes(":")) rid = `${pkg}:id/${rid}`;
    const action = el.closest("[data-action]");
    const clickable = isInput || el.tagName === "BUTTON" || el.hasAttribute("data-action");
    const scrollable =
      (/(auto|scroll)/.test(cs.overflowY) && el.scrollHeight > el.clientHeight + 1) ||
      (/(auto|scroll)/.test(cs.overflowX) && el.scrollWidth > el.clientWidth + 1);
    const node = {
      cls,
      text,
      rid,
      desc: el.getAttribute("aria-label") || "",
      checkable,
      checked,
      clickable,
      enabled: !el.disabled,
      focusable: clickable || (isInput && !checkable) || (!!action && action === el),
      focused: document.activeElement === el,
      scrollable,
      longClickable: el.hasAttribute("data-longpress") || (isInput && !checkable),
      password: type === "password",
      selected: el.getAttribute("aria-selected") === "true",
      bounds: box.map((v) => Math.round(v * scale)),
      children: [],
    };
    if (!LEAF_CLASSES.has(cls)) {
      let inner = clip;
      if (cs.overflowX !== "visible" || cs.overflowY !== "visible") inner = box;
      for (const child of el.children) {
        const c = nodeOf(child, inner, pkg, scale);
        if (c) node.children.push(c);
      }
    }
    return node;
  }

  function dump(scale) {
    const W = window.innerWidth;
    const H = window.innerHeight;
    const screen = [0, 0, W, H];
    const windows = [];
    if (!S.screenOn) return { windows };
    const appPkg = $("#app").dataset.pkg;
    const content = nodeOf($("#app"), screen, appPkg, scale);
    if (content) {
      content.rid = "android:id/content";
      windows.push({
        pkg: appPkg,
        root: { ...content, cls: "android.widget.FrameLayout", bounds: [0, 0, W * scale, H * scale], children: [content], rid: "" },
      });
    }
    for (const sel of ["#statusbar", "#navbar"]) {
      const bar = nodeOf($(sel), screen, "com.android.systemui", scale);
      if (bar) {
        bar.rid = sel === "#statusbar" ? "com.android.systemui:id/status_bar" : "com.android.systemui:id/navigation_bar_frame";
        windows.push({ pkg: "com.android.systemui", root: bar });
      }
    }
    return { windows };
  }

  // ------------------------------------------------------------------ bridge for the simulator
  window.pixelsim = {
    init(cfg) {
      S.device = cfg.device || {};
      S.clock = cfg.clock || S.clock;
      S.date = cfg.date || S.date;
      for (const ns of ["global", "secure", "system"]) S.settings[ns] = { ...(cfg.settings?.[ns] || {}) };
      render();
    },
    packages: () =>
      Object.entries(APPS).map(([pkg, app]) => ({
        package: pkg,
        label: app.label,
        launcher: pkg === LAUNCHER ? null : activityOf(pkg, mainScreen(pkg)),
        activities: Object.keys(app.screens).map((s) => activityOf(pkg, s)),
      })),
    current() {
      if (S.overlay === "recents") return { package: LAUNCHER, activity: activityOf(LAUNCHER, "recents") };
      return { package: S.app, activity: activityOf(S.app, top().screen), depth: task(S.app).length };
    },
    tasks: () => S.recents.map((pkg) => ({ package: pkg, activity: activityOf(pkg, task(pkg)[task(pkg).length - 1].screen) })),
    // Starts `activity` (a full class name) of `pkg`; a main activity brings the app's task to the front
    // as it was, any other activity opens on top of the app's main screen. False: no such activity.
    start(pkg, activity, fresh) {
      if (!S.screenOn) S.screenOn = true;
      if (!APPS[pkg]) return false;
      const screen = activity
        ? Object.keys(APPS[pkg].screens).find((s) => activityOf(pkg, s) === activity)
        : mainScreen(pkg);
      if (!screen || screen === "recents") return false;
      if (fresh) delete S.tasks[pkg];
      const stack = task(pkg);
      if (screen !== mainScreen(pkg)) {
        stack.length = 1;
        stack.push({ screen, params: {}, draft: null, scroll: 0 });
      }
      toFront(pkg);
      render();
      return true;
    },
    forceStop,
    clearData(pkg) {
      if (!forceStop(pkg)) return false;
      if (pkg === "com.pixelsim.contacts") S.contacts = seedContacts();
      if (pkg === "com.pixelsim.notes") S.notes = seedNotes();
      if (pkg === PHONE) S.calls = [];
      render();
      return true;
    },
    // A whole starting state at once (a benchmark episode's setup): the apps' data and layout, every
    // app closed, the launcher in front. Settings values are not part of it (`settings put` sets those).
    load(state) {
      const text = (v) => String(v ?? "");
      S.contacts = (state.contacts || []).map((c, i) => ({ id: i + 1, name: text(c.name), phone: text(c.phone) }));
      S.notes = (state.notes || []).map((n, i) => ({ id: i + 1, text: text(n.text), body: text(n.body) }));
      S.calls = [];
      S.launcherOrder = Array.isArray(state.launcher) ? state.launcher.filter((p) => APPS[p] && p !== LAUNCHER) : null;
      S.settingsOrder = Array.isArray(state.settings_order) ? state.settings_order.filter((r) => SETTING_ROWS[r]) : null;
      S.tasks = {};
      S.recents = [];
      S.overlay = null;
      S.dialog = null;
      S.app = LAUNCHER;
      S.screenOn = true;
      S.nextId = 10000;
      if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
      render();
      return { contacts: S.contacts.length, notes: S.notes.length };
    },
    // The apps' data as content providers list it: rows of [column, value] pairs.
    query(table) {
      if (table === "contacts")
        return S.contacts.map((c) => [["_id", c.id], ["display_name", c.name], ["number", c.phone]]);
      if (table === "notes") return S.notes.map((n) => [["_id", n.id], ["title", n.text], ["body", n.body || ""]]);
      if (table === "calls") return S.calls.map((c) => [["_id", c.id], ["number", c.number], ["name", c.name], ["type", c.type]]);
      return null;
    },
    back,
    home,
    appSwitch,
    setScreen(value) {
      S.screenOn = !!value;
      if (!S.screenOn) gesture = null;
      render();
    },
    screenOn: () => S.screenOn,
    getSetting: (ns, key) => (key in S.settings[ns] ? String(S.settings[ns][key]) : null),
    putSetting(ns, key, value) {
      S.settings[ns][key] = String(value);
      render();
    },
    deleteSetting(ns, key) {
      const had = key in S.settings[ns];
      delete S.settings[ns][key];
      render();
      return had;
    },
    listSettings: (ns) => ({ ...S.settings[ns] }),
    focusedIsField: () => isField(document.activeElement),
    dump,
  };
})();
