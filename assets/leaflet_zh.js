/* Leaflet's own control texts in Chinese on every map page.

   Leaflet and its plugins write English titles and aria-labels into the controls they add
   ("Zoom in", "Layers", the attribution's "A JavaScript library for interactive maps",
   "Close popup"...). The shell (layouts/shell.py) puts lang="zh-CN" or lang="en" on the
   app's root element; inside a map under lang="zh-CN" each of those texts is replaced as the
   control is added (or re-titled, e.g. the full-screen button after a toggle). English mode
   keeps Leaflet's own words. Served from this site (assets/), so the CSP's script-src
   'self' covers it; no eval, no inline code. */
(function () {
  "use strict";

  var ZH = {
    "Zoom in": "放大",
    "Zoom out": "缩小",
    "Layers": "图层",
    "A JavaScript library for interactive maps": "Leaflet 开源交互地图库",
    "Close popup": "关闭",
    "Full Screen": "全屏",
    "Exit Full Screen": "退出全屏",
    "Show me where I am": "显示我的位置",
    "Measure distances and areas": "测量距离和面积",
    "Draw a polyline": "画折线",
    "Draw a polygon": "画多边形",
    "Draw a rectangle": "画矩形",
    "Draw a circle": "画圆",
    "Draw a marker": "放置标记",
    "Draw a circlemarker": "画圆点",
    "Edit layers": "编辑图层",
    "No layers to edit": "没有可编辑的图层",
    "Delete layers": "删除图层",
    "No layers to delete": "没有可删除的图层",
    "Cancel drawing": "取消绘制",
    "Finish drawing": "完成绘制",
    "Delete last point drawn": "删除最后一个点",
    "Save changes": "保存修改",
    "Cancel editing, discards all changes": "取消编辑，放弃全部修改",
    "Clear all layers": "清除全部图层"
  };
  var ATTRS = ["title", "aria-label"];
  var SELECTOR = ".leaflet-container [title], .leaflet-container [aria-label]";

  function chinese(el) {
    var scope = el.closest("[lang]");
    var lang = (scope && scope.getAttribute("lang")) || document.documentElement.lang || "";
    return lang.toLowerCase().indexOf("zh") === 0;
  }

  function localise(el) {
    for (var i = 0; i < ATTRS.length; i++) {
      var value = el.getAttribute(ATTRS[i]);
      if (value && Object.prototype.hasOwnProperty.call(ZH, value) && chinese(el)) {
        el.setAttribute(ATTRS[i], ZH[value]);
      }
    }
  }

  function sweep() {
    var els = document.querySelectorAll(SELECTOR);
    for (var i = 0; i < els.length; i++) { localise(els[i]); }
  }

  // One sweep per animation frame however many nodes a refresh adds (the wall redraws
  // hundreds of markers): the selector only matches elements carrying a title or label.
  var pending = false;
  function schedule() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; sweep(); });
  }

  function start() {
    new MutationObserver(schedule).observe(document.body, {
      childList: true, subtree: true, attributes: true, attributeFilter: ATTRS
    });
    sweep();
  }

  window.gridatlas = window.gridatlas || {};
  window.gridatlas.leafletZh = { texts: ZH, sweep: sweep };
  if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
}());
