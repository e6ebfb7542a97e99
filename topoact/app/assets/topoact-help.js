/* topoact app: the ONE help tooltip of the page. Every control's info mark (topoact.app.help.info_mark)
   is a plain <span data-help="..."> - no Dash component per tooltip (each mounted Dash component costs
   the renderer work on every store update). A single Bootstrap-styled .tooltip element, made here once,
   shows the text of the mark under the pointer or with the keyboard focus (delegated listeners). */
(function () {
  let tip = null, shownFor = null;

  function element() {
    if (tip) return tip;
    tip = document.createElement('div');
    tip.className = 'tooltip bs-tooltip-top topoact-help-tip';
    tip.setAttribute('role', 'tooltip');
    tip.innerHTML = '<div class="tooltip-arrow"></div><div class="tooltip-inner"></div>';
    tip.style.position = 'fixed';
    tip.style.display = 'none';
    document.body.appendChild(tip);
    return tip;
  }

  function show(mark) {
    const t = element();
    t.querySelector('.tooltip-inner').textContent = mark.getAttribute('data-help');
    t.style.display = 'block';
    t.classList.add('show');
    const box = mark.getBoundingClientRect(), own = t.getBoundingClientRect();
    const left = Math.max(4, Math.min(window.innerWidth - own.width - 4, box.left + box.width / 2 - own.width / 2));
    const below = box.top - own.height < 4;  // no room above: show it under the mark
    t.classList.toggle('bs-tooltip-top', !below);
    t.classList.toggle('bs-tooltip-bottom', below);
    t.style.left = left + 'px';
    t.style.top = (below ? box.bottom : box.top - own.height) + 'px';
    const arrow = t.querySelector('.tooltip-arrow');
    arrow.style.position = 'absolute';
    arrow.style.left = (box.left + box.width / 2 - left - 6) + 'px';
    shownFor = mark;
  }

  function hide() {
    if (tip) { tip.classList.remove('show'); tip.style.display = 'none'; }
    shownFor = null;
  }

  const markOf = e => (e.target && e.target.closest) ? e.target.closest('[data-help]') : null;
  document.addEventListener('mouseover', e => { const m = markOf(e); if (m && m !== shownFor) show(m); });
  document.addEventListener('mouseout', e => {
    const m = markOf(e);
    if (m && m === shownFor && !(e.relatedTarget && m.contains(e.relatedTarget))) hide();
  });
  document.addEventListener('focusin', e => { const m = markOf(e); if (m) show(m); });
  document.addEventListener('focusout', e => { if (markOf(e) === shownFor) hide(); });
  document.addEventListener('keydown', e => { if (e.key === 'Escape') hide(); });
  document.addEventListener('scroll', hide, true);
})();
