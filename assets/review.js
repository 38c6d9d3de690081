/* Leaders' review: choropleth style from the layer's hideout (colours per area code), the
   hover tooltip built by the server, and the address kept in step with the view. */
(function () {
  "use strict";
  window.gridatlas = window.gridatlas || {};
  window.gridatlas.review = {
    style: function (feature, context) {
      var h = (context && context.hideout) || {};
      var code = feature.properties.code;
      var fill = (h.colors || {})[code];
      var sel = h.selected && h.selected === code;
      return { color: sel ? "#111827" : "#475569", weight: sel ? 3 : 1, opacity: 0.9,
               fillColor: fill || "#d1d5db", fillOpacity: fill ? 0.78 : 0.35 };
    },
    soStyle: function (feature) {
      return { color: "#1e3a8a", weight: 2, opacity: 0.9, fillColor: "#93c5fd", fillOpacity: 0.35 };
    },
    soTip: function (feature, layer) {
      var p = feature.properties || {};
      var zh = document.cookie.indexOf("lang=en") < 0;
      layer.bindTooltip(p.code + " · " + p.households + (zh ? " 户" : " households"),
                        { sticky: true, className: "rv-tooltip" });
    },
    tip: function (feature, layer) {
      if (feature.properties.tip) {
        layer.bindTooltip(feature.properties.tip, { sticky: true, className: "rv-tooltip" });
      }
    }
  };

  function query(metric, state, period, from, to) {
    var p = new URLSearchParams();
    if (metric) { p.set("metric", metric); }
    if (state && state.level) { p.set("level", state.level); }
    if (state && state.area) { p.set("area", state.area); }
    if (period) { p.set("period", period); }
    if (period === "range") {
      if (from) { p.set("from", from); }
      if (to) { p.set("to", to); }
    }
    return p.toString();
  }

  // ------------------------------------------------------------------ the choropleth's classes
  // A metric change is computed here, in the browser, from the figures the view already holds
  // (rv-figs): quantile breaks, class colours, the legend and the selected area's rank. These
  // mirror geo.repository.review.breaks / classify / rank_of / band_class and
  // layouts.review_view.colours / legend / fmt (a browser test compares them with the server's).
  var PALETTE = ["#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"];
  var BAND_COLOURS = { under: "#3b82f6", "in": "#22c55e", over: "#ef4444" };
  var NO_DATA = "#d1d5db";
  var HIGHER_BETTER = { band: true, on_time_rate: true, grid_share: true, incidents_per_1000: false,
                        overdue_now: false, rework: false, hh_per_camera: false,
                        uncovered_buildings: false, no_police_room: false };
  var RATES = { on_time_rate: 1, grid_share: 1, closure_rate: 1, band_share: 1 };
  var FLOAT2 = { incidents_per_1000: 1 };
  var FLOAT1 = { hh_per_camera: 1 };

  function known(v) { return v !== null && v !== undefined && !(typeof v === "number" && isNaN(v)); }

  function breaks(values, k) {
    var vals = values.filter(known).slice().sort(function (a, b) { return a - b; });
    var out = [];
    if (!vals.length) { return out; }
    for (var i = 1; i < k; i++) {
      var q = vals[Math.min(vals.length - 1, Math.ceil(i * vals.length / k) - 1)];
      if ((!out.length || q > out[out.length - 1]) && q < vals[vals.length - 1]) { out.push(q); }
    }
    return out;
  }

  function classify(value, cuts) {
    if (!known(value)) { return null; }
    for (var i = 0; i < cuts.length; i++) { if (value <= cuts[i]) { return i; } }
    return cuts.length;
  }

  function bandClass(f) {
    if (!f || f.level !== "grid" || !known(f.lo)) { return null; }
    if (f.households < f.lo) { return "under"; }
    return f.households > f.hi ? "over" : "in";
  }

  function group(n, digits) {
    // thousands separators and a fixed number of decimals, as Python's "{:,.Nf}" / "{:,}"
    var s = Math.abs(n).toFixed(digits).split(".");
    s[0] = s[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (n < 0 && Number(s.join(".")) !== 0 ? "-" : "") + s.join(".");
  }

  function fmt(metric, v, rate) {
    if (!known(v)) { return "\u2014"; }
    if (RATES[metric] || rate) { return (100 * v).toFixed(1) + "%"; }
    if (FLOAT2[metric]) { return group(v, 2); }
    if (FLOAT1[metric] || !Number.isInteger(v)) { return group(v, 1); }
    return group(v, 0);
  }

  function swatchRow(colour, label) {
    return { namespace: "dash_html_components", type: "Div",
             props: { className: "rv-legend-row", children: [
               { namespace: "dash_html_components", type: "Span",
                 props: { className: "rv-swatch", style: { background: colour } } },
               { namespace: "dash_html_components", type: "Span", props: { children: label } }] } };
  }

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(values, k) ? String(values[k]) : m;
    });
  }

  /* {colors, rows, how, title, direction} for `metric` over the areas in `figs`. */
  function classes(figs, metric, level, s) {
    var codes = Object.keys(figs);
    var colors = {};
    var rows = [];
    if (metric === "band" && level === "grid") {
      codes.forEach(function (c) { colors[c] = BAND_COLOURS[bandClass(figs[c])] || NO_DATA; });
      ["under", "in", "over"].forEach(function (x) { rows.push([BAND_COLOURS[x], s.classes[x]]); });
      return { colors: colors, rows: rows, how: s.band, title: s.metrics[metric], direction: "" };
    }
    // "band" above the grids is the share of grids in their band: a rate
    var rate = metric === "band";
    var vals = codes.map(function (c) { return figs[c][metric]; });
    var cuts = breaks(vals, 5);
    var n = cuts.length + 1;
    var better = HIGHER_BETTER[metric];
    function colour(i) {
      var j = Math.round(i * (PALETTE.length - 1) / Math.max(n - 1, 1));
      return better ? PALETTE[PALETTE.length - 1 - j] : PALETTE[j];
    }
    codes.forEach(function (c) {
      var i = classify(figs[c][metric], cuts);
      colors[c] = i === null ? NO_DATA : colour(i);
    });
    var sorted = vals.filter(known).sort(function (a, b) { return a - b; });
    var lo = sorted.length ? sorted[0] : null;
    for (var i = 0; i < n; i++) {
      var a = i === 0 ? lo : cuts[i - 1];
      var b = i < cuts.length ? cuts[i] : (sorted.length ? sorted[sorted.length - 1] : null);
      rows.push([colour(i), a !== b ? fmt(metric, a, rate) + "\u2013" + fmt(metric, b, rate)
                                    : fmt(metric, b, rate)]);
    }
    return { colors: colors, rows: rows, how: fill(s.quantile, { n: rows.length }),
             title: s.metrics[metric] + (metric === "band" ? " \u00b7 " + s.band_share : ""),
             direction: better ? s.better : s.worse };
  }

  function rankOf(figs, code, metric) {
    var f = figs[code];
    if (!f || !known(f[metric])) { return null; }
    var v = f[metric], better = 0, of = 0;
    Object.keys(figs).forEach(function (c) {
      var x = figs[c][metric];
      if (!known(x)) { return; }
      of += 1;
      if (HIGHER_BETTER[metric] ? x > v : x < v) { better += 1; }
    });
    return [better + 1, of];
  }

  function nameOf(f, lang) {
    return lang === "en" ? (f.name_en || f.name || f.code || "") : (f.name || f.code || "");
  }

  window.gridatlas.reviewClasses = { breaks: breaks, classify: classify, classes: classes,
                                     fmt: fmt, rankOf: rankOf };

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gridatlas_review: {
      /* A metric change: the layer's colours, the legend and the rank, without the server. */
      restyle: function (metric, data, selected, s) {
        var nu = window.dash_clientside.no_update;
        if (!s || !s.metrics || !Object.prototype.hasOwnProperty.call(s.metrics, metric) ||
            !data || !data.figs || !Object.keys(data.figs).length) {
          return [nu, null, null];
        }
        var figs = data.figs, level = data.level;
        var k = classes(figs, metric, level, s);
        var code = (typeof selected === "string" && figs[selected]) ? selected : null;
        var rank = null;
        if (code) {
          var r = rankOf(figs, code, metric);
          if (r) {
            rank = nameOf(figs[code], s.lang) + " \u00b7 " + fill(s.rank, {
              peers: s.peers[level] || "", rank: r[0], of: r[1], metric: s.metrics[metric] });
          }
        }
        var children = [{ namespace: "dash_html_components", type: "Div",
                          props: { className: "rv-legend-title", children: k.title } }];
        k.rows.forEach(function (row) { children.push(swatchRow(row[0], row[1])); });
        children.push(swatchRow(NO_DATA, s.nodata));
        children.push({ namespace: "dash_html_components", type: "Div",
                        props: { className: "rv-legend-how",
                                 children: k.how + (k.direction ? " " + k.direction : "") } });
        var legend = { namespace: "dash_html_components", type: "Div",
                       props: { id: "rv-legend", className: "rv-legend", "data-metric": metric,
                                children: children } };
        return [{ colors: k.colors, selected: code }, legend, rank];
      },
      /* The map fitted to the view's areas when a view arrives. */
      fit: function (data) {
        if (!data || !data.bounds) { return window.dash_clientside.no_update; }
        return { bounds: data.bounds, transition: "fitBounds", options: { animate: false } };
      },
      syncUrl: function (metric, state, period, from, to) {
        var q = query(metric, state, period, from, to);
        if (window.location.pathname === "/review") {
          // replaceState: Dash's router does not re-render the page for it
          window.history.replaceState(window.history.state, "", "/review?" + q);
        }
        return ["/review/print?" + q, period === "range" ? {} : { display: "none" }];
      }
    }
  });
})();
