// bertkit serve: the try-it page. Sends the text to /predict and /explain (same origin, nothing
// else is fetched), shows the prediction, colours the words as the HTML report does (the colours
// come from the server, computed by the report's own function) and draws the head view by running
// the report's views.js on the returned attention.
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("bk-settings").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var has = function (name) { return settings.endpoints.indexOf(name) >= 0; };
  var runs = 0;

  if (settings.pairs) {
    $("bk-pair-row").hidden = false;
    if (settings.task === "qa") { $("bk-pair-label").textContent = "Context"; }
  }

  function node(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

  function post(path, body) {
    return fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                        body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
          return j;
        });
      });
  }

  function row(table, cells, header) {
    var tr = node("tr");
    cells.forEach(function (c, i) {
      var td = node(header || i === 0 ? "th" : "td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c;
      tr.appendChild(td);
    });
    table.appendChild(tr);
  }

  function showScores(scores) {
    var table = $("bk-scores");
    clear(table);
    var names = Object.keys(scores).sort(function (a, b) { return scores[b] - scores[a]; });
    names.forEach(function (name) {
      var bar = node("span", undefined, "bk-bar");
      bar.style.width = Math.round(120 * Math.max(0, Math.min(1, scores[name]))) + "px";
      var cell = node("span");
      cell.appendChild(bar);
      cell.appendChild(document.createTextNode(" " + scores[name].toFixed(3)));
      row(table, [name, cell]);
    });
  }

  function showPrediction(p) {
    var box = $("bk-prediction");
    clear(box);
    if (p.answer !== undefined || p.text !== undefined) {
      box.appendChild(document.createTextNode("Answer: "));
      box.appendChild(node("b", p.answer !== undefined ? p.answer : p.text));
    } else if (p.entities) {
      box.appendChild(document.createTextNode(p.entities.length ? "Entities: " : "No entities found."));
      p.entities.forEach(function (e) { box.appendChild(node("span", e.text + " (" + e.type + ")", "bk-entity")); });
    } else if (p.values) {
      Object.keys(p.values).forEach(function (k) {
        box.appendChild(document.createTextNode(k + " = "));
        box.appendChild(node("b", String(p.values[k])));
        box.appendChild(document.createTextNode(" "));
      });
    } else {
      var label = p.label !== undefined ? p.label : (p.labels || []).join(", ") || "(none)";
      box.appendChild(document.createTextNode("Predicted "));
      var b = node("b", String(label));
      b.id = "bk-pred";
      box.appendChild(b);
    }
    if (p.probabilities) showScores(p.probabilities); else clear($("bk-scores"));
  }

  function showAttribution(a) {
    $("bk-attr-section").hidden = !a;
    if (!a) return;
    $("bk-legend-for").textContent = "for " + a.target_label;
    $("bk-legend-for").style.background = a.legend["for"];
    $("bk-legend-against").textContent = "against " + a.target_label;
    $("bk-legend-against").style.background = a.legend.against;
    var words = $("bk-words");
    clear(words);
    a.words.forEach(function (ws, i) {
      var span = node("span", ws[0], "bk-word");
      span.style.background = a.colours[i];
      span.title = (ws[1] >= 0 ? "+" : "") + ws[1].toFixed(4);
      span.dataset.score = ws[1];
      words.appendChild(span);
      words.appendChild(document.createTextNode(" "));
    });
    $("bk-attr-note").textContent = "Attributions explain " + a.target_label + ": they sum to " +
      a.total.toFixed(4) + " = logit(input) - logit(baseline) " +
      (a.logit_input - a.logit_baseline).toFixed(4) + ", convergence delta " + a.delta.toExponential(2) +
      " (" + a.n_steps + " steps, " + a.baseline + " baseline).";
  }

  function showHeads(heads) {
    var table = $("bk-heads");
    clear(table);
    row(table, ["pattern", "top heads (score)"], true);
    Object.keys(heads).forEach(function (p) {
      var cells = heads[p].map(function (t) { return "L" + t.layer + "H" + t.head + " (" + t.score.toFixed(2) + ")"; });
      row(table, [p.replace("_", " "), cells.join(", ") || "n/a"]);
    });
  }

  // The head view: the report's views.js draws from #bertkit-data; run it afresh on new data.
  function showAttention(attention) {
    ["bk-layer", "bk-head", "bk-headview", "bk-modelview"].forEach(function (id) { clear($(id)); });
    $("bertkit-data").textContent = JSON.stringify({attention: attention});
    var old = $("bk-views-script");
    if (old) old.parentNode.removeChild(old);
    var s = document.createElement("script");
    s.id = "bk-views-script";
    s.src = "/static/explain/views.js?run=" + (++runs);
    document.body.appendChild(s);
  }

  function submit(ev) {
    ev.preventDefault();
    var text = $("bk-text").value, pair = settings.pairs ? $("bk-pair").value : null;
    var status = $("bk-status");
    if (!text.trim()) { status.textContent = "Type a text first."; return; }
    status.className = "";
    status.textContent = "Running the model...";
    document.body.removeAttribute("data-ready");
    var calls = [];
    if (has("predict")) {
      calls.push(post("/predict", {inputs: [pair === null ? text : [text, pair]]})
        .then(function (r) { return r.predictions[0]; }));
    } else if (has("answer")) {
      calls.push(post("/answer", {inputs: [{question: text, context: pair}]})
        .then(function (r) { return r.answers[0]; }));
    } else {
      calls.push(post("/embed", {inputs: [text]}).then(function (r) {
        return {label: "embedding of " + r.dim + " dimensions"};
      }));
    }
    calls.push(has("explain") ? post("/explain", {inputs: text, pair: pair, attention: true})
                              : Promise.resolve(null));
    Promise.all(calls).then(function (res) {
      $("bk-result").hidden = false;
      showPrediction(res[0]);
      var ex = res[1];
      showAttribution(ex && ex.attribution);
      if (ex) { showHeads(ex.heads); showAttention(ex.attention); }
      else document.body.setAttribute("data-ready", "1");
      status.textContent = "";
    }).catch(function (err) {
      status.className = "bk-error";
      status.textContent = String(err.message || err);
      document.body.setAttribute("data-ready", "1");
    });
  }

  $("bk-form").addEventListener("submit", submit);
  document.body.setAttribute("data-loaded", "1");
})();
