"""The CSS and script inlined into report.html, kept apart so agent/report.py stays about structure.

Why these rules: a screenshot must keep its aspect ratio at every width and in print (``height:auto``
beside ``width:100%``; the overlay SVG fills the image's box, so markers stay on target), small phone or
MiniWoB shots are upscaled without blur (``image-rendering:pixelated``), and every step is in the DOM
so printing or a full-page capture shows all of them; the player only hides the other steps on screen.
"""

from __future__ import annotations

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d1f23}
header{background:#1d1f23;color:#fff;padding:16px 24px}
header h1{margin:0 0 6px;font-size:20px}.meta span{margin-right:18px;opacity:.85}
.outcome{font-size:15px;margin:8px 0 0}.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600}
.ok{background:#1f9d55;color:#fff}.bad{background:#d64545;color:#fff}.warn{background:#e8a317;color:#000}
main{padding:16px 24px}.step{background:#fff;border-radius:8px;margin:0 0 18px;padding:14px;
box-shadow:0 1px 3px rgba(0,0,0,.12);display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:16px}
@media (max-width:800px){.step{grid-template-columns:minmax(0,1fr)}}
.shot{position:relative;align-self:start;max-width:100%;line-height:0}
.shot img{width:100%;height:auto;display:block;border:1px solid #ccd;box-sizing:border-box}
.shot img.small{image-rendering:pixelated}
.shot img.prev{position:absolute;inset:0;mix-blend-mode:difference;display:none}
body.diff .shot img.prev{display:block}
.pp-overlay{position:absolute;inset:0;width:100%;height:100%;pointer-events:none;overflow:visible}
pre{white-space:pre-wrap;word-break:break-word;background:#f0f1f4;padding:8px;border-radius:6px;margin:4px 0}
h2{margin:0 0 8px;font-size:16px}h3{margin:10px 0 2px;font-size:13px}.err{color:#b42318;font-weight:600}
table{border-collapse:collapse}td{padding:2px 10px 2px 0;vertical-align:top}
.iv{border-left:3px solid #7c3aed;padding-left:8px;margin:6px 0}
#player{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid #dde;padding:8px 24px}
#player button,#player select{font:inherit;margin-right:6px}
#strip{display:flex;gap:4px;overflow-x:auto;padding:6px 0 2px}
#strip a{flex:none;border:3px solid #999;border-radius:4px;line-height:0;text-decoration:none}
#strip a.s-ok{border-color:#1f9d55}#strip a.s-bad{border-color:#d64545}#strip a.s-warn{border-color:#e8a317}
#strip a.cur{outline:3px solid #2563eb;outline-offset:1px}#strip img{height:48px;width:auto;display:block}
body.play main>.step:not(.cur){display:none}
@media print{#player{display:none}body.play main>.step:not(.cur){display:grid}
body.diff .shot img.prev{display:none}.step{break-inside:avoid;box-shadow:none;border:1px solid #ccd}}
"""

# Plain script, no modules or fetches: works from file://. Diff is a CSS difference blend of the
# previous screenshot, because canvas pixel reads are blocked on file:// images.
JS = """
(() => {
  const steps = [...document.querySelectorAll('main > section.step')];
  const thumbs = [...document.querySelectorAll('#strip a')];
  const label = document.getElementById('pos');
  const playBtn = document.getElementById('playbtn');
  let cur = 0, timer = null;
  document.body.classList.add('play');
  function show(i) {
    cur = Math.max(0, Math.min(steps.length - 1, i));
    steps.forEach((s, k) => s.classList.toggle('cur', k === cur));
    thumbs.forEach((t, k) => t.classList.toggle('cur', k === cur));
    if (thumbs[cur]) thumbs[cur].scrollIntoView({block: 'nearest', inline: 'nearest'});
    label.textContent = (cur + 1) + ' / ' + steps.length;
    document.body.dataset.step = steps[cur] ? steps[cur].id : '';
  }
  function stop() { clearInterval(timer); timer = null; playBtn.textContent = '▶ play'; }
  function toggle() {
    if (timer) return stop();
    if (cur >= steps.length - 1) show(0);
    playBtn.textContent = '⏸ pause';
    timer = setInterval(() => { show(cur + 1); if (cur >= steps.length - 1) stop(); },
                        1000 / Number(document.getElementById('speed').value));
  }
  window.ppShow = show;
  document.getElementById('prevbtn').onclick = () => show(cur - 1);
  document.getElementById('nextbtn').onclick = () => show(cur + 1);
  playBtn.onclick = toggle;
  document.getElementById('speed').onchange = () => { if (timer) { stop(); toggle(); } };
  document.getElementById('diff').onchange = e => document.body.classList.toggle('diff', e.target.checked);
  document.getElementById('all').onchange = e => document.body.classList.toggle('play', !e.target.checked);
  thumbs.forEach((t, k) => t.onclick = ev => { ev.preventDefault(); show(k); });
  document.addEventListener('keydown', e => {
    if (e.target.matches && e.target.matches('select,textarea,input:not([type=checkbox])')) return;
    if (e.key === 'ArrowRight') { show(cur + 1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft') { show(cur - 1); e.preventDefault(); }
    else if (e.key === ' ') { toggle(); e.preventDefault(); }
  });
  // the final screen's size is not in the record: mark it crisp once it is known to be upscaled
  const crisp = i => { if (i.naturalWidth && i.naturalWidth < 640) i.classList.add('small'); };
  document.querySelectorAll('main .shot > img:not(.prev)')
    .forEach(i => i.complete ? crisp(i) : i.onload = () => crisp(i));
  show(0);
})();
"""
