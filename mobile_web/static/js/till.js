// A waiting payment request (the till's QR, or a resident's "pay me" QR): listens to the
// request's event stream and shows the outcome the moment it comes, by loading the page
// again (the server says "Paid ✓" in words). Without this script the page offers a link
// that checks again.
const box = document.getElementById("request");

function done() {
  window.location.replace(window.location.pathname);
}

if (box && box.dataset.events && "EventSource" in window) {
  const status = document.getElementById("till-status");
  const stream = new EventSource(box.dataset.events);
  // A form on its way (cancel, more time) decides where the page goes next.
  document.addEventListener("submit", () => stream.close());
  for (const kind of ["paid", "cancelled", "expired"]) {
    stream.addEventListener(kind, () => {
      stream.close();
      done();
    });
  }
  stream.addEventListener("error", () => {
    // EventSource reconnects by itself; the status line says we are still waiting.
    if (status) status.dataset.reconnecting = "1";
  });
  const seconds = Number(box.dataset.secondsLeft || "0");
  if (seconds > 0) window.setTimeout(done, (seconds + 1) * 1000);
  const again = document.getElementById("check-again");
  if (again) again.hidden = true;
}
