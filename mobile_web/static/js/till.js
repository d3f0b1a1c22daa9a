// A waiting payment request (the till's QR, or a resident's "pay me" QR): listens to the
// request's event stream and says the outcome the moment it comes: "Paid ✓" (or
// "Received ✓") in words with the payer's name below, with a sound and a buzz, the code
// and what could be done with it (more time, cancel) gone, then loads the page again for
// the whole record. Without this script the page offers a link that checks again.
//
// A stream the browser gives up on (one answer other than 200, say a proxy restarting
// that answers 502) stays closed for good, so the page says it is not listening, shows
// the link again, and opens the stream anew after 1, 2, 4, 8, then every 15 seconds, or
// at once when the browser comes back online. A new stream starts from the request as it
// is: if it was paid in between, the first thing it says is "paid".
const box = document.getElementById("request");

function again() {
  window.location.replace(window.location.pathname);
}

function celebrate() {
  if (navigator.vibrate) navigator.vibrate([120, 60, 120]);
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch { /* no sound: the page says it */ }
}

function paid(event) {
  let data = {};
  try { data = JSON.parse(event.data); } catch { /* the words alone */ }
  const status = document.getElementById("till-status");
  const words = document.createElement("span");
  words.textContent = box.dataset.paidWords;
  status.classList.add("done");
  status.replaceChildren(words);
  if (data.payer_name) {
    const who = document.createElement("bdi"); // a name in any script, on a line of its own
    who.textContent = data.payer_name;
    status.append(who);
  }
  for (const done of document.querySelectorAll("main img.qr, main form, #request p.small")) {
    done.hidden = true;
  }
  celebrate();
  window.setTimeout(again, 1500);
}

const RETRY_SECONDS_FIRST = 1;
const RETRY_SECONDS_MAX = 15;

function watch(events) {
  const status = document.getElementById("till-status");
  const waiting = status ? status.textContent : "";
  const link = document.getElementById("check-again");
  let stream = null;
  let retry = 0; // the timer that opens the stream again, while one is set
  let retrySeconds = RETRY_SECONDS_FIRST;
  let leaving = false;

  function notListening() {
    if (link) link.hidden = false;
    if (status && box.dataset.notListeningWords && !status.classList.contains("done")) {
      status.textContent = box.dataset.notListeningWords;
    }
  }

  function listening() {
    retrySeconds = RETRY_SECONDS_FIRST;
    if (link) link.hidden = true;
    if (status && !status.classList.contains("done")) status.textContent = waiting;
  }

  function done() {
    leaving = true;
    window.clearTimeout(retry);
    stream.close();
  }

  function open() {
    retry = 0;
    stream = new EventSource(events);
    stream.addEventListener("open", listening);
    stream.addEventListener("paid", (event) => {
      done();
      paid(event);
    });
    for (const kind of ["cancelled", "expired"]) {
      stream.addEventListener(kind, () => {
        done();
        again();
      });
    }
    stream.addEventListener("error", (event) => {
      // An "error" event the server sends is a message; the browser's own says the stream
      // is down, and the browser either tries again itself (CONNECTING) or gave up (CLOSED).
      if (leaving || event instanceof MessageEvent) return;
      notListening();
      if (stream.readyState !== EventSource.CLOSED || retry) return;
      retry = window.setTimeout(open, retrySeconds * 1000);
      retrySeconds = Math.min(retrySeconds * 2, RETRY_SECONDS_MAX);
    });
  }

  // A form on its way (cancel, more time) decides where the page goes next.
  document.addEventListener("submit", done);
  window.addEventListener("online", () => {
    if (!retry || leaving) return;
    window.clearTimeout(retry);
    open();
  });
  open();
  if (link) link.hidden = true;
}

if (box && box.dataset.events && "EventSource" in window) {
  watch(box.dataset.events);
  const seconds = Number(box.dataset.secondsLeft || "0");
  if (seconds > 0) window.setTimeout(again, (seconds + 1) * 1000);
}
