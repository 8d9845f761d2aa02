// The live camera, where the browser reads QR codes itself (the Barcode Detection API): the code's
// text goes into the paste form, which is sent. Elsewhere the page's picture upload (which opens a
// phone's camera) and the paste box work without this script.
(function () {
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  var section = document.getElementById('camera');
  var start = document.getElementById('camera-start');
  var video = document.getElementById('camera-view');
  var form = document.getElementById('scan');
  if (!section || !start || !video || !form) return;
  section.hidden = false;
  start.addEventListener('click', function () {
    var detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(function (stream) {
      video.srcObject = stream;
      video.hidden = false;
      start.hidden = true;
      return video.play().then(function () {
        var look = function () {
          detector.detect(video).then(function (codes) {
            if (codes.length === 0) { window.setTimeout(look, 250); return; }
            stream.getTracks().forEach(function (t) { t.stop(); });
            form.querySelector('textarea').value = codes[0].rawValue;
            form.submit();
          }, function () { window.setTimeout(look, 500); });
        };
        look();
      });
    }, function () { section.hidden = true; });
  });
})();
