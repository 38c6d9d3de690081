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

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gridatlas_review: {
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
