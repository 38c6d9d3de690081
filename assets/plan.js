/* The /plan page's map functions (styles, labels) and its pure-UI clientside callbacks
   (fitting and syncing the two maps, keeping the community and the plan in the URL). */
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#65a30d",
                 "#c026d3", "#ea580c", "#0d9488", "#4f46e5", "#ca8a04"];
  // the band state of a grid (Band.state on the server) -> fill colour
  var STATE = { under: "#60a5fa", ok: "#4ade80", over: "#fb923c" };
  function colourOf(code) {
    if (!code) { return "#94a3b8"; }
    var n = parseInt(String(code).slice(-3), 10) || 0;
    return PALETTE[n % PALETTE.length];
  }

  // Leaflet map objects by their container's id (tests and the clientside callbacks use it)
  var maps = window.gridatlasMaps = window.gridatlasMaps || {};
  function register(map) {
    if (!map || !map.getContainer) { return; }
    var el = map.getContainer();
    var id = el && (el.id || (el.closest && el.closest("[id]") && el.closest("[id]").id));
    if (id && maps[id] !== map) {
      maps[id] = map;
      syncAll();
    }
  }
  function hookLeaflet() {
    if (window.L && window.L.Map && !window.L.Map.__gaPlanHook) {
      window.L.Map.__gaPlanHook = true;
      window.L.Map.addInitHook(function () { var m = this; setTimeout(function () { register(m); }, 0); });
    }
  }
  hookLeaflet();
  document.addEventListener("DOMContentLoaded", hookLeaflet);

  var syncing = false;
  function syncAll() {
    var a = maps["plan-map"], b = maps["plan-map2"];
    if (!a || !b || a.__gaSynced === b) { return; }
    a.__gaSynced = b;
    function follow(src, dst) {
      src.on("moveend", function () {
        if (syncing || !dst.getContainer().offsetWidth || !src.getContainer().offsetWidth) { return; }
        syncing = true;
        dst.setView(src.getCenter(), src.getZoom(), { animate: false });
        syncing = false;
      });
    }
    follow(a, b);
    follow(b, a);
  }
  function onAdd(layer) {
    layer.on("add", function () { register(this._map); });
  }

  // hide a grid's permanent label when the grid is smaller on screen than the label
  function labelFits(layer, map) {
    var tip = layer.getTooltip && layer.getTooltip();
    var el = tip && tip.getElement && tip.getElement();
    if (!el || !layer.getBounds) { return; }
    var b = layer.getBounds();
    var nw = map.latLngToContainerPoint(b.getNorthWest()), se = map.latLngToContainerPoint(b.getSouthEast());
    var w = Math.abs(se.x - nw.x), h = Math.abs(se.y - nw.y);
    el.style.display = "";
    var small = w < Math.max(el.offsetWidth, 40) * 0.9 || h < Math.max(el.offsetHeight, 14) * 1.5;
    el.classList.toggle("ga-label-hidden", small);
    el.style.display = small ? "none" : "";
  }

  window.gridatlas = window.gridatlas || {};
  window.gridatlas.planmap = {
    currentOutline: function () {
      return { color: "#475569", weight: 1.5, dashArray: "5 4", fill: false, interactive: false };
    },
    currentFill: function (feature) {
      var st = feature.properties.state;
      return { color: "#1e293b", weight: 1.4, fillColor: STATE[st] || "#cbd5e1", fillOpacity: 0.45 };
    },
    proposedStyle: function (feature) {
      var p = feature.properties;
      var bad = p.failed_rules && p.failed_rules.length;
      return { color: bad ? "#dc2626" : "#0f172a", weight: bad ? 2.6 : 2, fillColor: STATE[p.state] || "#cbd5e1",
               fillOpacity: 0.18 };
    },
    buildingStyle: function (feature, context) {
      var h = (context && context.hideout) || {};
      var id = feature.properties.id;
      var code = (h.labels || {})[String(id)] || feature.properties.grid;
      var sel = h.selected === id;
      return { color: sel ? "#000" : "#1e293b", weight: sel ? 3 : 0.6,
               fillColor: colourOf(code), fillOpacity: sel ? 0.95 : 0.75 };
    },
    buildingEach: function (feature, layer) { onAdd(layer); },
    gridLabel: function (feature, layer) {
      onAdd(layer);
      if (feature.properties.label) {
        layer.bindTooltip(feature.properties.label, { permanent: true, direction: "center",
                                                      className: "ga-grid-label", interactive: false });
        // a label wider than its grid on screen would cover its neighbours' labels: it is
        // shown only while the grid is drawn large enough to hold it
        layer.on("add", function () {
          var map = this._map, lyr = this;
          if (!map) { return; }
          var fitLabel = function () { labelFits(lyr, map); };
          map.on("zoomend resize", fitLabel);
          lyr.on("remove", function () { map.off("zoomend resize", fitLabel); });
          setTimeout(fitLabel, 0);
        });
      }
    },
    // the first view: the scope's communities filled by the share of their grids in band
    scopeStyle: function (feature) {
      var s = feature.properties.share;
      var fill = s === null || s === undefined ? "#e2e8f0" : s >= 0.8 ? "#4ade80" : s >= 0.5 ? "#facc15" : "#fb923c";
      return { color: "#1e293b", weight: 1.6, fillColor: fill, fillOpacity: 0.5 };
    },
    scopeLabel: function (feature, layer) {
      onAdd(layer);
      var p = feature.properties, el = document.createElement("div"), sub = document.createElement("small");
      el.textContent = p.label || p.code || "";  // names are text, never markup
      sub.textContent = p.title || "";
      el.appendChild(sub);
      layer.bindTooltip(el, { permanent: true, direction: "center", className: "ga-scope-label",
                              interactive: false });
      layer.on("add", function () {  // a name shown only where its community holds it
        var map = this._map, lyr = this;
        if (!map) { return; }
        var fitLabel = function () { labelFits(lyr, map); };
        map.on("zoomend resize", fitLabel);
        lyr.on("remove", function () { map.off("zoomend resize", fitLabel); });
        setTimeout(fitLabel, 0);
      });
      layer.on("mouseover", function () { this.setStyle({ weight: 3 }); });
      layer.on("mouseout", function () { this.setStyle({ weight: 1.6 }); });
    },
    netStyle: function (feature) {
      return { color: feature.properties.color || "#7c3aed", weight: 2.2, dashArray: "6 3",
               fill: false, interactive: false };
    },
    netLabel: function (feature, layer) {
      var p = feature.properties;
      layer.bindTooltip(p.code, { permanent: true, direction: "center", interactive: false,
                                  className: "ga-net-label ga-net-" + (p.slot || 0) });
    }
  };

  function fit(bounds) {
    ["plan-map", "plan-map2"].forEach(function (id) {
      var m = maps[id];
      if (!m) { return; }
      m.invalidateSize({ animate: false });
      if (bounds && m.getContainer().offsetWidth) {
        m.fitBounds(bounds, { animate: false, padding: [12, 12] });
      }
    });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gridatlas_plan: {
      // a hidden map has no size: after each view switch both maps are resized and fitted
      fit: function (view, bounds) {
        setTimeout(function () { fit(bounds); }, 30);
        setTimeout(function () { fit(bounds); }, 400);
        return view || "proposal";
      },
      // the community and the plan stay in the URL, so a reload (language switch) keeps them
      url: function (community, plan) {
        var q = new URLSearchParams(window.location.search);
        if (community) { q.set("community", community); } else { q.delete("community"); }
        if (plan) { q.set("plan", plan); } else { q.delete("plan"); }
        var s = q.toString();
        window.history.replaceState(window.history.state, "", window.location.pathname + (s ? "?" + s : ""));
        return s;
      }
    }
  });
})();
