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

  function paneOf(context, fallback) {
    var h = (context && context.hideout) || {};
    return h.pane || fallback;
  }

  function langOf() {
    return (document.cookie.match(/(?:^|; )lang=(zh|en)/) || [])[1] ||
      ((document.querySelector(".ga-app.lang-en")) ? "en" : "zh");
  }

  function esc(text) {
    return String(text === undefined || text === null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // Count bubbles: the same size rule for placement and drawing (pixels, incl. border).
  function bubbleSize(n, s) { return Math.round((18 + Math.min(22, Math.sqrt(n || 0) * 4)) * s); }

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
        title: p.code, keyboard: false, pane: paneOf(context, "markerPane")
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
      var size = p.size || bubbleSize(n, s);
      var alert = (p.overdue || p.down || 0) > 0;
      var kind = h.kind || "inc";
      var marker = L.marker(latlng, {
        icon: L.divIcon({
          className: "ga-count ga-count-" + kind + (alert ? " ga-count-alert" : "") +
            (p.merged > 1 ? " ga-count-merged" : ""),
          html: "<span>" + n + "</span>",
          iconSize: [size, size], iconAnchor: [size / 2, size / 2]
        }),
        keyboard: false, pane: paneOf(context, "markerPane"),
        zIndexOffset: kind === "inc" ? 1000 : 0
      });
      if (p.merged > 1) {  // several grids in one bubble: a click zooms in to split them
        marker.on("click", function () {
          if (this._map) { this._map.setView(this.getLatLng(), this._map.getZoom() + 2); }
        });
      }
      return marker;
    },
    // One function for a layer that holds points or count bubbles (by the features).
    symbolPoint: function (feature, latlng, context) {
      var p = feature.properties || {}, h = (context && context.hideout) || {};
      var wallFns = window.gridatlas.wall;
      if (p.n !== undefined) { return wallFns.countPoint(feature, latlng, context); }
      return h.kind === "cam" ? wallFns.cameraPoint(feature, latlng, context)
        : wallFns.incidentPoint(feature, latlng, context);
    },
    roadStyle: function (feature) {
      var r = feature.properties.rank || 6, s = Math.max(1, window.innerWidth / 1920);
      var w = [0, 2.4, 1.8, 1.4, 1.1, 0.8, 0.6][Math.min(6, r)] * s;
      return { color: r <= 2 ? "#7b8597" : "#5c6678", weight: w, opacity: r <= 3 ? 0.75 : 0.55,
               lineCap: "round", interactive: false };
    },
    roadLabel: function (feature, latlng) {
      var p = feature.properties;
      return L.marker(latlng, {
        icon: L.divIcon({ className: "ga-road-label ga-road-rank-" + (p.rank || 6),
                          html: "<span>" + esc(p.name) + "</span>", iconSize: null }),
        interactive: false, keyboard: false, pane: "ga-road-labels"
      });
    },
    networkStyle: function (feature, context) {
      var h = (context && context.hideout) || {}, s = Math.max(1, window.innerWidth / 1920);
      return { color: h.color || "#f472b6", weight: 2 * s, opacity: 0.95, fill: false,
               dashArray: "8 4" };
    },
    networkLabel: function (feature, latlng, context) {
      var h = (context && context.hideout) || {}, p = feature.properties;
      return L.marker(latlng, {
        icon: L.divIcon({ className: "ga-net-label",
                          html: '<span style="color:' + esc(h.color || "#f472b6") + '">' +
                            esc(p.name || p.code) + "</span>", iconSize: null }),
        interactive: false, keyboard: false, pane: "ga-road-labels"
      });
    },
    networkTooltip: function (feature, layer, context) {
      var h = (context && context.hideout) || {}, p = feature.properties;
      if (p.label) { return; }
      layer.bindTooltip(esc(h.network) + " · " + esc(p.code) + (p.name ? " · " + esc(p.name) : ""),
                        { sticky: true, className: "ga-tooltip" });
    },
    patrolPoint: function (feature, latlng, context) {
      var p = feature.properties, s = Math.round(26 * scaleOf(context));
      var m = L.marker(latlng, {
        icon: L.divIcon({
          className: "ga-pt ga-patrol" + (p.flagged ? " ga-patrol-flagged" : ""),
          html: '<svg width="' + s + '" height="' + s + '" viewBox="0 0 24 24"><circle cx="12" cy="12" r="10.5" ' +
            'fill="#0ea5e9" stroke="#e0f2fe" stroke-width="1.5"/><text x="12" y="16" text-anchor="middle" ' +
            'font-size="11" font-weight="700" fill="#fff">巡</text></svg>',
          iconSize: [s, s], iconAnchor: [s / 2, s / 2]
        }),
        keyboard: false, pane: paneOf(context, "markerPane")
      });
      m.bindTooltip(esc(p.tip), { className: "ga-tooltip", direction: "top" });
      return m;
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

  // Leaflet's zoom buttons are titled in English; the page carries the words to use.
  function localizeControls() {
    var root = document.querySelector(".ga-command");
    if (!root) { return; }
    [["leaflet-control-zoom-in", root.getAttribute("data-zoom-in")],
     ["leaflet-control-zoom-out", root.getAttribute("data-zoom-out")]].forEach(function (kv) {
      var el = root.querySelector("." + kv[0]);
      if (el && kv[1]) { el.title = kv[1]; el.setAttribute("aria-label", kv[1]); }
    });
  }

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
      localizeControls();
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
    // Count bubbles placed on screen: same-kind bubbles closer than their sizes are merged
    // (weighted centre) until none overlap; incidents are placed first, then cameras,
    // which move aside or join a camera bubble rather than cover an incident.
    place: function (incRaw, camRaw, zoom) {
      var nu = window.dash_clientside.no_update;
      if (zoom === undefined || zoom === null) { return [incRaw || null, camRaw || null]; }
      var s = Math.max(1, window.innerWidth / 1920), gap = Math.round(4 * s);
      var crs = L.CRS.EPSG3857;
      function items(fc, kind) {
        if (!fc || !fc.features) { return null; }
        var out = [];
        for (var i = 0; i < fc.features.length; i++) {
          var f = fc.features[i], p = f.properties || {};
          if (p.n === undefined) { return null; }  // single points: drawn as they are
          var c = f.geometry.coordinates, pt = crs.latLngToPoint(L.latLng(c[1], c[0]), zoom);
          out.push({ x: pt.x, y: pt.y, n: p.n, alert: (p.overdue || p.down || 0), code: p.code,
                     members: 1, kind: kind });
        }
        return out;
      }
      function half(b) { return bubbleSize(b.n, s) / 2; }
      function hits(a, b, ra, rb) {
        var d = ra + rb + gap;
        return Math.abs(a.x - b.x) < d && Math.abs(a.y - b.y) < d;
      }
      var cell = bubbleSize(1e9, s) + gap;
      function Hash() { this.m = {}; }
      Hash.prototype.key = function (x, y) { return Math.floor(x / cell) + ":" + Math.floor(y / cell); };
      Hash.prototype.add = function (b) {
        var k = this.key(b.x, b.y); (this.m[k] = this.m[k] || []).push(b);
      };
      Hash.prototype.near = function (b) {
        var cx = Math.floor(b.x / cell), cy = Math.floor(b.y / cell), out = [];
        for (var dx = -1; dx <= 1; dx++) {
          for (var dy = -1; dy <= 1; dy++) {
            var l = this.m[(cx + dx) + ":" + (cy + dy)];
            if (l) { out = out.concat(l); }
          }
        }
        return out;
      };
      function byN(a, b) { return b.n - a.n || (a.code < b.code ? -1 : 1); }
      function merge(into, b) {
        var wa = Math.max(1, into.n), wb = Math.max(1, b.n);
        into.x = (into.x * wa + b.x * wb) / (wa + wb);
        into.y = (into.y * wa + b.y * wb) / (wa + wb);
        into.n += b.n; into.alert += b.alert; into.members += b.members;
      }
      function cluster(list) {
        for (var pass = 0; pass < 8; pass++) {
          list.sort(byN);
          var hash = new Hash(), out = [], changed = false;
          for (var i = 0; i < list.length; i++) {
            var b = list[i], near = hash.near(b), joined = false;
            for (var j = 0; j < near.length; j++) {
              if (hits(near[j], b, half(near[j]), half(b))) { merge(near[j], b); joined = true; changed = true; break; }
            }
            if (!joined) { out.push(b); hash.add(b); }
          }
          list = out;
          if (!changed) { break; }
        }
        return list;
      }
      var inc = items(incRaw, "inc"), cam = items(camRaw, "cam");
      inc = inc && cluster(inc);
      cam = cam && cluster(cam);
      // the guarantee: keep in order (incidents first), sizes fixed once kept
      var kept = new Hash(), keptInc = [], keptCam = [];
      function free(b, r) {
        var near = kept.near(b);
        for (var j = 0; j < near.length; j++) { if (hits(near[j], b, near[j].r, r)) { return near[j]; } }
        return null;
      }
      (inc || []).sort(byN).forEach(function (b) {
        b.r = half(b);
        var other = free(b, b.r);
        if (!other) { b.x0 = b.x; b.y0 = b.y; kept.add(b); keptInc.push(b); return; }
        merge(other, b); other.x = other.x0; other.y = other.y0;  // a kept bubble stays put
      });
      (cam || []).sort(byN).forEach(function (b) {
        b.r = half(b);
        if (!free(b, b.r)) { b.x0 = b.x; b.y0 = b.y; kept.add(b); keptCam.push(b); return; }
        for (var ring = 1; ring <= 3; ring++) {  // aside, around where it was
          for (var a = 0; a < 8; a++) {
            var ang = a * Math.PI / 4, d = ring * (2 * b.r + gap);
            var c = { x: b.x + d * Math.cos(ang), y: b.y + d * Math.sin(ang) };
            if (!free(c, b.r)) {
              b.x = b.x0 = c.x; b.y = b.y0 = c.y; kept.add(b); keptCam.push(b); return;
            }
          }
        }
        var best = null, bd = Infinity;  // else into the nearest camera bubble kept
        keptCam.forEach(function (k) {
          var d = (k.x - b.x) * (k.x - b.x) + (k.y - b.y) * (k.y - b.y);
          if (d < bd) { bd = d; best = k; }
        });
        if (best) { var x = best.x, y = best.y; merge(best, b); best.x = x; best.y = y; }
      });
      function fc(list, alertKey) {
        return { type: "FeatureCollection", features: list.map(function (b) {
          var ll = crs.pointToLatLng(L.point(b.x, b.y), zoom), p = { n: b.n, size: Math.round(2 * b.r),
            merged: b.members };
          p[alertKey] = b.alert;
          if (b.members === 1) { p.code = b.code; }
          return { type: "Feature", geometry: { type: "Point", coordinates: [ll.lng, ll.lat] },
                   properties: p };
        }) };
      }
      // keptInc bubbles were not moved after keeping (merges restore x0/y0)
      return [inc ? fc(keptInc, "overdue") : (incRaw === undefined ? nu : incRaw || null),
              cam ? fc(keptCam, "down") : (camRaw === undefined ? nu : camRaw || null)];
    },
    roadLabels: function (roads) {
      if (!roads || !roads.features) { return null; }
      var out = [];
      roads.features.forEach(function (f) {
        var p = f.properties || {};
        if (p.label && p.name) {
          out.push({ type: "Feature", geometry: { type: "Point", coordinates: p.label },
                     properties: { name: p.name, rank: p.rank } });
        }
      });
      return { type: "FeatureCollection", features: out };
    },
    // A short tone when an alert appears that this screen has not shown yet (setting).
    alertSound: function (eventIds, soundOn) {
      var seen = window.__gaAlertsSeen;
      window.__gaAlertsSeen = {};
      (eventIds || []).forEach(function (id) { window.__gaAlertsSeen[id] = true; });
      if (!soundOn || !seen) { return window.dash_clientside.no_update; }  // not on first load
      var fresh = (eventIds || []).some(function (id) { return !seen[id]; });
      if (fresh) {
        try {
          var Ctx = window.AudioContext || window.webkitAudioContext, ctx = new Ctx();
          var o = ctx.createOscillator(), g = ctx.createGain();
          o.frequency.value = 880; g.gain.value = 0.15;
          o.connect(g); g.connect(ctx.destination);
          o.start(); o.stop(ctx.currentTime + 0.35);
        } catch (e) { /* no audio device: the visible alert is enough */ }
      }
      return String(Date.now());
    },
    labelZoom: function (zoom, hideout) {
      var h = Object.assign({}, hideout || {});
      h.zoom = zoom;
      return h;
    }
  };
})();
