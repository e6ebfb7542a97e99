"""A 2-D canvas laid over a plotly graph in the browser, for marks that change often.

A clicked node's ring in the Mapper graph and its members in the embedding scatter are drawn
on a canvas over the plot instead of as figure properties: any plotly update of a large figure,
even of one marker property, redraws every trace (0.1-1.2 s in the browser), a canvas redraw
costs a few ms. The Mapper graph's edges are drawn on one under the nodes: as a WebGL line
trace (28,614 points for 9,500 edges) they made every redraw of the graph, a recolouring too,
cost 0.6-0.9 s more in headless Chromium; 9,500 canvas lines take under 20 ms. The canvas follows the plot: it is redrawn after every plotly draw (new data,
zoom, pan, resize) and while the user drags.

:data:`OVERLAY_JS` is JavaScript that a clientside callback puts first in its body (it defines
the helpers once per page, so a panel works in any Dash app, whatever its assets folder):

* ``window.topoactOverlay(gd, className, draw, below)`` installs the canvas once per graph div
  and returns its redraw function; ``draw(context, gd, canvas)`` paints in page pixels, clipped
  to the plot area, reading what to draw from the graph div (set by the caller before it
  redraws). When ``draw.key(gd)`` is defined it returns an array of what the drawing depends on
  (compared element by element with ``===``): an unchanged key and canvas size keep the drawing. The canvas lies over the whole plot, or with ``below`` under plotly's WebGL layer
  (over the plot background: the Mapper graph's edges, under its WebGL nodes).
* ``window.topoactWhenPlotted(graphId, then)`` calls ``then(gd)`` with the plotly div inside the
  ``dcc.Graph`` ``graphId`` once plotly has drawn it (at once, or on a later frame: a graph
  that a tab switch remounted draws after the callback that wants it ran).
"""
from __future__ import annotations

__all__ = ["OVERLAY_JS"]

OVERLAY_JS = """if (!window.topoactOverlay) {
    window.topoactOverlay = function (gd, className, draw, below) {
        if (gd[className]) return gd[className];
        const redraw = function () {
            let canvas = gd.querySelector('canvas.' + className);
            const gl = gd.querySelector('.gl-container');
            if (canvas && below && gl && canvas.nextSibling !== gl) { canvas.remove(); canvas = null; }
            if (!canvas) {
                canvas = document.createElement('canvas');
                canvas.className = className;
                canvas.style.cssText = 'position:absolute;left:0;top:0;pointer-events:none' + (below ? '' : ';z-index:5');
                // in plotly's positioned container: the plot div itself is position:static, so a
                // canvas appended to it was placed against the page, not the plot
                const host = gd.querySelector('.svg-container') || gd;
                if (below && gl) gl.parentNode.insertBefore(canvas, gl); else host.appendChild(canvas);
            }
            const ratio = window.devicePixelRatio || 1, w = gd.clientWidth, h = gd.clientHeight;
            let resized = false;
            if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
                canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
                canvas.style.width = w + 'px'; canvas.style.height = h + 'px';
                resized = true;
            }
            // what is drawn did not change (e.g. a recolouring redraws the plot, not the edges): keep it
            const key = draw.key ? draw.key(gd) : null, last = canvas.topoactKey;
            canvas.topoactKey = key;
            if (key && last && !resized && key.length === last.length && key.every((v, i) => v === last[i])) return;
            const c = canvas.getContext('2d');
            c.setTransform(ratio, 0, 0, ratio, 0, 0);
            c.clearRect(0, 0, w, h);
            const fl = gd._fullLayout;
            if (!fl || !fl.xaxis || !fl.xaxis.c2p || !fl.yaxis) return;
            c.save();
            c.beginPath(); c.rect(fl.xaxis._offset, fl.yaxis._offset, fl.xaxis._length, fl.yaxis._length); c.clip();
            draw(c, gd, canvas);
            c.restore();
        };
        gd[className] = redraw;
        gd.on('plotly_afterplot', redraw);
        gd.on('plotly_relayouting', () => requestAnimationFrame(redraw));
        return redraw;
    };

    window.topoactWhenPlotted = function (graphId, then, tries) {
        const gd = document.querySelector('#' + graphId + ' .js-plotly-plot');
        if (gd && gd._fullLayout && typeof gd.on === 'function') { then(gd); return; }
        if ((tries === undefined ? 300 : tries) > 0)
            requestAnimationFrame(() => window.topoactWhenPlotted(graphId, then, (tries === undefined ? 300 : tries) - 1));
    };
}
"""
