// A payment code lives a minute: show a fresh one before it expires (without JavaScript, the page's
// "New code" link does the same).
setTimeout(function () { window.location.reload(); }, 50000);
