// Shared by the debugger and the viewer pages, loaded before each page's own script (classic
// scripts share one global scope, so `token` is theirs). The server puts the session's token in
// the page; the ?token= the page was opened with leaves the address bar (history, screen shares)
// at once. Requests send the token as a header, which a page of another origin cannot make the
// browser send; images and events go by the per-port cookie, which the server honours only for
// requests from this page (Sec-Fetch-Site).
"use strict";

const token = document.querySelector('meta[name="pixelpilot-token"]').content;
(() => {
  const query = new URLSearchParams(location.search);
  if (!query.has("token")) return;
  query.delete("token");
  const rest = query.toString();
  history.replaceState(history.state, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
})();
