/* Command-centre wall: point symbols, labels, the refresh gate and the stale banner.
   Symbols read the layer's hideout; refresh never stacks and pauses while hidden. */
(function () {
  "use strict";

  var URGENCY = {
    awaiting: { color: "#94a3b8", shape: "circle" },
    on_time: { color: "#22c55e", shape: "circle" },
    due_soon: { color: "#f59e0b", shape: "triangle" },
    overdue: { color: "#ef4444", shape: "square" },
    deferred: { color: "#a78bfa", shape: "hatched" }
  };
  var CAMERA = { online: "#2dd4bf", offline: "#64748b", fault: "#f43f5e" };

  function svgIcon(shape, color, size, extraClass) {
    var s = size, h = s / 2, body;
    if (shape === "triangle") {
      body = '<polygon points="' + h + ',1 ' + (s - 1) + ',' + (s - 1) + ' 1,' + (s - 1) +
        '" fill="' + color + '" stroke="#0b1220" stroke-width="1.5"/>';
    } else if (shape === "square") {
      body = '<rect x="1.5" y="1.5" width="' + (s - 3) + '" height="' + (s - 3) +
        '" fill="' + color + '" stroke="#0b1220" stroke-width="1.5" transform="rotate(45 ' + h + ' ' + h + ')"/>';
    } else if (shape === "hatched") {
      body = '<defs><pattern id="ga-hatch" width="4" height="4" patternUnits="userSpaceOnUse" ' +
        'patternTransform="rotate(45)"><rect width="2" height="4" fill="' + color + '"/></pattern></defs>' +
        '<circle cx="' + h + '" cy="' + h + '" r="' + (h - 1.5) + '" fill="url(#ga-hatch)" stroke="' +
        color + '" stroke-width="1.5"/>';
    } else {
      body = '<circle cx="' + h + '" cy="' + h + '" r="' + (h - 1.5) + '" fill="' + color +
        '" stroke="#0b1220" stroke-width="1.5"/>';
    }
    return L.divIcon({
      className: "ga-pt " + (extraClass || ""),
      html: '<svg width="' + s + '" height="' + s + '" viewBox="0 0 ' + s + ' ' + s + '">' + body + "</svg>",
      iconSize: [s, s],
      iconAnchor: [h, h]
    });
  }

  function scaleOf(context) {
    var h = (context && context.hideout) || {};
    return h.scale || Math.max(1, window.innerWidth / 1920);  // same physical size on 4K walls
  }

  window.gridatlas = window.gridatlas || {};
  window.gridatlas.wall = {
    incidentPoint: function (feature, latlng, context) {
      var p = feature.properties, u = URGENCY[p.urgency] || URGENCY.awaiting;
      var size = 16;
      if (p.urgency === "awaiting") {  // grey, sized by age: older cases grow (to 3 days)
        size = 12 + Math.min(14, Math.round((p.age_h || 0) / 6));
      }
      size = Math.round(size * scaleOf(context));
      return L.marker(latlng, {
        icon: svgIcon(u.shape, u.color, size, "ga-inc ga-inc-" + p.urgency),
        title: p.code, keyboard: false
      });
    },
    cameraPoint: function (feature, latlng, context) {
      var s = scaleOf(context);
      return L.circleMarker(latlng, {
        radius: 4 * s, color: "#0b1220", weight: 1, fillOpacity: 0.95,
        fillColor: CAMERA[feature.properties.status] || "#64748b"
      });
    },
    policePoint: function (feature, latlng, context) {
      var s = Math.round(22 * scaleOf(context));
      return L.marker(latlng, {
        icon: L.divIcon({
          className: "ga-pt ga-police",
          html: '<svg width="' + s + '" height="' + s + '" viewBox="0 0 24 24"><path d="M12 2 4 5v6c0 5 3.4 9.4 8 11 ' +
            '4.6-1.6 8-6 8-11V5z" fill="#3b82f6" stroke="#dbeafe" stroke-width="1.5"/>' +
            '<text x="12" y="15.5" text-anchor="middle" font-size="9" font-weight="700" fill="#fff">警</text></svg>',
          iconSize: [s, s], iconAnchor: [s / 2, s / 2]
        }),
        title: feature.properties.name
      });
    },
    countPoint: function (feature, latlng, context) {
      var p = feature.properties, h = (context && context.hideout) || {};
      var n = p.n || 0, s = scaleOf(context);
      var size = Math.round((18 + Math.min(22, Math.sqrt(n) * 4)) * s);
      var alert = (p.overdue || p.down || 0) > 0;
      var kind = h.kind || "inc";
      return L.marker(latlng, {
        icon: L.divIcon({
          className: "ga-count ga-count-" + kind + (alert ? " ga-count-alert" : ""),
          html: "<span>" + n + "</span>",
          iconSize: [size, size], iconAnchor: [size / 2, size / 2]
        }),
        keyboard: false
      });
    },
    labelPoint: function (feature, latlng) {
      var p = feature.properties;
      var lang = (document.cookie.match(/(?:^|; )lang=(zh|en)/) || [])[1] || "zh";
      var z = ((arguments[2] && arguments[2].hideout) || {}).zoom || 0;
      var text = p.level === "grid"
        ? (z >= 17 ? p.code : p.code.slice(-6, -3) + "-" + p.code.slice(-3))
        : ((lang === "en" && p.name_en) ? p.name_en : p.name);
      return L.marker(latlng, {
        icon: L.divIcon({ className: "ga-label ga-label-" + p.level, html: "<span>" + text + "</span>",
                          iconSize: null }),
        interactive: false, keyboard: false
      });
    },
    labelFilter: function (feature, context) {
      var z = ((context && context.hideout) || {}).zoom || 12;
      var level = feature.properties.level;
      if (level === "street") { return z < 14; }
      if (level === "community") { return z >= 13 && z < 16; }
      return z >= 16;  // grid codes only when zoomed in
    },
    densityStyle: function (feature, context) {
      var n = feature.properties.n, max = ((context && context.hideout) || {}).max || 10;
      var t = Math.min(1, n / max);
      return { color: "#f97316", weight: 0.5, opacity: 0.5, fillColor: "#f97316",
               fillOpacity: 0.12 + 0.55 * t };
    },
    buildingStyle: function (feature) {
      var hh = feature.properties.households || 0;
      return { color: "#5b6b8c", weight: 0.6, fillColor: hh > 0 ? "#8aa2d6" : "#3a4762",
               fillOpacity: hh > 0 ? 0.45 : 0.3 };
    }
  };

  // ------------------------------------------------------------------ refresh and staleness
  var state = { inflight: false, since: 0, stale: false };

  function banner(show) {
    state.stale = show;
    var el = document.getElementById("cmd-stale");
    if (el) { el.classList.toggle("ga-show", !!show); }
  }

  // Any failed callback request (app server down, or the database down: the app answers
  // with an error) shows the stale banner; the next good answer clears it.
  if (!window.__gaFetchWrapped) {
    window.__gaFetchWrapped = true;
    var realFetch = window.fetch;
    window.fetch = function (input, init) {
      var url = (typeof input === "string") ? input : (input && input.url) || "";
      var watched = url.indexOf("_dash-update-component") >= 0 && document.getElementById("cmd-stale");
      var p = realFetch.apply(this, arguments);
      if (!watched) { return p; }
      return p.then(function (resp) {
        if (resp.status >= 500 || resp.status === 0) { banner(true); state.inflight = false; }
        return resp;
      }, function (err) {
        banner(true); state.inflight = false;
        throw err;
      });
    };
  }

  function refreshNow() {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("cmd-kick", { data: Date.now() });
    }
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && document.getElementById("cmd-stale")) { refreshNow(); }
  });

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.wall = {
    // Interval tick -> refresh trigger, unless hidden or a refresh is still in flight.
    gate: function (nIntervals, kick, periodMs) {
      var now = Date.now();
      if (document.hidden) { return window.dash_clientside.no_update; }
      if (state.inflight) {
        if (now - state.since < 3 * (periodMs || 15000)) { return window.dash_clientside.no_update; }
        banner(true);  // a refresh that never answered: say so and try again
      }
      state.inflight = true;
      state.since = now;
      return now;
    },
    // The refresh answered: release the gate, stamp the time, clear or show the banner.
    done: function (result) {
      state.inflight = false;
      if (!result) { return window.dash_clientside.no_update; }
      banner(!!result.stale);
      if (result.stale) { return window.dash_clientside.no_update; }
      var d = new Date(result.at);
      var tz = (document.querySelector(".ga-app") || {}).dataset;
      var parts;
      try {
        parts = new Intl.DateTimeFormat("en-GB", { timeZone: (tz && tz.tz) || "Asia/Shanghai",
          hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(d);
      } catch (e) {
        parts = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
      }
      var lang = (document.cookie.match(/(?:^|; )lang=(zh|en)/) || [])[1] || "zh";
      return (lang === "en" ? "Updated " : "更新于 ") + parts;
    },
    // Keep the view and filters in the address bar (no navigation, no reload).
    syncUrl: function (viewport, center, zoom, street, community, category, severity) {
      if (!viewport) { return window.dash_clientside.no_update; }  // before the first view
      var params = new URLSearchParams(window.location.search);
      if (center && zoom !== undefined && zoom !== null) {
        var c = Array.isArray(center) ? center : [center.lat, center.lng];
        params.set("lat", Number(c[0]).toFixed(5));
        params.set("lng", Number(c[1]).toFixed(5));
        params.set("z", String(Math.round(zoom)));
      }
      [["street", street], ["community", community], ["category", category], ["severity", severity]]
        .forEach(function (kv) { if (kv[1]) { params.set(kv[0], kv[1]); } else { params.delete(kv[0]); } });
      var q = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (q ? "?" + q : ""));
      return window.dash_clientside.no_update;
    },
    labelZoom: function (zoom, hideout) {
      var h = Object.assign({}, hideout || {});
      h.zoom = zoom;
      return h;
    }
  };
})();
