/* The ops console's route plan map (tracker/templates/console/plan.html).
 *
 * Reads the plan from <script type="application/json" id="plan-data"> (no
 * inline script: the page's Content-Security-Policy allows scripts from
 * /static only) and draws, with the vendored Leaflet, the station and each
 * courier's route as a line from the station through the stops in order,
 * every stop a numbered circle. Tiles are a background only: with no tile
 * URL, or none loading (offline), the routes are still drawn on a blank map.
 */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("plan-data").textContent);
  var element = document.getElementById("plan-map");
  // Distinct, readable on light tiles; repeats after ten couriers.
  var colours = ["#1b5e9e", "#b3261e", "#1e7b34", "#7b3fa0", "#b05f00",
                 "#00707a", "#8a2c5f", "#4f5b10", "#3d4a8f", "#7a4a1e"];
  var map = L.map(element, { scrollWheelZoom: false });
  if (data.tiles) {
    L.tileLayer(data.tiles, {
      maxZoom: 19,
      attribution: "&copy; OpenStreetMap contributors"
    }).addTo(map);
  }
  var station = [data.station.lat, data.station.lon];
  var bounds = L.latLngBounds([station]);
  L.circleMarker(station, {
    radius: 9, color: "#111", weight: 3, fillColor: "#fff", fillOpacity: 1, className: "station-marker"
  }).bindTooltip(data.station.code + " " + data.station.name).addTo(map);
  var legend = document.getElementById("plan-legend");
  data.routes.forEach(function (route, i) {
    var colour = colours[i % colours.length];
    var points = [station];
    route.stops.forEach(function (stop) {
      var at = [stop.lat, stop.lon];
      points.push(at);
      bounds.extend(at);
      L.circleMarker(at, {
        radius: 6, color: colour, weight: 2, fillColor: colour, fillOpacity: 0.85, className: "stop-marker"
      }).bindTooltip(route.courier_id + " #" + stop.sequence + " " + stop.tracking_number).addTo(map);
    });
    points.push(station);
    L.polyline(points, { color: colour, weight: 3, opacity: 0.8, className: "route-line" }).addTo(map);
    var item = document.createElement("li");
    var swatch = document.createElement("span");
    swatch.className = "swatch swatch-" + (i % colours.length);
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(route.courier_id + " (" + route.stops.length + ")"));
    legend.appendChild(item);
  });
  map.fitBounds(bounds.pad(0.1));
  element.setAttribute("data-routes", String(data.routes.length));
})();
