// bertkit explanation views: head view (lines between tokens) and model view (grid of heads), one
// pair per attention view on the page. A view's rows are its query tokens (left) and its columns
// its key tokens (right): the same tokens for self-attention, the source's for cross-attention.
// Everything it needs is inline in the page: no network, no libraries.
(function () {
  "use strict";
  var dataEl = document.getElementById("bertkit-data");
  var data = dataEl ? JSON.parse(dataEl.textContent) : {};
  var views = data.views || (data.attention ? [data.attention] : []);
  var SVG = "http://www.w3.org/2000/svg";
  var ROW = 20, WIDTH = 520, PAD = 8, COL = 170;
  var colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939"];

  function el(name, attrs, text) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function option(sel, value, label) {
    var o = document.createElement("option");
    o.value = value; o.textContent = label; sel.appendChild(o);
  }

  function drawView(att) {
    var sfx = att.suffix || "";
    var layerSel = document.getElementById("bk-layer" + sfx);
    var headSel = document.getElementById("bk-head" + sfx);
    var svg = document.getElementById("bk-headview" + sfx);
    if (!layerSel || !headSel || !svg) return;
    var raw = atob(att.q);
    var q = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) q[i] = raw.charCodeAt(i);
    var keys = att.keys || att.tokens;
    var L = att.layers, H = att.heads, N = att.tokens.length, M = keys.length;
    function w(l, h, r, c) { return q[((l * H + h) * N + r) * M + c] / 255; }

    for (var l = 0; l < L; l++) option(layerSel, l, "layer " + l);
    for (var h = 0; h < H; h++) option(headSel, h, "head " + h);

    var focus = null;  // {side: "left"|"right", index}

    function drawLines() {
      var l = +layerSel.value, h = +headSel.value;
      var lines = svg.querySelector(".bk-lines");
      while (lines.firstChild) lines.removeChild(lines.firstChild);
      var colour = colours[h % colours.length];
      var x1 = COL, x2 = WIDTH - COL;
      for (var r = 0; r < N; r++) {
        for (var c = 0; c < M; c++) {
          var v = w(l, h, r, c);
          if (v < 0.01) continue;
          if (focus && ((focus.side === "left" && focus.index !== r) ||
                        (focus.side === "right" && focus.index !== c))) continue;
          var y1 = PAD + r * ROW + ROW / 2, y2 = PAD + c * ROW + ROW / 2;
          lines.appendChild(el("line", {x1: x1, y1: y1, x2: x2, y2: y2, stroke: colour,
            "stroke-width": 2, "stroke-opacity": v.toFixed(3), "data-w": v.toFixed(3),
            "data-r": r, "data-c": c}));
        }
      }
      var texts = svg.querySelectorAll(".bk-token");
      for (var t = 0; t < texts.length; t++) {
        var on = focus && focus.side === texts[t].dataset.side && focus.index === +texts[t].dataset.index;
        texts[t].classList.toggle("bk-focus", !!on);
      }
    }

    function addToken(side, t, label) {
      var y = PAD + t * ROW + ROW / 2;
      var txt = el("text", {x: side === "left" ? COL - 6 : WIDTH - COL + 6, y: y + 5,
        "text-anchor": side === "left" ? "end" : "start", "class": "bk-token",
        "data-index": t, "data-side": side}, label);
      txt.addEventListener("mouseenter", function () { focus = {side: side, index: t}; drawLines(); });
      txt.addEventListener("mouseleave", function () { focus = null; drawLines(); });
      svg.appendChild(txt);
    }

    function drawHead() {
      var l = +layerSel.value, h = +headSel.value;
      svg.setAttribute("data-layer", l);
      svg.setAttribute("data-head", h);
      svg.setAttribute("width", WIDTH);
      svg.setAttribute("height", Math.max(N, M) * ROW + 2 * PAD);
      if (!svg.querySelector(".bk-lines")) {      // tokens are drawn once; lines on every change
        svg.appendChild(el("g", {"class": "bk-lines"}));
        for (var t = 0; t < N; t++) addToken("left", t, att.tokens[t]);
        for (var k = 0; k < M; k++) addToken("right", k, keys[k]);
      }
      drawLines();
      var thumbs = document.querySelectorAll("#bk-modelview" + sfx + " .bk-thumb");
      for (var j = 0; j < thumbs.length; j++) {
        var on = +thumbs[j].dataset.layer === l && +thumbs[j].dataset.head === h;
        thumbs[j].classList.toggle("bk-selected", on);
      }
    }

    function drawModel() {
      var grid = document.getElementById("bk-modelview" + sfx);
      if (!grid) return;
      var size = Math.max(48, Math.min(96, 4 * Math.max(N, M)));
      var wide = Math.max(1, Math.round(size * M / Math.max(N, M)));
      var tall = Math.max(1, Math.round(size * N / Math.max(N, M)));
      grid.style.gridTemplateColumns = "auto repeat(" + H + ", " + (size + 6) + "px)";
      grid.appendChild(document.createElement("div"));
      for (var h = 0; h < H; h++) {
        var lab = document.createElement("div");
        lab.className = "bk-glabel"; lab.textContent = "h" + h; grid.appendChild(lab);
      }
      for (var l = 0; l < L; l++) {
        var rl = document.createElement("div");
        rl.className = "bk-glabel"; rl.textContent = "L" + l; grid.appendChild(rl);
        for (var hh = 0; hh < H; hh++) {
          var cv = document.createElement("canvas");
          cv.width = wide; cv.height = tall;
          cv.className = "bk-thumb"; cv.dataset.layer = l; cv.dataset.head = hh;
          cv.title = "layer " + l + ", head " + hh + " (click to open in the head view)";
          var ctx = cv.getContext("2d");
          var img = ctx.createImageData(wide, tall);
          for (var y = 0; y < tall; y++) {
            var r = Math.floor(y * N / tall);
            for (var x = 0; x < wide; x++) {
              var c = Math.floor(x * M / wide);
              var v = Math.sqrt(w(l, hh, r, c));
              var p = 4 * (y * wide + x);
              img.data[p] = 255 - Math.round(225 * v);
              img.data[p + 1] = 255 - Math.round(160 * v);
              img.data[p + 2] = 255 - Math.round(60 * v);
              img.data[p + 3] = 255;
            }
          }
          ctx.putImageData(img, 0, 0);
          cv.addEventListener("click", (function (li, hi) {
            return function () { layerSel.value = li; headSel.value = hi; drawHead();
              document.getElementById("bk-head-section" + sfx).scrollIntoView(); };
          })(l, hh));
          grid.appendChild(cv);
        }
      }
    }

    layerSel.addEventListener("change", function () { focus = null; drawHead(); });
    headSel.addEventListener("change", function () { focus = null; drawHead(); });
    layerSel.value = att.start_layer || 0;
    headSel.value = att.start_head || 0;
    drawModel();
    drawHead();
  }

  views.forEach(drawView);
  document.body.setAttribute("data-ready", "1");
})();
