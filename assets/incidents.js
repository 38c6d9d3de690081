/* /incidents: keep the address bar in step with the filters (no reload, no history spam). */
(function () {
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    incidents: {
      syncUrl: function (search) {
        if (typeof search !== "string" || window.location.pathname !== "/incidents") {
          return window.dash_clientside.no_update;
        }
        var target = window.location.pathname + search;
        if (target !== window.location.pathname + window.location.search) {
          window.history.replaceState(null, "", target);
        }
        return window.dash_clientside.no_update;
      }
    }
  });
})();
