// A campaign's totals, live: the server sends them (server-sent events) each time a donation commits.
// Without this script the page shows the totals as they were when it was served.
(function () {
  var section = document.getElementById('totals');
  if (!section || !window.EventSource) return;
  var set = function (id, text) { var e = document.getElementById(id); if (e) e.textContent = text; };
  var source = new EventSource(section.getAttribute('data-live'));
  source.addEventListener('totals', function (message) {
    var t = JSON.parse(message.data);
    set('live-total', t.total);
    set('live-donations', t.donations);
    set('live-donors', t.donors);
    set('live-matched', t.matched);
    var bar = document.getElementById('live-progress');
    if (bar) bar.value = Math.min(100, Math.floor(t.progress_bps / 100));
  });
})();
