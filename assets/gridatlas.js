/* GridAtlas browser-side functions: clientside callbacks and map styling.
   Map style functions read the layer's hideout, so restyling never resends data. */
(function () {
  "use strict";

  function lang() {
    var m = document.cookie.match(/(?:^|; )lang=(zh|en)/);
    if (m) { return m[1]; }
    var root = document.querySelector(".ga-app");
    return root && root.classList.contains("lang-en") ? "en" : "zh";
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tzParts(date, tz) {
    try {
      var f = new Intl.DateTimeFormat("en-CA", {
        timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
      });
      var p = {};
      f.formatToParts(date).forEach(function (x) { p[x.type] = x.value; });
      return p;
    } catch (e) {
      return {
        year: date.getFullYear(), month: pad(date.getMonth() + 1), day: pad(date.getDate()),
        hour: pad(date.getHours()), minute: pad(date.getMinutes()), second: pad(date.getSeconds())
      };
    }
  }

  function clockText() {
    var root = document.querySelector(".ga-app");
    var tz = (root && root.dataset.tz) || "Asia/Shanghai";
    var p = tzParts(new Date(), tz);
    var time = p.hour + ":" + p.minute + ":" + p.second;
    if (lang() === "en") {
      return p.year + "-" + p.month + "-" + p.day + " " + time;
    }
    return p.year + "年" + parseInt(p.month, 10) + "月" + parseInt(p.day, 10) + "日 " + time;
  }

  /* The top bar's clock, outside Dash: a dcc.Interval ticking a clientside callback made the
     renderer run a callback every second, which kept an idle /plan page at about 8% of a
     core (2% on the wall). Here a timer writes the span's text on each new second; until
     the span is drawn it looks every 100 ms. */
  function tickClock() {
    var el = document.getElementById("shell-clock");
    if (el) {
      var text = clockText();
      if (el.textContent !== text) { el.textContent = text; }
    }
    setTimeout(tickClock, el ? 1000 - (Date.now() % 1000) + 5 : 100);
  }
  tickClock();

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    gridatlas: {
      switchLang: function (n) {
        var btn = document.querySelector(".ga-lang");
        var next = btn ? btn.getAttribute("data-lang") : "zh";
        document.cookie = "lang=" + next + "; path=/; max-age=31536000; SameSite=Lax";
        window.location.reload();
        return next;
      }
    }
  });

  var COLORS = {
    district: "#e8f1ff",
    street: "#f5b642",
    community: "#4fd1c5",
    grid: "#6b8cce"
  };
  var WEIGHTS = { district: 4, street: 3, community: 2, grid: 1 };

  window.gridatlas = window.gridatlas || {};
  window.gridatlas.map = {
    boundaryStyle: function (feature, context) {
      var h = (context && context.hideout) || {};
      var level = feature.properties.level;
      var selected = h.selected && h.selected === feature.properties.code;
      var style = {
        color: COLORS[level] || "#9ab",
        // walls at 4K keep the same physical line weight
        weight: (WEIGHTS[level] || 1) * (h.scale || Math.max(1, window.innerWidth / 1920)),
        opacity: level === "grid" ? 0.7 : 0.95,
        fill: level === "grid",
        fillOpacity: 0,
        dashArray: level === "community" ? "6 4" : null
      };
      if (level === "grid") {
        var hh = feature.properties.households;
        var lo = h.min || 300, hi = h.max || 500;
        style.fillColor = hh < lo ? "#3b82f6" : (hh > hi ? "#ef4444" : "#22c55e");
        style.fillOpacity = h.fillOpacity === undefined ? 0.12 : h.fillOpacity;
      }
      if (selected) { style.weight += 2; style.color = "#ffffff"; style.fillOpacity = 0.3; }
      return style;
    },
    boundaryTooltip: function (feature, layer, context) {
      var p = feature.properties;
      var name = (lang() === "en" && p.name_en) ? p.name_en : p.name;
      var text = name + (p.level === "grid" ? "" : " · " + p.code);
      if (p.households !== undefined && p.households !== null) {
        text += (lang() === "en" ? " · " + p.households + " households" : " · " + p.households + " 户");
      }
      layer.bindTooltip(text, { sticky: true, className: "ga-tooltip" });
    }
  };
})();

/* Planning page: proposal over current grids, buildings coloured by their proposed grid. */
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#65a30d",
                 "#c026d3", "#ea580c", "#0d9488", "#4f46e5", "#ca8a04"];
  function colourOf(code) {
    if (!code) { return "#94a3b8"; }
    var n = parseInt(code.slice(-3), 10) || 0;
    return PALETTE[n % PALETTE.length];
  }
  window.gridatlas = window.gridatlas || {};
  window.gridatlas.plan = {
    currentStyle: function () {
      return { color: "#475569", weight: 1.5, dashArray: "5 4", fill: false };
    },
    currentFill: function (feature, context) {
      var h = (context && context.hideout) || {}, hh = feature.properties.households;
      var bad = hh < (h.min || 300) || hh > (h.max || 500);
      return { color: "#334155", weight: 1.2, fillColor: bad ? "#f59e0b" : "#22c55e", fillOpacity: 0.25 };
    },
    proposedStyle: function (feature, context) {
      var p = feature.properties, h = (context && context.hideout) || {};
      var bad = (p.failed_rules && p.failed_rules.length) || p.households < (h.min || 300) ||
                p.households > (h.max || 500);
      return { color: bad ? "#dc2626" : "#0f172a", weight: 2.2, fillColor: colourOf(p.code),
               fillOpacity: 0.12 };
    },
    buildingStyle: function (feature, context) {
      var h = (context && context.hideout) || {};
      var id = feature.properties.id;
      var code = (h.labels || {})[String(id)] || feature.properties.grid;
      var sel = h.selected === id;
      return { color: sel ? "#000" : "#1e293b", weight: sel ? 2.5 : 0.5,
               fillColor: colourOf(code), fillOpacity: sel ? 0.95 : 0.7 };
    },
    gridTooltip: function (feature, layer) {
      var p = feature.properties;
      layer.bindTooltip(p.code + " · " + p.households + (document.cookie.indexOf("lang=en") >= 0 ? " households" : " 户"),
                        { sticky: true });
    }
  };
})();
