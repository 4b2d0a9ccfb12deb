// The unit page's charts (Apache ECharts, vendored), drawn from the tables beside them: each
// <div class="chart" data-chart=KIND data-table=ID> reads its table's rows (data-label,
// data-value, data-hours), so the chart and its table always show the same figures. The tables
// stay for screen readers and printing; the charts are aria-hidden. Labels come from the page
// (translated by the server); ECharts' own texts use its built-in Chinese locale.
(function () {
  "use strict";
  if (typeof echarts === "undefined") return;

  function rows(tableId) {
    var table = document.getElementById(tableId);
    if (!table) return [];
    return Array.prototype.map.call(table.querySelectorAll("tbody tr[data-label]"), function (tr) {
      var value = tr.getAttribute("data-value");
      return {label: tr.getAttribute("data-label"), value: value === "" ? null : Number(value),
              hours: Number(tr.getAttribute("data-hours") || 0)};
    });
  }

  function header(tableId, index) {
    var th = document.querySelectorAll("#" + tableId + " thead th")[index];
    return th ? th.textContent.trim() : "";
  }

  var builders = {
    units: function (id) {
      var data = rows(id);
      return {
        grid: {left: 8, right: 16, top: 24, bottom: 8, containLabel: true},
        tooltip: {trigger: "axis", valueFormatter: function (v) { return v === null ? "—" : v + "%"; }},
        xAxis: {type: "category", data: data.map(function (r) { return r.label; }), axisLabel: {interval: 0, rotate: data.length > 6 ? 30 : 0}},
        yAxis: {type: "value", max: 100, axisLabel: {formatter: "{value}%"}},
        series: [{type: "bar", name: header(id, 3), data: data.map(function (r) { return r.value; }),
                  itemStyle: {color: "#1f5fa8"}, label: {show: data.length <= 12, position: "top", formatter: "{c}%"}}]
      };
    },
    trend: function (id) {
      var data = rows(id);
      return {
        grid: {left: 8, right: 8, top: 32, bottom: 8, containLabel: true},
        legend: {top: 0},
        tooltip: {trigger: "axis"},
        xAxis: {type: "category", data: data.map(function (r) { return r.label; })},
        yAxis: [{type: "value", max: 100, axisLabel: {formatter: "{value}%"}}, {type: "value"}],
        series: [
          {type: "line", name: header(id, 2), data: data.map(function (r) { return r.value; }), connectNulls: false},
          {type: "bar", name: header(id, 3), yAxisIndex: 1, data: data.map(function (r) { return r.hours; }),
           itemStyle: {color: "#9bb8dc"}}
        ]
      };
    },
    flags: function (id) {
      var data = rows(id);
      return {
        tooltip: {trigger: "item"},
        legend: {bottom: 0},
        color: ["#b25b00", "#b3261e", "#217a3c"],
        series: [{type: "pie", radius: ["35%", "65%"], name: header(id, 1),
                  data: data.map(function (r) { return {name: r.label, value: r.value || 0}; }),
                  label: {formatter: "{b}: {c}"}}]
      };
    }
  };

  document.querySelectorAll("div.chart[data-chart]").forEach(function (el) {
    var build = builders[el.getAttribute("data-chart")];
    if (!build) return;
    var chart = echarts.init(el, null, {renderer: "canvas", locale: "ZH"});
    chart.setOption(build(el.getAttribute("data-table")));
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();
