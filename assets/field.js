/* The field page (/field): tabs, taps on the map, the phone's position (navigator.geolocation,
   WGS-84), the chosen point's marker and the map's zoom buttons. The server stores positions;
   this file only reads the phone and draws. */
(function () {
  "use strict";

  var PI = Math.PI, A = 6378245.0, EE = 0.00669342162296594323;

  function outOfChina(lng, lat) {
    return !(lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
  }
  function dLat(x, y) {
    var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    r += (160.0 * Math.sin(y / 12.0 * PI) + 320 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    return r;
  }
  function dLng(x, y) {
    var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    r += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    return r;
  }
  /* the same transform as geo/gcj02.py: a GPS fix drawn on a GCJ-02 basemap */
  function toGcj(lng, lat) {
    if (outOfChina(lng, lat)) { return [lng, lat]; }
    var dlat = dLat(lng - 105.0, lat - 35.0), dlng = dLng(lng - 105.0, lat - 35.0);
    var rad = lat / 180.0 * PI, magic = 1 - EE * Math.sin(rad) * Math.sin(rad), sq = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sq) * PI);
    dlng = (dlng * 180.0) / (A / sq * Math.cos(rad) * PI);
    return [lng + dlng, lat + dlat];
  }

  function txt(config, key) {
    return (config && config.txt && config.txt[key]) || key;
  }

  function position() {
    return new Promise(function (resolve, reject) {
      if (!navigator.geolocation) { reject({ code: 2 }); return; }
      navigator.geolocation.getCurrentPosition(resolve, reject,
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 });
    });
  }

  function geoError(config, err) {
    return txt(config, err && err.code === 1 ? "geo_denied" : "geo_failed");
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    field: {
      tab: function (clicks, clickData) {
        var no = window.dash_clientside.no_update;
        var ctx = window.dash_clientside.callback_context;
        var trig = ctx.triggered_id;
        var key;
        if (trig && typeof trig === "object" && trig.index) { key = trig.index; }
        else if (clickData) { key = "report"; }  // a tap on the map starts a report
        else { return [no, no]; }
        var tabs = ctx.inputs_list[0].map(function (spec) {
          return "field-tab" + (spec.id.index === key ? " is-active" : "");
        });
        window.scrollTo(0, 0);
        return ["field-page tab-" + key, tabs];
      },
      tapPoint: function (clickData) {
        if (!clickData || !clickData.latlng) { return window.dash_clientside.no_update; }
        var ll = clickData.latlng;
        var lat = Array.isArray(ll) ? ll[0] : ll.lat, lng = Array.isArray(ll) ? ll[1] : ll.lng;
        return { lon: lng, lat: lat, src: "tap" };
      },
      locate: function (n, config) {
        if (!n) { return [window.dash_clientside.no_update, window.dash_clientside.no_update]; }
        return position().then(function (pos) {
          return [{ lon: pos.coords.longitude, lat: pos.coords.latitude, src: "gps",
                    acc: Math.round(pos.coords.accuracy || 0) }, ""];
        }, function (err) {
          return [window.dash_clientside.no_update, geoError(config, err)];
        });
      },
      showPoint: function (point, config) {
        if (!point) { return [null, txt(config, "no_point"), window.dash_clientside.no_update]; }
        var lng = point.lon, lat = point.lat;
        if (point.src === "gps" && config && config.gcj02) {
          var g = toGcj(lng, lat); lng = g[0]; lat = g[1];
        }
        var fc = { type: "FeatureCollection", features: [{ type: "Feature",
          properties: { src: point.src }, geometry: { type: "Point", coordinates: [lng, lat] } }] };
        var view = point.src === "gps"
          ? { center: [lat, lng], zoom: 17, transition: "setView" } : window.dash_clientside.no_update;
        var key = point.src === "gps" ? "point_gps" : "point_tap";
        var text = txt(config, key).replace("{lat}", point.lat.toFixed(6))
          .replace("{lon}", point.lon.toFixed(6)).replace("{acc}", String(point.acc || 0));
        return [fc, text, view];
      },
      patrolPosition: function (start, checkin, tick, config) {
        var no = window.dash_clientside.no_update;
        var trig = window.dash_clientside.callback_context.triggered_id;
        var what = trig === "field-patrol-start" ? "start" : "checkin";
        if (trig === "field-patrol-start" && !start) { return [no, no]; }
        if (trig === "field-patrol-checkin" && !checkin) { return [no, no]; }
        return position().then(function (pos) {
          return [{ do: what, lon: pos.coords.longitude, lat: pos.coords.latitude, ts: Date.now() }, no];
        }, function (err) {
          return [no, geoError(config, err)];
        });
      },
      photoName: function (filename, contents, config) {
        if (!contents || !filename) { return ""; }
        return txt(config, "photo_set").replace("{name}", filename);
      }
    }
  });

  window.gridatlas = window.gridatlas || {};
  window.gridatlas.field = {
    gridStyle: function () {
      return { color: "#2563eb", weight: 3, opacity: 0.9, fillColor: "#3b82f6", fillOpacity: 0.08 };
    },
    pointMarker: function (feature, latlng) {
      return L.circleMarker(latlng, { radius: 11, color: "#fff", weight: 3, fillColor: "#dc2626",
                                      fillOpacity: 1 });
    }
  };

  /* Leaflet's zoom buttons say "Zoom in"; in Chinese they say 放大 / 缩小 */
  function zoomTitles() {
    var root = document.getElementById("field-root");
    if (!root) { return; }
    [["in", root.getAttribute("data-zoom-in")], ["out", root.getAttribute("data-zoom-out")]]
      .forEach(function (pair) {
        var a = root.querySelector(".leaflet-control-zoom-" + pair[0]);
        if (a && pair[1] && a.title !== pair[1]) {
          a.title = pair[1];
          a.setAttribute("aria-label", pair[1]);
        }
      });
  }
  new MutationObserver(zoomTitles).observe(document.documentElement, { childList: true, subtree: true });
}());
