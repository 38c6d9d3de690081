/* Chinese month and weekday names for Dash's date pickers in Chinese mode.
   dcc.DatePickerRange formats with date-fns and takes its locale from window.dateFns.locale
   (the browser's language first, else the first locale there): in Chinese mode the only
   locale there is this small zh-CN one, so the calendars read 2026年12月 and 一 二 三 ...
   whatever the browser's language. English mode leaves date-fns' default (en-US). */
(function () {
  "use strict";
  var m = document.cookie.match(/(?:^|; )lang=(zh|en)/);
  var lang = m ? m[1] : "zh";
  if (lang !== "zh") { return; }
  var days = ["日", "一", "二", "三", "四", "五", "六"];
  var week = ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"];
  function fmt(s) { return function () { return s; }; }
  var zhCN = {
    code: "zh-CN",
    formatDistance: function (token, count) { return String(count); },
    formatRelative: function () { return "yyyy-MM-dd"; },
    localize: {
      ordinalNumber: function (n) { return String(n); },
      era: function (n) { return n ? "公元" : "公元前"; },
      quarter: function (n) { return "第" + n + "季度"; },
      month: function (n) { return (n + 1) + "月"; },
      day: function (n, o) {
        var w = (o && o.width) || "wide";
        return w === "wide" ? week[n] : (w === "abbreviated" ? "周" + days[n] : days[n]);
      },
      dayPeriod: function (p) { return { am: "上午", pm: "下午" }[p] || ""; }
    },
    formatLong: { date: fmt("yyyy-MM-dd"), time: fmt("HH:mm"), dateTime: fmt("{{date}} {{time}}") },
    match: {},
    options: { weekStartsOn: 1, firstWeekContainsDate: 4 }
  };
  // the picker's clear button is labelled "Clear Dates" for screen readers: say it in Chinese
  new MutationObserver(function () {
    var els = document.querySelectorAll(".dash-datepicker-clear[aria-label='Clear Dates']");
    for (var i = 0; i < els.length; i++) { els[i].setAttribute("aria-label", "清除日期"); }
  }).observe(document.documentElement, { childList: true, subtree: true });
  window.dateFns = window.dateFns || {};
  window.dateFns.locale = Object.assign({ zhCN: zhCN }, window.dateFns.locale || {});
})();
