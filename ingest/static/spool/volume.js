// The explorer's volume chart: events per hour (or per day) and event name, drawn with the vendored
// uPlot from the JSON the page embeds (#spool-volume-data). Times on the axis are UTC, as on the page.
(function () {
  var holder = document.getElementById("spool-volume");
  var source = document.getElementById("spool-volume-data");
  if (!holder || !source || typeof uPlot === "undefined") return;
  var data = JSON.parse(source.textContent);
  var names = Object.keys(data.series);
  if (!names.length) return;
  var colours = ["#417690", "#ba2121", "#e8a33d", "#5b8c3a", "#7a5195", "#ef5675", "#26828e", "#8c6d31", "#999999"];
  var unit = data.step === 3600 ? "events per hour" : "events per day";
  var format = uPlot.fmtDate(data.step === 3600 ? "{MM}-{DD} {HH}:{mm}" : "{YYYY}-{MM}-{DD}");
  function stamp(seconds) { return format(uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC")); }
  var counts = [];
  for (var power = 1; power <= 1e9; power *= 10) counts.push(power, 2 * power, 5 * power);
  var series = [{}].concat(names.map(function (name, i) {
    return {label: name, stroke: colours[i % colours.length], width: 1.5, points: {show: data.starts.length < 60}};
  }));
  var options = {
    width: Math.max(300, holder.clientWidth),
    height: 220,
    padding: [12, 40, 0, 0],  // room for the last time label
    tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"); },
    scales: {y: {range: function (u, min, max) { return [0, Math.max(1, max)]; }}},
    axes: [
      {label: "UTC", space: 80, values: function (u, splits) { return splits.map(stamp); }},
      {label: unit, size: 60, incrs: counts},  // whole events: no 0.5 ticks
    ],
    series: series,
  };
  var columns = [data.starts].concat(names.map(function (name) { return data.series[name]; }));
  var chart = new uPlot(options, columns, holder);
  window.addEventListener("resize", function () {
    chart.setSize({width: Math.max(300, holder.clientWidth), height: 220});
  });
})();
